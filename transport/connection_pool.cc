#include "transport/connection_pool.h"

#include <algorithm>
#include <atomic>
#include <deque>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "boost/asio/ip/tcp.hpp"
#include "boost/asio/post.hpp"
#include "boost/asio/ssl.hpp"
#include "boost/asio/strand.hpp"
#include "boost/beast/core.hpp"
#include "boost/beast/http.hpp"
#include "boost/beast/ssl.hpp"
#include "openssl/ssl.h"
#include "openssl/x509.h"

namespace enrich::transport {
namespace {

namespace net = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using tcp = net::ip::tcp;

// Clamped so that now() + the result cannot overflow (an "infinite" timeout means a year).
std::chrono::steady_clock::duration ToChrono(absl::Duration d) {
  return absl::ToChronoNanoseconds(std::clamp(d, absl::ZeroDuration(), absl::Hours(24 * 365)));
}

// Errors that mean "the peer had already closed this connection": on a reused keep-alive
// connection they are the normal sign of a server-side idle timeout, not a failed request.
bool IsPeerClosed(const beast::error_code& ec) {
  return ec == http::error::end_of_stream || ec == net::error::eof ||
         ec == net::error::connection_reset || ec == net::error::broken_pipe ||
         ec == net::error::connection_aborted;
}

absl::Status ShutDownError(absl::string_view origin) {
  return absl::CancelledError(
      absl::StrCat("request to ", origin, " cancelled: connection pool shut down"));
}

}  // namespace

struct PendingRequest {
  HttpRequest request;
  ConnectionPool::Callback done;
};

class ConnectionPool::Impl : public std::enable_shared_from_this<ConnectionPool::Impl> {
 public:
  class Connection;

  Impl(net::any_io_executor executor, Url origin, PoolOptions options)
      : executor_(std::move(executor)),
        origin_(std::move(origin)),
        origin_text_(origin_.Origin()),
        options_(std::move(options)) {
    options_.connections = std::max<size_t>(options_.connections, 1);
    if (origin_.scheme == "https") setup_status_ = SetUpTls();
  }

  // The client TLS context shared by the pool's connections; null for http.
  net::ssl::context* tls_context() const { return tls_context_.get(); }
  absl::Status setup_status() const { return setup_status_; }

  void Send(HttpRequest request, Callback done);
  void Shutdown();
  PoolCounters Snapshot() const {
    PoolCounters c;
    c.requests = requests_.load(std::memory_order_relaxed);
    c.failures = failures_.load(std::memory_order_relaxed);
    c.connects = connects_.load(std::memory_order_relaxed);
    c.stale_retries = stale_retries_.load(std::memory_order_relaxed);
    return c;
  }

  // Called by a connection (on its strand) when it has finished a request: hands it the next
  // queued request, or parks it as idle and returns nullopt.
  std::optional<PendingRequest> NextFor(const std::shared_ptr<Connection>& conn);

  // Runs `done(result)` on the pool's executor, never inline.
  void Deliver(Callback done, absl::StatusOr<HttpResponse> result) {
    (result.ok() ? requests_ : failures_).fetch_add(1, std::memory_order_relaxed);
    net::post(executor_, [done = std::move(done), result = std::move(result)]() mutable {
      done(std::move(result));
    });
  }

  bool shutting_down() const {
    absl::MutexLock lock(&mu_);
    return shutdown_;
  }

  const net::any_io_executor& executor() const { return executor_; }
  const Url& origin() const { return origin_; }
  const std::string& origin_text() const { return origin_text_; }
  const PoolOptions& options() const { return options_; }

  std::atomic<uint64_t> requests_{0};
  std::atomic<uint64_t> failures_{0};
  std::atomic<uint64_t> connects_{0};
  std::atomic<uint64_t> stale_retries_{0};

 private:
  absl::Status SetUpTls() {
    tls_context_ = std::make_unique<net::ssl::context>(net::ssl::context::tls_client);
    boost::system::error_code ec;
    tls_context_->set_options(net::ssl::context::default_workarounds |
                                  net::ssl::context::no_sslv2 | net::ssl::context::no_sslv3 |
                                  net::ssl::context::no_tlsv1 | net::ssl::context::no_tlsv1_1,
                              ec);
    if (!options_.tls.verify_peer) {
      tls_context_->set_verify_mode(net::ssl::verify_none, ec);
      return absl::OkStatus();
    }
    tls_context_->set_verify_mode(net::ssl::verify_peer, ec);
    if (options_.tls.ca_file.empty()) {
      tls_context_->set_default_verify_paths(ec);
      if (ec) {
        return absl::FailedPreconditionError(
            absl::StrCat("TLS for ", origin_text_, ": cannot load the system CA store: ",
                         ec.message(), " (pass a CA bundle with --ca-file)"));
      }
    } else {
      tls_context_->load_verify_file(options_.tls.ca_file, ec);
      if (ec) {
        return absl::FailedPreconditionError(
            absl::StrCat("TLS for ", origin_text_, ": cannot load CA file ", options_.tls.ca_file,
                         ": ", ec.message(), " (expected PEM certificates)"));
      }
    }
    return absl::OkStatus();
  }

