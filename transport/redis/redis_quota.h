#ifndef ENRICH_TRANSPORT_REDIS_REDIS_QUOTA_H_
#define ENRICH_TRANSPORT_REDIS_REDIS_QUOTA_H_

// The org's quota shared by the workers of `run --redis`: the SharedQuota the CTIA client asks
// once per HTTP request (transport/shared_quota.h), kept in Redis by one SharedRateLimiter per
// budget group (key: the CTIA endpoint + the credential group, as the client's own budget groups
// are keyed). The limit is the client's: --rate-limit, or the one learned from CTIA's headers,
// taken as the quota of every worker together. While no limit is known, only a shared pause
// (after a 429) holds requests back.
//
// Redis lost (a call fails with RedisUnavailable, or any other error): the worker goes on
// alone, paced by a local RateLimiter at SharedRateLimiter::LocalShare() (the limit divided by
// the most workers known at once), seeded with the worker's own grants of the last window (OwnGrants()),
// and says so once; when the client has reconnected, the next request asks Redis again, and
// the worker says it is back. No request waits for Redis or fails because of it.
//
// Contract: thread-safe. Attach() before the first request that should be shared (before it,
// and after Detach(), every request is granted at once); Detach() before the RedisClient is
// destroyed. Outlives the CTIA client that asks it.

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/strings/string_view.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "schema/clock.h"
#include "transport/rate_limiter.h"
#include "transport/redis/redis_client.h"
#include "transport/redis/shared_rate_limiter.h"
#include "transport/shared_quota.h"

namespace enrich::transport {

struct RedisQuotaOptions {
  std::string prefix = "enrich:v1";
  std::string endpoint;   // the CTIA deployment: part of every group's key
  std::string worker_id;  // unique per worker process
  // The workers known to share the quota from the start (N of --shard K/N; 1 if unknown):
  // the floor of the count LocalShare() divides by (SharedRateOptions::expected_workers).
  int64_t expected_workers = 1;
  std::function<void(absl::string_view)> notice;  // lost / back messages; may be empty
};

struct RedisQuotaCounters {
  int64_t granted = 0;  // requests granted through Redis
  int64_t waits = 0;    // answers "wait" (shared window full, or paused)
  int64_t alone = 0;    // requests granted by the local share while Redis was lost
  int64_t losses = 0;   // times this worker went on alone
};

class RedisQuota final : public SharedQuota {
 public:
  RedisQuota(RedisQuotaOptions options, const schema::Clock& clock);

  void Attach(RedisClient& redis);
  void Detach();

  void Acquire(absl::string_view group, int64_t limit, absl::Duration window,
               Callback done) override;
  void Uncount(absl::string_view group, const std::string& ticket) override;
  void Restamp(absl::string_view group, const std::string& ticket) override;
  void Pause(absl::string_view group, absl::Duration duration) override;

  RedisQuotaCounters counters() const;
  // The Redis key suffix (SharedRateOptions::group) of budget group `group`.
  std::string GroupKey(absl::string_view group) const;

 private:
  struct Group {
    int64_t limit = -1;  // of `limiter` (kPauseOnly while the client knows none)
    absl::Duration window;
    std::unique_ptr<SharedRateLimiter> limiter;
    // Limiters replaced by a new limit: kept, their callbacks may still be pending.
    std::vector<std::unique_ptr<SharedRateLimiter>> retired;
    std::optional<RateLimiter> local;  // set while Redis is lost
  };
  // The group's limiter for (limit, window), made or replaced as needed.
  Group& GroupFor(absl::string_view group, int64_t limit, absl::Duration window)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // The limiter of `group` while attached (for Uncount, Restamp, Pause), else null.
  SharedRateLimiter* SharedOf(absl::string_view group) ABSL_LOCKS_EXCLUDED(mu_);
  // Redis failed for `group`: the local share decides, from now until Redis is back.
  Grant GoAlone(const std::string& group, const absl::Status& why);
  Grant LocalGrant(Group& g) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void MarkBack(const std::string& group);
  void Notice(absl::string_view text) const;

  const RedisQuotaOptions options_;
  const schema::Clock& clock_;
  mutable absl::Mutex mu_;
  RedisClient* redis_ ABSL_GUARDED_BY(mu_) = nullptr;
  std::map<std::string, Group, std::less<>> groups_ ABSL_GUARDED_BY(mu_);
  RedisQuotaCounters counters_ ABSL_GUARDED_BY(mu_);
};

}  // namespace enrich::transport

#endif  // ENRICH_TRANSPORT_REDIS_REDIS_QUOTA_H_
