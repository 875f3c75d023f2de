#include "transport/internal/plain_http_answer.h"

#include <algorithm>
#include <array>
#include <bit>
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

// Token characters as a table, one load per byte.
constexpr uint8_t kToken = 1;
constexpr std::array<uint8_t, 256> kClass = [] {
  std::array<uint8_t, 256> table{};
  for (int c = 0; c < 256; ++c) {
    const auto u = static_cast<unsigned char>(c);
    table[u] = IsTokenChar(u) ? kToken : 0;
  }
  return table;
}();

// The bytes of `v` that are not printable ASCII (0x20-0x7e), as their high bits; the lowest one
// set is exact. A byte below 0x20 borrows in the subtraction, one above 0x7e has its high bit
// set or gets it from the +1; a borrow or carry only goes on upward (to later bytes) from such
// a byte, so bytes below the first flagged one are never flagged.
uint64_t NotPrintable(uint64_t v) {
  constexpr uint64_t kOnes = 0x0101010101010101;
  return ((v - kOnes * 0x20) | v | (v + kOnes)) & (kOnes * 0x80);
}

// The CR ending the line that starts at `p`, or null when the line has anything but plain text
// (printable ASCII and tabs) before its CR, or no CR before `end`. Eight bytes at a time.
const char* LineEnd(const char* p, const char* end) {
  for (;;) {
    if (end - p >= 8) {
      uint64_t word;
      std::memcpy(&word, p, sizeof word);
      const uint64_t flagged = NotPrintable(word);
      if (flagged == 0) {
        p += 8;
        continue;
      }
      static_assert(std::endian::native == std::endian::little, "byte i of the word is p[i]");
      p += std::countr_zero(flagged) / 8;
    } else {
      while (p < end && IsPlainText(static_cast<unsigned char>(*p)) && *p != '\t') ++p;
      if (p == end) return nullptr;
    }
    // The first byte that is not printable ASCII: the CR, a tab (plain text), or anything else.
    if (*p == '\r') return p;
    if (*p != '\t') return nullptr;
    ++p;
  }
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
    // The name: token characters up to the ':', lower-cased into the next header slot (a
    // recycled answer's slot already has the room) in the pass that checks them.
    const auto* colon = static_cast<const char*>(std::memchr(p, ':', static_cast<size_t>(end - p)));
    if (colon == nullptr || colon == p) return 0;
    if (fields == out.headers.size()) out.headers.emplace_back();
    auto& [lower, text] = out.headers[fields];
    lower.resize(static_cast<size_t>(colon - p));
    uint8_t classes = kToken;
    for (char* to = lower.data(); p < colon; ++p, ++to) {
      const auto c = static_cast<unsigned char>(*p);
      classes &= kClass[c];
      *to = absl::ascii_tolower(c);
    }
    if ((classes & kToken) == 0) return 0;
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

    text.assign(value.data(), value.size());
    ++fields;
    switch (SpecialFor(lower)) {
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
        if (value == "keep-alive") break;  // as servers write it, before the case-blind tests
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
