#include "transport/latency_histogram.h"

#include <algorithm>
#include <cmath>
#include <limits>

namespace enrich::transport {
namespace {

std::vector<absl::Duration> MakeBounds() {
  std::vector<absl::Duration> bounds;
  int64_t decade_ns = 100;  // step unit: a tenth of the decade's start (1 µs = 10 × 100 ns)
  for (int decade = 0; decade < 9; ++decade, decade_ns *= 10) {
    for (int64_t m = 10; m < 100; m += 5) bounds.push_back(absl::Nanoseconds(m * decade_ns));
  }
  return bounds;
}

}  // namespace

const std::vector<absl::Duration>& LatencyBucketBounds() {
  static const auto* bounds = new std::vector<absl::Duration>(MakeBounds());
  return *bounds;
}

absl::Duration LatencySnapshot::Percentile(double q) const {
  if (count == 0) return absl::ZeroDuration();
  const auto rank = std::max<uint64_t>(
      1, static_cast<uint64_t>(std::ceil(std::clamp(q, 0.0, 1.0) * static_cast<double>(count))));
  const auto& bounds = LatencyBucketBounds();
  uint64_t before = 0;
  for (size_t b = 0; b < counts.size(); ++b) {
    if (counts[b] == 0 || before + counts[b] < rank) {
      before += counts[b];
      continue;
    }
    const absl::Duration lower = b == 0 ? absl::ZeroDuration() : bounds[b - 1];
    const absl::Duration upper = b < bounds.size() ? bounds[b] : max;
    const double fraction = static_cast<double>(rank - before) / static_cast<double>(counts[b]);
    return std::clamp(lower + (upper - lower) * fraction, min, max);
  }
  return max;
}

uint64_t LatencySnapshot::CountAtOrBelow(absl::Duration le) const {
  const auto& bounds = LatencyBucketBounds();
  uint64_t n = 0;
  for (size_t b = 0; b < bounds.size() && b < counts.size() && bounds[b] <= le; ++b) {
    n += counts[b];
  }
  return n;
}

LatencyHistogram::LatencyHistogram()
    : counts_(LatencyBucketBounds().size() + 1), min_ns_(std::numeric_limits<int64_t>::max()) {}

namespace {

// The bucket of a latency (not negative): the first whose (inclusive) upper edge is ≥ it.
size_t BucketOf(absl::Duration latency) {
  const auto& bounds = LatencyBucketBounds();
  return static_cast<size_t>(std::lower_bound(bounds.begin(), bounds.end(), latency) -
                             bounds.begin());
}

void LowerTo(std::atomic<int64_t>& min, int64_t v) {
  int64_t seen = min.load(std::memory_order_relaxed);
  while (v < seen && !min.compare_exchange_weak(seen, v, std::memory_order_relaxed)) {
  }
}

void RaiseTo(std::atomic<int64_t>& max, int64_t v) {
  int64_t seen = max.load(std::memory_order_relaxed);
  while (v > seen && !max.compare_exchange_weak(seen, v, std::memory_order_relaxed)) {
  }
}

}  // namespace

void LatencyHistogram::Record(absl::Duration latency) {
  latency = std::max(latency, absl::ZeroDuration());
  counts_[BucketOf(latency)].fetch_add(1, std::memory_order_relaxed);
  const int64_t ns = absl::ToInt64Nanoseconds(latency);
  sum_ns_.fetch_add(ns, std::memory_order_relaxed);
  LowerTo(min_ns_, ns);
  RaiseTo(max_ns_, ns);
  count_.fetch_add(1, std::memory_order_release);
}

void LatencyHistogram::RecordAll(absl::Span<const absl::Duration> latencies) {
  if (latencies.empty()) return;
  thread_local std::vector<uint64_t> local;  // per bucket
  local.assign(counts_.size(), 0);
  size_t lo = counts_.size();
  size_t hi = 0;
  uint64_t sum = 0;  // wraps as the atomic sum does
  int64_t low = INT64_MAX;
  int64_t high = INT64_MIN;
  for (absl::Duration latency : latencies) {
    latency = std::max(latency, absl::ZeroDuration());
    const size_t b = BucketOf(latency);
    ++local[b];
    lo = std::min(lo, b);
    hi = std::max(hi, b);
    const int64_t ns = absl::ToInt64Nanoseconds(latency);
    sum += static_cast<uint64_t>(ns);
    low = std::min(low, ns);
    high = std::max(high, ns);
  }
  for (size_t b = lo; b <= hi; ++b) {
    if (local[b] > 0) counts_[b].fetch_add(local[b], std::memory_order_relaxed);
  }
  sum_ns_.fetch_add(static_cast<int64_t>(sum), std::memory_order_relaxed);
  LowerTo(min_ns_, low);
  RaiseTo(max_ns_, high);
  count_.fetch_add(latencies.size(), std::memory_order_release);
}

LatencySnapshot LatencyHistogram::Snapshot() const {
  LatencySnapshot s;
  s.counts.reserve(counts_.size());
  for (const auto& c : counts_) s.counts.push_back(c.load(std::memory_order_relaxed));
  // Concurrent Record()s may be half-counted; the bucket counts are the truth.
  for (uint64_t c : s.counts) s.count += c;
  s.sum = absl::Nanoseconds(sum_ns_.load(std::memory_order_relaxed));
  if (s.count > 0) {
    s.min = absl::Nanoseconds(min_ns_.load(std::memory_order_relaxed));
    s.max = absl::Nanoseconds(max_ns_.load(std::memory_order_relaxed));
  }
  return s;
}

absl::Duration LatencyHistogram::Percentile(double q) const { return Snapshot().Percentile(q); }

absl::Duration LatencyHistogram::Mean() const {
  const uint64_t n = count();
  if (n == 0) return absl::ZeroDuration();
  return absl::Nanoseconds(sum_ns_.load(std::memory_order_relaxed)) / static_cast<int64_t>(n);
}

}  // namespace enrich::transport
