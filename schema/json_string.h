#ifndef ENRICH_SCHEMA_JSON_STRING_H_
#define ENRICH_SCHEMA_JSON_STRING_H_

// JSON string escaping, byte for byte as RapidJSON's Writer: the transport's GraphQL request
// bodies and the engine's NDJSON output both write strings with it. Part of schema, the
// vocabulary layer; no I/O.

#include <bit>
#include <cstdint>
#include <cstring>
#include <string>

#include "absl/strings/string_view.h"

namespace enrich::schema {

// The first byte in [p, end) that a JSON string cannot hold as it is: '"', '\\' or a control
// character (below 0x20); `end` if there is none. Eight bytes at a time.
inline const char* FindJsonSpecial(const char* p, const char* end) {
  if constexpr (std::endian::native == std::endian::little) {
    constexpr uint64_t kOnes = 0x0101010101010101;
    constexpr uint64_t kHigh = 0x8080808080808080;
    // Bit 7 of each byte that is zero (exact for the lowest such byte, which is all we use:
    // a borrow only reaches bytes above a true one).
    const auto zero = [](uint64_t v) { return (v - kOnes) & ~v & kHigh; };
    for (; end - p >= 8; p += 8) {
      uint64_t w;
      std::memcpy(&w, p, 8);
      const uint64_t special = zero(w ^ (kOnes * '"')) | zero(w ^ (kOnes * '\\')) |
                               ((w - kOnes * 0x20) & ~w & kHigh);  // below 0x20
      if (special != 0) return p + std::countr_zero(special) / 8;
    }
  }
  for (; p < end; ++p) {
    const auto c = static_cast<unsigned char>(*p);
    if (c == '"' || c == '\\' || c < 0x20) return p;
  }
  return end;
}

// Appends `text` escaped for the inside of a JSON string, exactly as RapidJSON's Writer
// escapes: '"' and '\\' with a backslash, control characters as \b \t \n \f \r or \u00XX
// (upper-case hex); every other byte as it is (UTF-8 is not checked: see the engine's
// AppendJsonString for output that must be valid UTF-8).
void AppendJsonEscaped(std::string& out, absl::string_view text);

// `text` as a JSON string: '"', AppendJsonEscaped, '"'.
void AppendJsonString(std::string& out, absl::string_view text);

}  // namespace enrich::schema

#endif  // ENRICH_SCHEMA_JSON_STRING_H_
