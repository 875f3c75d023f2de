#include "transport/redis/shared_handoff.h"

#include <algorithm>
#include <string>
#include <utility>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "boost/asio/steady_timer.hpp"

namespace enrich::transport {
namespace {

namespace net = boost::asio;

// KEYS: running. ARGV: worker, key ttl ms. The worker's heartbeat at Redis' time.
const RedisScript& HeartbeatScript() {
  static const RedisScript* script = new RedisScript(R"lua(
local t = redis.call('TIME')
redis.call('ZADD', KEYS[1], tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000), ARGV[1])
redis.call('PEXPIRE', KEYS[1], ARGV[2])
return 1
)lua");
  return *script;
}

// KEYS: running, list. ARGV: worker, lease ms, items...
// → {0} handed (items pushed: another live worker runs) | {1, item...} taken (the list's).
const RedisScript& FinishScript() {
  static const RedisScript* script = new RedisScript(R"lua(
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
redis.call('ZREM', KEYS[1], ARGV[1])
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now - tonumber(ARGV[2]))
if redis.call('ZCARD', KEYS[1]) > 0 then
  if #ARGV > 2 then
    redis.call('RPUSH', KEYS[2], unpack(ARGV, 3))
    redis.call('PEXPIRE', KEYS[2], ARGV[2])
  end
  return {0}
end
local items = redis.call('LRANGE', KEYS[2], 0, -1)
redis.call('DEL', KEYS[2])
table.insert(items, 1, 1)
return items
)lua");
  return *script;
}

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
  Ticker(RedisClient& r, std::string k, std::string w, absl::Duration l, absl::Duration t)
      : redis(r), running_key(std::move(k)), worker(std::move(w)), lease(l), tick(t),
        timer(r.executor()) {}
  RedisClient& redis;
  const std::string running_key;
  const std::string worker;
  const absl::Duration lease;
  const absl::Duration tick;
  absl::Mutex mu;
  bool alive ABSL_GUARDED_BY(mu) = true;
  bool armed ABSL_GUARDED_BY(mu) = false;
  bool joined ABSL_GUARDED_BY(mu) = false;
  std::function<bool()> watch ABSL_GUARDED_BY(mu);
  net::steady_timer timer ABSL_GUARDED_BY(mu);

  void Heartbeat() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu) {
    redis.Eval(HeartbeatScript(), {running_key}, {worker, Ms(lease * 2)},
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
      list_key_(absl::StrCat(lookups.options().prefix, ":handoff:{", ShapeTag(lookups, endpoint, intel),
                             "}")),
      ticker_(std::make_shared<Ticker>(lookups.redis(), running_key_, lookups.worker_id(),
                                       lookups.options().lease, tick)) {}

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
  RunFinish(items, std::move(callback));
}

void SharedHandoff::TakeIfLast(OutcomeCallback callback) { RunFinish({}, std::move(callback)); }

void SharedHandoff::RunFinish(const std::vector<HandoffItem>& items, OutcomeCallback callback) {
  std::vector<std::string> args = {lookups_.worker_id(), Ms(lookups_.options().lease)};
  args.reserve(items.size() + 2);
  for (const HandoffItem& item : items) args.push_back(EncodeHandoffItem(item));
  lookups_.redis().Eval(
      FinishScript(), {running_key_, list_key_}, std::move(args),
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
