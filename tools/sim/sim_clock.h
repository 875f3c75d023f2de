// ctia-sim's server clock: the configured clock with the test API's fixed time or offset.
// Token expiry, creation defaults and verdict validity all read it through the Router.

#ifndef ENRICH_TOOLS_SIM_SIM_CLOCK_H_
#define ENRICH_TOOLS_SIM_SIM_CLOCK_H_

#include <atomic>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "schema/clock.h"

namespace enrich::sim {

// ctia-sim's server clock: the configured clock, optionally overridden by the test API
// (reference §12.6 "fixed/fake server clock"): fixed at an instant, or shifted by an offset.
//
// Thread safety: every method may be called from any thread. Now() takes no lock while there
// is no override.
class SimClock final : public schema::Clock {
 public:
  // `base` is not owned and must outlive this clock.
  explicit SimClock(const schema::Clock& base) : base_(base) {}

  absl::Time Now() const override;
  // Fixed at `t` until Release().
  void SetFixed(absl::Time t);
  // Moves the fixed instant, or adds to the offset from the base clock when not fixed.
  void Advance(absl::Duration d);
  // Back to the base clock, no offset.
  void Release();

 private:
  const schema::Clock& base_;
  std::atomic<bool> overridden_{false};
  mutable absl::Mutex mu_;
  bool fixed_ ABSL_GUARDED_BY(mu_) = false;
  absl::Time fixed_at_ ABSL_GUARDED_BY(mu_);
  absl::Duration offset_ ABSL_GUARDED_BY(mu_);
};

}  // namespace enrich::sim

#endif  // ENRICH_TOOLS_SIM_SIM_CLOCK_H_
