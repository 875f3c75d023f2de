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
#include "boost/asio/strand.hpp"
#include "boost/beast/core.hpp"
#include "boost/beast/http.hpp"

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
  }

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
  const net::any_io_executor executor_;
  const Url origin_;
  const std::string origin_text_;
  PoolOptions options_;

  mutable absl::Mutex mu_;
  bool shutdown_ ABSL_GUARDED_BY(mu_) = false;
  std::deque<PendingRequest> pending_ ABSL_GUARDED_BY(mu_);
  std::vector<std::shared_ptr<Connection>> connections_ ABSL_GUARDED_BY(mu_);
  // Connections with no request; the most recently used is at the back and is taken first, so
  // a light load keeps reusing one warm connection.
  std::vector<std::shared_ptr<Connection>> idle_ ABSL_GUARDED_BY(mu_);
};

// One keep-alive TCP connection, driven on its own strand (Beast client example style). It runs
// one request at a time: [resolve → connect →] write → read, each step under a deadline.
class ConnectionPool::Impl::Connection : public std::enable_shared_from_this<Connection> {
 public:
  explicit Connection(std::shared_ptr<Impl> pool)
      : pool_(std::move(pool)),
        strand_(net::make_strand(pool_->executor())),
        resolver_(strand_),
        stream_(strand_) {}

  const net::strand<net::any_io_executor>& strand() const { return strand_; }

  // Starts `job`. Runs on the strand.
  void Run(PendingRequest job) {
    job_ = std::move(job);
    resent_after_stale_ = false;
    // Shutdown() may have closed this connection after the job was handed over.
    if (pool_->shutting_down()) return FailWith(ShutDownError(origin_text()));
    BuildRequest();
    if (stream_.socket().is_open()) {
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
    stream_.expires_at(connect_deadline_);
    stream_.async_connect(results,
                          beast::bind_front_handler(&Connection::OnConnect, shared_from_this()));
  }

  void OnConnect(beast::error_code ec, const tcp::endpoint& /*endpoint*/) {
    if (ec) return Fail(ec, "connect to", absl::StatusCode::kUnavailable);
    pool_->connects_.fetch_add(1, std::memory_order_relaxed);
    answered_on_this_socket_ = 0;
    buffer_.clear();
    DoWrite();
  }

  void DoWrite() {
    // One deadline for writing the request and reading the whole answer.
    stream_.expires_after(ToChrono(options().request_timeout));
    http::async_write(stream_, request_,
                      beast::bind_front_handler(&Connection::OnWrite, shared_from_this()));
  }

  void OnWrite(beast::error_code ec, size_t /*bytes*/) {
    if (ec) {
      if (MaybeResendAfterStale(ec, /*got_bytes=*/false)) return;
      return Fail(ec, "write to", absl::StatusCode::kUnavailable);
    }
    DoRead();
  }

  void DoRead() {
    parser_.emplace();
    parser_->body_limit(options().max_response_bytes);
    parser_->header_limit(static_cast<std::uint32_t>(
        std::min<size_t>(options().max_header_bytes, std::numeric_limits<std::uint32_t>::max())));
    if (request_.method() == http::verb::head) parser_->skip(true);
    http::async_read(stream_, buffer_, *parser_,
                     beast::bind_front_handler(&Connection::OnRead, shared_from_this()));
  }

  void OnRead(beast::error_code ec, size_t /*bytes*/) {
    if (ec) {
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
      if (ec == http::error::end_of_stream) {
        return FailWith(absl::UnavailableError(
            absl::StrCat("read from ", origin_text(), ": connection closed before the response")));
      }
      if (ec == http::error::partial_message) {
        return FailWith(absl::UnavailableError(
            absl::StrCat("read from ", origin_text(), ": connection closed mid-response")));
      }
      if (ec.category() == http::make_error_code(http::error::bad_version).category()) {
        return FailWith(absl::InvalidArgumentError(
            absl::StrCat("bad HTTP from ", origin_text(), ": ", ec.message())));
      }
      return Fail(ec, "read from", absl::StatusCode::kUnavailable);
    }
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
      const absl::Duration limit = absl::string_view(step) == "connect to"
                                       ? options().connect_timeout
                                       : options().request_timeout;
      return FailWith(absl::DeadlineExceededError(absl::StrCat(
          step, " ", origin_text(), ": timed out after ", absl::FormatDuration(limit))));
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
    stream_.close();
    buffer_.clear();
    answered_on_this_socket_ = 0;
  }

  const std::shared_ptr<Impl> pool_;
  net::strand<net::any_io_executor> strand_;
  tcp::resolver resolver_;
  beast::tcp_stream stream_;
  beast::flat_buffer buffer_;
  std::optional<http::response_parser<http::string_body>> parser_;
  http::request<http::string_body> request_;
  std::optional<PendingRequest> job_;
  std::chrono::steady_clock::time_point connect_deadline_;
  // Answers read on the current socket; > 0 means the socket is a reused keep-alive connection.
  int answered_on_this_socket_ = 0;
  bool resent_after_stale_ = false;
};

void ConnectionPool::Impl::Send(HttpRequest request, Callback done) {
  if (origin_.scheme != "http") {
    return Deliver(std::move(done),
                   absl::UnimplementedError(absl::StrCat("request to ", origin_text_,
                                                         ": only http:// origins are supported")));
  }
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

const Url& ConnectionPool::origin() const { return impl_->origin(); }

boost::asio::any_io_executor ConnectionPool::executor() const { return impl_->executor(); }

}  // namespace enrich::transport
