#include "transport/internal/plain_http_answer.h"

#include <algorithm>
#include <array>
#include <cstdint>
#include <cstring>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"

namespace enrich::transport::internal {
namespace {

// RFC 9110 token characters (the table Beast's parser checks field names with).
constexpr bool IsTokenChar(unsigned char c) {
  if (c <= 0x20 || c >= 0x7f) return false;
  switch (c) {
    case '"': case '(': case ')': case ',': case '/': case ':': case ';': case '<': case '=':
    case '>': case '?': case '@': case '[': case '\\': case ']': case '{': case '}':
      return false;
    default:
      return true;
  }
}

// Printable ASCII, space and tab: a subset of what Beast takes in values and reasons.
constexpr bool IsPlainText(unsigned char c) { return (c >= 0x20 && c < 0x7f) || c == '\t'; }

// The two classes as one table, one load per byte.
constexpr uint8_t kToken = 1;
constexpr uint8_t kPlain = 2;
constexpr std::array<uint8_t, 256> kClass = [] {
  std::array<uint8_t, 256> table{};
  for (int c = 0; c < 256; ++c) {
    const auto u = static_cast<unsigned char>(c);
    table[u] = static_cast<uint8_t>((IsTokenChar(u) ? kToken : 0) | (IsPlainText(u) ? kPlain : 0));
  }
  return table;
}();

// The CR ending the line that starts at `p`, or null when the line has anything but plain text
// before its CR, or no CR before `end`.
const char* LineEnd(const char* p, const char* end) {
  while (p < end && (kClass[static_cast<unsigned char>(*p)] & kPlain) != 0) ++p;
  return p < end && *p == '\r' ? p : nullptr;
}

// The header name of this length that the reader looks at, or "".
absl::string_view SpecialName(size_t length) {
  switch (length) {
    case 14:
      return "content-length";
    case 10:
      return "connection";
    case 17:
      return "transfer-encoding";
    case 7:
      return "upgrade";
    case 16:
      return "proxy-connection";
    default:
      return {};
  }
}

}  // namespace

void SetHeader(HttpResponse& out, size_t index, absl::string_view name, absl::string_view value) {
  if (index == out.headers.size()) out.headers.emplace_back();
  auto& [lower, text] = out.headers[index];
  lower.resize(name.size());
  std::transform(name.begin(), name.end(), lower.begin(),
                 [](char c) { return absl::ascii_tolower(static_cast<unsigned char>(c)); });
  text.assign(value.data(), value.size());
}

size_t ReadPlainAnswer(absl::string_view data, size_t max_header_bytes, size_t max_body_bytes,
                       HttpResponse& out, bool* keep_alive) {
  const char* p = data.data();
  const char* const end = p + data.size();
  constexpr absl::string_view kVersion = "HTTP/1.1 ";
  if (data.size() < kVersion.size() + 4 || std::memcmp(p, kVersion.data(), kVersion.size()) != 0) {
    return 0;
  }
  p += kVersion.size();
  for (int i = 0; i < 3; ++i) {
    if (!absl::ascii_isdigit(static_cast<unsigned char>(p[i]))) return 0;
  }
  const int status = (p[0] - '0') * 100 + (p[1] - '0') * 10 + (p[2] - '0');
  // 1xx, 204 and 304 have no body whatever their headers say: Beast's business.
  if (status < 200 || status > 599 || status == 204 || status == 304 || p[3] != ' ') return 0;
  p += 4;
  p = LineEnd(p, end);
  if (p == nullptr || end - p < 2 || p[1] != '\n') return 0;
  p += 2;

  size_t fields = 0;
  bool close = false;
  bool has_length = false;
  uint64_t length = 0;
  for (;;) {
    if (end - p < 2) return 0;
    if (p[0] == '\r') {
      if (p[1] != '\n') return 0;
      p += 2;
      break;
    }
    const char* const name_begin = p;
    while (p < end && (kClass[static_cast<unsigned char>(*p)] & kToken) != 0) ++p;
    if (p == end || *p != ':' || p == name_begin) return 0;
    const absl::string_view name(name_begin, static_cast<size_t>(p - name_begin));
    ++p;
    while (p < end && (*p == ' ' || *p == '\t')) ++p;
    const char* const value_begin = p;
    p = LineEnd(p, end);
    // The CRLF and the byte after it (a blank there would fold the line).
    if (p == nullptr || end - p < 3 || p[1] != '\n' || p[2] == ' ' || p[2] == '\t') {
      return 0;
    }
    const char* value_end = p;
    while (value_end > value_begin && (value_end[-1] == ' ' || value_end[-1] == '\t')) --value_end;
    const absl::string_view value(value_begin, static_cast<size_t>(value_end - value_begin));
    p += 2;

    // The names that matter differ in length: one comparison per header line at most.
    const absl::string_view special = SpecialName(name.size());
    if (!special.empty() && absl::EqualsIgnoreCase(name, special)) {
      if (special == "content-length") {
        if (has_length || value.empty() || value.size() > 15) return 0;
        for (char c : value) {
          if (!absl::ascii_isdigit(static_cast<unsigned char>(c))) return 0;
          length = length * 10 + static_cast<uint64_t>(c - '0');
        }
        has_length = true;
      } else if (special == "connection") {
        if (absl::EqualsIgnoreCase(value, "close")) {
          close = true;
        } else if (!absl::EqualsIgnoreCase(value, "keep-alive")) {
          return 0;
        }
      } else {
        return 0;  // Transfer-Encoding, Upgrade, Proxy-Connection: Beast's business
      }
    }
    SetHeader(out, fields++, name, value);
  }
  const auto header_bytes = static_cast<size_t>(p - data.data());
  if (header_bytes >= max_header_bytes || !has_length || length > max_body_bytes ||
      static_cast<uint64_t>(end - p) < length) {
    return 0;
  }
  out.status = status;
  out.headers.resize(fields);
  out.body.assign(p, static_cast<size_t>(length));
  *keep_alive = !close;
  return header_bytes + static_cast<size_t>(length);
}

}  // namespace enrich::transport::internal
