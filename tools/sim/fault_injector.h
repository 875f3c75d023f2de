// The seeded draw that decides which requests ctia-sim's fault rules hit. Sits between the
// rules (fault_rule.h, from flags and the test API) and the Router, which answers the pick.

#ifndef ENRICH_TOOLS_SIM_FAULT_INJECTOR_H_
#define ENRICH_TOOLS_SIM_FAULT_INJECTOR_H_

#include <atomic>
#include <cstdint>
#include <optional>
#include <random>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/strings/string_view.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "tools/sim/fault_rule.h"

namespace enrich::sim {

// The fault rules of ctia-sim's test API (reference §12.6) and the seeded draw that decides
// which request they hit (sans I/O: the router turns the pick into a response or a delivery).
//
// Thread safety: every method may be called from any thread. Pick() takes no lock while there
// are no rules, so an unfaulted server pays one atomic load per request.
class FaultInjector {
 public:
  explicit FaultInjector(uint64_t seed) : random_(seed) {}

  void Add(FaultRule rule);
  void Clear();
  size_t size() const;

  // The fault to apply to a request for raw path `path`, if any (see FaultRule). For
  // kLatency, `latency` of the result is the drawn delay (fixed + tail when the tail fired).
  std::optional<FaultRule> Pick(absl::string_view path);

 private:
  std::atomic<bool> any_{false};
  mutable absl::Mutex mu_;
  std::vector<FaultRule> rules_ ABSL_GUARDED_BY(mu_);
  std::mt19937_64 random_ ABSL_GUARDED_BY(mu_);
};

}  // namespace enrich::sim

#endif  // ENRICH_TOOLS_SIM_FAULT_INJECTOR_H_
