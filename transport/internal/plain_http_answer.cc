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

// True when each of the eight bytes of `v` is printable ASCII (0x20-0x7e). A byte below 0x20
// borrows in the subtraction, one above 0x7e has its high bit set or gets it from the +1; a
// borrow or carry across bytes starts only at such a byte, so nothing else is ever flagged.
bool AllPrintable(uint64_t v) {
  constexpr uint64_t kOnes = 0x0101010101010101;
  constexpr uint64_t kHigh = kOnes * 0x80;
  return (((v - kOnes * 0x20) | v | (v + kOnes)) & kHigh) == 0;
}

// The CR ending the line that starts at `p`, or null when the line has anything but plain text
// before its CR, or no CR before `end`. Eight bytes at a time up to the word holding the CR (or
// a tab), then byte by byte.
const char* LineEnd(const char* p, const char* end) {
  for (uint64_t word; end - p >= 8; p += 8) {
    std::memcpy(&word, p, sizeof word);
    if (!AllPrintable(word)) break;
  }
  while (p < end && (kClass[static_cast<unsigned char>(*p)] & kPlain) != 0) ++p;
  return p < end && *p == '\r' ? p : nullptr;
}

// The header names the reader looks at; they differ in length, so the length picks the one
// name a header can be.
enum class Special { kNone, kContentLength, kConnection, kBeastOnly };

Special SpecialFor(absl::string_view lower_name) {
  switch (lower_name.size()) {
    case 14:
      return lower_name == "content-length" ? Special::kContentLength : Special::kNone;
    case 10:
      return lower_name == "connection" ? Special::kConnection : Special::kNone;
    case 17:  // Transfer-Encoding, Upgrade, Proxy-Connection: Beast's business
      return lower_name == "transfer-encoding" ? Special::kBeastOnly : Special::kNone;
    case 7:
      return lower_name == "upgrade" ? Special::kBeastOnly : Special::kNone;
    case 16:
      return lower_name == "proxy-connection" ? Special::kBeastOnly : Special::kNone;
    default:
      return Special::kNone;
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

    SetHeader(out, fields, name, value);
    switch (SpecialFor(out.headers[fields++].first)) {
      case Special::kNone:
        break;
      case Special::kContentLength:
        if (has_length || value.empty() || value.size() > 15) return 0;
        for (char c : value) {
          if (!absl::ascii_isdigit(static_cast<unsigned char>(c))) return 0;
          length = length * 10 + static_cast<uint64_t>(c - '0');
        }
        has_length = true;
        break;
      case Special::kConnection:
        if (absl::EqualsIgnoreCase(value, "close")) {
          close = true;
        } else if (!absl::EqualsIgnoreCase(value, "keep-alive")) {
          return 0;
        }
        break;
      case Special::kBeastOnly:
        return 0;
    }
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