  const net::any_io_executor executor_;
  const Url origin_;
  const std::string origin_text_;
  PoolOptions options_;
  std::unique_ptr<net::ssl::context> tls_context_;
  absl::Status setup_status_;

  mutable absl::Mutex mu_;
  bool shutdown_ ABSL_GUARDED_BY(mu_) = false;
  std::deque<PendingRequest> pending_ ABSL_GUARDED_BY(mu_);
  std::vector<std::shared_ptr<Connection>> connections_ ABSL_GUARDED_BY(mu_);
  // Connections with no request; the most recently used is at the back and is taken first, so
  // a light load keeps reusing one warm connection.
  std::vector<std::shared_ptr<Connection>> idle_ ABSL_GUARDED_BY(mu_);
};

// One keep-alive connection (TCP, or TLS over TCP), driven on its own strand (Beast client
// example style). It runs one request at a time: [resolve → connect → TLS handshake →] write →
// read headers → read body, each step under a deadline.
class ConnectionPool::Impl::Connection : public std::enable_shared_from_this<Connection> {
 public:
  explicit Connection(std::shared_ptr<Impl> pool)
      : pool_(std::move(pool)), strand_(net::make_strand(pool_->executor())), resolver_(strand_) {}

  const net::strand<net::any_io_executor>& strand() const { return strand_; }

  // Starts `job`. Runs on the strand.
  void Run(PendingRequest job) {
    job_ = std::move(job);
    resent_after_stale_ = false;
    // Shutdown() may have closed this connection after the job was handed over.
    if (pool_->shutting_down()) return FailWith(ShutDownError(origin_text()));
    BuildRequest();
    if (IsOpen()) {
      DoWrite();
    } else {
      DoResolve();
    }
  }

  // Cancels whatever is in progress and closes the socket. Runs on the strand.
  void Close() {
    resolver_.cancel();
    CloseSocket();
  }

 private:
  const std::string& origin_text() const { return pool_->origin_text(); }
  const PoolOptions& options() const { return pool_->options(); }
  bool use_tls() const { return pool_->tls_context() != nullptr; }

  beast::tcp_stream& Tcp() { return tls_ ? beast::get_lowest_layer(*tls_) : *plain_; }
  bool IsOpen() {
    return (plain_ || tls_) && Tcp().socket().is_open();
  }
  // Runs `f` with the stream requests go through (TLS or plain).
  template <typename F>
  void WithStream(F&& f) {
    if (tls_) {
      f(*tls_);
    } else {
      f(*plain_);
    }
  }

  void BuildRequest() {
    const HttpRequest& in = job_->request;
    request_ = {};
    request_.version(11);
    http::verb verb = http::string_to_verb(in.method);
    if (verb == http::verb::unknown) {
      request_.method_string(in.method);
    } else {
      request_.method(verb);
    }
    request_.target(in.target);
    request_.set(http::field::host, pool_->origin().HostHeader());
    request_.set(http::field::user_agent, options().user_agent);
    for (const auto& [name, value] : in.headers) request_.insert(name, value);
    request_.body() = in.body;
    request_.keep_alive(true);
    request_.prepare_payload();
  }

  void DoResolve() {
    // One deadline covers resolve and connect; the resolver has no timer of its own, so the
    // remaining time is applied to the connect step.
    connect_deadline_ = std::chrono::steady_clock::now() + ToChrono(options().connect_timeout);
    resolver_.async_resolve(pool_->origin().host, std::to_string(pool_->origin().port),
                            beast::bind_front_handler(&Connection::OnResolve, shared_from_this()));
  }

  void OnResolve(beast::error_code ec, tcp::resolver::results_type results) {
    if (ec) return Fail(ec, "resolve", absl::StatusCode::kUnavailable);
    // A TLS session cannot be reused after its socket closed: every connect gets a new stream.
    plain_.reset();
    tls_.reset();
    if (use_tls()) {
      tls_.emplace(strand_, *pool_->tls_context());
    } else {
      plain_.emplace(strand_);
    }
    Tcp().expires_at(connect_deadline_);
    step_timeout_ = options().connect_timeout;
    Tcp().async_connect(results,
                        beast::bind_front_handler(&Connection::OnConnect, shared_from_this()));
  }

