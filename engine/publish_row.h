#ifndef ENRICH_ENGINE_PUBLISH_ROW_H_
#define ENRICH_ENGINE_PUBLISH_ROW_H_

// One input row of `ctia-enrich publish` as a judgement: its fields (from the row's columns or
// from a value given once for every row), the local checks against CTIA's judgement schema
// (reference/ctia-api.md §3, §5) and the row's stable external id. Pure; no I/O.

#include "schema/judgement.h"

#include <array>
#include <cstddef>
#include <optional>
#include <string>

#include "absl/strings/string_view.h"
#include "absl/time/time.h"

namespace enrich::engine {

// The fields a publish row may carry; each has a default column of the same name.
enum class PublishField : int {
  kValue,
  kType,
  kDisposition,
  kDispositionName,
  kSource,
  kSourceUri,
  kPriority,
  kSeverity,
  kConfidence,
  kReason,
  kTlp,
  kStartTime,
  kEndTime,
  kExternalId,
};
inline constexpr size_t kPublishFieldCount = 14;

// "value", "type", "disposition", "disposition_name", "source", ... (the judgement's own names).
absl::string_view PublishFieldName(PublishField field);
std::optional<PublishField> PublishFieldFromName(absl::string_view name);

// The values of one row, per field; nullopt = no column, or an empty cell.
using PublishValues = std::array<std::optional<std::string>, kPublishFieldCount>;

// What the tool fills in when neither the row nor a flag gives a value: CTIA requires priority,
// confidence and severity on a new judgement (§5.1) and has no default for them.
inline constexpr int64_t kDefaultPriority = 95;
inline constexpr absl::string_view kDefaultConfidence = "High";
inline constexpr absl::string_view kDefaultSeverity = "Medium";

// A valid row: the judgement to create (external_ids holds `external_id`) and its external id.
struct PublishRow {
  schema::Judgement judgement;
  std::string external_id;
};

// Why a row is not sent: the field (a PublishFieldName, or "row") and the reason.
struct PublishRowError {
  std::string field;
  std::string why;
};

// The result of checking one row: `row` when valid, else `error`.
struct CheckedRow {
  std::optional<PublishRow> row;
  PublishRowError error;
  bool ok() const { return row.has_value(); }
};

// Checks `values` (a row's cells, with the flags' values already merged in for empty ones) and
// builds the judgement. Checks, each naming its field: value and type present, the type in
// CTIA's list (schema::IsKnownObservableType; "auto" detects it), the value valid for its type
// and normalized (schema::NormalizeObservable: refanged, canonical); disposition a number 1..5
// or a name, disposition_name a name (Clean, Malicious, Suspicious, Common, Unknown, any case),
// both consistent; source present and at most 2048 characters, source_uri at most 2048, reason
// at most 1024; priority an integer; confidence one of Info Low Medium High None Unknown,
// severity those or Critical, tlp red amber green white (any case, sent as CTIA spells them);
// start_time and end_time RFC 3339 / ISO 8601 (schema::ParseIsoTime), end after start.
// Missing priority/confidence/severity take the defaults above; a missing start_time is left
// to CTIA (now), a missing end_time too (2525-01-01), unless only end_time is given, then start
// is `now`.
//
// The external id is the external_id field when given, else DeriveExternalId of the row.
CheckedRow CheckPublishRow(const PublishValues& values, absl::Time now);

// `ctia-enrich:<source>:<sha256 of the judgement's content, hex>`: the content is the
// normalized observable, disposition, source, source_uri, priority, severity, confidence,
// reason, tlp and the times as given (not the ones CTIA fills), so the same row published
// again gets the same id, and a row that differs in any of these gets another.
std::string DeriveExternalId(const schema::Judgement& judgement, bool start_given, bool end_given);

}  // namespace enrich::engine

#endif  // ENRICH_ENGINE_PUBLISH_ROW_H_
