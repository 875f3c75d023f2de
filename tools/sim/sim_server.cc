#include "tools/sim/sim_server.h"

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <exception>
#include <iostream>
#include <optional>
#include <thread>
#include <type_traits>
#include <utility>

#include <boost/asio/dispatch.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/strand.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/ssl.hpp>
#include <openssl/ssl.h>

#include "absl/status/status.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "tools/sim/judgement_store.h"
#include "tools/sim/router.h"

namespace enrich::sim {
namespace {

namespace beast = boost::beast;
namespace http = beast::http;
namespace net = boost::asio;
using tcp = net::ip::tcp;

// Deadline for writing one response; a client that does not read is dropped.
constexpr std::chrono::seconds kWriteTimeout(30);

// The most a request body's read asks of the kernel at once (DoReadBody).
constexpr std::uint64_t kBodyReadChunk = 64 * 1024;

std::chrono::steady_clock::duration ToChrono(absl::Duration d) {
  return std::chrono::duration_cast<std::chrono::steady_clock::duration>(
      absl::ToChronoMilliseconds(d));
}

using PlainStream = beast::tcp_stream;
using TlsStream = beast::ssl_stream<beast::tcp_stream>;

// The server's TLS context from PEM text (see CheckTlsCredentials).
absl::StatusOr<std::unique_ptr<net::ssl::context>> MakeTlsContext(const std::string& cert_pem,
                                                                  const std::string& key_pem) {
  auto context = std::make_unique<net::ssl::context>(net::ssl::context::tls_server);
  context->set_options(net::ssl::context::default_workarounds | net::ssl::context::no_sslv2 |
                       net::ssl::context::no_sslv3 | net::ssl::context::no_tlsv1 |
                       net::ssl::context::no_tlsv1_1);
  beast::error_code ec;
  context->use_certificate_chain(net::buffer(cert_pem), ec);
  if (ec) {
    return absl::InvalidArgumentError(absl::StrCat(
        "certificate chain: cannot load PEM certificates (OpenSSL: ", ec.message(), ")"));
  }
  context->use_private_key(net::buffer(key_pem), net::ssl::context::pem, ec);
  if (ec && absl::StrContains(ec.message(), "mismatch")) {
    return absl::InvalidArgumentError(
        absl::StrCat("private key does not match the certificate: ", ec.message()));
  }
  if (ec) {
    return absl::InvalidArgumentError(
        absl::StrCat("private key: cannot load a PEM private key (OpenSSL: ", ec.message(), ")"));
  }
  if (SSL_CTX_check_private_key(context->native_handle()) != 1) {
    return absl::InvalidArgumentError("private key does not match the certificate");
  }
  return context;
}

// One HTTP/1.1 connection: read a request, let the Router answer, write, repeat while the
// client keeps the connection alive. `Stream` is PlainStream or TlsStream; a TLS session
// first completes the server handshake within `tls_handshake_timeout` (a stream deadline).
// All steps run on the session's io_context (one thread).
// Deadlines: waiting for a request (header and body) is bounded by one idle timer per
// connection, re-armed lazily rather than per request (a per-operation deadline costs a
// timer insert and cancel on every read); asynchronous writes run under a tcp_stream
// deadline (STYLE rule 13).
template <class Stream>
class Session : public std::enable_shared_from_this<Session<Stream>> {
 public:
  static constexpr bool kTls = std::is_same_v<Stream, TlsStream>;

  // `stream_args` construct the Stream: (socket) or (socket, ssl context).
  template <class... StreamArgs>
  Session(Router& router, const SimOptions& options, StreamArgs&&... stream_args)
      : stream_(std::forward<StreamArgs>(stream_args)...),
        timer_(stream_.get_executor()),
        idle_timer_(stream_.get_executor()),
        router_(router),
        options_(options) {}

