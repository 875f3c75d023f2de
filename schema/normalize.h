#ifndef ENRICH_SCHEMA_NORMALIZE_H_
#define ENRICH_SCHEMA_NORMALIZE_H_

// Observable normalization: undoing defanging, trimming and canonicalizing a raw log value per
// type (domain, IP, URL, hash, email, ...) so equal observables meet in one lookup. Part of
// schema, the vocabulary layer; the engine's extraction (engine/extract.h) calls it per value.

#include "schema/observable.h"

#include <array>
#include <cstdint>
#include <optional>
#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace enrich::schema {

// Undoes the usual "defanging" of indicators in threat reports (MISP ComplexTypeTool's table
// and common variants): `hxxp`/`hXXp`/`hxtp`/`meow` → `http`, `[.]` `(.)` `{.}` `[dot]` `(dot)`
// ` dot ` → `.`, `[@]` `[at]` `(at)` → `@`, `[:]` → `:`, `[://]` → `://`, and a leading/trailing
// `[`/`]` around an IP. Pure; returns the input unchanged when nothing applies.
//
// Precisely (decisions, see also normalize.cc):
// - A defanged scheme (`hxxp`, `hxtp`, `htxp`, `h[tt]p`, `meow` → `http`; `fxp` → `ftp`; any
//   letter case) is replaced only at the very start and only when an optional `s` and then `:`
//   or `[:` follow, so `meowcat.com` stays as it is.
// - Bracket tokens, inside `[…]`, `(…)` or `{…}`, any letter case: `.` `dot` → `.`,
//   `@` `at` → `@`, `:` → `:`, `://` → `://`, `/` → `/`. Spaces around a `.`/`@` token are
//   dropped (`evil [.] com` → `evil.com`); ` dot ` between spaces → `.`.
// - Applied to the whole value, URL paths included (as MISP does): RFC 3986 forbids raw `[ ] { }`
//   outside an IPv6 host, so refanging them cannot corrupt a real URL. Parentheses and
//   ` dot ` ARE legal in a path (`/wiki/Foo_(dot)`), so in a URL (`scheme://`) they are refanged
//   only up to the end of the authority (first `/`, `?` or `#` after `://`).
// - `[1.2.3.4]`, `[::1]`: brackets around a whole value made of hex digits, `.` and `:` (with a
//   digit and a `.` or `:`) are removed.
// - Applied until nothing changes, so Refang(Refang(x)) == Refang(x) (`[[.]]` → `.`).
std::string Refang(absl::string_view text);

// The observable types `auto` may choose: ipv4 is "ip".
// Detects the CTIA type of an already refanged, trimmed value: "ip" (IPv4), "ipv6", "url"
// (has a scheme://), "email", "md5"/"sha1"/"sha256" (32/40/64 hex digits), "domain"
// (LDH labels with a letter-containing TLD, or an IDN). nullopt when none fits.
//
// Order: url (any `scheme://`), email, ip, ipv6 (brackets allowed), md5/sha1/sha256, domain. The
// checks are structural (character classes, dots, exact hash lengths): a 64-byte label is still
// detected as a domain so that NormalizeObservable can say what is wrong with it; a 32-hex
// string is md5, never a domain (it has no dot). Zone ids (`fe80::1%eth0`) fit nothing.
std::optional<std::string> DetectObservableType(absl::string_view value);

