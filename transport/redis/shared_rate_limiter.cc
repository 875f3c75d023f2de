#include "transport/redis/shared_rate_limiter.h"

#include <algorithm>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"

namespace enrich::transport {
namespace {

// KEYS: grants (zset), pause, workers (zset). ARGV: window µs, limit, worker, ticket,
// worker_ttl µs. Times are Redis' (TIME), in µs: exact in a Lua double until year 2255.
// → {granted 0|1, wait µs, used, workers, now µs, paused 0|1}
const RedisScript& AcquireScript() {
  static const RedisScript* script = new RedisScript(absl::StrCat(kLuaNowUs, R"lua(
local window = tonumber(ARGV[1])
local limit = tonumber(ARGV[2])
local worker_ttl = tonumber(ARGV[5])
redis.call('ZADD', KEYS[3], now, ARGV[3])
redis.call('ZREMRANGEBYSCORE', KEYS[3], '-inf', now - worker_ttl)
redis.call('PEXPIRE', KEYS[3], math.ceil(worker_ttl / 1000))
local workers = redis.call('ZCARD', KEYS[3])
local paused = redis.call('PTTL', KEYS[2])
if paused > 0 then return {0, paused * 1000, -1, workers, now, 1} end
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now - window)
local used = redis.call('ZCARD', KEYS[1])
if used < limit then
  redis.call('ZADD', KEYS[1], now, ARGV[4])
  redis.call('PEXPIRE', KEYS[1], math.ceil(window / 1000) + 1000)
  return {1, 0, used + 1, workers, now, 0}
end
local oldest = redis.call('ZRANGE', KEYS[1], 0, 0, 'WITHSCORES')
return {0, tonumber(oldest[2]) + window - now, used, workers, now, 0}
)lua"));
  return *script;
}

// KEYS: pause. ARGV: ms. Extends the pause only.
const RedisScript& PauseScript() {
  static const RedisScript* script = new RedisScript(R"lua(
if redis.call('PTTL', KEYS[1]) < tonumber(ARGV[1]) then
  redis.call('SET', KEYS[1], '1', 'PX', ARGV[1])
end
return 1
)lua");
  return *script;
}

// KEYS: grants. ARGV: ticket. Moves the grant to Redis' time now (if it is still there).
const RedisScript& RestampScript() {
  static const RedisScript* script = new RedisScript(absl::StrCat(kLuaNowUs, R"lua(
return redis.call('ZADD', KEYS[1], 'XX', now, ARGV[1])
)lua"));
  return *script;
}

}  // namespace

SharedRateLimiter::SharedRateLimiter(RedisClient& redis, SharedRateOptions options,
                                     const schema::Clock& clock)
    : redis_(redis),
      options_(std::move(options)),
      clock_(clock),
      peak_workers_(std::max<int64_t>(1, options_.expected_workers)) {
  // One hash tag per group: its three keys live in one Redis Cluster slot.
  const std::string tag = absl::StrCat("{", options_.group, "}");
  rate_key_ = absl::StrCat(options_.prefix, ":rate:", tag);
  pause_key_ = absl::StrCat(options_.prefix, ":pause:", tag);
  workers_key_ = absl::StrCat(options_.prefix, ":workers:", tag);
}

void SharedRateLimiter::Acquire(PermitCallback callback) {
  std::string ticket;
  {
    absl::MutexLock lock(&mu_);
    ticket = absl::StrCat(options_.worker_id, ":", next_ticket_++);
  }
  redis_.Eval(
      AcquireScript(), {rate_key_, pause_key_, workers_key_},
      {std::to_string(absl::ToInt64Microseconds(options_.window)), std::to_string(options_.limit),
       options_.worker_id, ticket, std::to_string(absl::ToInt64Microseconds(options_.worker_ttl))},
      [this, ticket, callback = std::move(callback)](absl::StatusOr<RedisReply> reply) {
        if (!reply.ok()) return callback(reply.status());
        const auto& e = reply->elements;
        if (e.size() != 6) {
          return callback(absl::InternalError("redis: unexpected answer to the limiter script"));
        }
        SharedPermit permit;
        permit.granted = e[0].integer == 1;
        permit.wait = absl::Microseconds(std::max<int64_t>(0, e[1].integer));
        permit.used = e[2].integer;
        permit.workers = std::max<int64_t>(1, e[3].integer);
        permit.granted_at = absl::FromUnixMicros(e[4].integer);
        permit.paused = e[5].integer == 1;
        if (permit.granted) permit.ticket = ticket;
        {
          absl::MutexLock lock(&mu_);
          workers_ = permit.workers;
          peak_workers_ = std::max(peak_workers_, permit.workers);
          const absl::Time now = clock_.Now();
          if (permit.granted) own_grants_.push_back(now);
          while (!own_grants_.empty() && own_grants_.front() <= now - options_.window) {
            own_grants_.pop_front();
          }
        }
        callback(std::move(permit));
      });
}

void SharedRateLimiter::Uncount(const std::string& ticket, DoneCallback callback) {
  redis_.Command({"ZREM", rate_key_, ticket},
                 [callback = std::move(callback)](absl::StatusOr<RedisReply> reply) {
                   callback(reply.status());
                 });
}

void SharedRateLimiter::Restamp(const std::string& ticket, DoneCallback callback) {
  redis_.Eval(RestampScript(), {rate_key_}, {ticket},
              [callback = std::move(callback)](absl::StatusOr<RedisReply> reply) {
                callback(reply.status());
              });
}

void SharedRateLimiter::Pause(absl::Duration duration, DoneCallback callback) {
  redis_.Eval(PauseScript(), {pause_key_},
              {std::to_string(std::max<int64_t>(1, absl::ToInt64Milliseconds(duration)))},
              [callback = std::move(callback)](absl::StatusOr<RedisReply> reply) {
                callback(reply.status());
              });
}

int64_t SharedRateLimiter::LocalShare() const {
  absl::MutexLock lock(&mu_);
  if (options_.limit <= 0) return 0;
  return std::max<int64_t>(1, options_.limit / peak_workers_);
}

int64_t SharedRateLimiter::peak_workers() const {
  absl::MutexLock lock(&mu_);
  return peak_workers_;
}

std::vector<absl::Time> SharedRateLimiter::OwnGrants() const {
  absl::MutexLock lock(&mu_);
  const absl::Time since = clock_.Now() - options_.window;
  std::vector<absl::Time> out;
  for (absl::Time t : own_grants_) {
    if (t > since) out.push_back(t);
  }
  return out;
}

int64_t SharedRateLimiter::workers() const {
  absl::MutexLock lock(&mu_);
  return workers_;
}

}  // namespace enrich::transport
