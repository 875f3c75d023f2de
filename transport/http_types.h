#ifndef ENRICH_TRANSPORT_HTTP_TYPES_H_
#define ENRICH_TRANSPORT_HTTP_TYPES_H_

// The HTTP request and answer values that cross the transport layer: built by the CTIA clients
// and the token source, written and read by ConnectionPool. Plain values.

#include <string>
#include <utility>
#include <vector>

#include "absl/time/time.h"

namespace enrich::transport {

// A request as the client builds it; the pool adds Host, User-Agent, Content-Length and
// keep-alive. `target` is origin-form ("/ctia/ip/1.2.3.4/verdict"), already percent-encoded.
struct HttpRequest {
  std::string method = "GET";
  std::string target;
  std::vector<std::pair<std::string, std::string>> headers;
  std::string body;
  // True for requests that are safe to send again after a stale keep-alive connection fails
  // before any byte of the answer arrived (GET, and token POSTs).
  bool idempotent = true;
};

struct HttpResponse {
  int status = 0;
  // Header names lower-cased.
  std::vector<std::pair<std::string, std::string>> headers;
  std::string body;
  // Value of the first header named `lower_name` (lower-case), or "" when absent.
  absl::string_view Header(absl::string_view lower_name) const {
    for (const auto& [k, v] : headers) {
      if (k == lower_name) return v;
    }
    return {};
  }
};

}  // namespace enrich::transport

#endif  // ENRICH_TRANSPORT_HTTP_TYPES_H_
