#ifndef ENRICH_TRANSPORT_SHARED_QUOTA_H_
#define ENRICH_TRANSPORT_SHARED_QUOTA_H_

// A request budget shared with other processes (`run --redis`: transport/redis/redis_quota.h),
// asked by a CTIA client once per HTTP request (a GraphQL batch, a REST GET, a write), after
// its own budget (internal/credential_budget.h) picked the credential and counted the request.
// The client's own RateLimiter keeps its role (the learned limit, 429 pacing); the shared quota
// makes N processes together spend the org's quota once.
//
// The client tells it what CTIA said: a 429 pauses the whole group (Pause), a granted request
// that never reached CTIA's limiter (not sent, or refused with 429) is given back (Uncount), and
// a grant is logged again at the time its request went out after waiting (for a concurrency
// slot) and at its answer's time (Restamp), so the shared window stays at or behind CTIA's own,
// never ahead (as RateLimiter::Reconfirm and OnResponse do for the client's own log).
//
// Contract: thread-safe; `done` may run inline or on another thread (never under a lock of the
// caller's). The object outlives the clients that use it.

#include <cstdint>
#include <functional>
#include <string>

#include "absl/strings/string_view.h"
#include "absl/time/time.h"

namespace enrich::transport {

class SharedQuota {
 public:
  struct Grant {
    bool go = true;
    absl::Duration wait;  // !go: nothing counted; ask again after this
    std::string ticket;   // go: names the grant for Uncount/Restamp; empty: nothing to tell
  };
  using Callback = std::function<void(Grant)>;

  virtual ~SharedQuota() = default;

  // One request of budget group `group`, whose quota is `limit` requests per `window` for all
  // processes together (0: not known yet; only a shared pause holds the request back).
  virtual void Acquire(absl::string_view group, int64_t limit, absl::Duration window,
                       Callback done) = 0;
  virtual void Uncount(absl::string_view group, const std::string& ticket) = 0;
  virtual void Restamp(absl::string_view group, const std::string& ticket) = 0;
  // CTIA answered 429: no process of the group sends for `duration`.
  virtual void Pause(absl::string_view group, absl::Duration duration) = 0;
};

}  // namespace enrich::transport

#endif  // ENRICH_TRANSPORT_SHARED_QUOTA_H_
