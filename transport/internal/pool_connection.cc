#include "transport/internal/pool_connection.h"

#include "transport/internal/http_request_head.h"
#include "transport/internal/pool_core.h"
#include "transport/ctia_status.h"

#include <chrono>
#include <utility>

#include "absl/strings/str_cat.h"
#include "boost/asio/connect.hpp"
#include "boost/asio/post.hpp"
#include "boost/asio/ssl.hpp"
#include "boost/asio/strand.hpp"
#include "boost/asio/write.hpp"
#include "boost/beast/http/error.hpp"
#include "openssl/ssl.h"
#include "openssl/x509.h"
#include <time.h>

namespace enrich::transport::internal {
namespace {

namespace net = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;

// Bytes asked of one read: a CTIA verdict answer (a few hundred bytes) takes one read, and a
// pipelined burst of answers few.
constexpr size_t kReadChunk = 16 << 10;

// Errors that mean "the peer had already closed this connection": on a reused keep-alive
// connection they are the normal sign of a server-side idle timeout, not a failed request.
bool IsPeerClosed(const beast::error_code& ec) {
  return ec == http::error::end_of_stream || ec == net::error::eof ||
         ec == net::error::connection_reset || ec == net::error::broken_pipe ||
         ec == net::error::connection_aborted || ec == net::ssl::error::stream_truncated;
}

// The steady clock read for deadlines of whole requests. CLOCK_MONOTONIC_COARSE is the base of
// std::chrono::steady_clock (CLOCK_MONOTONIC) at tick resolution and far cheaper to read; it
// trails the precise clock by at most a tick (a few milliseconds) on a CPU that takes ticks, so
// with one tick added a deadline taken from it is not earlier than one from the precise clock,
// and at most a tick later. Request timeouts are seconds: either error is immaterial. The
// saving is measured as user CPU per request by bench/transport/client_vs_wrk.sh.
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

}  // namespace

PoolConnection::PoolConnection(std::shared_ptr<PoolCore> pool, size_t index)
    : pool_(std::move(pool)),
      index_(index),
      strand_(pool_->options().single_io_thread
                  ? pool_->executor()
                  : net::any_io_executor(net::make_strand(pool_->executor()))),
      state_(pool_->timeouts(), pool_->origin_text()),
      resolver_(strand_),
      timer_(strand_),
      reader_(pool_->options().max_header_bytes, pool_->options().max_response_bytes) {}

PoolConnection::~PoolConnection() { StopWatching(); }

bool PoolConnection::use_tls() const { return pool_->tls_context() != nullptr; }
const std::string& PoolConnection::origin_text() const { return pool_->origin_text(); }
const PoolOptions& PoolConnection::options() const { return pool_->options(); }

void PoolConnection::Add(HttpExchange* exchange) {
  state_.Add(exchange);
  Kick();
  Flush();
}

void PoolConnection::Close() {
  CloseSocket();
  ++timer_generation_;
  state_.OnTimerCancelled();
  timer_.cancel();
  state_.FailAll(ShutDownError(origin_text()), settled_);
  Flush();
}

void PoolConnection::Abandon(HttpExchange* exchange, const absl::Status& error) {
  switch (state_.Abandon(exchange, error, settled_)) {
    case ConnectionState::Abandoned::kNotHere:
    case ConnectionState::Abandoned::kFollower:
      return;
    case ConnectionState::Abandoned::kUnsent:
      return Flush();
    case ConnectionState::Abandoned::kHead:
      Lost(error, /*peer_closed=*/false, HeadGotBytes());
      return Flush();
  }
}

void PoolConnection::Kick() {
  // Shutdown() may have closed this connection after the pool handed over a request.
  switch (state_.Next(pool_->shutting_down())) {
    case ConnectionState::Step::kNothing:
      return;
    case ConnectionState::Step::kFailAll:
      return state_.FailAll(ShutDownError(origin_text()), settled_);
    case ConnectionState::Step::kConnect:
      return DoResolve();
    case ConnectionState::Step::kWrite:
      return DoWrite();
  }
}

// ---- connect ----

void PoolConnection::DoResolve() {
  state_.OnResolveStarted(SteadyClock::now());
  resolver_.async_resolve(
      pool_->origin().host, std::to_string(pool_->origin().port),
      [self = shared_from_this(), generation = generation_](
          const beast::error_code& ec, const Tcp::resolver::results_type& results) {
        self->OnResolve(generation, ec, results);
      });
  UpdateTimer();
}

void PoolConnection::OnResolve(uint64_t generation, const ErrorCode& ec,
                               const Tcp::resolver::results_type& results) {
  if (generation != generation_) return;
  if (ec) return FailConnect(WithSetupFailure(ErrorFor(ec, "resolve"), SetupFailure::kUnresolved));
  // A TLS session cannot be reused after its socket closed: every connect gets a new stream.
  plain_.reset();
  tls_.reset();
  if (use_tls()) {
    tls_.emplace(strand_, *pool_->tls_context());
  } else {
    plain_.emplace(strand_);
  }
  state_.OnResolved();
  net::async_connect(Socket(), results,
                     [self = shared_from_this(), generation](const beast::error_code& connect_ec,
                                                             const Tcp::endpoint&) {
                       self->OnConnect(generation, connect_ec);
                     });
}

void PoolConnection::OnConnect(uint64_t generation, const ErrorCode& ec) {
  if (generation != generation_) return;
  if (ec) {
    return FailConnect(WithSetupFailure(ErrorFor(ec, "connect to"),
                                        ec == net::error::connection_refused
                                            ? SetupFailure::kRefused
                                            : SetupFailure::kNone));
  }
  pool_->connects_.fetch_add(1, std::memory_order_relaxed);
  beast::error_code ignored;
  // Requests are written whole; never hold a pipelined one back for an ACK (Nagle).
  Socket().set_option(Tcp::no_delay(true), ignored);
  // DoWrite() writes to a plain socket directly and must never block.
  if (plain_) plain_->non_blocking(true, ignored);
  if (plain_ && pool_->readiness() != nullptr) {
    watch_ = pool_->readiness()->Watch(plain_->native_handle(), this);
  }
  state_.OnConnected();
  buffer_.clear();
  if (use_tls()) return DoHandshake();
  state_.OnOpen();
  DoWrite();
  Flush();
}

void PoolConnection::DoHandshake() {
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
  state_.OnHandshakeStarted(SteadyClock::now());
  tls_->async_handshake(net::ssl::stream_base::client,
                        [self = shared_from_this(), generation = generation_](
                            const beast::error_code& ec) { self->OnHandshake(generation, ec); });
  UpdateTimer();
}

void PoolConnection::OnHandshake(uint64_t generation, const ErrorCode& ec) {
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
    return FailConnect(WithSetupFailure(
        absl::UnavailableError(absl::StrCat("TLS handshake with ", origin_text(), ": ", why)),
        verify != X509_V_OK ? SetupFailure::kTlsVerify : SetupFailure::kNone));
  }
  state_.OnOpen();
  DoWrite();
  Flush();
}

