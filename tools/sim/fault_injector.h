#ifndef ENRICH_TOOLS_SIM_FAULT_INJECTOR_H_
#define ENRICH_TOOLS_SIM_FAULT_INJECTOR_H_

#include <atomic>
#include <cstdint>
#include <optional>
#include <random>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "rapidjson/document.h"
#include "tools/sim/sim_server.h"

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

// A rule from the test API's JSON: {"kind": "latency", "path": "/ctia/", "percentage": 50,
// "next": 3, "ms": 100, "tail_ms": 2000, "tail_percentage": 5, "hang_ms": 60000,
// "retry_after": 30, "status": 503}. Only "kind" is required. Error: InvalidArgument naming
// the field (unknown keys included).
absl::StatusOr<FaultRule> FaultRuleFromJson(const rapidjson::Value& json);

}  // namespace enrich::sim

#endif  // ENRICH_TOOLS_SIM_FAULT_INJECTOR_H_
