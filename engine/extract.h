// Observable columns and what a field of one holds: `--column` specs, and a field's value
// trimmed, refanged, normalized and checked against the allowlist: the column specs come from
// the command line, the fields from the parse+extract+resolve stage (internal/chunk_parser.cc).

#ifndef ENRICH_ENGINE_EXTRACT_H_
#define ENRICH_ENGINE_EXTRACT_H_

#include "engine/internal/byte_arena.h"

#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "schema/allowlist.h"
#include "schema/observable.h"

namespace enrich::engine {

// One observable column of `run`: `--column NAME[:TYPE|auto]`. NAME is a CSV header name, a
// 1-based column number (CSV without a header), or a dotted field path (NDJSON).
struct ColumnSpec {
  std::string name;
  std::string type;  // CTIA observable type ("domain", "ip", ...) or "auto"
};

// Parses "NAME[:TYPE|auto]". Without TYPE, the column name itself must be a CTIA type ("domain",
// "ip", "sha256", ...). The last ':' separates the type, so names may contain ':'.
// Errors: InvalidArgument with a message for the user.
absl::StatusOr<ColumnSpec> ParseColumnSpec(absl::string_view spec);

// What to do with one field.
enum class CellStatus : uint8_t {
  kLookup,   // `observable` is normalized and worth a lookup
  kSkipped,  // empty: status "skipped", no request
  kAllowlisted,  // the allowlist holds it: status "skipped", no request
  kInvalid,  // cannot be an observable of the column's type: status "invalid", no request
};

struct Extracted {
  CellStatus status = CellStatus::kSkipped;
  schema::Observable observable;  // kLookup only
};

// Trims, refangs and normalizes `raw` as `type` (or detects the type for "auto") with
// schema::NormalizeObservable, then checks `allowlist` (may be null). Pure; thread-safe.
Extracted ExtractObservable(absl::string_view type, absl::string_view raw,
                            const schema::Allowlist* allowlist);

// ExtractObservable for the pipeline's hot loop, with the observable as views: of `type` and
// `raw` themselves when `raw` is already normal (a "domain" column's clean lower-case name,
// schema::IsNormalizedDomain: no normalization work, no copy), else of copies in `arena`. Gives
// the same status, type and value as ExtractObservable.
struct ExtractedView {
  CellStatus status = CellStatus::kSkipped;
  absl::string_view type;   // kLookup only
  absl::string_view value;  // kLookup only
};
ExtractedView ExtractObservableView(absl::string_view type, absl::string_view raw,
                                    const schema::Allowlist* allowlist,
                                    internal::ByteArena& arena);

}  // namespace enrich::engine

#endif  // ENRICH_ENGINE_EXTRACT_H_
