#include "transport/redis/shared_lookups.h"

#include <algorithm>
#include <memory>
#include <set>
#include <string>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "boost/asio/steady_timer.hpp"

namespace enrich::transport {
namespace {

namespace net = boost::asio;

// KEYS: value, lease. ARGV: worker, lease ms, "1" to take handed leases (else "0").
// → {1, value} cached | {2, ""} lease taken (or renewed: it was ours) | {3, lease pttl ms}
// | {4, ""} lease taken from another worker's hand-off ("<other>#handed"): a running worker
// that needs a handed lookup asks it in its own batch rather than wait for the last worker.
const RedisScript& ClaimScript() {
  static const RedisScript* script = new RedisScript(R"lua(
local v = redis.call('GET', KEYS[1])
if v then return {1, v} end
if redis.call('SET', KEYS[2], ARGV[1], 'NX', 'PX', ARGV[2]) then return {2, ''} end
local holder = redis.call('GET', KEYS[2])
if holder == ARGV[1] then
  redis.call('PEXPIRE', KEYS[2], ARGV[2])
  return {2, ''}
end
if ARGV[3] == '1' and holder and holder ~= ARGV[1] .. '#handed' and
    string.sub(holder, -7) == '#handed' then
  redis.call('SET', KEYS[2], ARGV[1], 'PX', ARGV[2])
  return {4, ''}
end
return {3, redis.call('PTTL', KEYS[2])}
)lua");
  return *script;
}

// KEYS: value, lease. ARGV: worker, encoded answer, ttl ms (0: do not write).
const RedisScript& SettleScript() {
  static const RedisScript* script = new RedisScript(R"lua(
if tonumber(ARGV[3]) > 0 then redis.call('SET', KEYS[1], ARGV[2], 'PX', ARGV[3]) end
if redis.call('GET', KEYS[2]) == ARGV[1] then redis.call('DEL', KEYS[2]) end
return 1
)lua");
  return *script;
}

// KEYS: lease. ARGV: worker, lease ms. Extends the lease if it is still this worker's.
const RedisScript& RenewScript() {
  static const RedisScript* script = new RedisScript(R"lua(
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('PEXPIRE', KEYS[1], ARGV[2]) end
return 0
)lua");
  return *script;
}

// KEYS: lease. ARGV: worker, lease ms. A lease still this worker's becomes "<worker>#handed".
const RedisScript& HandOverScript() {
  static const RedisScript* script = new RedisScript(R"lua(
if redis.call('GET', KEYS[1]) ~= ARGV[1] then return 0 end
redis.call('SET', KEYS[1], ARGV[1] .. '#handed', 'PX', ARGV[2])
return 1
)lua");
  return *script;
}

// KEYS: value, lease. ARGV: hander, worker, lease ms. The handed lease becomes this worker's,
// unless the answer is there or the lease is no longer the hander's hand-off.
const RedisScript& AdoptScript() {
  static const RedisScript* script = new RedisScript(R"lua(
if redis.call('EXISTS', KEYS[1]) == 1 then return 0 end
if redis.call('GET', KEYS[2]) ~= ARGV[1] .. '#handed' then return 0 end
redis.call('SET', KEYS[2], ARGV[2], 'PX', ARGV[3])
return 1
)lua");
  return *script;
}

int64_t Millis(absl::Duration d) { return std::max<int64_t>(1, absl::ToInt64Milliseconds(d)); }

}  // namespace

// Shared with the renewal timer's handler, which may run after SharedLookups is gone: `alive`
// (under `mu`) says whether `redis` may still be used.
struct SharedLookups::Held {
  Held(RedisClient& r, std::string w, absl::Duration l)
      : redis(r), worker(std::move(w)), lease(l), timer(r.executor()) {}
  RedisClient& redis;
  const std::string worker;
  const absl::Duration lease;
  absl::Mutex mu;
  bool alive ABSL_GUARDED_BY(mu) = true;
  bool armed ABSL_GUARDED_BY(mu) = false;
  std::set<std::string> keys ABSL_GUARDED_BY(mu);
  net::steady_timer timer ABSL_GUARDED_BY(mu);
};

SharedLookups::SharedLookups(RedisClient& redis, SharedLookupOptions options,
                             const schema::Clock& clock)
    : redis_(redis),
      options_(std::move(options)),
      clock_(clock),
      held_(std::make_shared<Held>(redis, options_.worker_id, options_.lease)) {}

SharedLookups::~SharedLookups() {
  absl::MutexLock lock(&held_->mu);
  held_->alive = false;
  held_->timer.cancel();
}

void SharedLookups::Hold(const SharedLookupKey& key) {
  absl::MutexLock lock(&held_->mu);
  held_->keys.insert(LeaseKey(key));
  if (held_->armed) return;
  held_->armed = true;
  RenewLater(held_);
}

void SharedLookups::Unhold(const SharedLookupKey& key) {
  absl::MutexLock lock(&held_->mu);
  held_->keys.erase(LeaseKey(key));
}

// Every lease / 3 while leases are held: each is renewed (pipelined, answers ignored: a lease
// another worker took over meanwhile stays its).
void SharedLookups::RenewLater(const std::shared_ptr<Held>& held) {
  held->timer.expires_after(absl::ToChronoNanoseconds(held->lease / 3));
  held->timer.async_wait([held](const boost::system::error_code& ec) {
    absl::MutexLock lock(&held->mu);
    if (ec || !held->alive) return;
    const std::string ms = std::to_string(Millis(held->lease));
    for (const std::string& key : held->keys) {
      held->redis.Eval(RenewScript(), {key}, {held->worker, ms},
                       [](absl::StatusOr<RedisReply>) {});
    }
    held->armed = !held->keys.empty();
    if (held->armed) RenewLater(held);
  });
}

std::string SharedLookups::ValueKey(const SharedLookupKey& key) const {
  return absl::StrCat(options_.prefix, ":verdict:{", SharedKeyText(key, options_.details), "}");
}

std::string SharedLookups::LeaseKey(const SharedLookupKey& key) const {
  return absl::StrCat(options_.prefix, ":lease:{", SharedKeyText(key, options_.details), "}");
}

void SharedLookups::Claim(const SharedLookupKey& key, ClaimCallback callback) {
  ClaimOnce(key, false, std::move(callback));
}

void SharedLookups::ClaimOnce(const SharedLookupKey& key, bool retried, ClaimCallback callback) {
  redis_.Eval(
      ClaimScript(), {ValueKey(key), LeaseKey(key)},
      {options_.worker_id, std::to_string(Millis(options_.lease)),
       adopt_handoffs_.load() ? "1" : "0"},
      [this, key, retried, callback = std::move(callback)](absl::StatusOr<RedisReply> reply) {
        if (!reply.ok()) return callback(reply.status());
        if (reply->elements.size() != 2) {
          return callback(absl::InternalError("redis: unexpected answer to the claim script"));
        }
        const int64_t kind = reply->elements[0].integer;
        SharedClaim claim;
        if (kind == 1) {
          auto decoded = DecodeSharedVerdict(options_.details, key, reply->elements[1].str);
          if (!decoded.ok()) {
            // A damaged entry is deleted and never served; claim again (once) for the lease.
            ++counters_.corrupt;
            if (retried) return callback(decoded.status());
            redis_.Command({"DEL", ValueKey(key)},
                           [this, key, callback](absl::StatusOr<RedisReply> del) {
                             if (!del.ok()) return callback(del.status());
                             ClaimOnce(key, true, callback);
                           });
            return;
          }
          ++counters_.hits;
          claim.kind = SharedClaim::Kind::kCached;
          claim.cached = std::move(*decoded);
        } else if ((kind == 2 || kind == 4) && Adopted(key)) {
          // This worker asks it for the hand-off: its own waiter waits for that answer.
          claim.kind = SharedClaim::Kind::kHeld;
          claim.retry_after = options_.poll_max;
        } else if (kind == 2 || kind == 4) {
          ++counters_.leases;
          Hold(key);
          claim.kind = SharedClaim::Kind::kLeased;
          claim.from_handoff = kind == 4;
        } else {
          ++counters_.held;
          claim.kind = SharedClaim::Kind::kHeld;
          claim.retry_after = absl::Milliseconds(std::max<int64_t>(0, reply->elements[1].integer));
        }
        callback(std::move(claim));
      });
}

void SharedLookups::AwaitAnswer(const SharedLookupKey& key, ClaimCallback callback) {
  Poll(key, options_.poll_initial, std::move(callback));
}

void SharedLookups::Poll(SharedLookupKey key, absl::Duration wait, ClaimCallback callback) {
  Claim(key, [this, key, wait, callback = std::move(callback)](
                 absl::StatusOr<SharedClaim> claim) mutable {
    if (!claim.ok() || claim->kind != SharedClaim::Kind::kHeld) {
      if (claim.ok() && claim->kind == SharedClaim::Kind::kLeased) ++counters_.takeovers;
      return callback(std::move(claim));
    }
    // Not past the lease's end (+1 ms): an expired lease is taken over at the next claim.
    const absl::Duration sleep = std::min(wait, claim->retry_after + absl::Milliseconds(1));
    auto timer = std::make_shared<net::steady_timer>(redis_.executor(),
                                                     absl::ToChronoNanoseconds(sleep));
    timer->async_wait([this, timer, key = std::move(key), next = std::min(wait * 2, options_.poll_max),
                       callback = std::move(callback)](const boost::system::error_code&) mutable {
      Poll(std::move(key), next, std::move(callback));
    });
  });
}

void SharedLookups::Settle(const SharedLookupKey& key, const schema::VerdictResult& result,
                           absl::Duration ttl, DoneCallback callback) {
  Unhold(key);
  Unadopt(key);
  const int64_t ttl_ms = ttl <= absl::ZeroDuration() ? 0 : Millis(std::min(ttl, options_.max_ttl));
  redis_.Eval(SettleScript(), {ValueKey(key), LeaseKey(key)},
              {options_.worker_id,
               ttl_ms > 0 ? EncodeSharedVerdict(options_.details, result) : std::string(),
               std::to_string(ttl_ms)},
              [callback = std::move(callback)](absl::StatusOr<RedisReply> reply) {
                callback(reply.status());
              });
}

void SharedLookups::Release(const SharedLookupKey& key, DoneCallback callback) {
  Unhold(key);
  Unadopt(key);
  redis_.Eval(SettleScript(), {ValueKey(key), LeaseKey(key)}, {options_.worker_id, "", "0"},
              [callback = std::move(callback)](absl::StatusOr<RedisReply> reply) {
                callback(reply.status());
              });
}

void SharedLookups::HandOver(const std::vector<SharedLookupKey>& keys) {
  const std::string ms = std::to_string(Millis(options_.lease));
  for (const SharedLookupKey& key : keys) {
    Unhold(key);
    redis_.Eval(HandOverScript(), {LeaseKey(key)}, {options_.worker_id, ms},
                [](absl::StatusOr<RedisReply>) {});
  }
}

void SharedLookups::Adopt(const SharedLookupKey& key, const std::string& hander,
                          std::function<void(absl::StatusOr<bool>)> callback) {
  redis_.Eval(AdoptScript(), {ValueKey(key), LeaseKey(key)},
              {hander, options_.worker_id, std::to_string(Millis(options_.lease))},
              [this, key, callback = std::move(callback)](absl::StatusOr<RedisReply> reply) {
                if (!reply.ok()) return callback(reply.status());
                if (reply->integer != 1) return callback(false);
                {
                  absl::MutexLock lock(&adopted_mu_);
                  adopted_.insert(LeaseKey(key));
                }
                Hold(key);
                callback(true);
              });
}

bool SharedLookups::Adopted(const SharedLookupKey& key) const {
  absl::MutexLock lock(&adopted_mu_);
  return adopted_.count(LeaseKey(key)) > 0;
}

void SharedLookups::Unadopt(const SharedLookupKey& key) {
  absl::MutexLock lock(&adopted_mu_);
  adopted_.erase(LeaseKey(key));
}

absl::Duration SharedLookups::TtlFor(const schema::VerdictResult& result,
                                     absl::Duration negative_ttl) const {
  absl::Duration ttl = negative_ttl;
  if (const auto* v = std::get_if<schema::Verdict>(&result)) {
    ttl = v->valid_time.end_time - clock_.Now();
  }
  return std::clamp(ttl, absl::ZeroDuration(), options_.max_ttl);
}

}  // namespace enrich::transport