void PoolConnection::FailConnect(absl::Status status) {
  CloseSocket();
  state_.FailAll(status, settled_);
  Flush();
}

// ---- write ----

// Writes every queued request not yet sent, in one write. On plain TCP the bytes are first
// offered to the socket directly (it is non-blocking): a request of a few hundred bytes
// normally goes out whole, and then no asynchronous write (and no completion handler) is
// needed at all. What the socket does not take is written asynchronously.
void PoolConnection::DoWrite() {
  if (!state_.CanWrite()) return UpdateTimer();
  const auto now = DeadlineClockNow();
  out_.clear();
  const size_t pipelined = state_.BeginWrite(now, [this](const HttpRequest& request) {
    AppendRequest(request, pool_->head_fields(), out_);
  });
  if (pipelined > 0) pool_->pipelined_.fetch_add(pipelined, std::memory_order_relaxed);
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
    net::async_write(
        stream, net::buffer(out_) + written,
        [self = shared_from_this(), generation = generation_](const beast::error_code& ec, size_t) {
          self->OnWrite(generation, ec, DeadlineClockNow());
          self->Flush();
        });
  });
  UpdateTimer();
}

void PoolConnection::OnWrite(uint64_t generation, const ErrorCode& ec,
                             SteadyClock::time_point now) {
  if (generation != generation_) return;
  state_.OnWriteDone(now);
  if (ec) return Lost(ErrorFor(ec, "write to"), IsPeerClosed(ec), HeadGotBytes());
  DoRead();
  DoWrite();  // requests queued meanwhile (pipelining); else re-checks the timer
}

