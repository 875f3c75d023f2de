#include "transport/redis/redis_endpoint.h"

#include "absl/status/status.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/strip.h"
#include "absl/strings/str_cat.h"

namespace enrich::transport {
namespace {

// The URL with its userinfo replaced by "***" (for errors: the password may be in it).
std::string RedactUrl(absl::string_view url) {
  const size_t scheme_end = url.find("://");
  if (scheme_end == absl::string_view::npos) return "<redis url>";
  const size_t authority = scheme_end + 3;
  const size_t at = url.find('@', authority);
  const size_t slash = url.find('/', authority);
  if (at == absl::string_view::npos || (slash != absl::string_view::npos && slash < at)) {
    return std::string(url);
  }
  return absl::StrCat(url.substr(0, authority), "***", url.substr(at));
}

absl::Status Bad(absl::string_view url, absl::string_view why) {
  return absl::InvalidArgumentError(
      absl::StrCat("--redis ", RedactUrl(url), ": ", why,
                   " (expected redis://[:password@]host[:port][/db] or unix:///path[?db=N])"));
}

absl::StatusOr<int> ParseDb(absl::string_view url, absl::string_view text) {
  int db = 0;
  if (!absl::SimpleAtoi(text, &db) || db < 0 || db > 65535) {
    return Bad(url, absl::StrCat("bad database number '", text, "'"));
  }
  return db;
}

absl::StatusOr<RedisEndpoint> ParseUnix(absl::string_view url, absl::string_view rest) {
  RedisEndpoint e;
  e.host.clear();
  const size_t q = rest.find('?');
  e.unix_path = std::string(rest.substr(0, q));
  if (e.unix_path.empty() || e.unix_path[0] != '/') return Bad(url, "the socket path must be absolute");
  if (q != absl::string_view::npos) {
    absl::string_view query = rest.substr(q + 1);
    if (!absl::ConsumePrefix(&query, "db=")) return Bad(url, "only ?db=N may follow the path");
    auto db = ParseDb(url, query);
    if (!db.ok()) return db.status();
    e.db = *db;
  }
  return e;
}

}  // namespace

std::string RedisEndpoint::Redacted() const {
  const std::string cred = password.empty() && user.empty() ? "" : "***@";
  if (!unix_path.empty()) {
    return absl::StrCat("unix://", cred, unix_path, db == 0 ? "" : absl::StrCat("?db=", db));
  }
  const bool v6 = host.find(':') != std::string::npos;
  return absl::StrCat("redis://", cred, v6 ? "[" : "", host, v6 ? "]" : "", ":", port, "/", db);
}

absl::StatusOr<RedisEndpoint> ParseRedisUrl(absl::string_view url) {
  absl::string_view rest = url;
  if (absl::ConsumePrefix(&rest, "unix://")) return ParseUnix(url, rest);
  if (!absl::ConsumePrefix(&rest, "redis://")) return Bad(url, "the scheme must be redis or unix");
  RedisEndpoint e;
  const size_t slash = rest.find('/');
  absl::string_view authority = rest.substr(0, slash);
  absl::string_view path = slash == absl::string_view::npos ? "" : rest.substr(slash + 1);
  const size_t at = authority.rfind('@');
  if (at != absl::string_view::npos) {
    absl::string_view userinfo = authority.substr(0, at);
    authority = authority.substr(at + 1);
    const size_t colon = userinfo.find(':');
    if (colon == absl::string_view::npos) {
      e.password = std::string(userinfo);  // redis://secret@host: the password alone
    } else {
      e.user = std::string(userinfo.substr(0, colon));
      e.password = std::string(userinfo.substr(colon + 1));
    }
  }
  absl::string_view port_text;
  if (absl::StartsWith(authority, "[")) {
    const size_t close = authority.find(']');
    if (close == absl::string_view::npos) return Bad(url, "unclosed '[' in the host");
    e.host = std::string(authority.substr(1, close - 1));
    absl::string_view after = authority.substr(close + 1);
    if (!after.empty() && !absl::ConsumePrefix(&after, ":")) return Bad(url, "junk after the host");
    port_text = after;
  } else {
    const size_t colon = authority.find(':');
    e.host = std::string(authority.substr(0, colon));
    if (colon != absl::string_view::npos) port_text = authority.substr(colon + 1);
  }
  if (e.host.empty()) return Bad(url, "empty host");
  if (!port_text.empty()) {
    int port = 0;
    if (!absl::SimpleAtoi(port_text, &port) || port < 1 || port > 65535) {
      return Bad(url, absl::StrCat("bad port '", port_text, "'"));
    }
    e.port = static_cast<uint16_t>(port);
  }
  if (!path.empty()) {
    if (path.find_first_of("/?#") != absl::string_view::npos) {
      return Bad(url, "only a database number may follow the host");
    }
    auto db = ParseDb(url, path);
    if (!db.ok()) return db.status();
    e.db = *db;
  }
  return e;
}

}  // namespace enrich::transport
