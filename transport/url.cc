#include "transport/url.h"

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"

namespace enrich::transport {

std::string Url::HostHeader() const {
  const bool is_default = (scheme == "http" && port == 80) || (scheme == "https" && port == 443);
  const std::string h = absl::StrContains(host, ':') ? absl::StrCat("[", host, "]") : host;
  return is_default ? h : absl::StrCat(h, ":", port);
}

std::string Url::Origin() const { return absl::StrCat(scheme, "://", HostHeader()); }

absl::StatusOr<Url> ParseUrl(absl::string_view text) {
  auto bad = [&](absl::string_view why) {
    return absl::InvalidArgumentError(absl::StrCat("invalid URL \"", text, "\": ", why));
  };
  Url url;
  size_t scheme_end = text.find("://");
  if (scheme_end == absl::string_view::npos) return bad("expected http:// or https://");
  url.scheme = std::string(text.substr(0, scheme_end));
  if (url.scheme != "http" && url.scheme != "https") return bad("scheme must be http or https");
  absl::string_view rest = text.substr(scheme_end + 3);
  if (rest.find_first_of("?#") != absl::string_view::npos) {
    return bad("a query or fragment is not allowed");
  }
  size_t path_start = rest.find('/');
  absl::string_view authority = rest.substr(0, path_start);
  absl::string_view path = path_start == absl::string_view::npos ? "" : rest.substr(path_start);
  if (authority.find('@') != absl::string_view::npos) {
    return bad("credentials in URLs are not accepted; use CTIA_CLIENT_ID/CTIA_CLIENT_SECRET");
  }
  absl::string_view port_text;
  if (!authority.empty() && authority.front() == '[') {
    size_t close = authority.find(']');
    if (close == absl::string_view::npos) return bad("unterminated IPv6 literal");
    url.host = std::string(authority.substr(1, close - 1));
    absl::string_view after = authority.substr(close + 1);
    if (!after.empty()) {
      if (after.front() != ':') return bad("garbage after IPv6 literal");
      port_text = after.substr(1);
    }
  } else {
    size_t colon = authority.rfind(':');
    url.host = std::string(authority.substr(0, colon));
    if (colon != absl::string_view::npos) port_text = authority.substr(colon + 1);
  }
  if (url.host.empty()) return bad("empty host");
  url.port = url.scheme == "https" ? 443 : 80;
  if (!port_text.empty()) {
    uint32_t port = 0;
    if (!absl::SimpleAtoi(port_text, &port) || port == 0 || port > 65535) {
      return bad("port must be 1..65535");
    }
    url.port = static_cast<uint16_t>(port);
  }
  while (!path.empty() && path.back() == '/') path.remove_suffix(1);
  url.path = std::string(path);
  return url;
}

}  // namespace enrich::transport
