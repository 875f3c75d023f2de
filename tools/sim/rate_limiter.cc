#include "tools/sim/rate_limiter.h"

#include <algorithm>

#include "absl/status/status.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"

namespace enrich::sim {

RateLimiter::RateLimiter(int64_t limit, absl::Duration window,
                         std::vector<std::pair<std::string, int64_t>> customs)
    : limit_(limit), window_(window), customs_(customs.begin(), customs.end()) {}

RateLimiter::Decision RateLimiter::Admit(const std::vector<std::string>& groups,
                                         absl::Time now) {
  Decision d;
  if (limit_ <= 0 || groups.empty()) return d;  // requests without an identity pass (§9.1)
  // The group with the highest limit decides (turnstile-mw `limit-fn`).
  const std::string* group = &groups.front();
  int64_t limit = -1;
  for (const std::string& g : groups) {
    auto it = customs_.find(g);
    const int64_t l = it == customs_.end() ? limit_ : it->second;
    if (l > limit) {
      limit = l;
      group = &g;
    }
  }
  d.limit = limit;
  absl::MutexLock lock(&mu_);
  std::deque<absl::Time>& log = logs_[*group];
  // Entries at or before now − window have left the window.
  while (!log.empty() && log.front() + window_ <= now) log.pop_front();
  if (static_cast<int64_t>(log.size()) >= limit) {
    d.allowed = false;
    d.remaining = 0;
    const absl::Duration wait = log.empty() ? window_ : log.front() + window_ - now;
    d.retry_after_seconds = std::max<int64_t>(0, absl::ToInt64Seconds(absl::Ceil(
                                                     wait, absl::Seconds(1))));
    return d;
  }
  log.push_back(now);
  d.remaining = limit - static_cast<int64_t>(log.size());
  return d;
}

void RateLimiter::Reset() {
  absl::MutexLock lock(&mu_);
  logs_.clear();
}

}  // namespace enrich::sim
