#include "transport/redis/shared_handoff.h"

#include <algorithm>
#include <atomic>
#include <string>
#include <utility>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "boost/asio/steady_timer.hpp"

namespace enrich::transport {
namespace {

namespace net = boost::asio;

// KEYS: running, bound. ARGV: worker, key ttl ms, "1" when quota-bound. The worker's heartbeat
// at Redis' time, and when its requests waited for the shared quota.
const RedisScript& HeartbeatScript() {
  static const RedisScript* script = new RedisScript(absl::StrCat(kLuaNowMs, R"lua(
redis.call('ZADD', KEYS[1], now, ARGV[1])
redis.call('PEXPIRE', KEYS[1], ARGV[2])
if ARGV[3] == '1' then
  redis.call('ZADD', KEYS[2], now, ARGV[1])
  redis.call('PEXPIRE', KEYS[2], ARGV[2])
end
return 1
)lua"));
  return *script;
}

// KEYS: running, list, stuck, bound. ARGV: worker, lease ms, mode, bound ms, items...; mode
// "final" (the worker leaves), "stuck" or "force" (it stays, marked stuck).
// → {0} handed (items pushed) | {1, item...} taken (the list's). "final" hands while another
// live worker is busy (running, not stuck); "stuck" while a busy one is quota-bound (its
// heartbeat said so within `bound ms`); "force" never. A worker that takes is no longer
// stuck: it sends.
const RedisScript& HandScript() {
  static const RedisScript* script = new RedisScript(absl::StrCat(kLuaNowMs, R"lua(
local mode = ARGV[3]
if mode == 'final' then
  redis.call('ZREM', KEYS[1], ARGV[1])
  redis.call('SREM', KEYS[3], ARGV[1])
else
  redis.call('SADD', KEYS[3], ARGV[1])
  redis.call('PEXPIRE', KEYS[3], tonumber(ARGV[2]) * 2)
end
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now - tonumber(ARGV[2]))
local busy = 0
if mode ~= 'force' then
  for _, w in ipairs(redis.call('ZRANGE', KEYS[1], 0, -1)) do
    if w ~= ARGV[1] and redis.call('SISMEMBER', KEYS[3], w) == 0 then
      local bound = redis.call('ZSCORE', KEYS[4], w)
      if mode == 'final' or (bound and tonumber(bound) >= now - tonumber(ARGV[4])) then
        busy = busy + 1
      end
    end
  end
end
if busy > 0 then
  if #ARGV > 4 then
    redis.call('RPUSH', KEYS[2], unpack(ARGV, 5))
    redis.call('PEXPIRE', KEYS[2], ARGV[2])
  end
  return {0}
end
if mode ~= 'final' then redis.call('SREM', KEYS[3], ARGV[1]) end
local items = redis.call('LRANGE', KEYS[2], 0, -1)
redis.call('DEL', KEYS[2])
table.insert(items, 1, 1)
return items
)lua"));
  return *script;
}

// How long a worker counts as quota-bound after its requests last waited for the quota: long
// enough to span the end of a quota-bound run, when fewer requests wait.
constexpr int kBoundTicks = 10;

std::string Ms(absl::Duration d) {
  return std::to_string(std::max<int64_t>(1, absl::ToInt64Milliseconds(d)));
}

// The lookup shape's part of the keys: the endpoint, the intel and the details its values hold.
std::string ShapeTag(const SharedLookups& lookups, const std::string& endpoint,
                     const std::string& intel) {
  return SharedKeyText(SharedLookupKey{endpoint, intel, "", ""}, lookups.options().details);
}

}  // namespace

// Shared with the timer's handler, which may run after SharedHandoff is gone: `alive` (under
// `mu`) says whether `redis` may still be used.
struct SharedHandoff::Ticker {
  Ticker(RedisClient& r, std::string k, std::string b, std::string w, absl::Duration l,
         absl::Duration t)
      : redis(r), running_key(std::move(k)), bound_key(std::move(b)), worker(std::move(w)),
        lease(l), tick(t), timer(r.executor()) {}
  RedisClient& redis;
  const std::string running_key;
  const std::string bound_key;
  const std::string worker;
  const absl::Duration lease;
  const absl::Duration tick;
  absl::Mutex mu;
  bool alive ABSL_GUARDED_BY(mu) = true;
  bool armed ABSL_GUARDED_BY(mu) = false;
  bool joined ABSL_GUARDED_BY(mu) = false;
  std::atomic<bool> bound{false};  // SetQuotaBound (called from a watch, under `mu`)
  std::function<bool()> watch ABSL_GUARDED_BY(mu);
  net::steady_timer timer ABSL_GUARDED_BY(mu);

  void Heartbeat() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu) {
    redis.Eval(HeartbeatScript(), {running_key, bound_key}, {worker, Ms(lease * 2), bound.load() ? "1" : "0"},
               [](absl::StatusOr<RedisReply>) {});
  }
  void ArmLocked(const std::shared_ptr<Ticker>& self) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu) {
    if (armed || !(joined || watch)) return;
    armed = true;
    TickLater(self);
  }
};

