#ifndef ENRICH_TRANSPORT_CONNECTION_POOL_H_
#define ENRICH_TRANSPORT_CONNECTION_POOL_H_

// HTTP/1.1 keep-alive connections to one origin (the CTIA host, or the OAuth token endpoint):
// the bottom of the transport layer, below BeastCtiaClient and OAuthTokenSource. Decisions live
// in internal/pool_scheduler.h and internal/connection_state.h; I/O in internal/pool_connection.h.

#include "transport/http_types.h"
#include "transport/url.h"

#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "boost/asio/any_io_executor.hpp"

namespace enrich::transport {

namespace internal {
class PoolCore;
}  // namespace internal

// TLS settings for https:// origins (OpenSSL). Verification is on unless turned off
// explicitly; the caller warns the user when it is.
struct TlsOptions {
  bool verify_peer = true;  // certificate chain + host name (or IP) of the origin
  std::string ca_file;      // PEM bundle to trust instead of the system CA store; "" = system
};

struct PoolOptions {
  size_t connections = 16;                                   // keep-alive connections to the host
  absl::Duration connect_timeout = absl::Seconds(10);        // resolve + TCP connect
  absl::Duration tls_handshake_timeout = absl::Seconds(10);  // https only
  // Writing the request, and from the end of the write to the end of the answer's headers.
  // Only limits below request_timeout cost anything (one timer change per step).
  absl::Duration write_timeout = absl::Seconds(30);
  absl::Duration first_byte_timeout = absl::Seconds(30);
  absl::Duration request_timeout = absl::Seconds(30);  // write request + read whole response
  TlsOptions tls;
  size_t max_response_bytes = 8 << 20;  // larger bodies fail with a clear error
  size_t max_header_bytes = 64 << 10;   // status line + headers of an answer
  std::string user_agent = "ctia-enrich/0.1";
  // HTTP/1.1 pipelining: requests a connection may have written but not yet answered. 1 (the
  // default) sends the next request only after the previous answer. Above 1, idempotent
  // requests are pipelined when every connection is busy (see ConnectionPool).
  size_t pipeline_depth = 1;
  // True when exactly one thread runs the executor (IoThreads(1)). Connections then need no
  // strand, a request started on that thread is handed to an idle connection directly rather
  // than through a posted handler, plain (http) sockets are read when one epoll set of the
  // pool says they are readable (no failed read per request; Linux), and the connections share
  // their recycled answer objects. Wrong (true with several threads) is a data race.
  bool single_io_thread = false;
};

// Counters for stats; read with Snapshot().
struct PoolCounters {
  uint64_t requests = 0;       // requests completed with an HTTP answer
  uint64_t failures = 0;       // requests that ended in a transport error
  uint64_t connects = 0;       // TCP connections opened
  uint64_t stale_retries = 0;  // requests resent after their connection closed unanswered
  uint64_t pipelined = 0;      // requests written while others were unanswered on their connection
};

// A request in flight through ConnectionPool::Start(), owned by the caller, who keeps it alive
// (and its request() unchanged) until Complete() has run.
class HttpExchange {
 public:
  virtual const HttpRequest& request() const = 0;
  // The outcome: `status` OK and `response` the answer, or the error and `response` null.
  // `response` belongs to the pool and is valid only during the call; the callee may move from
  // it.
  virtual void Complete(const absl::Status& status, HttpResponse* response) = 0;
  // True: never pipelined, sent only on a connection with nothing else in flight (a hedge must
  // not wait behind the request it hedges).
  virtual bool alone() const { return false; }

 protected:
  virtual ~HttpExchange() = default;
};

// A pool of up to N HTTP/1.1 keep-alive connections to one origin (http, or https through
// OpenSSL with SNI, chain and host-name verification unless `tls.verify_peer` is false).
//
// Send() queues the request; a free connection takes it (connecting lazily), writes it and
// reads the answer under deadlines. A request that fails on a reused connection before any byte
// of the answer arrived is sent once more on a fresh connection when `idempotent` (the server may
// close idle keep-alive connections at any time). A `Connection: close` answer closes that
// connection after delivery; the next request reconnects. Deadlines per step: connect, TLS
// handshake, write, first byte (headers), and the whole request (write + complete answer).
// Header names or values, targets and methods with a CR or LF are refused (InvalidArgument).
//
// Pipelining (pipeline_depth > 1): a request goes to an idle connection first, then to a new
// connection while fewer than `connections` exist, and only then is pipelined behind the
// requests of the least loaded connection, up to the depth. Answers are matched to
// requests in order. A non-idempotent request is never pipelined: it waits for a connection
// with nothing in flight, and nothing is pipelined behind it until it is answered (RFC 9112
// §9.3.2). When a connection closes (or times out, or answers garbage) with pipelined
// requests unanswered, the first unanswered request fails (or is resent under the stale rule
// above) and the idempotent ones behind it are resent on a fresh connection (without limit
// when the closed connection answered something, so each connection settles at least one
// request; else at most twice); the request deadline of a resent request starts again.
//
// Errors: Unavailable (connect refused/reset/closed), DeadlineExceeded (a step timed out),
// ResourceExhausted (answer larger than max_response_bytes), InvalidArgument (bad HTTP from
// the server), Cancelled (after Shutdown()), FailedPrecondition (bad TLS setup, e.g. an
// unreadable ca_file: every Send fails with it; see setup_status()), Unavailable starting with
// "TLS handshake with" (e.g. certificate verify failed). Messages name the origin and the step.
//
// Thread safety: Send() and Start() may be called from any thread. `done` (Complete()) runs
// exactly once, on one of the executor's threads (never inline in Send() or Start(); it may
// run inside the pool's own handler, so it must not block). The pool must outlive every callback;
// Shutdown() fails queued requests with Cancelled and closes the connections.
class ConnectionPool {
 public:
  ConnectionPool(boost::asio::any_io_executor executor, Url origin, PoolOptions options);
  ~ConnectionPool();
  ConnectionPool(const ConnectionPool&) = delete;
  ConnectionPool& operator=(const ConnectionPool&) = delete;

  using Callback = std::function<void(absl::StatusOr<HttpResponse>)>;
  void Send(HttpRequest request, Callback done);
  // Like Send() without an allocation: the answer is lent to `exchange->Complete()`.
  void Start(HttpExchange* exchange);

  // The caller no longer wants `exchange` (started with Start()) answered: it completes soon
  // with Cancelled, unless an answer comes first. Queued, it leaves the queue; on a connection
  // and not yet written, it leaves that connection's queue; awaiting its answer first in line,
  // its connection is closed (the requests pipelined behind it are resent, as after any lost
  // connection). Pipelined behind another unanswered request it is left alone and completes
  // as it would have. Any thread; never completes inline.
  void Abandon(HttpExchange* exchange);

  // Idempotent. Requests in flight complete with Cancelled as their connections close.
  void Shutdown();
  PoolCounters Snapshot() const;
  // OK, or the error every Send() fails with because the pool could not be set up (TLS).
  absl::Status setup_status() const;
  const Url& origin() const;
  // The executor the pool was built with (for callers' timers on the same io threads).
  boost::asio::any_io_executor executor() const;

 private:
  // The shared state of the pool and its connections (internal/pool_core.h).
  std::shared_ptr<internal::PoolCore> impl_;
};

}  // namespace enrich::transport

#endif  // ENRICH_TRANSPORT_CONNECTION_POOL_H_
