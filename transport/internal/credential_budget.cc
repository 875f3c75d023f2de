#include "transport/internal/credential_budget.h"

#include <utility>

namespace enrich::transport::internal {

CredentialBudget::CredentialBudget(std::vector<CredentialLane> lanes,
                                   const RateLimitOptions& options) {
  for (CredentialLane& lane : lanes) {
    size_t group = 0;
    while (group < group_names_.size() && group_names_[group] != lane.group) ++group;
    if (group == group_names_.size()) {
      group_names_.push_back(lane.group);
      limiters_.emplace_back(options);
    }
    lanes_.push_back(LaneState{std::move(lane), group, false});
  }
}

CredentialBudget::Pick CredentialBudget::Take(absl::Time now) {
  absl::MutexLock lock(&mu_);
  Pick pick;
  int64_t best = -1;
  for (size_t i = 0; i < lanes_.size(); ++i) {
    const size_t lane = (next_ + i) % lanes_.size();
    if (lanes_[lane].retired) continue;
    const int64_t available = limiters_[lanes_[lane].group].Available(now);
    if (available > best) {
      best = available;
      pick.lane = static_cast<int>(lane);
    }
  }
  if (pick.lane < 0) return pick;
  next_ = static_cast<size_t>(pick.lane) + 1;
  if (best > 0) {
    pick.permit = limiters_[lanes_[static_cast<size_t>(pick.lane)].group].Acquire(now);
    pick.group = group_names_[lanes_[static_cast<size_t>(pick.lane)].group];
    return pick;
  }
  // Every group is out of budget (or paused): report the shortest wait.
  pick.permit.wait = absl::InfiniteDuration();
  for (size_t lane = 0; lane < lanes_.size(); ++lane) {
    if (lanes_[lane].retired) continue;
    RatePermit p = limiters_[lanes_[lane].group].Acquire(now);
    if (p.kind == RatePermit::Kind::kGo) {  // budget came back meanwhile
      pick.lane = static_cast<int>(lane);
      pick.permit = p;
      break;
    }
    if (p.wait < pick.permit.wait) {
      pick.lane = static_cast<int>(lane);
      pick.permit = p;
    }
  }
  pick.group = group_names_[lanes_[static_cast<size_t>(pick.lane)].group];
  return pick;
}

}  // namespace enrich::transport::internal
