#include "transport/latency_histogram.h"

#include <algorithm>
#include <bit>
#include <cmath>

namespace enrich::transport {

// Bucket b covers (UpperMicros(b-1), UpperMicros(b)]. Values below 8 µs get one bucket each;
// above, octave k (values in [2^k, 2^(k+1))) is split into kSubBuckets equal parts.
int LatencyHistogram::BucketOf(int64_t micros) {
  if (micros < kSubBuckets) return static_cast<int>(std::max<int64_t>(micros, 0));
  const int octave = std::bit_width(static_cast<uint64_t>(micros)) - 1;  // >= 3
  const int64_t sub = (micros >> (octave - 3)) & (kSubBuckets - 1);
  const int bucket = (octave - 2) * kSubBuckets + static_cast<int>(sub);
  return std::min(bucket, kBuckets - 1);
}

int64_t LatencyHistogram::UpperMicros(int bucket) {
  if (bucket < kSubBuckets) return bucket;
  const int octave = bucket / kSubBuckets + 2;
  const int64_t sub = bucket % kSubBuckets;
  return ((kSubBuckets + sub + 1) << (octave - 3)) - 1;
}

void LatencyHistogram::Record(absl::Duration latency) {
  const int64_t micros = absl::ToInt64Microseconds(latency);
  buckets_[static_cast<size_t>(BucketOf(micros))].fetch_add(1, std::memory_order_relaxed);
  count_.fetch_add(1, std::memory_order_relaxed);
  total_micros_.fetch_add(static_cast<uint64_t>(std::max<int64_t>(micros, 0)),
                          std::memory_order_relaxed);
}

absl::Duration LatencyHistogram::Percentile(double q) const {
  const uint64_t n = count();
  if (n == 0) return absl::ZeroDuration();
  const auto rank =
      static_cast<uint64_t>(std::ceil(std::clamp(q, 0.0, 1.0) * static_cast<double>(n)));
  uint64_t seen = 0;
  for (int b = 0; b < kBuckets; ++b) {
    seen += buckets_[static_cast<size_t>(b)].load(std::memory_order_relaxed);
    if (seen >= std::max<uint64_t>(rank, 1)) return absl::Microseconds(UpperMicros(b));
  }
  return absl::Microseconds(UpperMicros(kBuckets - 1));
}

absl::Duration LatencyHistogram::Mean() const {
  const uint64_t n = count();
  if (n == 0) return absl::ZeroDuration();
  return absl::Microseconds(static_cast<double>(total_micros_.load()) / static_cast<double>(n));
}

}  // namespace enrich::transport
