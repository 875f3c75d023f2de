#ifndef ENRICH_TRANSPORT_REDIS_SHARED_RATE_LIMITER_H_
#define ENRICH_TRANSPORT_REDIS_SHARED_RATE_LIMITER_H_

// The request budget of one budget group (a CTIA org) shared by every worker through Redis,
// so N workers together stay under the org's quota without 429s. Asked before each CTIA
// request, beside the worker's own RateLimiter (rate_limiter.h), which keeps pacing 429s.
//
// One Lua script (EVALSHA, loaded once per server) keeps CTIA's own model (reference
// ctia-api.md §9.1: a sliding log of allowed requests over the window, in Redis): a sorted set
// of grants scored by Redis' clock (TIME, so workers' clocks need not agree), trimmed to the
// window, granting while fewer than `limit` are in it, else answering how long until the
// oldest leaves. A 429 pauses the whole group (Pause) until its Retry-After. The script also
// keeps a heartbeat set of the group's workers, so every answer says how many share the
// quota: when Redis is lost the caller goes on alone at LocalShare() (limit / workers per
// window, seeded with OwnGrants()), a safe share, and comes back when Redis answers again.

#include <cstdint>
#include <deque>
#include <functional>
#include <string>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "schema/clock.h"
#include "transport/redis/redis_client.h"

namespace enrich::transport {

struct SharedRateOptions {
  std::string prefix = "enrich:v1";
  std::string group = "default";  // the budget group (org) whose quota is shared
  int64_t limit = 18000;          // requests per window, all workers together
  absl::Duration window = absl::Hours(1);
  std::string worker_id;          // unique per worker process
  absl::Duration worker_ttl = absl::Seconds(30);  // a silent worker stops counting after this
  // The workers the run knows share the quota before Redis has said so (N of --shard K/N): a
  // worker that loses Redis early, having seen only itself, still takes no more than its share.
  int64_t expected_workers = 1;
};

// The script's answer to one Acquire().
struct SharedPermit {
  bool granted = false;
  absl::Duration wait;   // not granted: ask again after this (the oldest grant's exit, or pause)
  bool paused = false;   // not granted because the group is paused after a 429
  int64_t used = 0;      // grants in the window (this one included)
  int64_t workers = 1;   // workers of the group heard from within worker_ttl
  std::string ticket;    // granted: names the grant for Uncount()
  absl::Time granted_at;  // Redis' clock at the decision
};

// Thread-safe; callbacks run on the RedisClient's strand and must not block. Failures are
// RedisUnavailable when Redis is not there (the caller then paces itself at LocalShare()).
class SharedRateLimiter {
 public:
  using PermitCallback = std::function<void(absl::StatusOr<SharedPermit>)>;
  using DoneCallback = std::function<void(absl::Status)>;

  SharedRateLimiter(RedisClient& redis, SharedRateOptions options, const schema::Clock& clock);

  // Asks for one request now: granted (counted for every worker), or the time to wait.
  void Acquire(PermitCallback callback);
  // The granted request never reached CTIA's limiter (a transport error before an answer, or a
  // 429, which CTIA does not record): its grant is removed.
  void Uncount(const std::string& ticket, DoneCallback callback);
  // The granted request went out late (after a wait for a concurrency slot), or CTIA answered
  // it: its grant is logged again at Redis' time now, so the shared window stays at or behind
  // CTIA's (which counted the request on its arrival), never ahead of it. A grant no longer in
  // the log is left out.
  void Restamp(const std::string& ticket, DoneCallback callback);
  // CTIA answered 429 with this Retry-After: no worker of the group is granted anything for
  // `duration` (an existing longer pause is kept).
  void Pause(absl::Duration duration, DoneCallback callback);

  // The requests per window this worker may send alone while Redis is lost: the limit divided
  // by the most workers this limiter has known at once (the most Redis has counted, or
  // expected_workers if more), at least 1 while the limit is. The most, not the last count:
  // a worker that started late, or was silent for a while, may not be in the last count, and
  // the workers that lost Redis with this one do not count each other any more. So all of them
  // together stay under the quota; a run whose workers have finished paces slower than it
  // might, until Redis is back.
  int64_t LocalShare() const;
  // The most workers this limiter has known at once (see LocalShare).
  int64_t peak_workers() const;
  // This worker's own grants (local clock) within the last window: a local RateLimiter seeded
  // with them (Acquire at each) does not spend in the first window after a loss what this
  // worker already spent through Redis.
  std::vector<absl::Time> OwnGrants() const;
  int64_t workers() const;
  const SharedRateOptions& options() const { return options_; }

 private:
  RedisClient& redis_;
  const SharedRateOptions options_;
  const schema::Clock& clock_;
  std::string rate_key_, pause_key_, workers_key_;
  mutable absl::Mutex mu_;
  int64_t next_ticket_ ABSL_GUARDED_BY(mu_) = 0;
  int64_t workers_ ABSL_GUARDED_BY(mu_) = 1;
  int64_t peak_workers_ ABSL_GUARDED_BY(mu_) = 1;
  std::deque<absl::Time> own_grants_ ABSL_GUARDED_BY(mu_);
};

}  // namespace enrich::transport

#endif  // ENRICH_TRANSPORT_REDIS_SHARED_RATE_LIMITER_H_
