#include "transport/connection_pool.h"

#include "transport/internal/plain_http_answer.h"
#include "transport/internal/socket_readiness.h"

#include <time.h>

#include <algorithm>
#include <array>
#include <atomic>
#include <charconv>
#include <chrono>
#include <cstring>
#include <deque>
#include <limits>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/container/inlined_vector.h"
#include "absl/status/status.h"
#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "boost/asio/connect.hpp"
#include "boost/asio/ip/tcp.hpp"
#include "boost/asio/post.hpp"
#include "boost/asio/ssl.hpp"
#include "boost/asio/steady_timer.hpp"
#include "boost/asio/strand.hpp"
#include "boost/asio/write.hpp"
#include "boost/beast/core/flat_buffer.hpp"
#include "boost/beast/http/basic_parser.hpp"
#include "boost/beast/http/error.hpp"
#include "openssl/ssl.h"
#include "openssl/x509.h"

namespace enrich::transport {
namespace {

namespace net = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using tcp = net::ip::tcp;
using SteadyClock = std::chrono::steady_clock;

constexpr SteadyClock::time_point kNever = SteadyClock::time_point::max();
// Bytes asked of one read: a CTIA verdict answer (a few hundred bytes) takes one read, and a
// pipelined burst of answers few.
constexpr size_t kReadChunk = 16 << 10;
// Times a pipelined request behind the first unanswered one may be resent after connections
// that closed without answering anything.
constexpr int kMaxFollowerResends = 2;

// Clamped so that now() + the result cannot overflow (an "infinite" timeout means a year).
SteadyClock::duration ToChrono(absl::Duration d) {
  return absl::ToChronoNanoseconds(std::clamp(d, absl::ZeroDuration(), absl::Hours(24 * 365)));
}

// Errors that mean "the peer had already closed this connection": on a reused keep-alive
// connection they are the normal sign of a server-side idle timeout, not a failed request.
bool IsPeerClosed(const beast::error_code& ec) {
  return ec == http::error::end_of_stream || ec == net::error::eof ||
         ec == net::error::connection_reset || ec == net::error::broken_pipe ||
         ec == net::error::connection_aborted || ec == net::ssl::error::stream_truncated;
}

absl::Status ShutDownError(absl::string_view origin) {
  return absl::CancelledError(
      absl::StrCat("request to ", origin, " cancelled: connection pool shut down"));
}

// Byte classes CheckRequest refuses: line breaks anywhere, blanks and ':' in some places.
constexpr uint8_t kLineBreak = 1;
constexpr uint8_t kBlank = 2;
constexpr uint8_t kColon = 4;
constexpr std::array<uint8_t, 256> kRefused = [] {
  std::array<uint8_t, 256> table{};
  table['\r'] = table['\n'] = kLineBreak;
  table[' '] = table['\t'] = kBlank;
  table[':'] = kColon;
  return table;
}();

// True when `text` holds a CR or LF, or (with `blanks`) a space or tab, or (with `colon`) a ':'.
// One branch-free pass (std::string::find_first_of calls memchr once per character).
bool HasAny(absl::string_view text, bool blanks, bool colon) {
  uint8_t seen = 0;
  for (char c : text) seen |= kRefused[static_cast<unsigned char>(c)];
  return (seen & (kLineBreak | (blanks ? kBlank : 0) | (colon ? kColon : 0))) != 0;
}

// (x - 1) & ~x has a byte's high bit set when that byte of x is zero; a borrow starts only at a
// zero byte, so no other byte is flagged.
constexpr uint64_t kOnes = 0x0101010101010101;
bool HasZeroByte(uint64_t x) { return ((x - kOnes) & ~x & (kOnes * 0x80)) != 0; }

// HasAny() without ':' eight bytes at a time (a token of a kilobyte or more goes into every
// request): a text shorter than eight bytes is zero-padded (a zero byte is none of these), a
// longer one ends with its last eight bytes (overlapping).
bool HasAnyFast(absl::string_view text, bool blanks) {
  auto refused = [blanks](uint64_t word) {
    return HasZeroByte(word ^ (kOnes * '\r')) || HasZeroByte(word ^ (kOnes * '\n')) ||
           (blanks && (HasZeroByte(word ^ (kOnes * ' ')) || HasZeroByte(word ^ (kOnes * '\t'))));
  };
  uint64_t word = 0;
  if (text.size() < sizeof word) {
    std::memcpy(&word, text.data(), text.size());
    return refused(word);
  }
  for (size_t i = 0; i + sizeof word <= text.size(); i += sizeof word) {
    std::memcpy(&word, text.data() + i, sizeof word);
    if (refused(word)) return true;
  }
  std::memcpy(&word, text.data() + text.size() - sizeof word, sizeof word);
  return refused(word);
}

// The steady clock read for deadlines of whole requests. CLOCK_MONOTONIC_COARSE is the base of
// std::chrono::steady_clock (CLOCK_MONOTONIC) at tick resolution and far cheaper to read; it
// trails the precise clock by at most a tick (a few milliseconds) on a CPU that takes ticks, so
// with one tick added a deadline taken from it is not earlier than one from the precise clock,
// and at most a tick later. Request timeouts are seconds: either error is immaterial.
SteadyClock::time_point DeadlineClockNow() {
  static const SteadyClock::duration tick = [] {
    timespec res{};
    if (::clock_getres(CLOCK_MONOTONIC_COARSE, &res) != 0) return SteadyClock::duration::min();
    return std::chrono::duration_cast<SteadyClock::duration>(std::chrono::seconds(res.tv_sec) +
                                                             std::chrono::nanoseconds(res.tv_nsec));
  }();
  timespec now{};
  if (tick < SteadyClock::duration::zero() || ::clock_gettime(CLOCK_MONOTONIC_COARSE, &now) != 0) {
    return SteadyClock::now();
  }
  return SteadyClock::time_point(std::chrono::duration_cast<SteadyClock::duration>(
             std::chrono::seconds(now.tv_sec) + std::chrono::nanoseconds(now.tv_nsec))) +
         tick;
}

// The pool writes method, target and headers verbatim into the request head: a line break in
// any of them would let a value (e.g. a token from a server) inject headers or requests.
absl::Status CheckRequest(const HttpRequest& request, absl::string_view origin) {
  auto bad = [&](absl::string_view what) {
    return absl::InvalidArgumentError(absl::StrCat("request to ", origin, ": ", what));
  };
  if (request.method.empty() || HasAny(request.method, true, false)) return bad("bad method");
  if (request.target.empty() || HasAnyFast(request.target, true)) {
    return bad("bad target (empty, or has a space or line break)");
  }
  for (const auto& [name, value] : request.headers) {
    if (name.empty() || HasAny(name, true, true)) return bad("bad header name");
    if (HasAnyFast(value, false)) {
      return bad(absl::StrCat("header ", name, " has a line break in its value"));
    }
  }
  return absl::OkStatus();
}

// Beast's parser calling back into an HttpResponse: no field container in between, one copy of
// each header and of the body. `out` is a recycled answer: its header strings and body keep
// their capacity, so a connection answered alike each time allocates nothing.
class ResponseParser final : public http::basic_parser<false> {
 public:
  explicit ResponseParser(HttpResponse& out) : out_(out) {
    out_.status = 0;
    out_.body.clear();
  }

