#include "schema/normalize.h"

#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <memory>

#include "absl/status/status.h"
#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include <arpa/inet.h>
#if defined(__SSE2__)
#include <emmintrin.h>
#endif
#include <idn2.h>
#include <sys/socket.h>

namespace enrich::schema {
namespace {

// Hand-written scanners over a 256-entry class table: NormalizeObservable runs on every row of
// billion-row inputs, so no regex and no per-character locale calls.
enum : uint8_t {
  kAlpha = 1,         // A-Z a-z
  kDigit = 2,         // 0-9
  kHexLetter = 4,     // A-F a-f
  kLabelPunct = 8,    // - _   (DNS label characters besides letters and digits)
  kSchemePunct = 16,  // + - .  (RFC 3986 scheme characters besides letters and digits)
  kAtextPunct = 32,   // RFC 5322 atext besides letters and digits
  kRefangMark = 64,   // [ ( { and space: every refang rule but the scheme word needs one
};

constexpr std::array<uint8_t, 256> MakeClassTable() {
  std::array<uint8_t, 256> t{};
  for (int c = 'a'; c <= 'z'; ++c) t[c] |= kAlpha;
  for (int c = 'A'; c <= 'Z'; ++c) t[c] |= kAlpha;
  for (int c = '0'; c <= '9'; ++c) t[c] |= kDigit;
  for (int c = 'a'; c <= 'f'; ++c) t[c] |= kHexLetter;
  for (int c = 'A'; c <= 'F'; ++c) t[c] |= kHexLetter;
  t['-'] |= kLabelPunct;
  t['_'] |= kLabelPunct;
  t['+'] |= kSchemePunct;
  t['-'] |= kSchemePunct;
  t['.'] |= kSchemePunct;
  for (char c : std::string_view("!#$%&'*+-/=?^_`{|}~")) t[static_cast<uint8_t>(c)] |= kAtextPunct;
  for (char c : std::string_view("[({ ")) t[static_cast<uint8_t>(c)] |= kRefangMark;
  return t;
}
constexpr std::array<uint8_t, 256> kClass = MakeClassTable();

inline uint8_t ClassOf(char c) { return kClass[static_cast<uint8_t>(c)]; }
inline bool IsDigit(char c) { return ClassOf(c) & kDigit; }
inline bool IsHex(char c) { return ClassOf(c) & (kDigit | kHexLetter); }
inline bool IsAlnum(char c) { return ClassOf(c) & (kAlpha | kDigit); }
inline bool IsLabelChar(char c) { return ClassOf(c) & (kAlpha | kDigit | kLabelPunct); }
inline bool IsSchemeChar(char c) { return ClassOf(c) & (kAlpha | kDigit | kSchemePunct); }
inline bool IsAtext(char c) { return ClassOf(c) & (kAlpha | kDigit | kAtextPunct); }
inline bool IsNonAscii(char c) { return static_cast<uint8_t>(c) >= 0x80; }
inline char Lower(char c) { return (c >= 'A' && c <= 'Z') ? static_cast<char>(c + 32) : c; }

absl::Status Invalid(absl::string_view reason) { return absl::InvalidArgumentError(reason); }

void AppendLower(absl::string_view s, std::string* out) {
  const size_t start = out->size();
  out->append(s.data(), s.size());
  for (size_t i = start; i < out->size(); ++i) (*out)[i] = Lower((*out)[i]);
}

// ---- Refang -------------------------------------------------------------------------------

struct Replacement {
  absl::string_view from;
  absl::string_view to;
};

// MISP ComplexTypeTool's scheme table plus `fxp`; matched only at the start (see header).
constexpr Replacement kDefangedSchemes[] = {
    {"hxxp", "http"},   {"hxtp", "http"}, {"htxp", "http"},
    {"h[tt]p", "http"}, {"meow", "http"}, {"fxp", "ftp"},
};

// What may stand inside `[ ]`, `( )` or `{ }`.
constexpr Replacement kBracketTokens[] = {
    {".", "."}, {"dot", "."}, {"@", "@"}, {"at", "@"}, {"://", "://"}, {":", ":"}, {"/", "/"},
};

// Length of the defanged scheme word (with its `s`) at the start of `text`, 0 if none;
// `*secure` tells whether the `s` was there.
size_t MatchDefangedScheme(absl::string_view text, absl::string_view* replacement, bool* secure) {
  for (const Replacement& r : kDefangedSchemes) {
    // The second byte first: it rules out nearly every value ("host...", "mail...").
    if (text.size() < r.from.size() || Lower(text[1]) != r.from[1]) continue;
    if (!absl::StartsWithIgnoreCase(text, r.from)) continue;
    size_t j = r.from.size();
    *secure = j < text.size() && (text[j] == 's' || text[j] == 'S');
    if (*secure) ++j;
    if (j < text.size() &&
        (text[j] == ':' || (text[j] == '[' && j + 1 < text.size() && text[j + 1] == ':'))) {
      *replacement = r.to;
      return j;
    }
  }
  return 0;
}

// Length of the bracket token at text[i] (an opening bracket), 0 if none.
size_t MatchBracketToken(absl::string_view text, size_t i, absl::string_view* replacement) {
  const char close = text[i] == '[' ? ']' : text[i] == '(' ? ')' : '}';
  for (const Replacement& r : kBracketTokens) {
    const size_t n = r.from.size() + 2;
    if (i + n <= text.size() && text[i + n - 1] == close &&
        absl::EqualsIgnoreCase(text.substr(i + 1, r.from.size()), r.from)) {
      *replacement = r.to;
      return n;
    }
  }
  return 0;
}

// Length of ` dot ` (one or more spaces each side, any case) at text[i], 0 if none.
size_t MatchSpelledDot(absl::string_view text, size_t i) {
  size_t j = i;
  while (j < text.size() && text[j] == ' ') ++j;
  if (j == i || !absl::StartsWithIgnoreCase(text.substr(j), "dot")) return 0;
  size_t k = j + 3;
  const size_t spaces_start = k;
  while (k < text.size() && text[k] == ' ') ++k;
  if (k == spaces_start || k == text.size()) return 0;
  return k - i;
}

// Where the refang scanner is, for the rule that `( )` and ` dot ` are left alone in a URL's
// path, query and fragment (RFC 3986 allows them there).
enum class Part { kStart, kAuthority, kRest, kOther };

bool IsSchemeName(absl::string_view s) {
  if (s.empty() || !(ClassOf(s[0]) & kAlpha)) return false;
  for (char c : s) {
    if (!IsSchemeChar(c)) return false;
  }
  return true;
}

Part Advance(Part part, const std::string& out) {
  if (out.empty()) return part;
  const char last = out.back();
  switch (part) {
    case Part::kStart:
      if (absl::EndsWith(out, "://")) {
        return IsSchemeName(absl::string_view(out).substr(0, out.size() - 3)) ? Part::kAuthority
                                                                              : Part::kOther;
      }
      return (IsSchemeChar(last) || last == ':' || last == '/') ? Part::kStart : Part::kOther;
    case Part::kAuthority:
      return (last == '/' || last == '?' || last == '#') ? Part::kRest : Part::kAuthority;
    default:
      return part;
  }
}

// `[1.2.3.4]`, `[::1]`: brackets around a whole IP-looking value.
bool IsBracketedIp(absl::string_view s) {
  if (s.size() < 3 || s.front() != '[' || s.back() != ']') return false;
  bool digit = false, separator = false;
  for (char c : s.substr(1, s.size() - 2)) {
    if (c == '.' || c == ':') {
      separator = true;
    } else if (IsHex(c)) {
      digit |= IsDigit(c);
    } else {
      return false;
    }
  }
  return digit && separator;
}

std::string RefangOnce(absl::string_view in) {
  std::string out;
  out.reserve(in.size());
  absl::string_view replacement;
  bool secure = false;
  size_t i = MatchDefangedScheme(in, &replacement, &secure);
  if (i > 0) {
    out.append(replacement.data(), replacement.size());
    if (secure) out.push_back('s');
  }
  Part part = Advance(Part::kStart, out);
  while (i < in.size()) {
    const char c = in[i];
    size_t n = 0;
    if (c == '[' || c == '{' || (c == '(' && part != Part::kRest)) {
      n = MatchBracketToken(in, i, &replacement);
    }
    if (n > 0) {
      const bool separator = part != Part::kRest && (replacement == "." || replacement == "@");
      if (separator) {
        while (!out.empty() && out.back() == ' ') out.pop_back();
      }
      out.append(replacement.data(), replacement.size());
      i += n;
      if (separator) {
        while (i < in.size() && in[i] == ' ') ++i;
      }
    } else if (c == ' ' && part != Part::kRest && !out.empty() &&
               (n = MatchSpelledDot(in, i)) > 0) {
      out.push_back('.');
      i += n;
    } else {
      out.push_back(c);
      ++i;
    }
    part = Advance(part, out);
  }
  if (IsBracketedIp(out)) return out.substr(1, out.size() - 2);
  return out;
}

// A sound over-approximation of "Refang changes this": every rule needs a bracket, a space or a
// defanged scheme at the start. Lets NormalizeObservable skip the refang buffer on clean input.
bool MayNeedRefang(absl::string_view text) {
  if (!text.empty() && !absl::StartsWith(text, "http")) {  // clean `http` is the common case
    const char c = Lower(text[0]);
    absl::string_view unused;
    bool secure;
    if ((c == 'h' || c == 'm' || c == 'f') && MatchDefangedScheme(text, &unused, &secure) > 0) {
      return true;
    }
  }
  const char* p = text.data();
  size_t n = text.size();
#if defined(__SSE2__)
  // The refang marks, 16 bytes at a time: this runs on every field of a column.
  const __m128i square = _mm_set1_epi8('[');
  const __m128i round = _mm_set1_epi8('(');
  const __m128i curly = _mm_set1_epi8('{');
  const __m128i space = _mm_set1_epi8(' ');
  for (; n >= 16; p += 16, n -= 16) {
    const __m128i v = _mm_loadu_si128(reinterpret_cast<const __m128i*>(p));
    const __m128i m =
        _mm_or_si128(_mm_or_si128(_mm_cmpeq_epi8(v, square), _mm_cmpeq_epi8(v, round)),
                     _mm_or_si128(_mm_cmpeq_epi8(v, curly), _mm_cmpeq_epi8(v, space)));
    if (_mm_movemask_epi8(m) != 0) return true;
  }
#endif
  for (size_t i = 0; i < n; ++i) {
    if (ClassOf(p[i]) & kRefangMark) return true;
  }
  return false;
}

// ---- Type detection -----------------------------------------------------------------------

enum class Kind { kNone, kIp, kIpv6, kUrl, kEmail, kMd5, kSha1, kSha256, kDomain, kAuto, kOther };

absl::string_view KindName(Kind kind) {
  switch (kind) {
    case Kind::kIp:
      return "ip";
    case Kind::kIpv6:
      return "ipv6";
    case Kind::kUrl:
      return "url";
    case Kind::kEmail:
      return "email";
    case Kind::kMd5:
      return "md5";
    case Kind::kSha1:
      return "sha1";
    case Kind::kSha256:
      return "sha256";
    case Kind::kDomain:
      return "domain";
    default:
      return "";
  }
}

Kind KindOfType(absl::string_view type) {
  // Called once per row: dispatch on the length before comparing.
  switch (type.size()) {
    case 2:
      return type == "ip" ? Kind::kIp : Kind::kOther;
    case 3:
      if (type == "url") return Kind::kUrl;
      return type == "md5" ? Kind::kMd5 : Kind::kOther;
    case 4:
      if (type == "auto") return Kind::kAuto;
      if (type == "ipv6") return Kind::kIpv6;
      return type == "sha1" ? Kind::kSha1 : Kind::kOther;
    case 5:
      return type == "email" ? Kind::kEmail : Kind::kOther;
    case 6:
      if (type == "domain") return Kind::kDomain;
      return type == "sha256" ? Kind::kSha256 : Kind::kOther;
    default:
      return Kind::kOther;
  }
}

// Position just past `scheme://`, 0 when the value does not start with one.
size_t SchemeEnd(absl::string_view v) {
  size_t i = 0;
  while (i < v.size() && IsSchemeChar(v[i])) ++i;
  if (i == 0 || !(ClassOf(v[0]) & kAlpha) || v.substr(i, 3) != "://") return 0;
  return i + 3;
}

absl::string_view StripBrackets(absl::string_view v) {
  if (v.size() >= 2 && v.front() == '[' && v.back() == ']') return v.substr(1, v.size() - 2);
  return v;
}

// Structure only: LDH/`_` labels, a dot, a letter in the last label; with non-ASCII (an IDN)
// only the ASCII bytes are checked and libidn2 decides the rest during normalization.
bool LooksLikeDomain(absl::string_view v) {
  if (v.size() > 1 && v.back() == '.') v.remove_suffix(1);
  if (v.empty() || v.front() == '.') return false;
  bool non_ascii = false, dot = false, tld_letter = false;
  char prev = 0;
  for (char c : v) {
    if (c == '.') {
      if (prev == '.') return false;
      dot = true;
      tld_letter = false;
    } else if (IsNonAscii(c)) {
      non_ascii = true;
    } else if (IsLabelChar(c)) {
      tld_letter |= (ClassOf(c) & kAlpha) != 0;
    } else {
      return false;
    }
    prev = c;
  }
  return non_ascii || (dot && tld_letter);
}

// RFC 5322 dot-atom plus UTF-8 bytes (RFC 6531).
bool IsDotAtom(absl::string_view local) {
  if (local.empty() || local.front() == '.' || local.back() == '.') return false;
  char prev = 0;
  for (char c : local) {
    if (c == '.' ? prev == '.' : !(IsAtext(c) || IsNonAscii(c))) return false;
    prev = c;
  }
  return true;
}

bool LooksLikeEmail(absl::string_view v) {
  const size_t at = v.find('@');
  if (at == absl::string_view::npos || v.find('@', at + 1) != absl::string_view::npos) {
    return false;
  }
  return IsDotAtom(v.substr(0, at)) && LooksLikeDomain(v.substr(at + 1));
}

bool AllHex(absl::string_view v) {
  for (char c : v) {
    if (!IsHex(c)) return false;
  }
  return true;
}

Kind DetectKind(absl::string_view v) {
  if (v.empty()) return Kind::kNone;
  if (SchemeEnd(v) > 0) return Kind::kUrl;
  if (LooksLikeEmail(v)) return Kind::kEmail;
  if (ParseIpv4(v)) return Kind::kIp;
  if (ParseIpv6(StripBrackets(v))) return Kind::kIpv6;
  if (AllHex(v)) {
    if (v.size() == 32) return Kind::kMd5;
    if (v.size() == 40) return Kind::kSha1;
    if (v.size() == 64) return Kind::kSha256;
  }
  if (LooksLikeDomain(v)) return Kind::kDomain;
  return Kind::kNone;
}

// ---- Per-type normalization; each appends to `out` and leaves garbage there on error ------

absl::Status AppendAsciiDnsName(absl::string_view v, bool require_dot, std::string* out) {
  if (v.size() > 253) return Invalid("domain longer than 253 bytes");
  size_t label_len = 0;
  bool dot = false, tld_letter = false;
  char prev = '.';
  // Validate and lower-case in one pass over the bytes.
  const size_t start = out->size();
  out->resize(start + v.size());
  char* dst = out->data() + start;
  for (char c : v) {
    *dst++ = Lower(c);
    if (c == '.') {
      if (label_len == 0) return Invalid("empty label in domain");
      if (prev == '-') return Invalid("label ends with a hyphen");
      dot = true;
      label_len = 0;
      tld_letter = false;
    } else {
      if (!IsLabelChar(c)) return Invalid("character not allowed in a domain");
      if (label_len == 0 && c == '-') return Invalid("label starts with a hyphen");
      if (++label_len > 63) return Invalid("label longer than 63 bytes");
      tld_letter |= (ClassOf(c) & kAlpha) != 0;
    }
    prev = c;
  }
  if (label_len == 0) return Invalid("empty label in domain");
  if (prev == '-') return Invalid("label ends with a hyphen");
  if (require_dot && !dot) return Invalid("domain has no dot");
  if (!tld_letter) return Invalid("top-level label has no letter");
  return absl::OkStatus();
}

absl::Status AppendDnsName(absl::string_view v, bool require_dot, std::string* out) {
  if (v.size() > 1 && v.back() == '.') v.remove_suffix(1);
  if (v.empty()) return Invalid("empty domain");
  bool non_ascii = false;
  for (char c : v) non_ascii |= IsNonAscii(c);
  if (!non_ascii) return AppendAsciiDnsName(v, require_dot, out);
  // IDN: UTS#46 non-transitional mapping (ß stays ß, as browsers do), then IDNA 2008. libidn2
  // wants a NUL-terminated string, so an embedded NUL would silently truncate: refuse it.
  if (v.find('\0') != absl::string_view::npos) return Invalid("NUL byte in domain");
  const std::string input(v);
  char* ascii = nullptr;
  const int rc = idn2_to_ascii_8z(input.c_str(), &ascii, IDN2_NONTRANSITIONAL | IDN2_NFC_INPUT);
  std::unique_ptr<char, decltype(&std::free)> owned(ascii, &std::free);
  if (rc != IDN2_OK) return Invalid(absl::StrCat("invalid IDN: ", idn2_strerror(rc)));
  return AppendAsciiDnsName(ascii, require_dot, out);
}

absl::Status AppendIpv4(absl::string_view v, std::string* out) {
  if (!ParseIpv4(v)) return Invalid("not an IPv4 address");
  out->append(v.data(), v.size());
  return absl::OkStatus();
}

absl::Status AppendIpv6(absl::string_view v, std::string* out) {
  v = StripBrackets(v);
  if (v.find('%') != absl::string_view::npos) return Invalid("IPv6 zone id not allowed");
  const std::optional<Ipv6Bytes> address = ParseIpv6(v);
  if (!address) return Invalid("not an IPv6 address");
  out->append(FormatIpv6(*address));
  return absl::OkStatus();
}

absl::Status AppendHash(absl::string_view v, size_t hex_digits, absl::string_view name,
                        std::string* out) {
  if (v.size() != hex_digits || !AllHex(v)) {
    return Invalid(absl::StrCat("not a ", name, " (", hex_digits, " hex digits)"));
  }
  AppendLower(v, out);
  return absl::OkStatus();
}

absl::Status AppendEmail(absl::string_view v, std::string* out) {
  const size_t at = v.find('@');
  if (at == absl::string_view::npos || v.find('@', at + 1) != absl::string_view::npos) {
    return Invalid("not an email address (needs exactly one @)");
  }
  const absl::string_view local = v.substr(0, at);
  if (local.size() > 64) return Invalid("email local part longer than 64 bytes");
  if (!IsDotAtom(local)) return Invalid("invalid email local part");
  AppendLower(local, out);
  out->push_back('@');
  return AppendDnsName(v.substr(at + 1), /*require_dot=*/true, out);
}

// Splits an authority (after `scheme://`, before the path) into its pieces.
struct Authority {
  absl::string_view userinfo;  // with its trailing `@`, possibly empty
  absl::string_view host;      // brackets included for IPv6
  absl::string_view port;      // with its leading `:`, possibly empty
};

Authority SplitAuthority(absl::string_view authority) {
  Authority a;
  const size_t at = authority.rfind('@');
  if (at != absl::string_view::npos) {
    a.userinfo = authority.substr(0, at + 1);
    authority.remove_prefix(at + 1);
  }
  size_t host_end;
  if (!authority.empty() && authority.front() == '[') {
    const size_t close = authority.find(']');
    host_end = close == absl::string_view::npos ? authority.size() : close + 1;
  } else {
    host_end = std::min(authority.rfind(':'), authority.size());
  }
  a.host = authority.substr(0, host_end);
  a.port = authority.substr(host_end);
  return a;
}

absl::Status AppendUrl(absl::string_view v, std::string* out) {
  const size_t scheme_end = SchemeEnd(v);
  if (scheme_end == 0) return Invalid("URL has no scheme://");
  for (char c : v) {
    if (static_cast<uint8_t>(c) <= 0x20 || c == 0x7f) {
      return Invalid("URL contains whitespace or a control character");
    }
  }
  const absl::string_view scheme = v.substr(0, scheme_end - 3);
  if (!absl::EqualsIgnoreCase(scheme, "http") && !absl::EqualsIgnoreCase(scheme, "https") &&
      !absl::EqualsIgnoreCase(scheme, "ftp")) {
    return Invalid("URL scheme is not http, https or ftp");
  }
  AppendLower(v.substr(0, scheme_end), out);
  const absl::string_view after = v.substr(scheme_end);
  const size_t authority_end = std::min(after.find_first_of("/?#"), after.size());
  const Authority a = SplitAuthority(after.substr(0, authority_end));
  out->append(a.userinfo.data(), a.userinfo.size());
  if (a.host.empty()) return Invalid("URL has no host");
  if (a.host.front() == '[') {
    if (a.host.back() != ']') return Invalid("unterminated IPv6 host in URL");
    out->push_back('[');
    absl::Status s = AppendIpv6(a.host, out);
    if (!s.ok()) return s;
    out->push_back(']');
  } else if (ParseIpv4(a.host)) {
    out->append(a.host.data(), a.host.size());
  } else {
    // A trailing dot is part of the URL as written; keep it (unlike the domain type).
    const bool trailing_dot = a.host.size() > 1 && a.host.back() == '.';
    absl::Status s = AppendDnsName(a.host, /*require_dot=*/false, out);
    if (!s.ok()) return Invalid(absl::StrCat("invalid URL host: ", s.message()));
    if (trailing_dot) out->push_back('.');
  }
  if (!a.port.empty()) {
    if (a.port.front() != ':') return Invalid("invalid URL port");
    for (char c : a.port.substr(1)) {
      if (!IsDigit(c)) return Invalid("invalid URL port");
    }
    out->append(a.port.data(), a.port.size());
  }
  const absl::string_view rest = after.substr(authority_end);
  out->append(rest.data(), rest.size());
  return absl::OkStatus();
}

absl::Status AppendNormalized(Kind kind, absl::string_view v, std::string* out) {
  switch (kind) {
    case Kind::kIp:
      return AppendIpv4(v, out);
    case Kind::kIpv6:
      return AppendIpv6(v, out);
    case Kind::kUrl:
      return AppendUrl(v, out);
    case Kind::kEmail:
      return AppendEmail(v, out);
    case Kind::kMd5:
      return AppendHash(v, 32, "md5", out);
    case Kind::kSha1:
      return AppendHash(v, 40, "sha1", out);
    case Kind::kSha256:
      return AppendHash(v, 64, "sha256", out);
    case Kind::kDomain:
      return AppendDnsName(v, /*require_dot=*/true, out);
    default:
      return Invalid("no normalization rule");  // unreachable: callers filter
  }
}

}  // namespace

std::string Refang(absl::string_view text) {
  if (!MayNeedRefang(text)) return std::string(text);
  std::string current = RefangOnce(text);
  // Every pass that changes something but the scheme word shortens the text: this terminates.
  while (MayNeedRefang(current)) {
    std::string next = RefangOnce(current);
    if (next == current) break;
    current = std::move(next);
  }
  return current;
}

std::optional<std::string> DetectObservableType(absl::string_view value) {
  const Kind kind = DetectKind(value);
  if (kind == Kind::kNone) return std::nullopt;
  return std::string(KindName(kind));
}

absl::StatusOr<Observable> NormalizeObservable(absl::string_view type, absl::string_view raw) {
  absl::string_view v = absl::StripAsciiWhitespace(raw);
  if (v.empty()) return Invalid("empty value");
  Kind kind = KindOfType(type);
  if (kind == Kind::kOther) return Observable{std::string(type), std::string(v)};
  std::string refanged;
  if (MayNeedRefang(v)) {
    refanged = Refang(v);
    v = absl::StripAsciiWhitespace(refanged);
    if (v.empty()) return Invalid("empty value");
  }
  if (kind == Kind::kAuto) {
    kind = DetectKind(v);
    if (kind == Kind::kNone) return Invalid("cannot detect the observable type");
  } else if (kind == Kind::kIp && !ParseIpv4(v)) {
    // CTIA keeps IPv6 observables under `ipv6` (ctim ip.clj: valid-ipv4? / valid-ipv6?).
    const absl::string_view bare = StripBrackets(v);  // AppendIpv6 refuses a zone id itself
    if (!ParseIpv6(bare.substr(0, bare.find('%')))) {
      return Invalid("not an IPv4 address, nor an IPv6 one (looked up as type ipv6)");
    }
    kind = Kind::kIpv6;
  }
  Observable result;
  result.type = std::string(KindName(kind));
  result.value.reserve(v.size());
  absl::Status status = AppendNormalized(kind, v, &result.value);
  if (!status.ok()) return status;
  return result;
}

#if defined(__SSE2__)
// IsNormalizedDomain of a name of 16..64 bytes, 16 bytes at a time: bit masks of the label
// bytes, dots, hyphens and letters, then the label rules as bit operations (a label of 64
// bytes cannot occur: the name needs a dot). The last block is the name's last 16 bytes,
// overlapping the one before: no byte past the name is read.
bool IsShortNormalizedDomain(absl::string_view v) {
  const size_t n = v.size();
  uint64_t valid = 0, dots = 0, hyphens = 0, letters = 0;
  for (size_t block = 0;; block += 16) {
    const size_t at = std::min(block, n - 16);
    const __m128i b = _mm_loadu_si128(reinterpret_cast<const __m128i*>(v.data() + at));
    // Signed compares: bytes of 0x80 and up are negative, outside every range.
    const __m128i letter = _mm_and_si128(_mm_cmpgt_epi8(b, _mm_set1_epi8('a' - 1)),
                                         _mm_cmplt_epi8(b, _mm_set1_epi8('z' + 1)));
    const __m128i digit = _mm_and_si128(_mm_cmpgt_epi8(b, _mm_set1_epi8('0' - 1)),
                                        _mm_cmplt_epi8(b, _mm_set1_epi8('9' + 1)));
    const __m128i dot = _mm_cmpeq_epi8(b, _mm_set1_epi8('.'));
    const __m128i hyphen = _mm_cmpeq_epi8(b, _mm_set1_epi8('-'));
    const __m128i underscore = _mm_cmpeq_epi8(b, _mm_set1_epi8('_'));
    const __m128i ok = _mm_or_si128(_mm_or_si128(letter, digit),
                                    _mm_or_si128(_mm_or_si128(dot, hyphen), underscore));
    valid |= uint64_t{static_cast<uint16_t>(_mm_movemask_epi8(ok))} << at;
    dots |= uint64_t{static_cast<uint16_t>(_mm_movemask_epi8(dot))} << at;
    hyphens |= uint64_t{static_cast<uint16_t>(_mm_movemask_epi8(hyphen))} << at;
    letters |= uint64_t{static_cast<uint16_t>(_mm_movemask_epi8(letter))} << at;
    if (at + 16 >= n) break;
  }
  const uint64_t all = n == 64 ? ~uint64_t{0} : (uint64_t{1} << n) - 1;
  const uint64_t last = uint64_t{1} << (n - 1);
  if ((valid & all) != all || dots == 0) return false;
  // Empty labels: a dot first, last, or right after another.
  if ((dots & 1) != 0 || (dots & last) != 0 || (dots & (dots >> 1)) != 0) return false;
  // A hyphen at a label's start (the first byte, or after a dot) or end (before a dot, or last).
  const uint64_t starts = 1 | (dots << 1);
  const uint64_t ends = (dots >> 1) | last;
  if ((hyphens & (starts | ends)) != 0) return false;
  // A letter in the top-level label: the bytes after the last dot.
  const int last_dot = 63 - __builtin_clzll(dots);
  const uint64_t tld = all & ~((uint64_t{2} << last_dot) - 1);
  return (letters & tld) != 0;
}
#endif

bool IsNormalizedDomain(absl::string_view v) {
  // The checks of AppendAsciiDnsName (same order of concerns), on bytes that lower-casing leaves
  // alone: an upper-case letter, a space, a bracket, a colon or a non-ASCII byte is no label
  // character here, so a refang, trim, IDN or lower-case step could only apply when this says
  // false.
  if (v.empty() || v.size() > 253) return false;
#if defined(__SSE2__)
  if (v.size() >= 16 && v.size() <= 64) return IsShortNormalizedDomain(v);
#endif
  size_t label_start = 0;
  bool dot = false;
  for (size_t i = 0; i < v.size(); ++i) {
    const char c = v[i];
    if (c == '.') {
      const size_t len = i - label_start;
      if (len == 0 || len > 63 || v[i - 1] == '-') return false;
      dot = true;
      label_start = i + 1;
    } else if (!IsLabelChar(c) || (c >= 'A' && c <= 'Z')) {
      return false;
    } else if (c == '-' && i == label_start) {
      return false;
    }
  }
  // The last label: non-empty (no trailing dot), at most 63 bytes, no trailing hyphen, a letter.
  const absl::string_view tld = v.substr(label_start);
  if (!dot || tld.empty() || tld.size() > 63 || tld.back() == '-') return false;
  for (char c : tld) {
    if (ClassOf(c) & kAlpha) return true;
  }
  return false;
}

std::optional<uint32_t> ParseIpv4(absl::string_view text) {
  if (text.size() < 7 || text.size() > 15) return std::nullopt;
  uint32_t address = 0;
  size_t i = 0;
  for (int octet = 0; octet < 4; ++octet) {
    if (octet > 0) {
      if (i >= text.size() || text[i] != '.') return std::nullopt;
      ++i;
    }
    const size_t start = i;
    uint32_t value = 0;
    while (i < text.size() && IsDigit(text[i]) && i - start < 3) {
      value = value * 10 + static_cast<uint32_t>(text[i] - '0');
      ++i;
    }
    const size_t digits = i - start;
    if (digits == 0 || value > 255 || (digits > 1 && text[start] == '0')) return std::nullopt;
    address = (address << 8) | value;
  }
  if (i != text.size()) return std::nullopt;
  return address;
}

std::optional<Ipv6Bytes> ParseIpv6(absl::string_view text) {
  // inet_pton needs a NUL-terminated copy; the longest valid text is 45 bytes.
  char buffer[INET6_ADDRSTRLEN];
  if (text.size() < 2 || text.size() >= sizeof(buffer) ||
      text.find('\0') != absl::string_view::npos) {
    return std::nullopt;
  }
  std::memcpy(buffer, text.data(), text.size());
  buffer[text.size()] = '\0';
  Ipv6Bytes address;
  if (inet_pton(AF_INET6, buffer, address.data()) != 1) return std::nullopt;
  return address;
}

std::string FormatIpv6(const Ipv6Bytes& address) {
  char buffer[INET6_ADDRSTRLEN];
  // Cannot fail: AF_INET6 with a buffer of INET6_ADDRSTRLEN.
  inet_ntop(AF_INET6, address.data(), buffer, sizeof(buffer));
  return std::string(buffer);
}

std::optional<std::string> CanonicalIpv6(absl::string_view text) {
  const std::optional<Ipv6Bytes> address = ParseIpv6(StripBrackets(text));
  if (!address) return std::nullopt;
  return FormatIpv6(*address);
}

absl::StatusOr<IpPrefix> ParseCidr(absl::string_view text) {
  const size_t slash = text.find('/');
  if (slash == absl::string_view::npos) return Invalid("not a CIDR block (address/length)");
  const absl::string_view address = text.substr(0, slash);
  const absl::string_view digits = text.substr(slash + 1);
  int length = 0;
  if (digits.empty() || digits.size() > 3 || (digits.size() > 1 && digits[0] == '0')) {
    return Invalid("invalid CIDR prefix length");
  }
  for (char c : digits) {
    if (!IsDigit(c)) return Invalid("invalid CIDR prefix length");
    length = length * 10 + (c - '0');
  }
  IpPrefix prefix;
  prefix.length = length;
  if (const std::optional<uint32_t> v4 = ParseIpv4(address)) {
    if (length > 32) return Invalid("IPv4 prefix length above 32");
    const uint32_t mask = length == 0 ? 0 : ~uint32_t{0} << (32 - length);
    prefix.v4 = *v4;
    if ((*v4 & ~mask) != 0) {
      const uint32_t n = *v4 & mask;
      return Invalid(absl::StrCat("host bits set (did you mean ", n >> 24, ".", (n >> 16) & 255,
                                  ".", (n >> 8) & 255, ".", n & 255, "/", length, "?)"));
    }
    return prefix;
  }
  const std::optional<Ipv6Bytes> v6 = ParseIpv6(address);
  if (!v6) return Invalid("not an IPv4 or IPv6 address before the /");
  if (length > 128) return Invalid("IPv6 prefix length above 128");
  prefix.is_v6 = true;
  Ipv6Bytes network = *v6;
  for (int byte = 0; byte < 16; ++byte) {
    const int keep = std::clamp(length - byte * 8, 0, 8);
    network[byte] &= static_cast<uint8_t>(0xff00 >> keep);
  }
  if (network != *v6) {
    return Invalid(
        absl::StrCat("host bits set (did you mean ", FormatIpv6(network), "/", length, "?)"));
  }
  prefix.v6 = network;
  return prefix;
}

absl::StatusOr<std::string> NormalizeDnsName(absl::string_view name) {
  std::string out;
  absl::Status status = AppendDnsName(name, /*require_dot=*/false, &out);
  if (!status.ok()) return status;
  return out;
}

std::optional<absl::string_view> UrlHost(absl::string_view url) {
  const size_t scheme_end = SchemeEnd(url);
  if (scheme_end == 0) return std::nullopt;
  const absl::string_view after = url.substr(scheme_end);
  const Authority a =
      SplitAuthority(after.substr(0, std::min(after.find_first_of("/?#"), after.size())));
  const absl::string_view host = StripBrackets(a.host);
  if (host.empty()) return std::nullopt;
  return host;
}

}  // namespace enrich::schema
