// Quota use over a run (`run --report`): the cumulative count of requests sent, sampled by the
// progress thread (engine/progress.h) as the run goes, in a bounded series. The report draws
// requests per interval from it.

#ifndef ENRICH_ENGINE_REQUEST_SERIES_H_
#define ENRICH_ENGINE_REQUEST_SERIES_H_

#include <cstddef>
#include <cstdint>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"

namespace enrich::engine {

// At most `max_points` samples (time, cumulative count), the first one at the run's start.
// A sample comes at least `interval` after the previous one (others are dropped); when the
// series is full, every other sample is dropped and the interval doubles, so the series
// always spans the whole run at an even step. Thread-safe.
class RequestSeries {
 public:
  struct Point {
    absl::Time time;
    uint64_t requests;  // cumulative
  };
  static constexpr size_t kDefaultMaxPoints = 600;

  explicit RequestSeries(absl::Duration interval = absl::Milliseconds(250),
                         size_t max_points = kDefaultMaxPoints);

  // A sample; `final` keeps it even within the interval (the run's end).
  void Note(absl::Time time, uint64_t requests, bool final = false);
  std::vector<Point> Points() const;
  absl::Duration interval() const;

 private:
  const size_t max_points_;
  mutable absl::Mutex mu_;
  absl::Duration interval_ ABSL_GUARDED_BY(mu_);
  std::vector<Point> points_ ABSL_GUARDED_BY(mu_);
};

}  // namespace enrich::engine

#endif  // ENRICH_ENGINE_REQUEST_SERIES_H_
