#include "transport/redis/redis_client.h"

#include <openssl/sha.h>

#include <chrono>
#include <deque>
#include <memory>
#include <optional>
#include <utility>

#include <hiredis/async.h>
#include <hiredis/hiredis.h>

#include "absl/container/flat_hash_set.h"
#include "absl/strings/cord.h"
#include "absl/strings/escaping.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "boost/asio/bind_executor.hpp"
#include "boost/asio/ip/address.hpp"
#include "boost/asio/ip/tcp.hpp"
#include "boost/asio/post.hpp"
#include "boost/asio/steady_timer.hpp"
#include "boost/asio/strand.hpp"
#include "transport/redis/internal/hiredis_asio.h"

namespace enrich::transport {

namespace net = boost::asio;

RedisScript::RedisScript(std::string body) : body_(std::move(body)) {
  unsigned char digest[SHA_DIGEST_LENGTH];
  SHA1(reinterpret_cast<const unsigned char*>(body_.data()), body_.size(), digest);
  sha1_ = absl::BytesToHexString(
      absl::string_view(reinterpret_cast<const char*>(digest), SHA_DIGEST_LENGTH));
}

namespace {

using Steady = std::chrono::steady_clock;

RedisReply CopyReply(const redisReply& r) {
  RedisReply out;
  switch (r.type) {
    case REDIS_REPLY_STRING:
      out.type = RedisReply::Type::kString;
      out.str.assign(r.str, r.len);
      break;
    case REDIS_REPLY_STATUS:
      out.type = RedisReply::Type::kStatus;
      out.str.assign(r.str, r.len);
      break;
    case REDIS_REPLY_INTEGER:
      out.type = RedisReply::Type::kInteger;
      out.integer = r.integer;
      break;
    case REDIS_REPLY_ARRAY:
      out.type = RedisReply::Type::kArray;
      out.elements.reserve(r.elements);
      for (size_t i = 0; i < r.elements; ++i) out.elements.push_back(CopyReply(*r.element[i]));
      break;
    default:
      out.type = RedisReply::Type::kNil;
  }
  return out;
}

}  // namespace

class RedisClient::Impl : public std::enable_shared_from_this<Impl> {
 public:
  // Whether `sha1` was sent whole before (else it is now counted as sent).
  bool ScriptSent(const std::string& sha1) {
    absl::MutexLock lock(&mu_);
    return !scripts_sent_.insert(sha1).second;
  }
  // The server lost its scripts (a restart): each goes whole again, once.
  void ForgetScripts() {
    absl::MutexLock lock(&mu_);
    scripts_sent_.clear();
  }

  Impl(net::any_io_executor executor, RedisEndpoint endpoint, RedisClientOptions options)
      : strand_(net::make_strand(executor)),
        endpoint_(std::move(endpoint)),
        options_(options),
        name_(endpoint_.Redacted()),
        reconnect_(options.reconnect),
        resolver_(strand_),
        retry_timer_(strand_),
        watchdog_(strand_) {}

  void Start() {
    net::post(strand_, [self = shared_from_this()] { self->Connect(); });
  }

  void Shutdown() {
    net::post(strand_, [self = shared_from_this()] {
      self->shut_down_ = true;
      self->retry_timer_.cancel();
      self->watchdog_.cancel();
      self->resolver_.cancel();
      self->Drop(RedisUnavailable(absl::StrCat("redis ", self->name_, ": shut down")));
    });
  }

  void Command(std::vector<std::string> args, Callback callback) {
    net::post(strand_, [self = shared_from_this(), args = std::move(args),
                        callback = std::move(callback)]() mutable {
      self->Send(std::move(args), std::move(callback));
    });
  }

  RedisHealth health() const {
    absl::MutexLock lock(&mu_);
    return health_;
  }
  const std::string& name() const { return name_; }
  net::any_io_executor executor() const { return strand_; }

 private:
  // One command in flight: its callback and its deadline, in the order Redis answers.
  struct Pending {
    Impl* impl;
    Callback callback;
    Steady::time_point deadline;
  };

  void SetState(RedisHealth::State state, absl::Status error = absl::OkStatus()) {
    absl::MutexLock lock(&mu_);
    if (state == RedisHealth::State::kUp && health_.state != RedisHealth::State::kUp) {
      ++health_.connects;
    }
    if (state == RedisHealth::State::kDown && health_.state != RedisHealth::State::kDown) {
      ++health_.failures;
    }
    health_.state = state;
    if (!error.ok()) health_.last_error = std::move(error);
  }