  void OnConnect(beast::error_code ec, const tcp::endpoint& /*endpoint*/) {
    if (ec) return Fail(ec, "connect to", absl::StatusCode::kUnavailable);
    pool_->connects_.fetch_add(1, std::memory_order_relaxed);
    answered_on_this_socket_ = 0;
    buffer_.clear();
    if (!use_tls()) return DoWrite();
    DoHandshake();
  }

  void DoHandshake() {
    const Url& origin = pool_->origin();
    boost::system::error_code ip_ec;
    const bool is_ip = (net::ip::make_address(origin.host, ip_ec), !ip_ec);
    // SNI carries host names only (RFC 6066 §3), never IP literals.
    // SSL_set_tlsext_host_name is a macro with a C cast; this is its expansion.
    if (!is_ip && SSL_ctrl(tls_->native_handle(), SSL_CTRL_SET_TLSEXT_HOSTNAME,
                           TLSEXT_NAMETYPE_host_name, const_cast<char*>(origin.host.c_str())) != 1) {
      return FailWith(absl::UnavailableError(
          absl::StrCat("TLS handshake with ", origin_text(), ": cannot set SNI host name")));
    }
    if (options().tls.verify_peer) {
      tls_->set_verify_callback(net::ssl::host_name_verification(origin.host));
    }
    Tcp().expires_after(ToChrono(options().tls_handshake_timeout));
    step_timeout_ = options().tls_handshake_timeout;
    tls_->async_handshake(net::ssl::stream_base::client,
                          beast::bind_front_handler(&Connection::OnHandshake, shared_from_this()));
  }

  void OnHandshake(beast::error_code ec) {
    if (ec == beast::error::timeout) return Fail(ec, "TLS handshake with", absl::StatusCode::kUnavailable);
    if (ec) {
      std::string why = ec.message();
      const long verify = SSL_get_verify_result(tls_->native_handle());
      if (verify != X509_V_OK) {
        why = absl::StrCat("certificate verify failed: ", X509_verify_cert_error_string(verify),
                           options().tls.ca_file.empty()
                               ? " (to trust a private CA, pass its PEM file with --ca-file)"
                               : absl::StrCat(" (CA file ", options().tls.ca_file, ")"));
      }
      return FailWith(
          absl::UnavailableError(absl::StrCat("TLS handshake with ", origin_text(), ": ", why)));
    }
    DoWrite();
  }

  void DoWrite() {
    // The whole request (write + complete answer) has one deadline; each step has its own
    // shorter one on top.
    request_deadline_ = std::chrono::steady_clock::now() + ToChrono(options().request_timeout);
    armed_for_request_ = false;
    ExpireStep(options().write_timeout);
    WithStream([this](auto& stream) {
      http::async_write(stream, request_,
                        beast::bind_front_handler(&Connection::OnWrite, shared_from_this()));
    });
  }

  // Arms the stream timer for a step: its own limit or what is left of the request's. Re-arming
  // a timer costs a cancelled wait, so a step whose limit is not below the request's keeps the
  // request deadline already armed.
  void ExpireStep(absl::Duration step_limit) {
    const auto step_deadline = std::chrono::steady_clock::now() + ToChrono(step_limit);
    if (step_limit < options().request_timeout && step_deadline < request_deadline_) {
      Tcp().expires_at(step_deadline);
      step_timeout_ = step_limit;
      armed_for_request_ = false;
    } else if (!armed_for_request_) {
      Tcp().expires_at(request_deadline_);
      step_timeout_ = options().request_timeout;
      armed_for_request_ = true;
    }
  }

  void OnWrite(beast::error_code ec, size_t /*bytes*/) {
    if (ec) {
      if (MaybeResendAfterStale(ec, /*got_bytes=*/false)) return;
      return Fail(ec, "write to", absl::StatusCode::kUnavailable);
    }
    DoReadHeader();
  }

