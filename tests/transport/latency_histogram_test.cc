#include "transport/latency_histogram.h"

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <random>
#include <vector>

#include "absl/types/span.h"
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
  // The zero is in the first bucket, [0, 1 µs]; the percentile interpolates inside it.
  EXPECT_LE(h.Percentile(0.5), absl::Microseconds(1));
  EXPECT_EQ(h.Snapshot().counts.front(), 1u);
  EXPECT_GT(h.Percentile(1.0), absl::Seconds(1000));
  EXPECT_EQ(h.Percentile(1.0), absl::Hours(5));  // the overflow bucket reports the max
}

TEST(LatencyHistogramTest, BucketEdgesAreLogLinearAndIncludeExportedLe) {
  const auto& bounds = LatencyBucketBounds();
  ASSERT_EQ(bounds.size(), 162u);
  EXPECT_EQ(bounds.front(), absl::Microseconds(1));
  EXPECT_EQ(bounds[1], absl::Nanoseconds(1500));
  EXPECT_EQ(bounds.back(), absl::Seconds(950));
  EXPECT_TRUE(std::is_sorted(bounds.begin(), bounds.end()));
  for (absl::Duration le : {absl::Milliseconds(1), absl::Microseconds(2500), absl::Seconds(60)}) {
    EXPECT_TRUE(std::binary_search(bounds.begin(), bounds.end(), le)) << le;
  }
}

TEST(LatencyHistogramTest, UniformDistributionPercentiles) {
  LatencyHistogram h;
  for (int ms = 1; ms <= 1000; ++ms) h.Record(absl::Milliseconds(ms));
  LatencySnapshot s = h.Snapshot();
  EXPECT_EQ(s.Percentile(0.5), absl::Milliseconds(500));
  EXPECT_EQ(s.Percentile(0.9), absl::Milliseconds(900));
  EXPECT_EQ(s.Percentile(0.99), absl::Milliseconds(990));
  EXPECT_EQ(s.Percentile(1.0), absl::Milliseconds(1000));
  EXPECT_EQ(s.Percentile(0.0), absl::Milliseconds(1));
  EXPECT_EQ(s.sum, absl::Milliseconds(500500));
}

TEST(LatencyHistogramTest, ConstantDistributionIsExact) {
  LatencyHistogram h;
  for (int i = 0; i < 100; ++i) h.Record(absl::Microseconds(7300));
  LatencySnapshot s = h.Snapshot();
  EXPECT_EQ(s.Percentile(0.5), absl::Microseconds(7300));
  EXPECT_EQ(s.Percentile(0.99), absl::Microseconds(7300));
}

// Log-normal latencies over four decades: every percentile within the bucket resolution
// (≤ 50% at a decade's first step, ≤ 5.3% at its last) of the exact sample percentile.
TEST(LatencyHistogramTest, LogNormalPercentilesMatchTheSample) {
  std::mt19937_64 rng(42);
  std::lognormal_distribution<double> dist(std::log(20000.0), 1.2);  // µs, median 20 ms
  LatencyHistogram h;
  std::vector<double> sample;
  for (int i = 0; i < 200000; ++i) {
    double us = std::min(dist(rng), 5e8);
    sample.push_back(us);
    h.Record(absl::Microseconds(us));
  }
  std::sort(sample.begin(), sample.end());
  LatencySnapshot s = h.Snapshot();
  for (double q : {0.5, 0.9, 0.99}) {
    double exact = sample[static_cast<size_t>(std::ceil(q * sample.size())) - 1];
    double got = absl::ToDoubleMicroseconds(s.Percentile(q));
    EXPECT_NEAR(got, exact, exact * 0.05) << "q=" << q;
  }
}

// Record() and RecordAll() put every latency in the bucket whose edge a plain search of the
// Duration edges finds: at each edge, a nanosecond and a fraction of one around it, and at the
// extremes; and they agree on count, sum, min and max.
TEST(LatencyHistogramTest, RecordAndRecordAllBucketAsTheEdgesSay) {
  const std::vector<absl::Duration>& bounds = LatencyBucketBounds();
  std::vector<absl::Duration> latencies = {absl::ZeroDuration(), absl::Nanoseconds(-3),
                                           absl::Nanoseconds(0.25), absl::Hours(1e6),
                                           absl::InfiniteDuration()};
  for (absl::Duration edge : bounds) {
    for (absl::Duration d : {edge, edge - absl::Nanoseconds(1), edge + absl::Nanoseconds(1),
                             edge + absl::Nanoseconds(0.5), edge - absl::Nanoseconds(0.5)}) {
      latencies.push_back(d);
    }
  }
  std::vector<uint64_t> expected(bounds.size() + 1, 0);
  for (absl::Duration d : latencies) {
    d = std::max(d, absl::ZeroDuration());
    ++expected[static_cast<size_t>(std::lower_bound(bounds.begin(), bounds.end(), d) -
                                   bounds.begin())];
  }
  LatencyHistogram one_by_one;
  for (absl::Duration d : latencies) one_by_one.Record(d);
  LatencyHistogram all;
  all.RecordAll(absl::MakeConstSpan(latencies).subspan(0, 7));
  all.RecordAll(absl::MakeConstSpan(latencies).subspan(7));
  const LatencySnapshot a = one_by_one.Snapshot();
  const LatencySnapshot b = all.Snapshot();
  EXPECT_EQ(a.counts, expected);
  EXPECT_EQ(b.counts, expected);
  EXPECT_EQ(a.count, latencies.size());
  EXPECT_EQ(b.count, latencies.size());
  EXPECT_EQ(a.sum, b.sum);
  EXPECT_EQ(a.min, b.min);
  EXPECT_EQ(a.max, b.max);
}

TEST(LatencyHistogramTest, OverflowBucketReportsMax) {
  LatencyHistogram h;
  h.Record(absl::Seconds(2000));
  h.Record(absl::Milliseconds(-5));
  LatencySnapshot s = h.Snapshot();
  EXPECT_EQ(s.Percentile(1.0), absl::Seconds(2000));
  EXPECT_EQ(s.min, absl::ZeroDuration());
  EXPECT_EQ(s.CountAtOrBelow(absl::Seconds(950)), 1u);
  EXPECT_EQ(s.counts.back(), 1u);
}

}  // namespace
}  // namespace enrich::transport