  // Resolves a host name first (asynchronously): hiredis would call getaddrinfo on the io
  // thread, a blocking call.
  void Connect() {
    if (shut_down_) return;
    SetState(RedisHealth::State::kConnecting);
    connect_deadline_ = Steady::now() + absl::ToChronoNanoseconds(options_.timeout);
    ArmWatchdog();
    if (!endpoint_.unix_path.empty()) return Open(redisAsyncConnectUnix(endpoint_.unix_path.c_str()));
    boost::system::error_code ec;
    net::ip::make_address(endpoint_.host, ec);
    if (!ec) return Open(redisAsyncConnect(endpoint_.host.c_str(), endpoint_.port));
    resolver_.async_resolve(
        endpoint_.host, std::to_string(endpoint_.port),
        net::bind_executor(strand_, [self = shared_from_this()](
                                        const boost::system::error_code& error,
                                        net::ip::tcp::resolver::results_type results) {
          if (self->shut_down_ || error == net::error::operation_aborted) return;
          if (error || results.empty()) {
            return self->Lost(RedisUnavailable(absl::StrCat(
                "redis ", self->name_, ": cannot resolve ", self->endpoint_.host)));
          }
          const std::string ip = results.begin()->endpoint().address().to_string();
          self->Open(redisAsyncConnect(ip.c_str(), self->endpoint_.port));
        }));
  }

  void Open(redisAsyncContext* ac) {
    if (ac == nullptr || ac->err) {
      const std::string why = ac == nullptr ? "out of memory" : ac->errstr;
      if (ac != nullptr) redisAsyncFree(ac);
      return Lost(RedisUnavailable(absl::StrCat("redis ", name_, ": cannot connect: ", why)));
    }
    ac_ = ac;
    ac->data = this;
    drop_reason_ = absl::OkStatus();
    internal::HiredisAsio::Attach(ac, strand_);
    redisAsyncSetConnectCallback(ac, &OnConnect);
    redisAsyncSetDisconnectCallback(ac, &OnDisconnect);
    // AUTH and SELECT go first on the connection: Redis answers in order, so commands sent
    // meanwhile run authenticated and in the right database.
    if (!endpoint_.password.empty()) {
      std::vector<std::string> auth = {"AUTH"};
      if (!endpoint_.user.empty()) auth.push_back(endpoint_.user);
      auth.push_back(endpoint_.password);
      SendSetup(std::move(auth), "authentication failed");
    }
    if (endpoint_.db != 0) SendSetup({"SELECT", std::to_string(endpoint_.db)}, "SELECT failed");
    SendSetup({"PING"}, "PING failed");  // its answer marks the link up
    for (auto& [args, callback] : queued_) Send(std::move(args), std::move(callback));
    queued_.clear();
  }

  // A setup command: an error reply drops the connection (the message names what failed and
  // Redis' reason, never the password); the PING's answer marks the link up.
  void SendSetup(std::vector<std::string> args, std::string what) {
    const bool ping = args[0] == "PING";
    SendNow(std::move(args), [self = shared_from_this(), what = std::move(what),
                              ping](absl::StatusOr<RedisReply> reply) {
      if (reply.ok() && ping) {
        self->connect_deadline_.reset();
        self->reconnect_.OnConnected();
        self->SetState(RedisHealth::State::kUp);
        return;
      }
      if (reply.ok() || IsRedisUnavailable(reply.status())) return;
      self->Drop(RedisUnavailable(absl::StrCat("redis ", self->name_, ": ", what, ": ",
                                               reply.status().message())));
    });
  }

  void Send(std::vector<std::string> args, Callback callback) {
    if (shut_down_ || health_state() == RedisHealth::State::kDown) {
      absl::Status why = last_error();
      return callback(RedisUnavailable(
          absl::StrCat("redis ", name_, ": unavailable (reconnecting): ", why.message())));
    }
    if (ac_ == nullptr) {  // resolving the host: sent when the context exists
      queued_.emplace_back(std::move(args), std::move(callback));
      return;
    }
    SendNow(std::move(args), std::move(callback));
  }

  void SendNow(std::vector<std::string> args, Callback callback) {
    std::vector<const char*> argv;
    std::vector<size_t> lens;
    for (const std::string& a : args) {
      argv.push_back(a.data());
      lens.push_back(a.size());
    }
    auto* pending = new Pending{this, std::move(callback),
                                Steady::now() + absl::ToChronoNanoseconds(options_.timeout)};
    if (redisAsyncCommandArgv(ac_, &OnReply, pending, static_cast<int>(argv.size()), argv.data(),
                              lens.data()) != REDIS_OK) {
      Callback cb = std::move(pending->callback);
      delete pending;
      return cb(RedisUnavailable(absl::StrCat("redis ", name_, ": connection closing")));
    }
    deadlines_.push_back(pending->deadline);
    ArmWatchdog();
  }

