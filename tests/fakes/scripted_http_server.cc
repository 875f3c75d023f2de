#include "tests/fakes/scripted_http_server.h"

#include <atomic>
#include <thread>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_set.h"
#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "boost/asio/io_context.hpp"
#include "boost/asio/ip/tcp.hpp"
#include "boost/asio/write.hpp"
#include "boost/beast/core/flat_buffer.hpp"
#include "boost/asio/ssl.hpp"
#include "boost/beast/http.hpp"
#include <poll.h>
#include <sys/socket.h>

namespace enrich::testing {
namespace {

namespace net = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using tcp = net::ip::tcp;

absl::string_view ReasonPhrase(int status) {
  const auto reason = http::obsolete_reason(static_cast<http::status>(status));
  return absl::string_view(reason.data(), reason.size());
}

}  // namespace

std::string ScriptedRequest::Header(absl::string_view lower_name) const {
  for (const auto& [k, v] : headers) {
    if (k == lower_name) return v;
  }
  return "";
}

std::string HttpAnswer(int status, absl::string_view body, std::vector<std::string> extra_headers,
                       absl::string_view content_type) {
  std::string out = absl::StrCat("HTTP/1.1 ", status, " ", ReasonPhrase(status), "\r\n");
  if (!content_type.empty()) absl::StrAppend(&out, "Content-Type: ", content_type, "\r\n");
  for (const std::string& h : extra_headers) absl::StrAppend(&out, h, "\r\n");
  absl::StrAppend(&out, "Content-Length: ", body.size(), "\r\n\r\n", body);
  return out;
}

ScriptedReply Reply(int status, absl::string_view body, std::vector<std::string> extra_headers) {
  return ScriptedReply{HttpAnswer(status, body, std::move(extra_headers)), ScriptedAction::kReply};
}

// Blocking sockets, one thread per accepted connection: simple, and a hung or half-closed
// connection never holds up the others.
struct ScriptedHttpServer::State {
  explicit State(Handler h) : handler(std::move(h)), acceptor(ctx) {}

  void Serve(tcp::socket socket, size_t connection) {
    if (tls_context == nullptr) {
      ServeOn(socket, connection);
    } else {
      net::ssl::stream<tcp::socket&> tls(socket, *tls_context);
      boost::system::error_code ec;
      tls.handshake(net::ssl::stream_base::server, ec);
      if (ec) {
        absl::MutexLock lock(&mu);
        ++handshake_failures;
      } else {
        ServeOn(tls, connection);
      }
    }
    LingeringClose(socket.native_handle());
    {
      absl::MutexLock lock(&mu);
      open_fds.erase(socket.native_handle());
    }
    boost::system::error_code ignored;
    socket.close(ignored);
  }

  // Closes as HTTP servers do (nginx's lingering_close): FIN after the last answer, then the
  // client's unread requests are read and dropped until it closes (at most 2 s; Stop() ends
  // it at once). Closing with unread bytes would send a RST instead, and a RST makes the
  // client's kernel drop answers it has received but not yet read: the client would then
  // rightly send an answered request again, which the tests count.
  static void LingeringClose(int fd) {
    ::shutdown(fd, SHUT_WR);
    char sink[4096];
    for (;;) {
      pollfd p{fd, POLLIN, 0};
      if (::poll(&p, 1, 2000) <= 0) return;
      if (::recv(fd, sink, sizeof sink, 0) <= 0) return;
    }
  }

  void AcceptLoop() {
    for (;;) {
      tcp::socket socket(ctx);
      boost::system::error_code ec;
      acceptor.accept(socket, ec);
      if (ec || stopping.load()) return;
      absl::MutexLock lock(&mu);
      const size_t index = accepted++;
      const int fd = socket.native_handle();
      open_fds.insert(fd);
      threads.emplace_back(
          [this, index, s = std::move(socket)]() mutable { Serve(std::move(s), index); });
    }
  }