// ---- read ----

void PoolConnection::DoRead() {
  if (reading_ || state_.phase() != ConnectionState::Phase::kOpen || !state_.awaiting_answer()) {
    return;
  }
  reading_ = true;
  if (watch_ != 0) return WaitReadable();
  WithStream([this](auto& stream) {
    stream.async_read_some(
        buffer_.prepare(kReadChunk),
        [self = shared_from_this(), generation = generation_](
            const beast::error_code& ec, size_t bytes) { self->OnRead(generation, ec, bytes); });
  });
}

// A watched socket (SocketReadiness) is read when the set says it is readable, not at once:
// right after a request is written its answer is almost never there yet, and Asio's
// async_read_some would try (and fail) a read first.
void PoolConnection::WaitReadable() {
  if (!pool_->readiness()->Want(watch_)) return;  // OnReadable() comes
  // Readable already: read from a handler of its own (DoRead runs inside other steps).
  net::post(strand_, [self = shared_from_this(), generation = generation_] {
    if (generation == self->generation_) self->OnReadable();
  });
}

void PoolConnection::OnReadable() {
  if (!reading_) return;
  const std::shared_ptr<PoolConnection> self =
      shared_from_this();  // OnRead may drop the last owner
  beast::error_code ec;
  const size_t bytes = plain_->read_some(buffer_.prepare(kReadChunk), ec);
  if (ec == net::error::would_block || ec == net::error::try_again) return WaitReadable();
  // A full buffer may have left bytes behind, and they raise no new readiness event.
  if (!ec && bytes == kReadChunk) pool_->readiness()->MarkReady(watch_);
  OnRead(generation_, ec, bytes);
}

void PoolConnection::StopWatching() {
  if (watch_ == 0) return;
  pool_->readiness()->Stop(watch_, plain_->native_handle());
  watch_ = 0;
}

void PoolConnection::OnRead(uint64_t generation, const ErrorCode& ec, size_t bytes) {
  if (generation != generation_) return;
  reading_ = false;
  buffer_.commit(bytes);
  if (ParseAnswers()) {
    if (ec) {
      OnReadError(ec);
    } else {
      DoRead();
      UpdateTimer();
    }
  }
  Flush();
}

bool PoolConnection::ParseAnswers() {
  while (state_.awaiting_answer() && buffer_.size() > 0) {
    TakeResponse();
    const AnswerReader::Progress progress = reader_.Read(
        absl::string_view(static_cast<const char*>(buffer_.data().data()), buffer_.size()),
        state_.head_request().method == "HEAD", *response_);
    buffer_.consume(progress.used);
    if (progress.headers_done) state_.OnHeadHeaders();
    switch (progress.kind) {
      case AnswerReader::Progress::kNeedMore:
        return true;
      case AnswerReader::Progress::kPartial:
        continue;
      case AnswerReader::Progress::kError:
        Lost(reader_.ErrorStatus(progress.error, origin_text()), /*peer_closed=*/false,
             /*head_got_bytes=*/true);
        return false;
      case AnswerReader::Progress::kComplete:
        if (!SettleHead(progress.keep_alive)) return false;
        continue;
    }
  }
  return true;
}

bool PoolConnection::SettleHead(bool keep_alive) {
  settled_.push_back(state_.SettleHead(std::move(response_)));
  if (keep_alive) return true;
  // `Connection: close` (or HTTP/1.0): requests pipelined behind this answer go elsewhere.
  Lost(absl::OkStatus(), /*peer_closed=*/true, /*head_got_bytes=*/false);
  return false;
}