  void DoReadHeader() {
    parser_.emplace();
    parser_->body_limit(options().max_response_bytes);
    parser_->header_limit(static_cast<std::uint32_t>(
        std::min<size_t>(options().max_header_bytes, std::numeric_limits<std::uint32_t>::max())));
    if (request_.method() == http::verb::head) parser_->skip(true);
    ExpireStep(options().first_byte_timeout);
    if (armed_for_request_) {
      // No separate first-byte limit: read the whole answer in one operation.
      WithStream([this](auto& stream) {
        http::async_read(stream, buffer_, *parser_,
                         beast::bind_front_handler(&Connection::OnRead, shared_from_this()));
      });
      return;
    }
    WithStream([this](auto& stream) {
      http::async_read_header(
          stream, buffer_, *parser_,
          beast::bind_front_handler(&Connection::OnReadHeader, shared_from_this()));
    });
  }

  void OnReadHeader(beast::error_code ec, size_t /*bytes*/) {
    if (ec) return OnReadError(ec);
    ExpireStep(options().request_timeout);
    WithStream([this](auto& stream) {
      http::async_read(stream, buffer_, *parser_,
                       beast::bind_front_handler(&Connection::OnRead, shared_from_this()));
    });
  }

  void OnReadError(const beast::error_code& ec) {
    if (MaybeResendAfterStale(ec, parser_->got_some() || buffer_.size() > 0)) return;
    if (ec == http::error::body_limit) {
      return FailWith(absl::ResourceExhaustedError(absl::StrCat(
          "response from ", origin_text(), " exceeds ", options().max_response_bytes, " bytes")));
    }
    if (ec == http::error::header_limit) {
      return FailWith(absl::ResourceExhaustedError(
          absl::StrCat("response headers from ", origin_text(), " exceed ",
                       options().max_header_bytes, " bytes")));
    }
    if (ec == http::error::end_of_stream ||
        (ec == net::ssl::error::stream_truncated && !parser_->got_some())) {
      return FailWith(absl::UnavailableError(
          absl::StrCat("read from ", origin_text(), ": connection closed before the response")));
    }
    if (ec == http::error::partial_message || ec == net::ssl::error::stream_truncated) {
      return FailWith(absl::UnavailableError(
          absl::StrCat("read from ", origin_text(), ": connection closed mid-response")));
    }
    if (ec.category() == http::make_error_code(http::error::bad_version).category()) {
      return FailWith(absl::InvalidArgumentError(
          absl::StrCat("bad HTTP from ", origin_text(), ": ", ec.message())));
    }
    Fail(ec, "read from", absl::StatusCode::kUnavailable);
  }

  void OnRead(beast::error_code ec, size_t /*bytes*/) {
    if (ec) return OnReadError(ec);
    http::response<http::string_body> res = parser_->release();
    parser_.reset();
    HttpResponse out;
    out.status = static_cast<int>(res.result_int());
    for (const auto& field : res) {
      out.headers.emplace_back(absl::AsciiStrToLower(absl::string_view(field.name_string().data(),
                                                                       field.name_string().size())),
                               std::string(field.value()));
    }
    const bool keep_alive = res.keep_alive() && !res.need_eof();
    out.body = std::move(res.body());
    ++answered_on_this_socket_;
    if (!keep_alive) CloseSocket();
    Finish(std::move(out));
  }

  // A keep-alive connection the server closed while idle fails on write or before the first
  // byte of the answer. That is not the request's fault: resend it once on a new connection.
  bool MaybeResendAfterStale(const beast::error_code& ec, bool got_bytes) {
    if (answered_on_this_socket_ == 0 || resent_after_stale_ || got_bytes ||
        !job_->request.idempotent || !IsPeerClosed(ec) || pool_->shutting_down()) {
      return false;
    }
    resent_after_stale_ = true;
    pool_->stale_retries_.fetch_add(1, std::memory_order_relaxed);
    CloseSocket();
    DoResolve();
    return true;
  }

  void Fail(const beast::error_code& ec, absl::string_view step, absl::StatusCode code) {
    if (ec == beast::error::timeout) {
      return FailWith(absl::DeadlineExceededError(absl::StrCat(
          step, " ", origin_text(), ": timed out after ", absl::FormatDuration(step_timeout_))));
    }
    FailWith(absl::Status(code, absl::StrCat(step, " ", origin_text(), ": ", ec.message())));
  }

  void FailWith(absl::Status status) {
    // Shutdown() closes sockets under running requests; whatever error that caused, report it
    // as the cancellation it is.
    if (pool_->shutting_down()) {
      status = ShutDownError(origin_text());
    }
    // After an error the connection's state is unknown: never reuse it.
    CloseSocket();
    parser_.reset();
    Finish(std::move(status));
  }

  // The connection is made available (idle, or given the next queued request) before the
  // answer is delivered, so a caller that sends again from its callback finds it free.
  void Finish(absl::StatusOr<HttpResponse> result) {
    Callback done = std::move(job_->done);
    job_.reset();
    std::optional<PendingRequest> next = pool_->NextFor(shared_from_this());
    pool_->Deliver(std::move(done), std::move(result));
    if (next.has_value()) Run(*std::move(next));
  }

