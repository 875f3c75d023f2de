// Reading a request's path segments and query parameters as CTIA's Ring/compojure stack does
// (reference §1.3, §2.1): percent-decoding, form decoding, route-segment matching, ids, dates.
// Folder-private (tools/sim/internal): only the Router's files include it.

#ifndef ENRICH_TOOLS_SIM_INTERNAL_REQUEST_PARAMS_H_
#define ENRICH_TOOLS_SIM_INTERNAL_REQUEST_PARAMS_H_

#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "absl/container/inlined_vector.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "schema/json_codec.h"
#include "schema/path_encoding.h"

namespace enrich::sim {

// The segments of a request path; inline for every route, so routing allocates nothing.
using Segments = absl::InlinedVector<absl::string_view, 8>;

// Ring's percent-decode leaves malformed escapes as they are; ours rejects them, so fall back
// to the raw text in that case (reference §1.3: decoding is percent-decoding only, `+` stays).
// Inline: every verdict request decodes its type and value.
inline std::string DecodeSegment(absl::string_view raw) {
  if (raw.find('%') == absl::string_view::npos) return std::string(raw);  // the common case
  absl::StatusOr<std::string> decoded = schema::PercentDecode(raw);
  return decoded.ok() ? *std::move(decoded) : std::string(raw);
}

// compojure/clout match a `:param` with [^/,;?]+ on the raw path (reference §1.3).
inline bool IsRouteSegment(absl::string_view s) {
  return !s.empty() && s.find(',') == absl::string_view::npos &&
         s.find(';') == absl::string_view::npos;
}

// application/x-www-form-urlencoded component: '+' is a space, then percent-decoding.
std::string FormDecode(absl::string_view raw);

// The decoded key=value pairs of a query string or form body, in order.
using Params = std::vector<std::pair<std::string, std::string>>;
Params ParseForm(absl::string_view text);

// The short id ("judgement-<uuid>") of a short or long judgement id.
std::string ShortIdOf(absl::string_view id);

// from/to of the verdict and list routes (ctia `DateRangeParams`, reference §2.1); on a bad
// value adds CTIA's field error to `errors` and returns nullopt.
std::optional<absl::Time> ParseDateParam(absl::string_view name, absl::string_view value,
                                         std::vector<schema::FieldError>& errors);

}  // namespace enrich::sim

#endif  // ENRICH_TOOLS_SIM_INTERNAL_REQUEST_PARAMS_H_
