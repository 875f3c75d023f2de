#ifndef ENRICH_TRANSPORT_CONNECTION_POOL_H_
#define ENRICH_TRANSPORT_CONNECTION_POOL_H_

#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "boost/asio/any_io_executor.hpp"
#include "transport/http_types.h"
#include "transport/url.h"

namespace enrich::transport {

// TLS settings for https:// origins (OpenSSL). Verification is on unless turned off
// explicitly; the caller warns the user when it is.
struct TlsOptions {
  bool verify_peer = true;  // certificate chain + host name (or IP) of the origin
  std::string ca_file;      // PEM bundle to trust instead of the system CA store; "" = system
};

struct PoolOptions {
  size_t connections = 16;                             // keep-alive connections to the host
  absl::Duration connect_timeout = absl::Seconds(10);  // resolve + TCP connect
  absl::Duration tls_handshake_timeout = absl::Seconds(10);  // https only
  // Writing the request, and from the end of the write to the end of the answer's headers.
  // Only limits below request_timeout cost anything (one timer change per step).
  absl::Duration write_timeout = absl::Seconds(30);
  absl::Duration first_byte_timeout = absl::Seconds(30);
  absl::Duration request_timeout = absl::Seconds(30);  // write request + read whole response
  TlsOptions tls;
  size_t max_response_bytes = 8 << 20;                 // larger bodies fail with a clear error
  size_t max_header_bytes = 64 << 10;                  // status line + headers of an answer
  std::string user_agent = "ctia-enrich/0.1";
};

// Counters for stats; read with Snapshot().
struct PoolCounters {
  uint64_t requests = 0;      // requests completed with an HTTP answer
  uint64_t failures = 0;      // requests that ended in a transport error
  uint64_t connects = 0;      // TCP connections opened
  uint64_t stale_retries = 0; // requests resent after a keep-alive connection was found closed
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
//
// Errors: Unavailable (connect refused/reset/closed), DeadlineExceeded (a step timed out),
// ResourceExhausted (answer larger than max_response_bytes), InvalidArgument (bad HTTP from
// the server), Cancelled (after Shutdown()), FailedPrecondition (bad TLS setup, e.g. an
// unreadable ca_file: every Send fails with it; see setup_status()), Unavailable starting with
// "TLS handshake with" (e.g. certificate verify failed). Messages name the origin and the step.
//
// Thread safety: Send() may be called from any thread. `done` runs exactly once, on one of the
// executor's threads (never inline in Send()). The pool must outlive every callback; Shutdown()
// fails queued requests with Cancelled and closes the connections.
class ConnectionPool {
 public:
  ConnectionPool(boost::asio::any_io_executor executor, Url origin, PoolOptions options);
  ~ConnectionPool();
  ConnectionPool(const ConnectionPool&) = delete;
  ConnectionPool& operator=(const ConnectionPool&) = delete;

  using Callback = std::function<void(absl::StatusOr<HttpResponse>)>;
  void Send(HttpRequest request, Callback done);

  // Idempotent. Requests in flight complete with Cancelled as their connections close.
  void Shutdown();
  PoolCounters Snapshot() const;
  // OK, or the error every Send() fails with because the pool could not be set up (TLS).
  absl::Status setup_status() const;
  const Url& origin() const;
  // The executor the pool was built with (for callers' timers on the same io threads).
  boost::asio::any_io_executor executor() const;

 private:
  class Impl;
  std::shared_ptr<Impl> impl_;
};

}  // namespace enrich::transport

#endif  // ENRICH_TRANSPORT_CONNECTION_POOL_H_