  void CloseSocket() {
    // No TLS close_notify: the client never reuses a closed session and nothing is lost by
    // dropping the connection (HTTP/1.1 framing tells both sides where messages end).
    if (plain_ || tls_) Tcp().close();
    buffer_.clear();
    answered_on_this_socket_ = 0;
  }

  const std::shared_ptr<Impl> pool_;
  net::strand<net::any_io_executor> strand_;
  tcp::resolver resolver_;
  // Exactly one is set once the first connect started.
  std::optional<beast::tcp_stream> plain_;
  std::optional<beast::ssl_stream<beast::tcp_stream>> tls_;
  beast::flat_buffer buffer_;
  std::optional<http::response_parser<http::string_body>> parser_;
  http::request<http::string_body> request_;
  std::optional<PendingRequest> job_;
  std::chrono::steady_clock::time_point connect_deadline_;
  std::chrono::steady_clock::time_point request_deadline_;
  absl::Duration step_timeout_;  // limit of the step now running (for timeout messages)
  bool armed_for_request_ = false;  // the stream timer holds request_deadline_
  // Answers read on the current socket; > 0 means the socket is a reused keep-alive connection.
  int answered_on_this_socket_ = 0;
  bool resent_after_stale_ = false;
};

void ConnectionPool::Impl::Send(HttpRequest request, Callback done) {
  if (!setup_status_.ok()) return Deliver(std::move(done), setup_status_);
  std::shared_ptr<Connection> conn;
  std::optional<PendingRequest> job;
  bool rejected = false;
  {
    absl::MutexLock lock(&mu_);
    rejected = shutdown_;
    if (!rejected) {
      pending_.push_back(PendingRequest{std::move(request), std::move(done)});
      if (!idle_.empty()) {
        conn = std::move(idle_.back());
        idle_.pop_back();
      } else if (connections_.size() < options_.connections) {
        conn = std::make_shared<Connection>(shared_from_this());
        connections_.push_back(conn);
      }
      if (conn != nullptr) {
        job = std::move(pending_.front());
        pending_.pop_front();
      }
    }
  }
  if (rejected) {
    return Deliver(std::move(done), ShutDownError(origin_text_));
  }
  if (conn != nullptr) {
    net::post(conn->strand(),
              [conn, job = *std::move(job)]() mutable { conn->Run(std::move(job)); });
  }
}

std::optional<PendingRequest> ConnectionPool::Impl::NextFor(
    const std::shared_ptr<Connection>& conn) {
  absl::MutexLock lock(&mu_);
  if (shutdown_) return std::nullopt;
  if (pending_.empty()) {
    idle_.push_back(conn);
    return std::nullopt;
  }
  PendingRequest job = std::move(pending_.front());
  pending_.pop_front();
  return job;
}

void ConnectionPool::Impl::Shutdown() {
  std::deque<PendingRequest> queued;
  std::vector<std::shared_ptr<Connection>> connections;
  {
    absl::MutexLock lock(&mu_);
    if (shutdown_) return;
    shutdown_ = true;
    queued.swap(pending_);
    connections.swap(connections_);
    idle_.clear();
  }
  for (PendingRequest& job : queued) {
    Deliver(std::move(job.done), ShutDownError(origin_text_));
  }
  // Each connection drops its reference to the pool once its in-flight handler has completed,
  // which breaks the pool ↔ connection cycle.
  for (auto& conn : connections) {
    net::post(conn->strand(), [conn] { conn->Close(); });
  }
}

ConnectionPool::ConnectionPool(boost::asio::any_io_executor executor, Url origin,
                               PoolOptions options)
    : impl_(std::make_shared<Impl>(std::move(executor), std::move(origin), std::move(options))) {}

ConnectionPool::~ConnectionPool() { impl_->Shutdown(); }

void ConnectionPool::Send(HttpRequest request, Callback done) {
  impl_->Send(std::move(request), std::move(done));
}

void ConnectionPool::Shutdown() { impl_->Shutdown(); }

PoolCounters ConnectionPool::Snapshot() const { return impl_->Snapshot(); }

absl::Status ConnectionPool::setup_status() const { return impl_->setup_status(); }

const Url& ConnectionPool::origin() const { return impl_->origin(); }

boost::asio::any_io_executor ConnectionPool::executor() const { return impl_->executor(); }

}  // namespace enrich::transport