  void Run() {
    beast::error_code ignored;
    Lowest().socket().non_blocking(true, ignored);  // DoWriteRaw's direct write must not wait
    idle_since_ = std::chrono::steady_clock::now();
    ArmIdleTimer(ToChrono(options_.idle_timeout));
    if constexpr (kTls) {
      net::dispatch(stream_.get_executor(),
                    beast::bind_front_handler(&Session::DoHandshake, this->shared_from_this()));
    } else {
      net::dispatch(stream_.get_executor(),
                    beast::bind_front_handler(&Session::DoReadHeader, this->shared_from_this()));
    }
  }

 private:
  using std::enable_shared_from_this<Session<Stream>>::shared_from_this;

  beast::tcp_stream& Lowest() { return beast::get_lowest_layer(stream_); }

  void DoHandshake() {
    busy_ = true;  // the handshake has its own deadline
    SetStreamDeadline(ToChrono(options_.tls_handshake_timeout));
    stream_.async_handshake(net::ssl::stream_base::server,
                            beast::bind_front_handler(&Session::OnHandshake, shared_from_this()));
  }

  void OnHandshake(beast::error_code ec) {
    if (ec) return DoClose();  // the client refused the certificate, timed out or is not TLS
    DoReadHeader();
  }

  void ArmIdleTimer(std::chrono::steady_clock::duration after) {
    idle_timer_.expires_after(after);
    idle_timer_.async_wait(beast::bind_front_handler(&Session::OnIdleTimer, shared_from_this()));
  }

  // Closes the connection once it has waited `idle_timeout` for a request (a stalled partial
  // request included); never while a request is being answered.
  void OnIdleTimer(beast::error_code ec) {
    if (ec || !Lowest().socket().is_open()) return;  // cancelled by DoClose
    const auto limit = ToChrono(options_.idle_timeout);
    if (busy_) return ArmIdleTimer(limit);
    const auto idle = std::chrono::steady_clock::now() - idle_since_;
    if (idle >= limit) return DoClose();
    ArmIdleTimer(limit - idle);
  }

  // A write deadline set on the stream applies to every later operation until cleared.
  void SetStreamDeadline(std::chrono::steady_clock::duration d) {
    Lowest().expires_after(d);
    stream_deadline_ = true;
  }

  void DoReadHeader() {
    parser_.emplace();
    parser_->header_limit(static_cast<std::uint32_t>(options_.header_limit));
    parser_->body_limit(options_.body_limit);
    if (stream_deadline_) {
      Lowest().expires_never();
      stream_deadline_ = false;
    }
    busy_ = false;
    idle_since_ = std::chrono::steady_clock::now();
    http::async_read_header(stream_, buffer_, *parser_,
                            beast::bind_front_handler(&Session::OnReadHeader,
                                                      shared_from_this()));
  }

  void OnReadHeader(beast::error_code ec, std::size_t) {
    if (ec) return OnReadError(ec);
    // curl and others wait for "100 Continue" before sending a large body.
    if (absl::EqualsIgnoreCase(
            std::string((*parser_).get()[http::field::expect]), "100-continue")) {
      continue_ = std::make_unique<http::response<http::empty_body>>(http::status::continue_,
                                                                      11);
      SetStreamDeadline(kWriteTimeout);
      http::async_write(stream_, *continue_,
                        beast::bind_front_handler(&Session::OnContinueSent,
                                                  shared_from_this()));
      return;
    }
    // Most requests (GETs) are complete once the header is in: answer without another read.
    if (parser_->is_done()) return OnRead({}, 0);
    DoReadBody();
  }

  void OnContinueSent(beast::error_code ec, std::size_t) {
    if (ec) return;
    DoReadBody();
  }

  void DoReadBody() {
    if (stream_deadline_) {  // the 100 Continue write's; the idle timer bounds the body
      Lowest().expires_never();
      stream_deadline_ = false;
    }
    // Beast reads at most the buffer's free capacity (at least 512 bytes), and the body is
    // moved out of the buffer as it arrives, so a buffer sized by a short header would read a
    // 20 KB GraphQL body in about 40 system calls. Room for the body (up to 64 KiB) up front
    // reads it in one or two; idle connections keep their small buffers.
    if (const boost::optional<std::uint64_t> length = parser_->content_length()) {
      const std::size_t want = static_cast<std::size_t>(std::min<std::uint64_t>(*length, kBodyReadChunk));
      if (buffer_.capacity() - buffer_.size() < want) buffer_.reserve(buffer_.size() + want);
    }
    http::async_read(stream_, buffer_, *parser_,
                     beast::bind_front_handler(&Session::OnRead, shared_from_this()));
  }

