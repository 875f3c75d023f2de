#ifndef ENRICH_SCHEMA_NORMALIZE_H_
#define ENRICH_SCHEMA_NORMALIZE_H_

#include <optional>
#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "schema/observable.h"

namespace enrich::schema {

// Undoes the usual "defanging" of indicators in threat reports (MISP ComplexTypeTool's table
// and common variants): `hxxp`/`hXXp`/`hxtp`/`meow` → `http`, `[.]` `(.)` `{.}` `[dot]` `(dot)`
// ` dot ` → `.`, `[@]` `[at]` `(at)` → `@`, `[:]` → `:`, `[://]` → `://`, and a leading/trailing
// `[`/`]` around an IP. Pure; returns the input unchanged when nothing applies.
std::string Refang(absl::string_view text);

// The observable types `auto` may choose: ipv4 is "ip".
// Detects the CTIA type of an already refanged, trimmed value: "ip" (IPv4), "ipv6", "url"
// (has a scheme://), "email", "md5"/"sha1"/"sha256" (32/40/64 hex digits), "domain"
// (LDH labels with a letter-containing TLD, or an IDN). nullopt when none fits.
std::optional<std::string> DetectObservableType(absl::string_view value);

// Turns a raw field into the observable to look up, or says why it cannot be one.
//
// `type` is a CTIA type name or "auto". Steps: trim ASCII whitespace; refang; for "auto",
// detect the type. Then per type (CTIA matches case-insensitively for every type, reference
// §1.2, so lower-casing never changes the answer and improves deduplication):
//   ip      dotted-quad IPv4 without leading zeros (`010.1.1.1` is invalid) → as is
//   ipv6    any RFC 4291 form, optionally in brackets → RFC 5952 canonical lower-case
//           (IPv4-mapped `::ffff:1.2.3.4` stays ipv6)
//   domain  lower-case, one trailing dot removed, IDN (Unicode) labels → punycode A-labels
//           (libidn2, IDNA 2008 with UTS#46 transitional=false); labels 1..63 bytes, total
//           ≤ 253, LDH; must contain a dot
//   url     scheme http/https/ftp (after refang), non-empty host; scheme and host lower-cased,
//           the rest kept byte for byte
//   email   local@domain with the domain normalized as above; local part kept, the whole
//           value lower-cased
//   md5/sha1/sha256  exact hex length → lower-case
//   any other known or unknown type → trimmed value unchanged (no rule to apply)
// Errors: InvalidArgument with a short reason ("not an IPv4 address", "label longer than 63
// bytes", …) → the engine writes status `invalid` and sends no request.
absl::StatusOr<Observable> NormalizeObservable(absl::string_view type, absl::string_view raw);

}  // namespace enrich::schema

#endif  // ENRICH_SCHEMA_NORMALIZE_H_
