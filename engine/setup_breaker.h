#ifndef ENRICH_ENGINE_SETUP_BREAKER_H_
#define ENRICH_ENGINE_SETUP_BREAKER_H_

// The circuit breaker of a run: fail fast on a wrong setup. When the first lookups a run settles
// all fail with the same setup failure (transport/ctia_status.h: the verdict route answers an
// HTML 404, every connection is refused, the host does not resolve, the certificate fails
// verification), the run stops with one clear error before it spends the quota, instead of
// failing every row. The job (engine/job.h) makes it; the pipeline's lookup dispatcher feeds it
// every answer as it comes (PipelineOptions::setup_breaker), where it meets the other answers
// that end a run, so the lookups still waiting are cancelled at the answer that trips it.

#include <atomic>
#include <cstddef>
#include <string>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "schema/verdict.h"
#include "transport/ctia_status.h"

namespace enrich::engine {

// Trips when the first `lookups` answered lookups of a run all failed with the same
// SetupFailure; any other outcome among them (an answer, a failure of another kind) disarms it
// for the rest of the run. Lookups cancelled by a stop are not counted. Thread-safe.
class SetupBreaker {
 public:
  static constexpr size_t kDefaultLookups = 20;

  // `lookups` = 0: never trips. `endpoint`: the CTIA base URL as the run shows it (without user
  // info), named in the error; may be empty.
  SetupBreaker(size_t lookups, std::string endpoint);

  // Feeds one answered lookup, from any thread, as answers come. Returns the error that stops
  // the run (FailedPrecondition, the message naming the failure and what to check) from the
  // call that trips the breaker; OK from every other call. Once decided, a load of an atomic.
  absl::Status Observe(const absl::StatusOr<schema::VerdictResult>& result);

  // The failure that tripped the breaker; kNone if it did not trip.
  transport::SetupFailure tripped() const;

  // At the end of a run with fewer lookups than the breaker waits for: when every one of them
  // failed with the same setup failure, the breaker's message for it (the run's output is
  // complete, each row with its error status, but the cause is the setup); else empty.
  std::string EndHint() const;

 private:
  // `seen`: how many lookups failed alike (the first `seen` lookups of the run).
  std::string Message(transport::SetupFailure failure, const absl::Status& first,
                      size_t seen) const;

  const size_t lookups_;
  const std::string endpoint_;
  std::atomic<bool> decided_{false};  // tripped, or disarmed: nothing more to look at
  mutable absl::Mutex mu_;
  size_t seen_ ABSL_GUARDED_BY(mu_) = 0;       // of the first lookups, all the same failure
  transport::SetupFailure failure_ ABSL_GUARDED_BY(mu_) = transport::SetupFailure::kNone;
  absl::Status first_ ABSL_GUARDED_BY(mu_);  // the first of them
  transport::SetupFailure tripped_ ABSL_GUARDED_BY(mu_) = transport::SetupFailure::kNone;
};

}  // namespace enrich::engine

#endif  // ENRICH_ENGINE_SETUP_BREAKER_H_