  template <typename Stream>
  void ServeOn(Stream& socket, size_t connection) {
    beast::flat_buffer buffer;
    for (size_t on_connection = 0;; ++on_connection) {
      http::request_parser<http::string_body> parser;
      parser.body_limit(64 << 20);
      boost::system::error_code ec;
      http::read(socket, buffer, parser, ec);
      if (ec) break;
      const auto& msg = parser.get();
      ScriptedRequest req;
      req.method = std::string(msg.method_string());
      req.target = std::string(msg.target());
      for (const auto& field : msg) {
        req.headers.emplace_back(absl::AsciiStrToLower(absl::string_view(
                                     field.name_string().data(), field.name_string().size())),
                                 std::string(field.value()));
      }
      req.body = msg.body();
      req.connection = connection;
      req.on_connection = on_connection;
      {
        absl::MutexLock lock(&mu);
        req.index = log.size();
        log.push_back(req);
      }
      const ScriptedReply reply = handler(req);
      if (reply.action == ScriptedAction::kHang) {
        // Read (and drop) until the client gives up or the server stops.
        char sink[4096];
        while (!ec) socket.read_some(net::buffer(sink), ec);
        break;
      }
      if (reply.action == ScriptedAction::kCloseWithoutReply) break;
      net::write(socket, net::buffer(reply.bytes), ec);
      if (ec || reply.action != ScriptedAction::kReply) break;
    }
  }

  // Wakes every blocked connection thread; the fds stay valid because a thread removes its fd
  // from `open_fds` (under `mu`) before closing it.
  void ShutdownOpenSockets() {
    absl::MutexLock lock(&mu);
    for (int fd : open_fds) ::shutdown(fd, SHUT_RDWR);
  }

  const Handler handler;
  std::unique_ptr<net::ssl::context> tls_context;  // null: plain HTTP
  net::io_context ctx;
  tcp::acceptor acceptor;
  uint16_t port = 0;
  std::atomic<bool> stopping{false};
  std::thread accept_thread;

  mutable absl::Mutex mu;
  size_t accepted ABSL_GUARDED_BY(mu) = 0;
  size_t handshake_failures ABSL_GUARDED_BY(mu) = 0;
  absl::flat_hash_set<int> open_fds ABSL_GUARDED_BY(mu);
  std::vector<std::thread> threads ABSL_GUARDED_BY(mu);
  std::vector<ScriptedRequest> log ABSL_GUARDED_BY(mu);
};

ScriptedHttpServer::ScriptedHttpServer(Handler handler, ScriptedTls tls)
    : state_(std::make_unique<State>(std::move(handler))) {
  state_->tls_context = std::make_unique<net::ssl::context>(net::ssl::context::tls_server);
  state_->tls_context->use_certificate_chain(net::buffer(tls.cert_pem));
  state_->tls_context->use_private_key(net::buffer(tls.key_pem), net::ssl::context::pem);
  Listen();
}

ScriptedHttpServer::ScriptedHttpServer(Handler handler)
    : state_(std::make_unique<State>(std::move(handler))) {
  Listen();
}

void ScriptedHttpServer::Listen() {
  const tcp::endpoint endpoint(net::ip::make_address("127.0.0.1"), 0);
  state_->acceptor.open(endpoint.protocol());
  state_->acceptor.set_option(tcp::acceptor::reuse_address(true));
  state_->acceptor.bind(endpoint);
  state_->acceptor.listen();
  state_->port = state_->acceptor.local_endpoint().port();
  state_->accept_thread = std::thread([s = state_.get()] { s->AcceptLoop(); });
}

ScriptedHttpServer::~ScriptedHttpServer() {
  state_->stopping = true;
  // shutdown() on a listening socket wakes a blocked accept() on Linux.
  ::shutdown(state_->acceptor.native_handle(), SHUT_RDWR);
  state_->accept_thread.join();
  state_->ShutdownOpenSockets();
  std::vector<std::thread> threads;
  {
    absl::MutexLock lock(&state_->mu);
    threads.swap(state_->threads);
  }
  for (std::thread& t : threads) t.join();
}

uint16_t ScriptedHttpServer::port() const { return state_->port; }

std::string ScriptedHttpServer::url() const {
  return absl::StrCat(state_->tls_context ? "https" : "http", "://127.0.0.1:", port());
}

size_t ScriptedHttpServer::tls_handshake_failures() const {
  absl::MutexLock lock(&state_->mu);
  return state_->handshake_failures;
}

size_t ScriptedHttpServer::connections() const {
  absl::MutexLock lock(&state_->mu);
  return state_->accepted;
}

size_t ScriptedHttpServer::requests() const {
  absl::MutexLock lock(&state_->mu);
  return state_->log.size();
}

std::vector<ScriptedRequest> ScriptedHttpServer::recorded() const {
  absl::MutexLock lock(&state_->mu);
  return state_->log;
}

void ScriptedHttpServer::CloseConnections() { state_->ShutdownOpenSockets(); }

}  // namespace enrich::testing
