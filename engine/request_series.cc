#include "engine/request_series.h"

#include <algorithm>

namespace enrich::engine {

RequestSeries::RequestSeries(absl::Duration interval, size_t max_points)
    : max_points_(std::max<size_t>(max_points, 4)), interval_(interval) {}

void RequestSeries::Note(absl::Time time, uint64_t requests, bool final) {
  absl::MutexLock lock(&mu_);
  if (!final && !points_.empty() && time - points_.back().time < interval_) return;
  if (points_.size() == max_points_) {
    // Keep the first and every other one after it: the step doubles.
    size_t kept = 1;
    for (size_t i = 2; i < points_.size(); i += 2) points_[kept++] = points_[i];
    points_.resize(kept);
    interval_ *= 2;
  }
  points_.push_back(Point{time, requests});
}

std::vector<RequestSeries::Point> RequestSeries::Points() const {
  absl::MutexLock lock(&mu_);
  return points_;
}

absl::Duration RequestSeries::interval() const {
  absl::MutexLock lock(&mu_);
  return interval_;
}

}  // namespace enrich::engine
