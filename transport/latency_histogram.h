#ifndef ENRICH_TRANSPORT_LATENCY_HISTOGRAM_H_
#define ENRICH_TRANSPORT_LATENCY_HISTOGRAM_H_

#include <array>
#include <atomic>
#include <cstdint>

#include "absl/time/time.h"

namespace enrich::transport {

// Request latencies in log-linear buckets (8 per power of two, 1 µs .. ~1100 s, ≤ 9% error),
// for p50/p90/p99 in stats and the bench command. Record() is lock-free; thread-safe.
class LatencyHistogram {
 public:
  void Record(absl::Duration latency);
  uint64_t count() const { return count_.load(std::memory_order_relaxed); }
  // The latency below which a fraction `q` (0..1) of the recorded ones lie (upper bucket edge);
  // zero when nothing was recorded.
  absl::Duration Percentile(double q) const;
  absl::Duration Mean() const;

 private:
  static constexpr int kSubBuckets = 8;
  static constexpr int kBuckets = 31 * kSubBuckets;
  static int BucketOf(int64_t micros);
  static int64_t UpperMicros(int bucket);
  std::array<std::atomic<uint64_t>, kBuckets> buckets_{};
  std::atomic<uint64_t> count_{0};
  std::atomic<uint64_t> total_micros_{0};
};

}  // namespace enrich::transport

#endif  // ENRICH_TRANSPORT_LATENCY_HISTOGRAM_H_
