#ifndef ENRICH_TESTS_FAKES_SCRIPTED_HTTP_SERVER_H_
#define ENRICH_TESTS_FAKES_SCRIPTED_HTTP_SERVER_H_

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/string_view.h"

namespace enrich::testing {

// One request as the scripted server received it.
struct ScriptedRequest {
  std::string method;
  std::string target;
  std::vector<std::pair<std::string, std::string>> headers;  // names lower-cased
  std::string body;
  size_t connection = 0;     // 0-based index of the accepted connection
  size_t index = 0;          // 0-based index of the request over all connections
  size_t on_connection = 0;  // 0-based index of the request on its connection

  // First header named `lower_name`, or "".
  std::string Header(absl::string_view lower_name) const;
};

// What the server does after a request.
enum class ScriptedAction {
  kReply,              // write `bytes`, keep the connection open for the next request
  kReplyAndClose,      // write `bytes`, then close (whatever the bytes say about keep-alive)
  kCloseWithoutReply,  // close without writing anything
  kHang,               // write nothing, keep reading until the client goes away
  kPartialThenClose,   // write `bytes` (meant to be a truncated answer), then close
};

struct ScriptedReply {
  std::string bytes;
  ScriptedAction action = ScriptedAction::kReply;
};

// A complete HTTP/1.1 answer with Content-Length; `extra_headers` are "Name: value" lines.
std::string HttpAnswer(int status, absl::string_view body,
                       std::vector<std::string> extra_headers = {},
                       absl::string_view content_type = "application/json");
ScriptedReply Reply(int status, absl::string_view body,
                    std::vector<std::string> extra_headers = {});

// Server certificate and key (PEM) for the TLS mode.
struct ScriptedTls {
  std::string cert_pem;
  std::string key_pem;
};

// A small HTTP/1.1 server on 127.0.0.1:<ephemeral> for transport tests. Each request is passed
// to `handler` (called on a server thread, one connection at a time per thread; make it
// thread-safe when clients open several connections), and the returned action is performed.
// Counts connections and requests and records every request.
class ScriptedHttpServer {
 public:
  using Handler = std::function<ScriptedReply(const ScriptedRequest&)>;
  explicit ScriptedHttpServer(Handler handler);
  // TLS mode: every connection starts with a TLS handshake using `tls` (boost::asio::ssl).
  ScriptedHttpServer(Handler handler, ScriptedTls tls);
  ~ScriptedHttpServer();  // closes everything and joins the threads
  ScriptedHttpServer(const ScriptedHttpServer&) = delete;
  ScriptedHttpServer& operator=(const ScriptedHttpServer&) = delete;

  uint16_t port() const;
  std::string url() const;  // "http://127.0.0.1:<port>" ("https://..." in TLS mode)

  size_t connections() const;
  size_t requests() const;
  size_t tls_handshake_failures() const;  // TLS mode: handshakes the client aborted
  std::vector<ScriptedRequest> recorded() const;

  // Closes every open client connection (as a server's idle timeout would).
  void CloseConnections();

 private:
  void Listen();
  struct State;
  std::unique_ptr<State> state_;
};

}  // namespace enrich::testing

#endif  // ENRICH_TESTS_FAKES_SCRIPTED_HTTP_SERVER_H_