SharedHandoff::SharedHandoff(SharedLookups& lookups, const std::string& endpoint,
                             const std::string& intel, absl::Duration tick)
    : lookups_(lookups),
      running_key_(absl::StrCat(lookups.options().prefix, ":running:{",
                                ShapeTag(lookups, endpoint, intel), "}")),
      list_key_(absl::StrCat(lookups.options().prefix, ":handoff:{",
                             ShapeTag(lookups, endpoint, intel), "}")),
      stuck_key_(absl::StrCat(lookups.options().prefix, ":stuck:{",
                              ShapeTag(lookups, endpoint, intel), "}")),
      bound_key_(absl::StrCat(lookups.options().prefix, ":bound:{",
                              ShapeTag(lookups, endpoint, intel), "}")),
      ticker_(std::make_shared<Ticker>(lookups.redis(), running_key_, bound_key_,
                                       lookups.worker_id(), lookups.options().lease, tick)) {}

SharedHandoff::~SharedHandoff() {
  absl::MutexLock lock(&ticker_->mu);
  ticker_->alive = false;
  ticker_->watch = nullptr;
  ticker_->timer.cancel();
}

void SharedHandoff::TickLater(const std::shared_ptr<Ticker>& ticker) {
  ticker->timer.expires_after(absl::ToChronoNanoseconds(ticker->tick));
  ticker->timer.async_wait([ticker](const boost::system::error_code& ec) {
    absl::MutexLock lock(&ticker->mu);
    ticker->armed = false;
    if (ec || !ticker->alive) return;
    if (ticker->joined) ticker->Heartbeat();
    if (ticker->watch && !ticker->watch()) ticker->watch = nullptr;
    ticker->ArmLocked(ticker);
  });
}

void SharedHandoff::Join() {
  absl::MutexLock lock(&ticker_->mu);
  ticker_->joined = true;
  ticker_->Heartbeat();
  ticker_->ArmLocked(ticker_);
}

void SharedHandoff::Leave() {
  {
    absl::MutexLock lock(&ticker_->mu);
    ticker_->joined = false;
  }
  lookups_.redis().Command({"ZREM", running_key_, lookups_.worker_id()},
                           [](absl::StatusOr<RedisReply>) {});
  Unstuck();
}

void SharedHandoff::Watch(std::function<bool()> watch) {
  absl::MutexLock lock(&ticker_->mu);
  ticker_->watch = std::move(watch);
  ticker_->ArmLocked(ticker_);
}

void SharedHandoff::Finish(const std::vector<HandoffItem>& items, OutcomeCallback callback) {
  {
    // No heartbeat after the script: it would register this worker again.
    absl::MutexLock lock(&ticker_->mu);
    ticker_->joined = false;
  }
  Hand(items, Mode::kFinal, std::move(callback));
}

void SharedHandoff::SetQuotaBound(bool bound) { ticker_->bound.store(bound); }

void SharedHandoff::Unstuck() {
  lookups_.redis().Command({"SREM", stuck_key_, lookups_.worker_id()},
                           [](absl::StatusOr<RedisReply>) {});
}

void SharedHandoff::Hand(const std::vector<HandoffItem>& items, Mode mode,
                         OutcomeCallback callback) {
  static constexpr const char* kModes[] = {"stuck", "force", "final"};
  std::vector<std::string> args = {lookups_.worker_id(), Ms(lookups_.options().lease),
                                   kModes[static_cast<int>(mode)], Ms(ticker_->tick * kBoundTicks)};
  args.reserve(items.size() + 4);
  for (const HandoffItem& item : items) args.push_back(EncodeHandoffItem(item));
  lookups_.redis().Eval(
      HandScript(), {running_key_, list_key_, stuck_key_, bound_key_}, std::move(args),
      [callback = std::move(callback)](absl::StatusOr<RedisReply> reply) {
        if (!reply.ok()) return callback(reply.status());
        if (reply->elements.empty()) {
          return callback(absl::InternalError("redis: unexpected answer to the hand-off script"));
        }
        Outcome outcome;
        outcome.handed = reply->elements[0].integer == 0;
        for (size_t i = 1; i < reply->elements.size(); ++i) {
          auto item = DecodeHandoffItem(reply->elements[i].str);
          if (item.ok()) outcome.taken.push_back(*std::move(item));  // a damaged one: skipped
        }
        callback(std::move(outcome));
      });
}

std::string EncodeHandoffItem(const HandoffItem& item) {
  return absl::StrCat(item.worker, "\n", item.type, "\n", item.value);
}

absl::StatusOr<HandoffItem> DecodeHandoffItem(const std::string& text) {
  const size_t first = text.find('\n');
  const size_t second = first == std::string::npos ? first : text.find('\n', first + 1);
  if (second == std::string::npos) {
    return absl::InvalidArgumentError("hand-off item: not worker, type and value");
  }
  return HandoffItem{text.substr(0, first), text.substr(first + 1, second - first - 1),
                     text.substr(second + 1)};
}

}  // namespace enrich::transport