  void OnReadError(beast::error_code ec) {
    if (ec == http::error::end_of_stream || ec == beast::error::timeout ||
        ec == net::error::operation_aborted) {
      return DoClose();
    }
    if (ec == http::error::body_limit) {
      return SendError(http::status::payload_too_large, "Request body too large");
    }
    if (ec == http::error::header_limit) {
      return SendError(http::status::request_header_fields_too_large,
                       "Request header fields too large");
    }
    if (ec.category() == http::make_error_code(http::error::bad_target).category() &&
        ec != http::error::partial_message) {
      return SendError(http::status::bad_request, "Bad request");
    }
    DoClose();  // reset, broken pipe, truncated message: nothing to answer
  }

  void OnRead(beast::error_code ec, std::size_t) {
    if (ec) return OnReadError(ec);
    busy_ = true;  // until the answer is written (injected latency and hangs included)
    http::request<http::string_body> req = parser_->release();
    SimRequest request;
    request.method = std::string(req.method_string());
    request.target = std::string(req.target());
    request.authorization = std::string(req[http::field::authorization]);
    request.body = std::move(req.body());
    SimResponse answer = router_.Handle(request);
    if (answer.delivery == SimResponse::Delivery::kHang) {
      // Injected hang: keep the connection open, answer nothing, close later.
      timer_.expires_after(ToChrono(answer.hang));
      timer_.async_wait([self = shared_from_this()](beast::error_code) { self->DoClose(); });
      return;
    }

    // Serialized by hand into one reused buffer: one send per answer and no per-header
    // allocations on the hot path.
    const bool keep_alive = req.keep_alive();
    const int status = answer.status;
    raw_.clear();
    const beast::string_view reason = http::obsolete_reason(static_cast<http::status>(status));
    absl::StrAppend(&raw_, req.version() == 10 ? "HTTP/1.0 " : "HTTP/1.1 ", status, " ",
                    absl::string_view(reason.data(), reason.size()), "\r\nServer: ctia-sim\r\n");
    if (!answer.content_type.empty()) {
      absl::StrAppend(&raw_, "Content-Type: ", answer.content_type, "\r\n");
    }
    for (const auto& [name, value] : answer.headers) {
      absl::StrAppend(&raw_, name, ": ", value, "\r\n");
    }
    if (status >= 200 && status != 204 && status != 304) {
      absl::StrAppend(&raw_, "Content-Length: ", answer.body.size(), "\r\n");
    }
    if (!keep_alive) {
      raw_ += "Connection: close\r\n";
    } else if (req.version() == 10) {
      raw_ += "Connection: keep-alive\r\n";
    }
    raw_ += "\r\n";
    const size_t header_size = raw_.size();
    raw_ += answer.body;
    close_after_write_ = !keep_alive;
    if (answer.delivery != SimResponse::Delivery::kNormal) {
      // Injected broken delivery: a prefix of the serialized response, then close.
      raw_.resize(answer.delivery == SimResponse::Delivery::kCloseMidResponse
                      ? header_size / 2
                      : header_size + (raw_.size() - header_size) / 2);
      close_after_write_ = true;
    }
    if (answer.delay > absl::ZeroDuration()) {
      // Injected latency: the answer is ready, its delivery waits.
      timer_.expires_after(ToChrono(answer.delay));
      timer_.async_wait([self = shared_from_this()](beast::error_code wait_ec) {
        if (wait_ec) return self->DoClose();
        self->DoWriteRaw();
      });
      return;
    }
    DoWriteRaw();
  }