void PoolConnection::OnReadError(const ErrorCode& ec) {
  const bool eof = ec == net::error::eof || ec == net::ssl::error::stream_truncated;
  bool keep_alive = true;
  // An answer without a length ends at EOF.
  if (eof && reader_.FinishAtEof(&keep_alive)) {
    if (SettleHead(keep_alive)) Lost(absl::OkStatus(), /*peer_closed=*/true, false);
    return;
  }
  const bool got_bytes = HeadGotBytes();
  if (eof) {
    return Lost(
        absl::UnavailableError(absl::StrCat("read from ", origin_text(), ": connection closed ",
                                            got_bytes ? "mid-response" : "before the response")),
        /*peer_closed=*/true, got_bytes);
  }
  Lost(ErrorFor(ec, "read from"), IsPeerClosed(ec), got_bytes);
}

absl::Status PoolConnection::ErrorFor(const ErrorCode& ec, absl::string_view step) const {
  return absl::UnavailableError(absl::StrCat(step, " ", origin_text(), ": ", ec.message()));
}

// ---- losing the connection ----

void PoolConnection::Lost(const absl::Status& error, bool peer_closed, bool head_got_bytes) {
  const size_t resent =
      state_.OnLost(error, peer_closed, head_got_bytes, pool_->shutting_down(), settled_);
  CloseSocket();
  if (resent > 0) pool_->stale_retries_.fetch_add(resent, std::memory_order_relaxed);
  Kick();
}

void PoolConnection::CloseSocket() {
  // Handlers of operations started before this point see another generation and do nothing.
  ++generation_;
  state_.OnClosed();
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
  reader_.Reset();
}

void PoolConnection::Flush() {
  // A Kick() below may settle more (e.g. a failed write): the running loop takes those.
  if (flushing_ || settled_.empty()) return;
  if (t_pool_starting > 0) {
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
    PoolCore::Jobs more = pool_->TakeMore(index_, delivering_.size());
    if (!more.empty()) {
      for (HttpExchange* exchange : more) state_.Add(exchange);
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

void PoolConnection::TakeResponse() {
  if (response_ != nullptr) return;
  std::vector<std::unique_ptr<HttpResponse>>& spares = Spares();
  if (spares.empty()) {
    response_ = std::make_unique<HttpResponse>();
  } else {
    response_ = std::move(spares.back());
    spares.pop_back();
  }
}

std::vector<std::unique_ptr<HttpResponse>>& PoolConnection::Spares() {
  return options().single_io_thread ? pool_->shared_spare_responses() : spare_responses_;
}

void PoolConnection::Recycle(std::unique_ptr<HttpResponse> response) {
  constexpr size_t kMaxKeptBody = 64 << 10;
  std::vector<std::unique_ptr<HttpResponse>>& spares = Spares();
  if (response->body.capacity() > kMaxKeptBody || spares.size() >= 4) return;
  spares.push_back(std::move(response));
}

// ---- deadlines: one timer per connection holds the earliest deadline (ConnectionState) ----

void PoolConnection::UpdateTimer() {
  if (std::optional<SteadyClock::time_point> at = state_.TimerToArm()) ArmTimer(*at);
}

void PoolConnection::ArmTimer(SteadyClock::time_point at) {
  const uint64_t generation = ++timer_generation_;
  timer_.expires_at(at);  // cancels a wait in progress; its handler sees another generation
  timer_.async_wait([self = shared_from_this(), generation](const beast::error_code&) {
    self->OnTimer(generation);
  });
}

void PoolConnection::OnTimer(uint64_t generation) {
  if (generation != timer_generation_) return;
  ConnectionState::TimerVerdict verdict = state_.OnTimer(SteadyClock::now());
  switch (verdict.kind) {
    case ConnectionState::TimerVerdict::kIdle:
      return;  // the next request arms the timer again
    case ConnectionState::TimerVerdict::kRearm:
      return ArmTimer(verdict.rearm_at);
    case ConnectionState::TimerVerdict::kTimedOut:
      break;
  }
  if (verdict.while_connecting) return FailConnect(std::move(verdict.timeout));
  Lost(verdict.timeout, /*peer_closed=*/false, HeadGotBytes());
  Flush();
}

}  // namespace enrich::transport::internal
