#ifndef ENRICH_TRANSPORT_REDIS_REDIS_ENDPOINT_H_
#define ENRICH_TRANSPORT_REDIS_REDIS_ENDPOINT_H_

// Where the shared cache, leases and limiter live: a Redis URL parsed once from the command
// line (`--redis URL`) and handed to RedisClient. Its printable form never holds the password.

#include <cstdint>
#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace enrich::transport {

// A Redis server: TCP host:port or a unix socket path, a database number and optional
// credentials (Redis 6 ACL user and password, or the password alone).
struct RedisEndpoint {
  std::string host;         // TCP: IP literal or name (IPv6 without brackets); empty for unix
  uint16_t port = 6379;
  std::string unix_path;    // unix socket: absolute path; empty for TCP
  int db = 0;
  std::string user;         // empty: AUTH with the password alone (requirepass)
  std::string password;     // secret: never printed, logged or put in an error

  // "redis://host:port/db" or "unix:///path?db=N", with "***@" standing for credentials.
  std::string Redacted() const;
};

// Parses "redis://[[user]:password@]host[:port][/db]" and "unix:///path/to.sock[?db=N]".
// Errors (InvalidArgument) name the URL in its redacted form, never the password: unknown
// scheme, empty host, bad port, bad database number, anything after the database.
absl::StatusOr<RedisEndpoint> ParseRedisUrl(absl::string_view url);

}  // namespace enrich::transport

#endif  // ENRICH_TRANSPORT_REDIS_REDIS_ENDPOINT_H_