  void DoWriteRaw() {
    // Most answers fit in the socket's send buffer: hand them to the kernel at once, without
    // an asynchronous operation and its deadline timer. Only what the kernel did not take
    // goes the asynchronous way, under the write deadline. The socket is non-blocking (Run),
    // so this never waits.
    // TLS: the bytes must go through the TLS stream, asynchronously.
    if constexpr (kTls) {
      SetStreamDeadline(kWriteTimeout);
      net::async_write(stream_, net::buffer(raw_),
                       beast::bind_front_handler(&Session::OnWriteRaw, shared_from_this()));
      return;
    }
    beast::error_code ec;
    const size_t sent = Lowest().socket().write_some(net::buffer(raw_), ec);
    if (ec && ec != net::error::would_block && ec != net::error::try_again) return DoClose();
    const size_t done = ec ? 0 : sent;
    if (done == raw_.size()) return OnWriteRaw({}, done);
    SetStreamDeadline(kWriteTimeout);
    net::async_write(stream_, net::buffer(raw_) + done,
                     beast::bind_front_handler(&Session::OnWriteRaw, shared_from_this()));
  }

  void OnWriteRaw(beast::error_code ec, std::size_t) {
    if (ec) return DoClose();
    if (close_after_write_) return DoClose();
    DoReadHeader();
  }

  void SendError(http::status status, const char* message) {
    auto res = std::make_unique<http::response<http::string_body>>(status, 11);
    res->set(http::field::server, "ctia-sim");
    res->set(http::field::content_type, "application/json;charset=utf-8");
    res->set("X-Content-Type-Options", "nosniff");
    res->body() = absl::StrCat("{\"error\":\"", message, "\"}");
    // The rest of the stream cannot be trusted after a refused request.
    res->keep_alive(false);
    res->prepare_payload();
    DoWrite(std::move(res));
  }

  void DoWrite(std::unique_ptr<http::response<http::string_body>> res) {
    response_ = std::move(res);
    busy_ = true;
    SetStreamDeadline(kWriteTimeout);
    http::async_write(stream_, *response_,
                      beast::bind_front_handler(&Session::OnWrite, shared_from_this(),
                                                response_->need_eof()));
  }

  void OnWrite(bool close, beast::error_code ec, std::size_t) {
    response_.reset();
    if (ec) return;
    if (close) return DoClose();
    DoReadHeader();
  }

  // With TLS too the TCP connection is closed without a close_notify: every answer carries
  // its length, so the client has what it needs.
  void DoClose() {
    beast::error_code ignored;
    Lowest().socket().shutdown(tcp::socket::shutdown_send, ignored);
    Lowest().socket().close(ignored);
    idle_timer_.cancel();  // lets go of the session
  }

  Stream stream_;
  net::steady_timer timer_;
  net::steady_timer idle_timer_;
  std::chrono::steady_clock::time_point idle_since_;
  bool busy_ = false;             // a request is being answered
  bool stream_deadline_ = false;  // stream_ has an expiry set
  beast::flat_buffer buffer_;
  Router& router_;
  const SimOptions& options_;
  std::optional<http::request_parser<http::string_body>> parser_;
  std::unique_ptr<http::response<http::empty_body>> continue_;
  std::unique_ptr<http::response<http::string_body>> response_;
  std::string raw_;  // the serialized answer being written (reused across requests)
  bool close_after_write_ = false;
};

// Accepts connections; each gets its own strand and Session.
class Listener : public std::enable_shared_from_this<Listener> {
 public:
  // `tls`: null for plain HTTP; not owned, outlives the listener.
  Listener(std::vector<std::unique_ptr<net::io_context>>& contexts, tcp::acceptor acceptor,
           Router& router, const SimOptions& options, net::ssl::context* tls)
      : contexts_(contexts),
        acceptor_(std::move(acceptor)),
        router_(router),
        options_(options),
        tls_(tls) {}

  void Run() { DoAccept(); }