 private:
  void on_request_impl(http::verb, beast::string_view, beast::string_view, int,
                       beast::error_code&) override {}
  void on_response_impl(int code, beast::string_view, int, beast::error_code&) override {
    out_.status = code;
  }
  void on_field_impl(http::field, beast::string_view name, beast::string_view value,
                     beast::error_code&) override {
    internal::SetHeader(out_, fields_++, absl::string_view(name.data(), name.size()),
                        absl::string_view(value.data(), value.size()));
  }
  void on_header_impl(beast::error_code&) override { out_.headers.resize(fields_); }
  void on_body_init_impl(const boost::optional<std::uint64_t>& length,
                         beast::error_code&) override {
    // A declared length above the body limit has already failed the parse.
    if (length) out_.body.reserve(static_cast<size_t>(*length));
  }
  size_t on_body_impl(beast::string_view body, beast::error_code&) override {
    out_.body.append(body.data(), body.size());
    return body.size();
  }
  void on_chunk_header_impl(std::uint64_t, beast::string_view, beast::error_code&) override {}
  size_t on_chunk_body_impl(std::uint64_t, beast::string_view body,
                            beast::error_code&) override {
    out_.body.append(body.data(), body.size());
    return body.size();
  }
  void on_finish_impl(beast::error_code&) override {}

  HttpResponse& out_;
  size_t fields_ = 0;  // header slots of `out_` filled so far
};

// Send()'s exchange: owns the request and the callback, deletes itself when complete.
class CallbackExchange final : public HttpExchange {
 public:
  CallbackExchange(HttpRequest request, ConnectionPool::Callback done)
      : request_(std::move(request)), done_(std::move(done)) {}
  const HttpRequest& request() const override { return request_; }
  void Complete(const absl::Status& status, HttpResponse* response) override {
    ConnectionPool::Callback done = std::move(done_);
    delete this;
    if (status.ok()) {
      done(std::move(*response));
    } else {
      done(status);
    }
  }

 private:
  ~CallbackExchange() override = default;
  HttpRequest request_;
  ConnectionPool::Callback done_;
};

// Set while ConnectionPool::Impl::Start() hands a request to a connection on the calling
// thread: completions found meanwhile are posted, so none runs inline in Start().
thread_local int t_starting = 0;

}  // namespace

class ConnectionPool::Impl : public std::enable_shared_from_this<ConnectionPool::Impl> {
 public:
  class Connection;
  using Jobs = absl::InlinedVector<HttpExchange*, 1>;

  Impl(net::any_io_executor executor, Url origin, PoolOptions options)
      : executor_(std::move(executor)),
        origin_(std::move(origin)),
        origin_text_(origin_.Origin()),
        options_(std::move(options)),
        io_context_executor_(executor_.target<net::io_context::executor_type>()) {
    options_.connections = std::max<size_t>(options_.connections, 1);
    options_.pipeline_depth = std::max<size_t>(options_.pipeline_depth, 1);
    request_timeout_ = ToChrono(options_.request_timeout);
    write_timeout_ = ToChrono(options_.write_timeout);
    first_byte_timeout_ = ToChrono(options_.first_byte_timeout);
    head_fields_ = absl::StrCat("Host: ", origin_.HostHeader(), "\r\nUser-Agent: ",
                                options_.user_agent, "\r\n");
    if (origin_.scheme == "https") {
      setup_status_ = SetUpTls();
    } else if (options_.single_io_thread && io_context_executor_ != nullptr) {
      readiness_ = internal::SocketReadiness::Create(executor_);
    }
  }

  // The client TLS context shared by the pool's connections; null for http.
  net::ssl::context* tls_context() const { return tls_context_.get(); }
  // Read readiness of the plain sockets with a single io thread; null otherwise (the sockets are
  // then read with async_read_some).
  internal::SocketReadiness* readiness() const { return readiness_.get(); }
  absl::Status setup_status() const { return setup_status_; }

  void Start(HttpExchange* exchange);
  void Shutdown();
  PoolCounters Snapshot() const {
    PoolCounters c;
    c.requests = requests_.load(std::memory_order_relaxed);
    c.failures = failures_.load(std::memory_order_relaxed);
    c.connects = connects_.load(std::memory_order_relaxed);
    c.stale_retries = stale_retries_.load(std::memory_order_relaxed);
    c.pipelined = pipelined_.load(std::memory_order_relaxed);
    return c;
  }

  // Called by a connection (on its strand) once `finished` of its requests are settled: hands
  // it queued requests as far as its capacity allows, and parks it as idle when it has none.
  Jobs TakeMore(Connection* conn, size_t finished);

