#ifndef ENRICH_TRANSPORT_INTERNAL_CREDENTIAL_BUDGET_H_
#define ENRICH_TRANSPORT_INTERNAL_CREDENTIAL_BUDGET_H_

// The request budgets of a CTIA client: one RateLimiter per budget group (CTIA org) and the
// credentials (token sources) of the rotation, each spending its group's budget. Every call
// of BeastCtiaClient and CtiaPublisher takes one request from here before it is sent.
//
// Contract: thread-safe (one mutex). Sans-I/O: the RateLimiters decide with the times given;
// this only picks among them. The token sources are not owned and must outlive the budget.

#include "transport/credential_lane.h"
#include "transport/http_types.h"
#include "transport/rate_limiter.h"
#include "transport/token_source.h"

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/strings/string_view.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"

namespace enrich::transport {

namespace internal {

class CredentialBudget {
 public:
  // Each lane joins the budget group it names; `options` applies to every group.
  CredentialBudget(std::vector<CredentialLane> lanes, const RateLimitOptions& options);

  struct Pick {
    int lane = -1;  // -1: no credential left
    RatePermit permit;
    absl::string_view group;  // points into the fixed group names
  };

  // Takes one request from the live group with the most budget left (kGo), or says how long
  // the shortest wait is. Credentials of one group take turns.
  Pick Take(absl::Time now);

  TokenSource& tokens(int lane) const { return *lanes_[static_cast<size_t>(lane)].lane.tokens; }
  std::string label(int lane) const { return lanes_[static_cast<size_t>(lane)].lane.label; }

  void OnResponse(int lane, absl::Time now, absl::Time sent_at, const HttpResponse& response) {
    absl::MutexLock lock(&mu_);
    limiters_[lanes_[static_cast<size_t>(lane)].group].OnResponse(now, sent_at, response);
  }
  void OnNotCounted(int lane, absl::Time sent_at) {
    absl::MutexLock lock(&mu_);
    limiters_[lanes_[static_cast<size_t>(lane)].group].OnNotCounted(sent_at);
  }
  // One request from the group of `lane` (for a resend that must go with that lane's token).
  RatePermit TakeLane(int lane, absl::Time now) {
    absl::MutexLock lock(&mu_);
    return limiters_[lanes_[static_cast<size_t>(lane)].group].Acquire(now);
  }
  // RateLimiter::Reconfirm for the request `lane` counted at `sent_at`, going out at `now`.
  bool Reconfirm(int lane, absl::Time sent_at, absl::Time now) {
    absl::MutexLock lock(&mu_);
    return limiters_[lanes_[static_cast<size_t>(lane)].group].Reconfirm(sent_at, now);
  }
  // Retires `lane`; true when it was live (the caller then tells the user once).
  bool Retire(int lane) {
    absl::MutexLock lock(&mu_);
    LaneState& state = lanes_[static_cast<size_t>(lane)];
    const bool was_live = !state.retired;
    state.retired = true;
    return was_live;
  }
  int64_t Limit(absl::string_view group) const {
    absl::MutexLock lock(&mu_);
    for (size_t g = 0; g < group_names_.size(); ++g) {
      if (group_names_[g] == group) return limiters_[g].limit();
    }
    return 0;
  }

 private:
  struct LaneState {
    CredentialLane lane;
    size_t group;
    bool retired;
  };
  mutable absl::Mutex mu_;
  std::vector<LaneState> lanes_ ABSL_GUARDED_BY(mu_);  // fixed size after construction
  std::vector<std::string> group_names_;               // fixed after construction
  std::vector<RateLimiter> limiters_ ABSL_GUARDED_BY(mu_);
  size_t next_ ABSL_GUARDED_BY(mu_) = 0;
};

}  // namespace internal
}  // namespace enrich::transport

#endif  // ENRICH_TRANSPORT_INTERNAL_CREDENTIAL_BUDGET_H_
