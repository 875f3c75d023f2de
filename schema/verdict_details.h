// What a run writes of a verdict beyond its own columns (run --fields, --judgements, --intel
// both): the names of the detail fields, which of a verdict's details a run keeps
// (DetailsSpec), and their compact encoding: the bytes the verdict table keeps in its arena
// beside the judgement id and the journal writes beside a verdict, so a cached, a fresh and a
// resumed answer are written the same way. A run that writes none of them keeps nothing.

#ifndef ENRICH_SCHEMA_VERDICT_DETAILS_H_
#define ENRICH_SCHEMA_VERDICT_DETAILS_H_

#include <array>
#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "schema/disposition.h"
#include "schema/verdict.h"

namespace enrich::schema {

// A --fields name. The first seven are the deciding judgement's (schema::JudgementDetails);
// the last two are the observable looked up (the detected type under `auto`; the normalized,
// refanged value), which the engine has without asking.
enum class DetailField : uint8_t {
  kSource,
  kSourceUri,
  kReason,
  kSeverity,
  kConfidence,
  kPriority,
  kTlp,
  kObservableType,
  kObservableValue,
};
inline constexpr size_t kDetailFieldCount = 9;
inline constexpr size_t kJudgementFieldCount = 7;  // kSource .. kTlp

// "source", "source_uri", ..., "observable_value": the column is <prefix><name>.
absl::string_view DetailFieldName(DetailField field);
inline bool IsJudgementField(DetailField field) {
  return static_cast<size_t>(field) < kJudgementFieldCount;
}
// A comma-separated --fields list, in the order given; `all` is every field in the order
// above. An unknown or repeated name is an InvalidArgument error listing the valid ones.
absl::StatusOr<std::vector<DetailField>> ParseDetailFields(absl::string_view list);

// What a run keeps of each verdict beyond its own columns: the deciding judgement's fields it
// writes, the first `judgements` of the observable's judgements, the intel that decided and,
// under --merge both, the other intel's verdict.
struct DetailsSpec {
  uint8_t judgement_fields = 0;  // bit i: DetailField i (i < kJudgementFieldCount)
  uint32_t judgements = 0;
  bool intel = false;
  bool other = false;

  static DetailsSpec Of(const std::vector<DetailField>& fields, size_t judgements, bool intel,
                        bool other);
  bool empty() const { return judgement_fields == 0 && judgements == 0 && !intel && !other; }
  bool Keeps(DetailField field) const {
    return IsJudgementField(field) && (judgement_fields >> static_cast<int>(field) & 1) != 0;
  }
  // The first bytes of every encoding of this spec: an encoding starts with them exactly when
  // it was written for the same spec (varints are prefix-free).
  std::string Header() const;
  // "fields=source,reason judgements=3 intel other" (empty for an empty spec): for the journal
  // fingerprint.
  std::string Describe() const;
};

// Encodes what `spec` keeps of `verdict` into `out` (replacing its contents): Header(), then a
// judgement flag and the kept judgement fields (priority in decimal), the judgements (source,
// disposition, id), the intel, and the other verdict (disposition, judgement id, end time,
// intel), strings with varint lengths. Empty when spec.empty().
void EncodeDetails(const DetailsSpec& spec, const schema::Verdict& verdict, std::string& out);

// One judgement of a decoded encoding.
struct JudgementBriefView {
  absl::string_view source;
  int disposition = 0;  // schema::Disposition number
  absl::string_view id;
};

// A decoded encoding: views into it. `judgements` is refilled (its capacity reused).
struct DetailsView {
  bool has_judgement = false;  // the source gave the deciding judgement's details
  std::array<absl::string_view, kJudgementFieldCount> judgement;  // by DetailField
  std::vector<JudgementBriefView> judgements;
  absl::string_view intel;
  bool has_other = false;  // the other intel had a verdict
  int other_disposition = 0;
  absl::string_view other_judgement_id;
  int64_t other_valid_until_ms = 0;
  absl::string_view other_intel;
};

// Decodes an encoding of `spec` (its Header() first); false on bytes EncodeDetails cannot have
// written for it. An empty `bytes` decodes to nothing present.
bool DecodeDetails(const DetailsSpec& spec, absl::string_view bytes, DetailsView& out);

// The inverse of EncodeDetails: puts what `spec` keeps, as `view` (DecodeDetails of `spec`)
// holds it, back into `verdict` (its judgement, judgements, intel and other verdict; a
// judgement field `spec` does not keep stays empty). For a reader of another process's
// encoding that hands on a whole schema::Verdict (the Redis-shared cache). False when a kept
// priority or disposition is not one EncodeDetails writes.
bool ApplyDetails(const DetailsSpec& spec, const DetailsView& view, Verdict& verdict);

}  // namespace enrich::schema

#endif  // ENRICH_SCHEMA_VERDICT_DETAILS_H_
