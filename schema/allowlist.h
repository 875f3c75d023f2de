#ifndef ENRICH_SCHEMA_ALLOWLIST_H_
#define ENRICH_SCHEMA_ALLOWLIST_H_

#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "schema/observable.h"

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
// Thread safety: immutable after Parse(); Contains() may be called from any thread.
class Allowlist {
 public:
  // Errors: InvalidArgument naming `source_name:line` and the bad entry.
  static absl::StatusOr<Allowlist> Parse(absl::string_view text, absl::string_view source_name);
  Allowlist();
  ~Allowlist();
  Allowlist(Allowlist&&) noexcept;
  Allowlist& operator=(Allowlist&&) noexcept;

  bool Contains(const Observable& normalized) const;
  size_t size() const;

 private:
  struct Data;
  std::unique_ptr<Data> data_;
};

}  // namespace enrich::schema

#endif  // ENRICH_SCHEMA_ALLOWLIST_H_