  // Completes `exchange` now; the caller is a connection's handler on an io thread.
  void Deliver(HttpExchange* exchange, const absl::Status& status, HttpResponse* response) {
    if (!status.ok()) {
      failures_.fetch_add(1, std::memory_order_relaxed);
      if (shutting_down()) return exchange->Complete(ShutDownError(origin_text_), nullptr);
      return exchange->Complete(status, nullptr);
    }
    requests_.fetch_add(1, std::memory_order_relaxed);
    exchange->Complete(status, response);
  }
  // Fails `exchange` with `error` on the pool's executor, never inline (for Start()).
  void FailLater(HttpExchange* exchange, absl::Status error) {
    failures_.fetch_add(1, std::memory_order_relaxed);
    net::post(executor_, [exchange, error = std::move(error)] {
      exchange->Complete(error, nullptr);
    });
  }
  // True on the pool's only io thread (PoolOptions::single_io_thread): handlers of every
  // connection run here, one at a time, so a connection may be driven directly.
  bool OnOnlyIoThread() const {
    return options_.single_io_thread && io_context_executor_ != nullptr &&
           io_context_executor_->running_in_this_thread();
  }

  bool shutting_down() const { return shutting_down_.load(std::memory_order_acquire); }

  const net::any_io_executor& executor() const { return executor_; }
  const Url& origin() const { return origin_; }
  const std::string& origin_text() const { return origin_text_; }
  const PoolOptions& options() const { return options_; }
  // The per-request timeouts of options() as clock durations.
  SteadyClock::duration request_timeout() const { return request_timeout_; }
  SteadyClock::duration write_timeout() const { return write_timeout_; }
  SteadyClock::duration first_byte_timeout() const { return first_byte_timeout_; }
  // "Host: ...\r\nUser-Agent: ...\r\n", the same for every request.
  const std::string& head_fields() const { return head_fields_; }
  // Answers kept for reuse by every connection; only with PoolOptions::single_io_thread (the
  // connections' handlers then all run on that thread).
  std::vector<std::unique_ptr<HttpResponse>>& shared_spare_responses() {
    return shared_spare_responses_;
  }

  std::atomic<uint64_t> requests_{0};
  std::atomic<uint64_t> failures_{0};
  std::atomic<uint64_t> connects_{0};
  std::atomic<uint64_t> stale_retries_{0};
  std::atomic<uint64_t> pipelined_{0};

 private:
  // A connection that may take `job` now: idle first, then a new one, then (pipelining) the
  // least loaded one with room. Counts the job as assigned to it.
  std::shared_ptr<Connection> PickFor(const HttpRequest& request) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

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
  // The io_context behind executor_, or null when it is some other executor.
  const net::io_context::executor_type* const io_context_executor_;
  SteadyClock::duration request_timeout_{};
  SteadyClock::duration write_timeout_{};
  SteadyClock::duration first_byte_timeout_{};
  std::string head_fields_;
  std::unique_ptr<net::ssl::context> tls_context_;
  std::shared_ptr<internal::SocketReadiness> readiness_;
  std::vector<std::unique_ptr<HttpResponse>> shared_spare_responses_;
  absl::Status setup_status_;
  std::atomic<bool> shutting_down_{false};

