#include "transport/internal/http_request_head.h"

#include <array>
#include <charconv>
#include <cstdint>
#include <cstring>

#include "absl/strings/str_cat.h"

namespace enrich::transport::internal {
namespace {

// Byte classes CheckRequest refuses: line breaks anywhere, blanks and ':' in some places.
constexpr uint8_t kLineBreak = 1;
constexpr uint8_t kBlank = 2;
constexpr uint8_t kColon = 4;
constexpr std::array<uint8_t, 256> kRefused = [] {
  std::array<uint8_t, 256> table{};
  table['\r'] = table['\n'] = kLineBreak;
  table[' '] = table['\t'] = kBlank;
  table[':'] = kColon;
  return table;
}();

// True when `text` holds a CR or LF, or (with `blanks`) a space or tab, or (with `colon`) a ':'.
// One branch-free pass (std::string::find_first_of calls memchr once per character).
bool HasAny(absl::string_view text, bool blanks, bool colon) {
  uint8_t seen = 0;
  for (char c : text) seen |= kRefused[static_cast<unsigned char>(c)];
  return (seen & (kLineBreak | (blanks ? kBlank : 0) | (colon ? kColon : 0))) != 0;
}

// (x - 1) & ~x has a byte's high bit set when that byte of x is zero; a borrow starts only at a
// zero byte, so no other byte is flagged.
constexpr uint64_t kOnes = 0x0101010101010101;
bool HasZeroByte(uint64_t x) { return ((x - kOnes) & ~x & (kOnes * 0x80)) != 0; }

// HasAny() without ':' eight bytes at a time (a token of a kilobyte or more goes into every
// request): a text shorter than eight bytes is zero-padded (a zero byte is none of these), a
// longer one ends with its last eight bytes (overlapping). Its cost per request is part of what
// bench/transport/client_vs_wrk.sh measures (user CPU per request).
bool HasAnyFast(absl::string_view text, bool blanks) {
  auto refused = [blanks](uint64_t word) {
    return HasZeroByte(word ^ (kOnes * '\r')) || HasZeroByte(word ^ (kOnes * '\n')) ||
           (blanks && (HasZeroByte(word ^ (kOnes * ' ')) || HasZeroByte(word ^ (kOnes * '\t'))));
  };
  uint64_t word = 0;
  if (text.size() < sizeof word) {
    std::memcpy(&word, text.data(), text.size());
    return refused(word);
  }
  for (size_t i = 0; i + sizeof word <= text.size(); i += sizeof word) {
    std::memcpy(&word, text.data() + i, sizeof word);
    if (refused(word)) return true;
  }
  std::memcpy(&word, text.data() + text.size() - sizeof word, sizeof word);
  return refused(word);
}

}  // namespace

absl::Status CheckRequest(const HttpRequest& request, absl::string_view origin) {
  auto bad = [&](absl::string_view what) {
    return absl::InvalidArgumentError(absl::StrCat("request to ", origin, ": ", what));
  };
  if (request.method.empty() || HasAny(request.method, true, false)) return bad("bad method");
  if (request.target.empty() || HasAnyFast(request.target, true)) {
    return bad("bad target (empty, or has a space or line break)");
  }
  for (const auto& [name, value] : request.headers) {
    if (name.empty() || HasAny(name, true, true)) return bad("bad header name");
    if (HasAnyFast(value, false)) {
      return bad(absl::StrCat("header ", name, " has a line break in its value"));
    }
  }
  return absl::OkStatus();
}

// Sized once, then copied piece by piece (no capacity check per piece).
void AppendRequest(const HttpRequest& in, absl::string_view fields, std::string& out) {
  constexpr absl::string_view kVersion = " HTTP/1.1\r\n";
  constexpr absl::string_view kLength = "Content-Length: ";
  const bool with_length =
      !in.body.empty() || in.method == "POST" || in.method == "PUT" || in.method == "PATCH";
  size_t size = in.method.size() + 1 + in.target.size() + kVersion.size() + fields.size() +
                (with_length ? kLength.size() + 20 + 2 : 0) + 2 + in.body.size();
  for (const auto& [name, value] : in.headers) size += name.size() + 2 + value.size() + 2;
  const size_t start = out.size();
  out.resize(start + size);
  char* to = out.data() + start;
  auto put = [&to](absl::string_view piece) {
    std::memcpy(to, piece.data(), piece.size());
    to += piece.size();
  };
  put(in.method);
  put(" ");
  put(in.target);
  put(kVersion);
  put(fields);
  for (const auto& [name, value] : in.headers) {
    put(name);
    put(": ");
    put(value);
    put("\r\n");
  }
  if (with_length) {
    put(kLength);
    to = std::to_chars(to, to + 20, in.body.size()).ptr;
    put("\r\n");
  }
  put("\r\n");
  put(in.body);
  out.resize(static_cast<size_t>(to - out.data()));
}

}  // namespace enrich::transport::internal