// Turns a raw field into the observable to look up, or says why it cannot be one.
//
// `type` is a CTIA type name or "auto". Steps: trim ASCII whitespace; refang; for "auto",
// detect the type. Then per type (CTIA matches case-insensitively for every type, reference
// §1.2, so lower-casing never changes the answer and improves deduplication):
//   ip      dotted-quad IPv4 without leading zeros (`010.1.1.1` is invalid) → as is; an IPv6
//           address → type "ipv6" as below (CTIA keeps IPv6 observables under `ipv6`, so a
//           column of both families needs no `auto`)
//   ipv6    any RFC 4291 form, optionally in brackets → RFC 5952 canonical lower-case
//           (IPv4-mapped `::ffff:1.2.3.4` stays ipv6)
//   domain  lower-case, one trailing dot removed, IDN (Unicode) labels → punycode A-labels
//           (libidn2, IDNA 2008 with UTS#46 transitional=false); labels 1..63 bytes, total
//           ≤ 253, LDH; must contain a dot. Also accepted: `_` anywhere in a label (DNS names
//           in logs carry `_dmarc`, `_sip._tcp`, …). Rejected: a label starting or ending
//           with `-`, a top-level label without a letter (`1.2.3.999` is no domain)
//   url     scheme http/https/ftp (after refang), non-empty host; scheme and host lower-cased,
//           the rest kept byte for byte. The host is a DNS name (rules as for domain, but a
//           single label such as `localhost` and a trailing dot are kept), a dotted-quad IPv4
//           or a bracketed IPv6 (made RFC 5952 canonical); userinfo and `:port` (digits) are
//           kept. Whitespace and control bytes anywhere in a URL are rejected.
//   email   local@domain with the domain normalized as above; local part kept, the whole
//           value lower-cased. Local part: RFC 5322 dot-atom (plus UTF-8 bytes), ≤ 64 bytes;
//           quoted local parts and IP-literal domains are rejected
//   md5/sha1/sha256  exact hex length → lower-case
//   any other known or unknown type → trimmed value unchanged (no rule to apply, no refang)
// An empty value (after trimming/refanging) is InvalidArgument("empty value") for every type.
// For every valid x: NormalizeObservable(t, NormalizeObservable(t, x)->value) gives the same
// result (idempotent). Allocates the result (and a refang buffer only when the value is
// defanged); thread-safe.
// Errors: InvalidArgument with a short reason ("not an IPv4 address", "label longer than 63
// bytes", …) → the engine writes status `invalid` and sends no request.
absl::StatusOr<Observable> NormalizeObservable(absl::string_view type, absl::string_view raw);

// True when `value` is already what NormalizeObservable("domain", value) returns: a lower-case
// ASCII name with at least one dot, valid labels and no trailing dot, so nothing would change
// (no trimming, refanging, lower-casing or IDN work). False for everything else, valid or not:
// then call NormalizeObservable. The engine's fast path for clean log columns; one pass, no
// allocation.
bool IsNormalizedDomain(absl::string_view value);

// ---- Building blocks, shared with Allowlist and available to the engine. All pure. ----

// Strict dotted-quad IPv4 (four decimal octets 0..255, no leading zeros, nothing else).
// Returns the address as a host-order integer (`1.2.3.4` → 0x01020304).
std::optional<uint32_t> ParseIpv4(absl::string_view text);

// An IPv6 address in network byte order.
using Ipv6Bytes = std::array<uint8_t, 16>;

// Any RFC 4291 text form: full, `::`-compressed, leading zeros within a 4-digit group, upper
// case, embedded dotted IPv4 (`::ffff:1.2.3.4`). No brackets, no zone id (`%eth0`).
std::optional<Ipv6Bytes> ParseIpv6(absl::string_view text);

// RFC 5952 text: lower-case, no leading zeros, the longest run (first if tied) of two or more
// zero groups as `::`, IPv4-mapped addresses as `::ffff:1.2.3.4` (glibc inet_ntop, checked
// by tests/schema/normalize_test.cc).
std::string FormatIpv6(const Ipv6Bytes& address);

// ParseIpv6 + FormatIpv6; also accepts the address in brackets (`[2001:DB8::1]`).
std::optional<std::string> CanonicalIpv6(absl::string_view text);

// A CIDR block `10.0.0.0/8` or `2001:db8::/32`.
struct IpPrefix {
  bool is_v6 = false;
  uint32_t v4 = 0;    // when !is_v6, host order
  Ipv6Bytes v6 = {};  // when is_v6
  int length = 0;     // 0..32 or 0..128
};

// Parses `address/length` (address strict as above; length decimal without leading zeros).
// InvalidArgument when malformed, when the length is out of range, or when host bits are set
// (`10.1.0.0/8`: the message names the network meant, `10.0.0.0/8`).
absl::StatusOr<IpPrefix> ParseCidr(absl::string_view text);

// Normalizes a DNS name by the domain rules of NormalizeObservable (lower-case, one trailing
// dot removed, IDN → A-labels, lengths, LDH + `_`, a letter in the top-level label) without
// requiring a dot: `local` is accepted (allowlist suffixes, URL hosts). No refang.
absl::StatusOr<std::string> NormalizeDnsName(absl::string_view name);

// The host of a `scheme://` URL without userinfo, port or IPv6 brackets (`http://u@[::1]:8/`
// → `::1`). A view into `url`; nullopt when there is no `://` or the host is empty.
std::optional<absl::string_view> UrlHost(absl::string_view url);

}  // namespace enrich::schema

#endif  // ENRICH_SCHEMA_NORMALIZE_H_
