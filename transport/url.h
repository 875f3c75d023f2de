#ifndef ENRICH_TRANSPORT_URL_H_
#define ENRICH_TRANSPORT_URL_H_

// Absolute http(s) URLs as the transport layer needs them (origin, Host header, base path):
// parsed once from the command line, then given to ConnectionPool and the clients.

#include <cstdint>
#include <string>
#include "absl/strings/string_view.h"

#include "absl/status/statusor.h"

namespace enrich::transport {

// An absolute http(s) URL split into the parts the client needs.
struct Url {
  std::string scheme;  // "http" or "https"
  std::string host;    // no brackets for IPv6 literals
  uint16_t port = 0;   // explicit or the scheme's default
  std::string path;    // "" or starts with '/', no trailing '/'
  // "host" or "host:port" for the Host header (port only when not the default).
  std::string HostHeader() const;
  // scheme://host[:port]
  std::string Origin() const;
};

// Parses "http://127.0.0.1:8080/base" and similar. Errors (InvalidArgument, message names the
// URL): missing or unsupported scheme, empty host, bad port, query or fragment present,
// embedded credentials (secrets never go in URLs).
absl::StatusOr<Url> ParseUrl(absl::string_view text);

}  // namespace enrich::transport

#endif  // ENRICH_TRANSPORT_URL_H_
