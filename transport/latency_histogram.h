// Latency histogram of the transport and the engine: the client records every HTTP request's
// latency in one (for the bench command), and a run records every lookup's in one (RunStats, for
// the run summary and the Prometheus `le` buckets).

#ifndef ENRICH_TRANSPORT_LATENCY_HISTOGRAM_H_
#define ENRICH_TRANSPORT_LATENCY_HISTOGRAM_H_

#include <atomic>
#include <cstdint>
#include <vector>

#include "absl/time/time.h"
#include "absl/types/span.h"

namespace enrich::transport {

// Counts of a latency histogram at one moment; plain data.
//
// Buckets are log-linear: every decade from 1 µs to 1000 s is split into 18 equal steps
// (1.0, 1.5, 2.0, ..., 9.5 × 10^k), so the Prometheus `le` values 0.001, 0.0025, 0.005, ...
// are bucket edges and a percentile is within 5–50% of a bucket (interpolated inside it).
struct LatencySnapshot {
  std::vector<uint64_t> counts;  // per bucket, LatencyBucketBounds().size() + 1 (overflow)
  uint64_t count = 0;
  absl::Duration sum;
  absl::Duration min;  // of the recorded values; zero when count is 0
  absl::Duration max;

  // The latency below which a fraction `q` (0..1) of the recorded values lie, interpolated
  // linearly inside its bucket and clamped to [min, max]; zero when nothing was recorded.
  absl::Duration Percentile(double q) const;
  // How many recorded values are ≤ `le`; exact when `le` is a bucket edge.
  uint64_t CountAtOrBelow(absl::Duration le) const;
};

// Upper edges (inclusive) of the histogram buckets, ascending; a last, unbounded bucket follows.
const std::vector<absl::Duration>& LatencyBucketBounds();

// Lock-free latency histogram. Thread-safe.
class LatencyHistogram {
 public:
  LatencyHistogram();
  void Record(absl::Duration latency);  // negative counts as zero
  // Record() of each value, with one atomic update per bucket touched (not per value).
  void RecordAll(absl::Span<const absl::Duration> latencies);
  LatencySnapshot Snapshot() const;

  // Values recorded so far.
  uint64_t count() const { return count_.load(std::memory_order_acquire); }
  // Snapshot().Percentile(q): interpolated inside its bucket, clamped to [min, max]; zero when
  // nothing was recorded.
  absl::Duration Percentile(double q) const;
  // The mean of the recorded values; zero when nothing was recorded.
  absl::Duration Mean() const;

 private:
  std::vector<std::atomic<uint64_t>> counts_;
  std::atomic<uint64_t> count_{0};
  std::atomic<int64_t> sum_ns_{0};
  std::atomic<int64_t> min_ns_;
  std::atomic<int64_t> max_ns_{0};
};

}  // namespace enrich::transport

#endif  // ENRICH_TRANSPORT_LATENCY_HISTOGRAM_H_
