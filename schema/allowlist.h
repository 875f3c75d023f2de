#ifndef ENRICH_SCHEMA_ALLOWLIST_H_
#define ENRICH_SCHEMA_ALLOWLIST_H_

// The allowlist: observables never worth a lookup, parsed from the text file `run --allowlist`
// names. Part of schema, the vocabulary layer (no I/O: the caller reads the file); the engine
// matches each normalized observable against it before the verdict table (engine/extract.h).

#include "schema/observable.h"

#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace enrich::schema {

// Observables never worth a lookup (known-benign: your own domains, CDN ranges, RFC 1918…).
// Matched against *normalized* observables (NormalizeObservable).
//
// Text format, one entry per line, `#` starts a comment, blank lines ignored:
//   example.com          exact value, any type (case-insensitive)
//   *.example.com        suffix: example.com itself and every subdomain (domains, the host of
//                        URLs, the domain of emails)
//   10.0.0.0/8           CIDR, IPv4 or IPv6, matches ip/ipv6 observables and URL hosts
//   type:value           exact match restricted to one type, e.g. sha256:ab12…
// Details (decisions):
// - `#` starts a comment at the start of a line or after a space/tab only, so a URL fragment
//   (`http://x/#a`) is data. `\r` line ends are accepted.
// - `type:` counts only for a type CTIA knows (IsKnownObservableType); the value is then
//   normalized as NormalizeObservable(type, value) and must be valid. Otherwise (e.g.
//   `2001:db8::1`, `http://…`) the line is an exact value.
// - Exact values are stored as NormalizeObservable("auto", …) gives them when it can
//   (`EVIL[.]com` → `evil.com`, `2001:DB8:0::1` → `2001:db8::1`), else as written. A bare IP is
//   an exact value: it does not match URL hosts; write `1.2.3.4/32` for that.
// - Suffixes apply to types domain and hostname, the domain of an email and the host of a URL;
//   the suffix is normalized like a domain but may be one label (`*.internal`).
// - CIDR blocks must have no host bits set (`10.1.0.0/8` is an error naming `10.0.0.0/8`).
//   IPv4 blocks also match IPv4-mapped IPv6 (`::ffff:10.1.2.3`).
// - Any other malformed entry (`*` not as a leading `*.`, bad CIDR, invalid typed value) is an
//   error; Parse() stops at the first one.
// Cost of Contains(): one hash lookup for exact and for typed values; O(labels) lookups for
// suffixes; one lookup per distinct prefix length in use for CIDR (≤ 33 / ≤ 129). It does not
// allocate.
// Thread safety: immutable after Parse(); Contains() may be called from any thread.
class Allowlist {
 public:
  // Errors: InvalidArgument naming `source_name:line` and the bad entry.
  static absl::StatusOr<Allowlist> Parse(absl::string_view text, absl::string_view source_name);
  Allowlist();
  ~Allowlist();
  Allowlist(Allowlist&&) noexcept;
  Allowlist& operator=(Allowlist&&) noexcept;

  // True when `normalized` (output of NormalizeObservable) is covered by an entry.
  bool Contains(const Observable& normalized) const {
    return Contains(normalized.type, normalized.value);
  }
  // The same for a normalized type and value given as views.
  bool Contains(absl::string_view type, absl::string_view value) const;
  // Number of entries (non-blank, non-comment lines) parsed, duplicates included.
  size_t size() const;

 private:
  struct Data;
  std::unique_ptr<Data> data_;
};

}  // namespace enrich::schema

#endif  // ENRICH_SCHEMA_ALLOWLIST_H_