  mutable absl::Mutex mu_;
  bool shutdown_ ABSL_GUARDED_BY(mu_) = false;
  std::deque<HttpExchange*> pending_ ABSL_GUARDED_BY(mu_);
  std::vector<std::shared_ptr<Connection>> connections_ ABSL_GUARDED_BY(mu_);
  // Connections with no request; the most recently used is at the back and is taken first, so
  // a light load keeps reusing one warm connection.
  std::vector<std::shared_ptr<Connection>> idle_ ABSL_GUARDED_BY(mu_);
};

// One keep-alive connection (TCP, or TLS over TCP), driven on its own strand (or on the only io
// thread, PoolOptions::single_io_thread). Its requests sit
// in `queue_` in the order they are written and answered: [resolve → connect → TLS handshake →]
// write (several at once when pipelining) → read answers in order. One timer per connection
// holds the earliest deadline of whatever is in progress; it is re-armed only when a deadline
// comes earlier than the one it waits for (a late wake-up re-checks and waits again), so a
// request costs no timer operation of its own.
class ConnectionPool::Impl::Connection : public std::enable_shared_from_this<Connection>,
                                          private internal::SocketReadiness::Listener {
 public:
  explicit Connection(std::shared_ptr<Impl> pool)
      : pool_(std::move(pool)),
        strand_(pool_->options().single_io_thread
                    ? pool_->executor()
                    : net::any_io_executor(net::make_strand(pool_->executor()))),
        resolver_(strand_),
        timer_(strand_) {}
  ~Connection() { StopWatching(); }

  // The strand the connection runs on (the pool's executor itself with a single io thread).
  const net::any_io_executor& strand() const { return strand_; }

  // Takes a request the pool assigned to this connection. Runs on the strand.
  void Add(HttpExchange* exchange) {
    queue_.push_back(InFlight{exchange});
    Kick();
    Flush();
  }

  // After Shutdown(): cancels whatever is in progress, fails what is queued here and closes the
  // socket. Runs on the strand.
  void Close() {
    CloseSocket();
    ++timer_generation_;
    timer_waiting_ = false;
    timer_.cancel();
    FailQueued(ShutDownError(origin_text()));
    Flush();
  }

  // Bookkeeping of the pool, guarded by the pool's mu_ (never touched by the connection).
  size_t assigned = 0;     // requests given to this connection and not yet settled
  bool exclusive = false;  // a non-idempotent request is among them: pipeline nothing behind it
  bool idle = false;       // in the pool's idle_ list

 private:
  enum class Phase { kClosed, kResolving, kConnecting, kHandshaking, kOpen };

  struct InFlight {
    HttpExchange* exchange;
    const HttpRequest& request() const { return exchange->request(); }
    SteadyClock::time_point request_deadline = kNever;     // write + whole answer
    SteadyClock::time_point first_byte_deadline = kNever;  // end of write → end of headers
    int resends_without_progress = 0;  // resent after connections that answered nothing
    bool stale_resent = false;         // resent once under the stale rule
    bool in_write = false;             // part of the write in progress
  };

  // The earliest deadline now running, with the step it limits (for the timeout message).
  struct Due {
    SteadyClock::time_point at = kNever;
    const char* step = "";
    absl::Duration limit;
  };

  const std::string& origin_text() const { return pool_->origin_text(); }
  const PoolOptions& options() const { return pool_->options(); }
  bool use_tls() const { return pool_->tls_context() != nullptr; }
  tcp::socket& Socket() { return tls_ ? tls_->next_layer() : *plain_; }

  // Runs `f` with the stream requests go through (TLS or plain).
  template <typename F>
  void WithStream(F&& f) {
    if (tls_) {
      f(*tls_);
    } else {
      f(*plain_);
    }
  }

  // Starts what the queue needs: a connection, or a write of the requests not yet sent.
  void Kick() {
    if (queue_.empty()) return;
    // Shutdown() may have closed this connection after the pool handed over a request.
    if (pool_->shutting_down()) return FailQueued(ShutDownError(origin_text()));
    switch (phase_) {
      case Phase::kClosed:
        return Connect();
      case Phase::kOpen:
        return StartWrite();
      default:
        return;  // connecting: the write starts once the connection is up
    }
  }

  // ---- connect ----

  void Connect() {
    phase_ = Phase::kResolving;
    // One deadline covers resolve and connect.
    connect_deadline_ = SteadyClock::now() + ToChrono(options().connect_timeout);
    resolver_.async_resolve(
        pool_->origin().host, std::to_string(pool_->origin().port),
        [self = shared_from_this(), generation = generation_](
            const beast::error_code& ec, const tcp::resolver::results_type& results) {
          self->OnResolve(generation, ec, results);
        });
    UpdateTimer();
  }

  void OnResolve(uint64_t generation, const beast::error_code& ec,
                 const tcp::resolver::results_type& results) {
    if (generation != generation_) return;
    if (ec) return FailConnect(ErrorFor(ec, "resolve"));
    // A TLS session cannot be reused after its socket closed: every connect gets a new stream.
    plain_.reset();
    tls_.reset();
    if (use_tls()) {
      tls_.emplace(strand_, *pool_->tls_context());
    } else {
      plain_.emplace(strand_);
    }
    phase_ = Phase::kConnecting;
    net::async_connect(Socket(), results,
                       [self = shared_from_this(), generation](
                           const beast::error_code& connect_ec, const tcp::endpoint&) {
                         self->OnConnect(generation, connect_ec);
                       });
  }

  void OnConnect(uint64_t generation, const beast::error_code& ec) {
    if (generation != generation_) return;
    if (ec) return FailConnect(ErrorFor(ec, "connect to"));
    pool_->connects_.fetch_add(1, std::memory_order_relaxed);
    beast::error_code ignored;
    // Requests are written whole; never hold a pipelined one back for an ACK (Nagle).
    Socket().set_option(tcp::no_delay(true), ignored);
    // StartWrite() writes to a plain socket directly and must never block.
    if (plain_) plain_->non_blocking(true, ignored);
    if (plain_ && pool_->readiness() != nullptr) {
      watch_ = pool_->readiness()->Watch(plain_->native_handle(), this);
    }
    answered_ = 0;
    buffer_.clear();
    if (use_tls()) return DoHandshake();
    phase_ = Phase::kOpen;
    StartWrite();
    Flush();
  }

  void DoHandshake() {
    const Url& origin = pool_->origin();
    boost::system::error_code ip_ec;
    const bool is_ip = (net::ip::make_address(origin.host, ip_ec), !ip_ec);
    // SNI carries host names only (RFC 6066 §3), never IP literals.
    // SSL_set_tlsext_host_name is a macro with a C cast; this is its expansion.
    if (!is_ip && SSL_ctrl(tls_->native_handle(), SSL_CTRL_SET_TLSEXT_HOSTNAME,
                           TLSEXT_NAMETYPE_host_name, const_cast<char*>(origin.host.c_str())) != 1) {
      return FailConnect(absl::UnavailableError(
          absl::StrCat("TLS handshake with ", origin_text(), ": cannot set SNI host name")));
    }
    if (options().tls.verify_peer) {
      tls_->set_verify_callback(net::ssl::host_name_verification(origin.host));
    }
    phase_ = Phase::kHandshaking;
    handshake_deadline_ = SteadyClock::now() + ToChrono(options().tls_handshake_timeout);
    tls_->async_handshake(net::ssl::stream_base::client,
                          [self = shared_from_this(), generation = generation_](
                              const beast::error_code& ec) { self->OnHandshake(generation, ec); });
    UpdateTimer();
  }

  void OnHandshake(uint64_t generation, const beast::error_code& ec) {
    if (generation != generation_) return;
    if (ec) {
      std::string why = ec.message();
      const long verify = SSL_get_verify_result(tls_->native_handle());
      if (verify != X509_V_OK) {
        why = absl::StrCat("certificate verify failed: ", X509_verify_cert_error_string(verify),
                           options().tls.ca_file.empty()
                               ? " (to trust a private CA, pass its PEM file with --ca-file)"
                               : absl::StrCat(" (CA file ", options().tls.ca_file, ")"));
      }
      return FailConnect(
          absl::UnavailableError(absl::StrCat("TLS handshake with ", origin_text(), ": ", why)));
    }
    phase_ = Phase::kOpen;
    StartWrite();
    Flush();
  }

  // The connection could not be set up: nothing queued here was sent, so all of it fails.
  void FailConnect(absl::Status status) {
    CloseSocket();
    FailQueued(status);
    Flush();
  }

  // ---- write ----

  // Writes every queued request not yet sent, in one write. On plain TCP the bytes are first
  // offered to the socket directly (it is non-blocking): a request of a few hundred bytes
  // normally goes out whole, and then no asynchronous write (and no completion handler) is
  // needed at all. What the socket does not take is written asynchronously.
  void StartWrite() {
    if (phase_ != Phase::kOpen || writing_ || sent_ == queue_.size()) return UpdateTimer();
    const auto now = DeadlineClockNow();
    out_.clear();
    for (size_t i = sent_; i < queue_.size(); ++i) {
      InFlight& f = queue_[i];
      AppendRequest(f.request());
      f.request_deadline = now + pool_->request_timeout();
      f.first_byte_deadline = kNever;
      f.in_write = true;
      // Written while requests ahead of it on this connection are unanswered.
      if (i > 0) pool_->pipelined_.fetch_add(1, std::memory_order_relaxed);
    }
    sent_ = queue_.size();
    write_deadline_ = now + pool_->write_timeout();
    writing_ = true;
    size_t written = 0;
    if (plain_) {
      beast::error_code ec;
      written = plain_->write_some(net::buffer(out_), ec);
      if (ec == net::error::would_block || ec == net::error::try_again) {
        written = 0;
      } else if (ec || written == out_.size()) {
        return OnWrite(generation_, ec, now);
      }
    }
    WithStream([this, written](auto& stream) {
      net::async_write(stream, net::buffer(out_) + written,
                       [self = shared_from_this(), generation = generation_](
                           const beast::error_code& ec, size_t) {
                         self->OnWrite(generation, ec);
                         self->Flush();
                       });
    });
    UpdateTimer();
  }

  // HTTP/1.1 request head (RFC 9112 §3): the pool's Host and User-Agent, the caller's headers,
  // Content-Length when there is a body (or the method expects one), then the body.
  // Sized once, then copied piece by piece (no capacity check per piece).
  void AppendRequest(const HttpRequest& in) {
    constexpr absl::string_view kVersion = " HTTP/1.1\r\n";
    constexpr absl::string_view kLength = "Content-Length: ";
    const std::string& fields = pool_->head_fields();
    const bool with_length =
        !in.body.empty() || in.method == "POST" || in.method == "PUT" || in.method == "PATCH";
    size_t size = in.method.size() + 1 + in.target.size() + kVersion.size() + fields.size() +
                  (with_length ? kLength.size() + 20 + 2 : 0) + 2 + in.body.size();
    for (const auto& [name, value] : in.headers) size += name.size() + 2 + value.size() + 2;
    const size_t start = out_.size();
    out_.resize(start + size);
    char* to = out_.data() + start;
    auto put = [&to](absl::string_view piece) {
      std::memcpy(to, piece.data(), piece.size());
      to += piece.size();
    };
    put(in.method);
    put(" ");
    put(in.target);
    put(kVersion);
    put(fields);
    for (const auto& [name, value] : in.headers) {
      put(name);
      put(": ");
      put(value);
      put("\r\n");
    }
    if (with_length) {
      put(kLength);
      to = std::to_chars(to, to + 20, in.body.size()).ptr;
      put("\r\n");
    }
    put("\r\n");
    put(in.body);
    out_.resize(static_cast<size_t>(to - out_.data()));
  }

  // `now`: when the write ended (a direct write passes the time it started at).
  void OnWrite(uint64_t generation, const beast::error_code& ec,
               SteadyClock::time_point now = DeadlineClockNow()) {
    if (generation != generation_) return;
    writing_ = false;
    for (size_t i = 0; i < sent_; ++i) {
      InFlight& f = queue_[i];
      if (!f.in_write) continue;
      f.in_write = false;
      f.first_byte_deadline = now + pool_->first_byte_timeout();
    }
    if (ec) return Lost(ErrorFor(ec, "write to"), IsPeerClosed(ec), HeadGotBytes());
    StartRead();
    StartWrite();  // requests queued meanwhile (pipelining); else re-checks the timer
  }

  // ---- read ----

  void StartRead() {
    if (reading_ || phase_ != Phase::kOpen || sent_ == 0) return;
    reading_ = true;
    if (watch_ != 0) return WaitReadable();
    WithStream([this](auto& stream) {
      stream.async_read_some(
          buffer_.prepare(kReadChunk),
          [self = shared_from_this(), generation = generation_](const beast::error_code& ec,
                                                                size_t bytes) {
            self->OnRead(generation, ec, bytes);
          });
    });
  }

  // A watched socket (SocketReadiness) is read when the set says it is readable, not at once:
  // right after a request is written its answer is almost never there yet, and Asio's
  // async_read_some would try (and fail) a read first.
  void WaitReadable() {
    if (!pool_->readiness()->Want(watch_)) return;  // OnReadable() comes
    // Readable already: read from a handler of its own (StartRead runs inside other steps).
    net::post(strand_, [self = shared_from_this(), generation = generation_] {
      if (generation == self->generation_) self->OnReadable();
    });
  }

  void OnReadable() override {
    if (!reading_) return;
    const std::shared_ptr<Connection> self = shared_from_this();  // OnRead may drop the last owner
    beast::error_code ec;
    const size_t bytes = plain_->read_some(buffer_.prepare(kReadChunk), ec);
    if (ec == net::error::would_block || ec == net::error::try_again) return WaitReadable();
    // A full buffer may have left bytes behind, and they raise no new readiness event.
    if (!ec && bytes == kReadChunk) pool_->readiness()->MarkReady(watch_);
    OnRead(generation_, ec, bytes);
  }

  void StopWatching() {
    if (watch_ == 0) return;
    pool_->readiness()->Stop(watch_, plain_->native_handle());
    watch_ = 0;
  }

  void OnRead(uint64_t generation, const beast::error_code& ec, size_t bytes) {
    if (generation != generation_) return;
    reading_ = false;
    buffer_.commit(bytes);
    if (ParseAnswers()) {
      if (ec) {
        OnReadError(ec);
      } else {
        StartRead();
        UpdateTimer();
      }
    }
    Flush();
  }

  // Feeds the buffered bytes to the parser, settling each complete answer with the request at
  // the head of the queue. False when the connection was closed on the way.
  bool ParseAnswers() {
    while (sent_ > 0 && buffer_.size() > 0) {
      InFlight& head = queue_.front();
      if (!parser_ && head.request().method != "HEAD") {
        // A whole answer of the plain shape is read without Beast's parser (same result).
        TakeResponse();
        bool keep_alive = true;
        const size_t used = internal::ReadPlainAnswer(
            absl::string_view(static_cast<const char*>(buffer_.data().data()), buffer_.size()),
            options().max_header_bytes, options().max_response_bytes, *response_, &keep_alive);
        if (used > 0) {
          buffer_.consume(used);
          head.first_byte_deadline = kNever;
          if (!SettleHead(keep_alive)) return false;
          continue;
        }
      }
      if (!parser_) StartParser(head.request());
      beast::error_code ec;
      const size_t used = parser_->put(buffer_.data(), ec);
      buffer_.consume(used);
      if (parser_->is_header_done()) head.first_byte_deadline = kNever;
      if (ec == http::error::need_more) return true;
      if (ec) {
        Lost(ParseError(ec), /*peer_closed=*/false, /*head_got_bytes=*/true);
        return false;
      }
      if (!parser_->is_done()) {
        if (used == 0) return true;
        continue;
      }
      if (!SettleHead(BeastKeepAlive())) return false;
    }
    return true;
  }

  // response_ holds an answer object to fill (a recycled one when there is one).
  void TakeResponse() {
    if (response_ != nullptr) return;
    std::vector<std::unique_ptr<HttpResponse>>& spares = Spares();
    if (spares.empty()) {
      response_ = std::make_unique<HttpResponse>();
    } else {
      response_ = std::move(spares.back());
      spares.pop_back();
    }
  }

  // Delivered answers kept for reuse, last in first out. With a single io thread the pool's
  // connections share them: the answer just delivered, still in the cache, takes the next one.
  std::vector<std::unique_ptr<HttpResponse>>& Spares() {
    return options().single_io_thread ? pool_->shared_spare_responses() : spare_responses_;
  }

  // Whether the answer Beast's parser has read keeps the connection; the parser is done with.
  bool BeastKeepAlive() {
    const bool keep_alive = parser_->keep_alive();
    parser_.reset();
    return keep_alive;
  }

  void StartParser(const HttpRequest& request) {
    TakeResponse();
    parser_.emplace(*response_);
    parser_->eager(true);
    parser_->body_limit(options().max_response_bytes);
    parser_->header_limit(static_cast<std::uint32_t>(
        std::min<size_t>(options().max_header_bytes, std::numeric_limits<std::uint32_t>::max())));
    if (request.method == "HEAD") parser_->skip(true);
  }

  // The head's answer is complete: settle it. False when the answer closes the connection.
  bool SettleHead(bool keep_alive) {
    settled_.push_back(Settled{queue_.front().exchange, absl::OkStatus(), std::move(response_)});
    queue_.pop_front();
    --sent_;
    ++answered_;
    if (keep_alive) return true;
    // `Connection: close` (or HTTP/1.0): requests pipelined behind this answer go elsewhere.
    Lost(absl::OkStatus(), /*peer_closed=*/true, /*head_got_bytes=*/false);
    return false;
  }

  void OnReadError(const beast::error_code& ec) {
    const bool eof = ec == net::error::eof || ec == net::ssl::error::stream_truncated;
    if (eof && parser_ && parser_->got_some()) {
      // An answer without a length ends at EOF.
      beast::error_code eof_ec;
      parser_->put_eof(eof_ec);
      if (!eof_ec && parser_->is_done()) {
        if (SettleHead(BeastKeepAlive())) Lost(absl::OkStatus(), /*peer_closed=*/true, false);
        return;
      }
    }
    const bool got_bytes = HeadGotBytes();
    if (eof) {
      return Lost(absl::UnavailableError(absl::StrCat(
                      "read from ", origin_text(), ": connection closed ",
                      got_bytes ? "mid-response" : "before the response")),
                  /*peer_closed=*/true, got_bytes);
    }
    Lost(ErrorFor(ec, "read from"), IsPeerClosed(ec), got_bytes);
  }

  bool HeadGotBytes() const { return (parser_ && parser_->got_some()) || buffer_.size() > 0; }

  absl::Status ParseError(const beast::error_code& ec) const {
    if (ec == http::error::body_limit) {
      return absl::ResourceExhaustedError(absl::StrCat(
          "response from ", origin_text(), " exceeds ", options().max_response_bytes, " bytes"));
    }
    if (ec == http::error::header_limit) {
      return absl::ResourceExhaustedError(absl::StrCat("response headers from ", origin_text(),
                                                       " exceed ", options().max_header_bytes,
                                                       " bytes"));
    }
    return absl::InvalidArgumentError(
        absl::StrCat("bad HTTP from ", origin_text(), ": ", ec.message()));
  }

  absl::Status ErrorFor(const beast::error_code& ec, absl::string_view step) const {
    return absl::UnavailableError(absl::StrCat(step, " ", origin_text(), ": ", ec.message()));
  }

  // ---- losing the connection ----

  // The connection cannot go on (closed by the peer, a timeout, garbage, `Connection: close`).
  // The first sent, unanswered request fails with `error` (when not OK) unless the stale rule
  // lets it be resent once: the peer closed a reused connection before any byte of its answer.
  // Sent requests behind it are resent when idempotent: always when this socket answered
  // something (progress was made, so resending cannot loop), else at most kMaxFollowerResends
  // times. Requests not sent yet simply wait. What is left goes out on a fresh connection.
  void Lost(const absl::Status& error, bool peer_closed, bool head_got_bytes) {
    const bool progressed = answered_ > 0;
    CloseSocket();
    const bool stopping = pool_->shutting_down();
    InFlightQueue kept;
    for (size_t i = 0; i < queue_.size(); ++i) {
      InFlight& f = queue_[i];
      if (i < sent_) {
        const bool head_failed = i == 0 && !error.ok();
        bool resend;
        if (head_failed) {
          resend = peer_closed && progressed && !head_got_bytes && f.request().idempotent &&
                   !f.stale_resent;
          f.stale_resent = true;
        } else {
          resend = f.request().idempotent &&
                   (progressed || f.resends_without_progress < kMaxFollowerResends);
          if (!progressed) ++f.resends_without_progress;
        }
        if (stopping || !resend) {
          absl::Status status =
              head_failed ? error
                          : absl::UnavailableError(absl::StrCat(
                                "read from ", origin_text(), ": connection closed before the response"));
          settled_.push_back(Settled{f.exchange, std::move(status), nullptr});
          continue;
        }
        pool_->stale_retries_.fetch_add(1, std::memory_order_relaxed);
      }
      f.in_write = false;
      f.request_deadline = kNever;
      f.first_byte_deadline = kNever;
      kept.push_back(std::move(f));
    }
    queue_.swap(kept);
    sent_ = 0;
    Kick();
  }

  // Fails every queued request with `status` (none of them has an answer).
  void FailQueued(const absl::Status& status) {
    for (size_t i = 0; i < queue_.size(); ++i) {
      settled_.push_back(Settled{queue_[i].exchange, status, nullptr});
    }
    queue_.clear();
    sent_ = 0;
  }

  void CloseSocket() {
    // Handlers of operations started before this point see another generation and do nothing.
    ++generation_;
    phase_ = Phase::kClosed;
    writing_ = false;
    reading_ = false;
    resolver_.cancel();
    StopWatching();
    // No TLS close_notify: the client never reuses a closed session and nothing is lost by
    // dropping the connection (HTTP/1.1 framing tells both sides where messages end).
    if (plain_ || tls_) {
      beast::error_code ignored;
      Socket().close(ignored);
    }
    buffer_.clear();
    parser_.reset();
    answered_ = 0;
  }

  // Hands the pool the settled requests (and takes more work from it), then runs their
  // callbacks: the connection is busy again, or idle, before any caller hears back, so a
  // caller that sends again from its callback finds it free.
  void Flush() {
    // A Kick() below may settle more (e.g. a failed write): the running loop takes those.
    if (flushing_ || settled_.empty()) return;
    if (t_starting > 0) {
      // Inside the pool's Start() on the caller's thread: never complete inline there.
      if (!flush_posted_) {
        flush_posted_ = true;
        net::post(strand_, [self = shared_from_this()] {
          self->flush_posted_ = false;
          self->Flush();
        });
      }
      return;
    }
    flushing_ = true;
    while (!settled_.empty()) {
      delivering_.swap(settled_);
      Jobs more = pool_->TakeMore(this, delivering_.size());
      if (!more.empty()) {
        for (HttpExchange* exchange : more) queue_.push_back(InFlight{exchange});
        Kick();
      }
      // A callback may start a request that the pool hands to this connection directly (Add,
      // single io thread): it is queued and written; its completion waits for this loop.
      for (Settled& s : delivering_) {
        pool_->Deliver(s.exchange, s.status, s.response.get());
        if (s.response != nullptr) Recycle(std::move(s.response));
      }
      delivering_.clear();
    }
    flushing_ = false;
  }

  // Keeps an answer's buffers for the next one, unless a large body made them large.
  void Recycle(std::unique_ptr<HttpResponse> response) {
    constexpr size_t kMaxKeptBody = 64 << 10;
    std::vector<std::unique_ptr<HttpResponse>>& spares = Spares();
    if (response->body.capacity() > kMaxKeptBody || spares.size() >= 4) return;
    spares.push_back(std::move(response));
  }

  // ---- deadlines ----

  Due NextDue() const {
    switch (phase_) {
      case Phase::kClosed:
        return {};
      case Phase::kResolving:
        return {connect_deadline_, "resolve", options().connect_timeout};
      case Phase::kConnecting:
        return {connect_deadline_, "connect to", options().connect_timeout};
      case Phase::kHandshaking:
        return {handshake_deadline_, "TLS handshake with", options().tls_handshake_timeout};
      case Phase::kOpen:
        break;
    }
    Due due;
    auto consider = [&due](SteadyClock::time_point at, const char* step, absl::Duration limit) {
      if (at < due.at) due = Due{at, step, limit};
    };
    if (writing_) consider(write_deadline_, "write to", options().write_timeout);
    if (sent_ > 0) {
      const InFlight& head = queue_.front();
      consider(head.request_deadline, head.in_write ? "write to" : "read from",
               options().request_timeout);
      consider(head.first_byte_deadline, "read from", options().first_byte_timeout);
    }
    return due;
  }

  void UpdateTimer() {
    const Due due = NextDue();
    if (due.at == kNever) return;
    // A timer that fires no later than `due` re-checks then; only an earlier deadline re-arms.
    if (timer_waiting_ && timer_expiry_ <= due.at) return;
    ArmTimer(due.at);
  }

  void ArmTimer(SteadyClock::time_point at) {
    timer_waiting_ = true;
    timer_expiry_ = at;
    const uint64_t generation = ++timer_generation_;
    timer_.expires_at(at);  // cancels a wait in progress; its handler sees another generation
    timer_.async_wait([self = shared_from_this(), generation](const beast::error_code&) {
      self->OnTimer(generation);
    });
  }

  void OnTimer(uint64_t generation) {
    if (generation != timer_generation_) return;
    timer_waiting_ = false;
    const Due due = NextDue();
    if (due.at == kNever) return;  // idle: the next request arms the timer again
    if (SteadyClock::now() < due.at) return ArmTimer(due.at);
    absl::Status timeout = absl::DeadlineExceededError(absl::StrCat(
        due.step, " ", origin_text(), ": timed out after ", absl::FormatDuration(due.limit)));
    if (phase_ != Phase::kOpen) {
      FailConnect(std::move(timeout));
      return;
    }
    Lost(timeout, /*peer_closed=*/false, HeadGotBytes());
    Flush();
  }

  struct Settled {
    HttpExchange* exchange;
    absl::Status status;
    std::unique_ptr<HttpResponse> response;  // the answer when `status` is OK
  };

  const std::shared_ptr<Impl> pool_;
  const net::any_io_executor strand_;
  tcp::resolver resolver_;
  net::steady_timer timer_;
  // Exactly one is set once the first connect started.
  std::optional<tcp::socket> plain_;
  std::optional<net::ssl::stream<tcp::socket>> tls_;
  uint64_t watch_ = 0;  // the plain socket's handle in the pool's SocketReadiness, or 0
  Phase phase_ = Phase::kClosed;
  // Bumped whenever the socket closes: handlers of older operations ignore their completion.
  uint64_t generation_ = 0;

  // A FIFO over a vector that keeps its capacity: a steady load allocates nothing (a deque
  // allocates and frees a block every few requests).
  class InFlightQueue {
   public:
    bool empty() const { return head_ == items_.size(); }
    size_t size() const { return items_.size() - head_; }
    InFlight& operator[](size_t i) { return items_[head_ + i]; }
    InFlight& front() { return items_[head_]; }
    const InFlight& front() const { return items_[head_]; }
    void push_back(InFlight f) { items_.push_back(std::move(f)); }
    void pop_front() {
      if (++head_ == items_.size()) return clear();
      // Pipelining may never empty it: drop the answered part once it is most of the vector.
      if (head_ >= 32 && head_ * 2 >= items_.size()) {
        items_.erase(items_.begin(), items_.begin() + static_cast<long>(head_));
        head_ = 0;
      }
    }
    void clear() {
      items_.clear();
      head_ = 0;
    }
    void swap(InFlightQueue& other) {
      items_.swap(other.items_);
      std::swap(head_, other.head_);
    }

   private:
    std::vector<InFlight> items_;
    size_t head_ = 0;
  };

  InFlightQueue queue_;
  size_t sent_ = 0;  // queue_[0, sent_) are written (or being written) and unanswered
  std::string out_;  // bytes of the write in progress
  bool writing_ = false;
  bool reading_ = false;
  beast::flat_buffer buffer_;
  std::unique_ptr<HttpResponse> response_;  // the answer being parsed (for queue_.front())
  std::vector<std::unique_ptr<HttpResponse>> spare_responses_;  // delivered, kept for reuse
  std::optional<ResponseParser> parser_;
  std::vector<Settled> settled_;     // settled, callbacks not run yet (see Flush)
  std::vector<Settled> delivering_;  // callbacks being run by Flush
  bool flushing_ = false;
  bool flush_posted_ = false;  // a Flush() deferred out of Start() is posted
  // Answers read on the current socket; > 0 means the socket is a reused keep-alive connection.
  int answered_ = 0;

  SteadyClock::time_point connect_deadline_ = kNever;
  SteadyClock::time_point handshake_deadline_ = kNever;
  SteadyClock::time_point write_deadline_ = kNever;
  bool timer_waiting_ = false;
  SteadyClock::time_point timer_expiry_ = kNever;
  uint64_t timer_generation_ = 0;
};

std::shared_ptr<ConnectionPool::Impl::Connection> ConnectionPool::Impl::PickFor(
    const HttpRequest& request) {
  std::shared_ptr<Connection> conn;
  if (!idle_.empty()) {
    conn = std::move(idle_.back());
    idle_.pop_back();
    conn->idle = false;
  } else if (connections_.size() < options_.connections) {
    conn = std::make_shared<Connection>(shared_from_this());
    connections_.push_back(conn);
  } else if (options_.pipeline_depth > 1 && request.idempotent) {
    for (const auto& c : connections_) {
      if (c->exclusive || c->assigned >= options_.pipeline_depth) continue;
      if (conn == nullptr || c->assigned < conn->assigned) conn = c;
    }
  }
  if (conn != nullptr) {
    ++conn->assigned;
    if (!request.idempotent) conn->exclusive = true;
  }
  return conn;
}

void ConnectionPool::Impl::Start(HttpExchange* exchange) {
  if (!setup_status_.ok()) return FailLater(exchange, setup_status_);
  if (absl::Status bad = CheckRequest(exchange->request(), origin_text_); !bad.ok()) {
    return FailLater(exchange, std::move(bad));
  }
  std::shared_ptr<Connection> conn;
  {
    absl::MutexLock lock(&mu_);
    if (!shutdown_) {
      // First come, first served: a request waits behind those already queued.
      if (pending_.empty()) conn = PickFor(exchange->request());
      if (conn == nullptr) {
        pending_.push_back(exchange);
        return;
      }
    }
  }
  if (conn == nullptr) return FailLater(exchange, ShutDownError(origin_text_));
  if (OnOnlyIoThread()) {
    // Every connection's handlers run on this thread: drive the connection now instead of
    // through a posted handler (its completions are posted, see Connection::Flush).
    ++t_starting;
    conn->Add(exchange);
    --t_starting;
    return;
  }
  net::post(conn->strand(), [conn, exchange] { conn->Add(exchange); });
}

ConnectionPool::Impl::Jobs ConnectionPool::Impl::TakeMore(Connection* conn, size_t finished) {
  Jobs out;
  absl::MutexLock lock(&mu_);
  conn->assigned -= std::min(finished, conn->assigned);
  if (conn->assigned == 0) conn->exclusive = false;
  if (shutdown_) return out;
  while (!pending_.empty()) {
    const HttpRequest& request = pending_.front()->request();
    const bool fits =
        conn->assigned == 0 || (options_.pipeline_depth > 1 && !conn->exclusive &&
                                request.idempotent && conn->assigned < options_.pipeline_depth);
    if (!fits) break;
    ++conn->assigned;
    if (!request.idempotent) conn->exclusive = true;
    out.push_back(pending_.front());
    pending_.pop_front();
  }
  if (conn->assigned == 0 && !conn->idle) {
    conn->idle = true;
    idle_.push_back(conn->shared_from_this());
  }
  return out;
}

void ConnectionPool::Impl::Shutdown() {
  std::deque<HttpExchange*> queued;
  std::vector<std::shared_ptr<Connection>> connections;
  {
    absl::MutexLock lock(&mu_);
    if (shutdown_) return;
    shutdown_ = true;
    shutting_down_.store(true, std::memory_order_release);
    queued.swap(pending_);
    connections.swap(connections_);
    idle_.clear();
  }
  for (HttpExchange* exchange : queued) FailLater(exchange, ShutDownError(origin_text_));
  // Each connection drops its reference to the pool once its last handler has completed,
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
  impl_->Start(new CallbackExchange(std::move(request), std::move(done)));
}

void ConnectionPool::Start(HttpExchange* exchange) { impl_->Start(exchange); }

void ConnectionPool::Shutdown() { impl_->Shutdown(); }

PoolCounters ConnectionPool::Snapshot() const { return impl_->Snapshot(); }

absl::Status ConnectionPool::setup_status() const { return impl_->setup_status(); }

const Url& ConnectionPool::origin() const { return impl_->origin(); }

boost::asio::any_io_executor ConnectionPool::executor() const { return impl_->executor(); }

}  // namespace enrich::transport
