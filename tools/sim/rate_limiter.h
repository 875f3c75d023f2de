// CTIA's per-group sliding-log rate limiter (reference §9.1, §12.5), sans I/O. The Router
// asks it after authentication on every /ctia route when --rate-limit is on.

#ifndef ENRICH_TOOLS_SIM_RATE_LIMITER_H_
#define ENRICH_TOOLS_SIM_RATE_LIMITER_H_

#include <cstdint>
#include <deque>
#include <string>
#include <utility>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/statusor.h"
#include "absl/container/flat_hash_map.h"
#include "absl/strings/string_view.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"

namespace enrich::sim {

// CTIA's per-group rate limiter (reference/ctia-api.md §9.1, §12.5), sans I/O.
//
// Model: one sliding log per group (the caller's org id). A request is refused when the log
// already holds `limit` timestamps newer than now − window; refused requests are not
// recorded. `retry_after` of a refusal = ceil(oldest + window − now) in whole seconds, the
// moment the oldest request leaves the window. A per-group override (CTIA's
// `limits.group.customs`) replaces the default limit for that group; when the caller has
// several groups the highest limit applies (one log per chosen group).
//
// Thread safety: every method may be called from any thread.
class RateLimiter {
 public:
  // `limit` 0 or less disables limiting. `customs` maps group → limit.
  RateLimiter(int64_t limit, absl::Duration window,
              std::vector<std::pair<std::string, int64_t>> customs = {});

  struct Decision {
    bool allowed = true;
    int64_t limit = 0;      // the limit that applied (for X-RateLimit-GROUP-Limit)
    int64_t remaining = 0;  // allowed requests left in the window after this one
    int64_t retry_after_seconds = 0;  // refusals only
  };
  // Records one request of a caller in `groups` at `now` if the window has room.
  Decision Admit(const std::vector<std::string>& groups, absl::Time now);

  bool enabled() const { return limit_ > 0; }
  // Forgets every recorded request.
  void Reset();

 private:
  const int64_t limit_;
  const absl::Duration window_;
  const absl::flat_hash_map<std::string, int64_t> customs_;
  absl::Mutex mu_;
  absl::flat_hash_map<std::string, std::deque<absl::Time>> logs_ ABSL_GUARDED_BY(mu_);
};

}  // namespace enrich::sim

#endif  // ENRICH_TOOLS_SIM_RATE_LIMITER_H_