  static void OnReply(redisAsyncContext* ac, void* r, void* privdata) {
    std::unique_ptr<Pending> pending(static_cast<Pending*>(privdata));
    Impl* self = pending->impl;
    if (!self->deadlines_.empty()) self->deadlines_.pop_front();
    auto* reply = static_cast<redisReply*>(r);
    if (reply == nullptr) {
      // The context is being freed: a lost connection, a timeout or shutdown.
      absl::Status why = self->drop_reason_;
      if (why.ok()) {
        why = RedisUnavailable(absl::StrCat("redis ", self->name_, ": connection lost: ",
                                            ac->errstr != nullptr ? ac->errstr : "closed"));
      }
      // Down before the callback runs: what it sends next fails fast, as it will.
      self->SetState(RedisHealth::State::kDown, why);
      return pending->callback(why);
    }
    if (reply->type == REDIS_REPLY_ERROR) {
      return pending->callback(
          absl::InternalError(absl::StrCat("redis error: ", absl::string_view(reply->str, reply->len))));
    }
    pending->callback(CopyReply(*reply));
  }

  static void OnConnect(const redisAsyncContext* ac, int status) {
    auto* self = static_cast<Impl*>(ac->data);
    if (status == REDIS_OK) return;  // up once the setup PING answers
    // hiredis frees the context after this callback; its pending commands get NULL replies.
    self->drop_reason_ = RedisUnavailable(
        absl::StrCat("redis ", self->name_, ": cannot connect: ", ac->errstr));
    self->ac_ = nullptr;
    self->AfterFree();
  }

  static void OnDisconnect(const redisAsyncContext* ac, int status) {
    auto* self = static_cast<Impl*>(ac->data);
    if (self->ac_ != ac) return;  // freed by Drop(), which handles what follows
    if (self->drop_reason_.ok()) {
      self->drop_reason_ = RedisUnavailable(absl::StrCat(
          "redis ", self->name_, ": connection lost: ",
          status == REDIS_OK ? "closed" : (ac->errstr != nullptr ? ac->errstr : "error")));
    }
    self->ac_ = nullptr;
    self->AfterFree();
  }

  // Frees the context (its commands fail with `why`), then schedules a reconnect.
  void Drop(absl::Status why) {
    if (ac_ == nullptr) {
      resolver_.cancel();
      if (!shut_down_ && health_state() != RedisHealth::State::kDown) Lost(std::move(why));
      for (auto& [args, callback] : queued_) callback(why);
      queued_.clear();
      return;
    }
    redisAsyncContext* ac = std::exchange(ac_, nullptr);
    drop_reason_ = why;
    SetState(RedisHealth::State::kDown, why);
    redisAsyncFree(ac);  // runs OnReply(NULL) for every command in flight
    AfterFree();
  }

  // The context is gone (freed by hiredis or by Drop): the link is down until a reconnect.
  // hiredis may free it later (when called from inside one of its callbacks): the replies it
  // then fails read drop_reason_, kept until the next Open().
  void AfterFree() {
    absl::Status why = drop_reason_;
    deadlines_.clear();
    Lost(why.ok() ? RedisUnavailable(absl::StrCat("redis ", name_, ": closed")) : why);
  }

  void Lost(absl::Status why) {
    for (auto& [args, callback] : queued_) callback(why);
    queued_.clear();
    connect_deadline_.reset();
    SetState(RedisHealth::State::kDown, std::move(why));
    if (shut_down_) return;
    retry_timer_.expires_after(absl::ToChronoNanoseconds(reconnect_.OnFailure()));
    retry_timer_.async_wait(net::bind_executor(
        strand_, [self = shared_from_this()](const boost::system::error_code& ec) {
          if (!ec) self->Connect();
        }));
  }

  // One timer for the earliest deadline: the connect's, or the oldest command's (Redis answers
  // in order, so the oldest command is the first to be late).
  void ArmWatchdog() {
    std::optional<Steady::time_point> next = connect_deadline_;
    if (!deadlines_.empty() && (!next || deadlines_.front() < *next)) next = deadlines_.front();
    if (!next || (watchdog_armed_ && watchdog_at_ <= *next)) return;
    watchdog_armed_ = true;
    watchdog_at_ = *next;
    watchdog_.expires_at(*next);
    watchdog_.async_wait(net::bind_executor(
        strand_, [self = shared_from_this()](const boost::system::error_code& ec) {
          if (ec == net::error::operation_aborted) return;  // re-armed earlier, or shut down
          self->watchdog_armed_ = false;
          self->OnWatchdog();
        }));
  }