 private:
  void DoAccept() {
    // Connections go round robin to one io_context per thread: each is run by exactly one
    // thread, so a session's handlers never run concurrently and need no strand.
    net::io_context& target = *contexts_[next_++ % contexts_.size()];
    acceptor_.async_accept(target,
                           beast::bind_front_handler(&Listener::OnAccept, shared_from_this()));
  }

  void OnAccept(beast::error_code ec, tcp::socket socket) {
    if (ec == net::error::operation_aborted || !acceptor_.is_open()) return;
    if (!ec && tls_ != nullptr) {
      std::make_shared<Session<TlsStream>>(router_, options_, std::move(socket), *tls_)->Run();
    } else if (!ec) {
      std::make_shared<Session<PlainStream>>(router_, options_, std::move(socket))->Run();
    }
    DoAccept();
  }

  std::vector<std::unique_ptr<net::io_context>>& contexts_;
  size_t next_ = 0;
  tcp::acceptor acceptor_;
  Router& router_;
  const SimOptions& options_;
  net::ssl::context* tls_;
};

std::string HostForUrl(const std::string& bind) {
  if (bind == "0.0.0.0" || bind.empty()) return "127.0.0.1";
  if (bind == "::") return "[::1]";
  if (absl::StrContains(bind, ':')) return absl::StrCat("[", bind, "]");
  return bind;
}

}  // namespace

class SimServer::Impl {
 public:
  explicit Impl(SimOptions options) : options_(std::move(options)), router_(options_, store_) {
    // Until Start() knows the port, long ids use the configured one.
    router_.SetPublicBase(options_.public_base.empty()
                              ? absl::StrCat(Scheme(), HostForUrl(options_.bind), ":",
                                             options_.port)
                              : options_.public_base);
  }

  const char* Scheme() const {
    return options_.tls_cert_pem.empty() && options_.tls_key_pem.empty() ? "http://"
                                                                          : "https://";
  }

  absl::StatusOr<uint16_t> Start() {
    if (!contexts_.empty()) return port_;
    if (!options_.tls_cert_pem.empty() || !options_.tls_key_pem.empty()) {
      absl::StatusOr<std::unique_ptr<net::ssl::context>> tls =
          MakeTlsContext(options_.tls_cert_pem, options_.tls_key_pem);
      if (!tls.ok()) return tls.status();
      tls_ = *std::move(tls);
    }
    const int threads = options_.threads < 1 ? 1 : options_.threads;
    for (int i = 0; i < threads; ++i) {
      contexts_.push_back(std::make_unique<net::io_context>(1));
      // A context without connections yet must keep running.
      work_.push_back(net::make_work_guard(*contexts_.back()));
    }
    if (absl::Status listening = Listen(); !listening.ok()) {
      work_.clear();
      contexts_.clear();  // after Listen()'s acceptor is gone: it uses the context's services
      return listening;
    }
    base_url_ = absl::StrCat(Scheme(), HostForUrl(options_.bind), ":", port_);
    router_.SetPublicBase(options_.public_base.empty() ? base_url_ : options_.public_base);
    for (int i = 0; i < threads; ++i) {
      threads_.emplace_back([this, ioc = contexts_[i].get()] {
        try {
          ioc->run();
        } catch (const std::exception& e) {
          // Handlers report failures through error codes; this is a last resort.
          std::cerr << "ctia-sim: io thread stopped: " << e.what() << std::endl;
        }
      });
    }
    return port_;
  }

  // Binds and listens on the configured address, sets port_, and starts the accept loop.
  absl::Status Listen() {
    beast::error_code ec;
    auto fail = [&](absl::string_view what) {
      return absl::UnavailableError(absl::StrCat("cannot listen on ", options_.bind, ":",
                                                 options_.port, ": ", what, ": ",
                                                 ec.message()));
    };
    const net::ip::address address = net::ip::make_address(options_.bind, ec);
    if (ec) return fail("bad bind address");
    tcp::acceptor acceptor(*contexts_.front());
    const tcp::endpoint endpoint(address, options_.port);
    if (acceptor.open(endpoint.protocol(), ec); ec) return fail("open");
    if (acceptor.set_option(net::socket_base::reuse_address(true), ec); ec) {
      return fail("reuse_address");
    }
    if (acceptor.bind(endpoint, ec); ec) return fail("bind");
    if (acceptor.listen(net::socket_base::max_listen_connections, ec); ec) return fail("listen");
    port_ = acceptor.local_endpoint(ec).port();
    if (ec) return fail("local_endpoint");
    std::make_shared<Listener>(contexts_, std::move(acceptor), router_, options_, tls_.get())
        ->Run();
    return absl::OkStatus();
  }

