#include "schema/path_encoding.h"

#include "absl/strings/str_cat.h"

namespace enrich::schema {
namespace {

constexpr char kHex[] = "0123456789ABCDEF";

bool IsUnreserved(unsigned char c) {
  return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
         c == '-' || c == '.' || c == '_' || c == '~';
}

int HexValue(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

void EncodeTo(absl::string_view value, bool space_as_plus, std::string& out) {
  for (char ch : value) {
    const auto c = static_cast<unsigned char>(ch);
    if (IsUnreserved(c)) {
      out.push_back(ch);
    } else if (space_as_plus && c == ' ') {
      out.push_back('+');
    } else {
      out.push_back('%');
      out.push_back(kHex[c >> 4]);
      out.push_back(kHex[c & 0xF]);
    }
  }
}

std::string Encode(absl::string_view value, bool space_as_plus) {
  std::string out;
  out.reserve(value.size() * 3);
  EncodeTo(value, space_as_plus, out);
  return out;
}

}  // namespace

std::string PercentEncodePathSegment(absl::string_view value) { return Encode(value, false); }

void AppendPercentEncodedPathSegment(absl::string_view value, std::string* out) {
  EncodeTo(value, false, *out);
}

std::string FormEncode(absl::string_view value) { return Encode(value, true); }

absl::StatusOr<std::string> PercentDecode(absl::string_view text) {
  std::string out;
  out.reserve(text.size());
  for (size_t i = 0; i < text.size(); ++i) {
    if (text[i] != '%') {
      out.push_back(text[i]);
      continue;
    }
    if (i + 2 >= text.size()) {
      return absl::InvalidArgumentError(absl::StrCat("truncated %-escape at offset ", i));
    }
    const int hi = HexValue(text[i + 1]);
    const int lo = HexValue(text[i + 2]);
    if (hi < 0 || lo < 0) {
      return absl::InvalidArgumentError(absl::StrCat("bad %-escape at offset ", i));
    }
    out.push_back(static_cast<char>((hi << 4) | lo));
    i += 2;
  }
  return out;
}

}  // namespace enrich::schema
