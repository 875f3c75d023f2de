#include "transport/redis/redis_quota.h"

#include <algorithm>
#include <utility>

#include "absl/strings/str_cat.h"

namespace enrich::transport {
namespace {

// The shared limit while the client knows none: the script then only checks the pause.
constexpr int64_t kPauseOnly = int64_t{1} << 40;

void Ignore(absl::Status) {}

}  // namespace

RedisQuota::RedisQuota(RedisQuotaOptions options, const schema::Clock& clock)
    : options_(std::move(options)), clock_(clock) {}

void RedisQuota::Attach(RedisClient& redis) {
  absl::MutexLock lock(&mu_);
  redis_ = &redis;
}

void RedisQuota::Detach() {
  absl::MutexLock lock(&mu_);
  redis_ = nullptr;
}

std::string RedisQuota::GroupKey(absl::string_view group) const {
  return absl::StrCat(options_.endpoint, "|", group);
}

RedisQuota::Group& RedisQuota::GroupFor(absl::string_view group, int64_t limit,
                                        absl::Duration window) {
  auto it = groups_.find(group);
  if (it == groups_.end()) it = groups_.emplace(std::string(group), Group{}).first;
  Group& g = it->second;
  if (g.limiter == nullptr || g.limit != limit || g.window != window) {
    SharedRateOptions shared;
    // A new limit keeps what the old limiter knew of the workers.
    shared.expected_workers = options_.expected_workers;
    if (g.limiter != nullptr) {
      shared.expected_workers = std::max(shared.expected_workers, g.limiter->peak_workers());
      g.retired.push_back(std::move(g.limiter));
    }
    shared.prefix = options_.prefix;
    shared.group = GroupKey(group);
    shared.limit = limit;
    shared.window = window;
    shared.worker_id = options_.worker_id;
    g.limiter = std::make_unique<SharedRateLimiter>(*redis_, std::move(shared), clock_);
    g.limit = limit;
    g.window = window;
  }
  return g;
}

void RedisQuota::Acquire(absl::string_view group, int64_t limit, absl::Duration window,
                         Callback done) {
  SharedRateLimiter* limiter = nullptr;
  std::optional<Grant> alone;
  {
    absl::MutexLock lock(&mu_);
    if (redis_ != nullptr) {
      Group& g = GroupFor(group, limit > 0 ? limit : kPauseOnly, window);
      // Alone until the client has its connection back: no request waits for a reconnect.
      if (g.local.has_value() && !redis_->up()) {
        alone = LocalGrant(g);
      } else {
        limiter = g.limiter.get();
      }
    }
  }
  if (alone.has_value()) return done(*std::move(alone));
  if (limiter == nullptr) return done(Grant{});
  limiter->Acquire([this, name = std::string(group),
                    done = std::move(done)](absl::StatusOr<SharedPermit> permit) {
    if (!permit.ok()) return done(GoAlone(name, permit.status()));
    MarkBack(name);
    Grant grant;
    grant.go = permit->granted;
    grant.wait = permit->wait;
    grant.ticket = std::move(permit->ticket);
    {
      absl::MutexLock lock(&mu_);
      ++(grant.go ? counters_.granted : counters_.waits);
    }
    done(std::move(grant));
  });
}

RedisQuota::Grant RedisQuota::LocalGrant(Group& g) {
  const RatePermit permit = g.local->Acquire(clock_.Now());
  Grant grant;
  grant.go = permit.kind == RatePermit::Kind::kGo;
  grant.wait = permit.wait;
  ++(grant.go ? counters_.alone : counters_.waits);
  return grant;
}

RedisQuota::Grant RedisQuota::GoAlone(const std::string& group, const absl::Status& why) {
  std::string notice;
  Grant grant;
  {
    absl::MutexLock lock(&mu_);
    auto it = groups_.find(group);
    if (it == groups_.end() || it->second.limiter == nullptr) return grant;
    Group& g = it->second;
    if (!g.local.has_value()) {
      RateLimitOptions local;
      local.limit = g.limit == kPauseOnly ? 0 : g.limiter->LocalShare();
      local.window = g.window;
      local.max_wait = absl::InfiniteDuration();
      local.learn_pace = false;
      g.local.emplace(local);
      for (absl::Time at : g.limiter->OwnGrants()) g.local->Acquire(at);
      ++counters_.losses;
      notice = local.limit > 0
                   ? absl::StrCat("shared quota unavailable (", why.message(),
                                  "); pacing alone at ", local.limit, " requests per ",
                                  absl::FormatDuration(local.window),
                                  " (this worker's share) until Redis is back")
                   : absl::StrCat("shared quota unavailable (", why.message(),
                                  "); pacing alone until Redis is back");
    }
    grant = LocalGrant(g);
  }
  if (!notice.empty()) Notice(notice);
  return grant;
}

void RedisQuota::MarkBack(const std::string& group) {
  bool back = false;
  {
    absl::MutexLock lock(&mu_);
    auto it = groups_.find(group);
    if (it != groups_.end() && it->second.local.has_value()) {
      it->second.local.reset();
      back = true;
    }
  }
  if (back) Notice("shared quota available again: pacing with the other workers");
}

SharedRateLimiter* RedisQuota::SharedOf(absl::string_view group) {
  absl::MutexLock lock(&mu_);
  if (redis_ == nullptr) return nullptr;
  auto it = groups_.find(group);
  if (it == groups_.end() || it->second.local.has_value()) return nullptr;
  return it->second.limiter.get();
}

void RedisQuota::Uncount(absl::string_view group, const std::string& ticket) {
  if (SharedRateLimiter* limiter = SharedOf(group)) limiter->Uncount(ticket, Ignore);
}

void RedisQuota::Restamp(absl::string_view group, const std::string& ticket) {
  if (SharedRateLimiter* limiter = SharedOf(group)) limiter->Restamp(ticket, Ignore);
}

void RedisQuota::Pause(absl::string_view group, absl::Duration duration) {
  if (SharedRateLimiter* limiter = SharedOf(group)) limiter->Pause(duration, Ignore);
}

RedisQuotaCounters RedisQuota::counters() const {
  absl::MutexLock lock(&mu_);
  return counters_;
}

void RedisQuota::Notice(absl::string_view text) const {
  if (options_.notice) options_.notice(text);
}

}  // namespace enrich::transport
