#include "transport/latency_histogram.h"

#include "gtest/gtest.h"

namespace enrich::transport {
namespace {

TEST(LatencyHistogramTest, EmptyIsZero) {
  LatencyHistogram h;
  EXPECT_EQ(h.Percentile(0.5), absl::ZeroDuration());
  EXPECT_EQ(h.count(), 0u);
}

TEST(LatencyHistogramTest, PercentilesWithinBucketError) {
  LatencyHistogram h;
  for (int i = 1; i <= 1000; ++i) h.Record(absl::Microseconds(i * 100));  // 0.1 .. 100 ms
  EXPECT_EQ(h.count(), 1000u);
  auto near = [](absl::Duration got, absl::Duration want) {
    return got >= want && got <= want * 1.13;
  };
  EXPECT_TRUE(near(h.Percentile(0.5), absl::Milliseconds(50))) << h.Percentile(0.5);
  EXPECT_TRUE(near(h.Percentile(0.99), absl::Milliseconds(99))) << h.Percentile(0.99);
  EXPECT_TRUE(near(h.Percentile(1.0), absl::Milliseconds(100))) << h.Percentile(1.0);
  EXPECT_TRUE(near(h.Mean(), absl::Microseconds(50050)));
}

TEST(LatencyHistogramTest, TinyAndHugeValuesLand) {
  LatencyHistogram h;
  h.Record(absl::ZeroDuration());
  h.Record(absl::Hours(5));
  EXPECT_EQ(h.Percentile(0.5), absl::ZeroDuration());
  EXPECT_GT(h.Percentile(1.0), absl::Seconds(1000));
}

}  // namespace
}  // namespace enrich::transport