  void Stop() {
    if (contexts_.empty()) return;
    for (auto& ioc : contexts_) ioc->stop();
    for (std::thread& t : threads_) t.join();
    threads_.clear();
    // Destroying the io_context destroys the pending handlers, which own the listener and the
    // sessions: their sockets close here.
    work_.clear();
    contexts_.clear();
  }

  SimOptions options_;
  std::unique_ptr<net::ssl::context> tls_;  // null: plain HTTP; outlives the io contexts
  JudgementStore store_;
  Router router_;
  std::vector<std::unique_ptr<net::io_context>> contexts_;  // one per thread
  std::vector<net::executor_work_guard<net::io_context::executor_type>> work_;
  std::vector<std::thread> threads_;
  uint16_t port_ = 0;
  std::string base_url_;
};

absl::Status CheckTlsCredentials(const std::string& cert_pem, const std::string& key_pem) {
  return MakeTlsContext(cert_pem, key_pem).status();
}

SimServer::SimServer(SimOptions options) : impl_(std::make_unique<Impl>(std::move(options))) {}

SimServer::~SimServer() { Stop(); }

absl::StatusOr<uint16_t> SimServer::Start() { return impl_->Start(); }

void SimServer::Stop() { impl_->Stop(); }

uint16_t SimServer::port() const { return impl_->port_; }

std::string SimServer::base_url() const { return impl_->base_url_; }

std::vector<std::string> SimServer::AddJudgements(std::vector<schema::Judgement> judgements) {
  return impl_->router_.AddJudgements(std::move(judgements));
}

size_t SimServer::JudgementCount() const { return impl_->store_.size(); }

std::vector<schema::Judgement> SimServer::JudgementsByExternalId(
    absl::string_view external_id) const {
  return impl_->store_.FindByExternalId(external_id,
                                        [](const schema::Judgement&) { return true; });
}

SimCounters SimServer::Counters() const { return impl_->router_.Counters(); }

void SimServer::AddFault(FaultRule rule) { impl_->router_.faults().Add(std::move(rule)); }

void SimServer::ClearFaults() { impl_->router_.faults().Clear(); }

void SimServer::SetClockFixed(absl::Time t) { impl_->router_.clock().SetFixed(t); }

void SimServer::AdvanceClock(absl::Duration d) { impl_->router_.clock().Advance(d); }

void SimServer::ReleaseClock() { impl_->router_.clock().Release(); }

absl::Time SimServer::Now() const { return impl_->router_.clock().Now(); }

void SimServer::Reset() { impl_->router_.Reset(); }

void SimServer::SetGraphqlEnabled(bool on) { impl_->router_.SetGraphqlEnabled(on); }

void SimServer::SetTokenCheckAtSend(bool on) { impl_->router_.SetTokenCheckAtSend(on); }

void SimServer::SetGreenVisibleToEveryone(bool everyone) {
  impl_->router_.SetGreenVisibleToEveryone(everyone);
}

absl::StatusOr<size_t> SimServer::LoadNdjson(const std::string& path) {
  return impl_->router_.LoadNdjson(path);
}

void SimServer::ExpireAllTokens() { impl_->router_.tokens().ExpireAll(); }

EndpointCounts SimServer::CountsByEndpoint() const { return impl_->router_.CountsByEndpoint(); }

LookupTally SimServer::Lookups() const { return impl_->router_.Lookups(); }

}  // namespace enrich::sim