  void OnWatchdog() {
    if (shut_down_) return;
    const auto now = Steady::now();
    const bool connect_late = connect_deadline_ && *connect_deadline_ <= now;
    const bool command_late = !deadlines_.empty() && deadlines_.front() <= now;
    if (connect_late || command_late) {
      Drop(RedisUnavailable(absl::StrCat(
          "redis ", name_, ": ", connect_late ? "connect" : "command", " timed out after ",
          absl::FormatDuration(options_.timeout))));
      return;
    }
    ArmWatchdog();
  }

  RedisHealth::State health_state() const { return health().state; }
  absl::Status last_error() const { return health().last_error; }

  net::strand<net::any_io_executor> strand_;
  const RedisEndpoint endpoint_;
  const RedisClientOptions options_;
  const std::string name_;
  RedisReconnect reconnect_;
  net::ip::tcp::resolver resolver_;
  net::steady_timer retry_timer_;
  net::steady_timer watchdog_;
  bool watchdog_armed_ = false;
  Steady::time_point watchdog_at_;
  // State on the strand.
  redisAsyncContext* ac_ = nullptr;
  bool shut_down_ = false;
  absl::Status drop_reason_;
  std::optional<Steady::time_point> connect_deadline_;
  std::deque<Steady::time_point> deadlines_;
  std::vector<std::pair<std::vector<std::string>, Callback>> queued_;

  mutable absl::Mutex mu_;
  RedisHealth health_ ABSL_GUARDED_BY(mu_);
  // Scripts (sha1) this client sent whole since the last NOSCRIPT (Eval).
  absl::flat_hash_set<std::string> scripts_sent_ ABSL_GUARDED_BY(mu_);
};

RedisClient::RedisClient(net::any_io_executor executor, RedisEndpoint endpoint,
                         RedisClientOptions options)
    : impl_(std::make_shared<Impl>(std::move(executor), std::move(endpoint), options)) {
  impl_->Start();
}

RedisClient::~RedisClient() { impl_->Shutdown(); }

void RedisClient::Command(std::vector<std::string> args, Callback callback) {
  impl_->Command(std::move(args), std::move(callback));
}

void RedisClient::Eval(const RedisScript& script, std::vector<std::string> keys,
                       std::vector<std::string> args, Callback callback) {
  std::vector<std::string> tail;
  tail.push_back(std::to_string(keys.size()));
  for (std::string& k : keys) tail.push_back(std::move(k));
  for (std::string& a : args) tail.push_back(std::move(a));
  std::vector<std::string> evalsha = {"EVALSHA", script.sha1()};
  evalsha.insert(evalsha.end(), tail.begin(), tail.end());
  std::vector<std::string> eval = {"EVAL", script.body()};
  eval.insert(eval.end(), tail.begin(), tail.end());
  // A script's first call goes whole (EVAL loads it): the EVALSHAs pipelined behind it find
  // it loaded. Retried only after NOSCRIPT, each such call would run after commands sent
  // later (a PING that is to confirm every earlier write is in Redis).
  if (!impl_->ScriptSent(script.sha1())) {
    return impl_->Command(std::move(eval), std::move(callback));
  }
  // The script cache is empty after a Redis restart: NOSCRIPT → EVAL loads it again.
  impl_->Command(std::move(evalsha), [impl = impl_, eval = std::move(eval),
                                      callback = std::move(callback)](
                                         absl::StatusOr<RedisReply> reply) mutable {
    if (!reply.ok() && absl::StrContains(reply.status().message(), "NOSCRIPT")) {
      impl->ForgetScripts();
      impl->Command(std::move(eval), std::move(callback));
      return;
    }
    callback(std::move(reply));
  });
}

RedisHealth RedisClient::health() const { return impl_->health(); }
const std::string& RedisClient::name() const { return impl_->name(); }
net::any_io_executor RedisClient::executor() const { return impl_->executor(); }

absl::Status RedisUnavailable(absl::string_view message) {
  absl::Status s = absl::UnavailableError(message);
  s.SetPayload("enrich.redis/unavailable", absl::Cord("1"));
  return s;
}

bool IsRedisUnavailable(const absl::Status& status) {
  return status.GetPayload("enrich.redis/unavailable").has_value();
}

}  // namespace enrich::transport
