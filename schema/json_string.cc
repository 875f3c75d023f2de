#include "schema/json_string.h"

namespace enrich::schema {

void AppendJsonEscaped(std::string& out, absl::string_view text) {
  static constexpr char kHex[] = "0123456789ABCDEF";
  const char* p = text.data();
  const char* const end = p + text.size();
  for (;;) {
    const char* special = FindJsonSpecial(p, end);
    out.append(p, special);
    if (special == end) return;
    const auto c = static_cast<unsigned char>(*special);
    p = special + 1;
    out += '\\';
    switch (c) {
      case '"':
      case '\\':
        out += static_cast<char>(c);
        break;
      case '\b':
        out += 'b';
        break;
      case '\t':
        out += 't';
        break;
      case '\n':
        out += 'n';
        break;
      case '\f':
        out += 'f';
        break;
      case '\r':
        out += 'r';
        break;
      default:
        out += "u00";
        out += kHex[c >> 4];
        out += kHex[c & 0xf];
    }
  }
}

void AppendJsonString(std::string& out, absl::string_view text) {
  out += '"';
  AppendJsonEscaped(out, text);
  out += '"';
}

}  // namespace enrich::schema
