#ifndef ENRICH_TRANSPORT_REDIS_REDIS_CLIENT_H_
#define ENRICH_TRANSPORT_REDIS_REDIS_CLIENT_H_

// The one connection of a worker to Redis, on the transport's io threads: async commands and
// Lua scripts with callbacks, timeouts, reconnect with backoff and a health status. The shared
// verdict cache, the leases and the shared limiter (shared_lookups.h, shared_rate_limiter.h)
// are built on it.
//
// Why hiredis' async API driven from Asio, and not a blocking client on a thread of its own:
// hiredis is the C client the Redis project ships (Debian's libhiredis-dev). Its async context
// exposes adapter hooks (ev.addRead/delRead/addWrite/delWrite/cleanup); here they arm
// async_wait on a posix::stream_descriptor over the context's socket, so Redis calls run on
// the same io threads as the CTIA connections, never block one, and many calls are pipelined
// on one connection (Redis answers in order). A blocking client would need a thread per
// concurrent call (or serialise all lookups' cache checks behind one round trip each), and its
// timeouts and reconnects would live outside the run's event loop; a lost Redis would hold
// those threads for a socket timeout instead of failing every call at once.

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "boost/asio/any_io_executor.hpp"
#include "transport/redis/redis_endpoint.h"
#include "transport/redis/redis_reconnect.h"
#include "transport/redis/redis_reply.h"

namespace enrich::transport {

struct RedisClientOptions {
  // A command not answered in this time drops the connection (Redis answers in order, so one
  // late answer means every later one is late too): all commands in flight fail Unavailable
  // and the client reconnects. Also the limit of a connect (with AUTH and SELECT).
  absl::Duration timeout = absl::Seconds(2);
  RedisReconnectOptions reconnect;
};

// A Lua script sent by EVALSHA: the SHA-1 is computed once here; the first call on a server
// that does not know the script (NOSCRIPT, e.g. after a restart) sends its body with EVAL,
// which loads it, and later calls go by SHA again.
// Lua preludes that set `now` from Redis' own clock (TIME), so the workers' clocks never
// matter: in milliseconds, and in microseconds (exact in a Lua double until year 2255).
inline constexpr absl::string_view kLuaNowMs =
    "local t = redis.call('TIME')\n"
    "local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)\n";
inline constexpr absl::string_view kLuaNowUs =
    "local t = redis.call('TIME')\n"
    "local now = tonumber(t[1]) * 1000000 + tonumber(t[2])\n";

class RedisScript {
 public:
  explicit RedisScript(std::string body);
  const std::string& body() const { return body_; }
  const std::string& sha1() const { return sha1_; }

 private:
  std::string body_;
  std::string sha1_;  // lower-case hex
};

// What the client knows about its link.
struct RedisHealth {
  enum class State { kConnecting, kUp, kDown };
  State state = State::kConnecting;
  absl::Status last_error;  // the last failure (OK when none yet); never holds the password
  int64_t connects = 0;     // connections established (1 + reconnects)
  int64_t failures = 0;     // connect failures and lost connections
};

// Thread-safe: every method may be called from any thread. Work runs on a strand of the given
// executor; callbacks are invoked on that strand (on an io thread) and must not block. A
// command issued while the link is down fails at once with RedisUnavailable (the fast-failure
// path: the caller goes on without Redis), while the client keeps reconnecting in the
// background with backoff; commands issued while connecting wait for the connect (bounded by
// `timeout`). Destroy the client before stopping the io threads; pending callbacks are
// then called with Unavailable ("shut down").
class RedisClient {
 public:
  using Callback = std::function<void(absl::StatusOr<RedisReply>)>;

  // Starts connecting at once.
  RedisClient(boost::asio::any_io_executor executor, RedisEndpoint endpoint,
              RedisClientOptions options = {});
  ~RedisClient();
  RedisClient(const RedisClient&) = delete;
  RedisClient& operator=(const RedisClient&) = delete;

  // Sends one command, arguments binary-safe ({"SET", key, value, "PX", "1000"}).
  void Command(std::vector<std::string> args, Callback callback);
  // EVALSHA script keys... args..., falling back to EVAL on NOSCRIPT.
  void Eval(const RedisScript& script, std::vector<std::string> keys,
            std::vector<std::string> args, Callback callback);

  RedisHealth health() const;
  bool up() const { return health().state == RedisHealth::State::kUp; }
  // The endpoint in printable form (no password).
  const std::string& name() const;
  boost::asio::any_io_executor executor() const;

 private:
  class Impl;
  std::shared_ptr<Impl> impl_;
};

}  // namespace enrich::transport

#endif  // ENRICH_TRANSPORT_REDIS_REDIS_CLIENT_H_
