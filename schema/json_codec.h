#ifndef ENRICH_SCHEMA_JSON_CODEC_H_
#define ENRICH_SCHEMA_JSON_CODEC_H_

// The JSON bodies of CTIA's verdict and judgement endpoints, decoded and encoded with RapidJSON:
// the transport decodes CTIA's answers and encodes the judgements it creates, ctia-sim the other
// way round. Part of schema, the vocabulary layer: bytes in, values out (and back), no I/O.

#include <string>
#include "absl/strings/string_view.h"
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "rapidjson/document.h"
#include "rapidjson/stringbuffer.h"
#include "rapidjson/writer.h"
#include "schema/judgement.h"
#include "schema/verdict.h"

namespace enrich::schema {

// CTIA's 404 message for "no verdict" (reference/ctia-api.md §2.3).
inline constexpr absl::string_view kNoVerdictMessage =
    "no verdict currently available for the supplied observable";

// Decodes a verdict body (§2.2). Error: InvalidArgument ("malformed verdict body: ...") when the
// body is not JSON, not an object, or misses/mistypes a required key; disposition outside 1..5
// is also malformed. `disposition_name` is re-derived from the number.
absl::StatusOr<Verdict> DecodeVerdict(absl::string_view body);

// Decodes the answer to `GET .../verdict`: 200 → Verdict; 404 whose JSON body carries a
// `message` → NoVerdict (the value CTIA uses when nothing qualifies or nothing is visible);
// 404 without such a body is CTIA's HTML "unknown route" page → NotFound (the path was not
// routed, e.g. an unencoded '/'). Any other status → Internal (the transport maps those before
// calling this).
absl::StatusOr<VerdictResult> DecodeVerdictResponse(int http_status, absl::string_view body);

// Verdict → the six-key JSON body CTIA sends.
std::string EncodeVerdict(const Verdict& v);

// Judgement → JSON. Fields with no value (empty strings, unset times, empty lists) are left
// out, so a new judgement gets CTIA's defaults (§5.2). With `stored`, also writes `type`,
// `schema_version`, `disposition_name`, `created` and the access-control fields.
std::string EncodeJudgement(const Judgement& j, bool stored = false);
void WriteJudgementJson(const Judgement& j, bool stored,
                        rapidjson::Writer<rapidjson::StringBuffer>& w);

// One schema problem in a posted judgement, as CTIA reports it under `errors`
// (e.g. {"observable", "missing-required-key"}; §5.4).
struct FieldError {
  std::string field;
  std::string explanation;
};

// Result of decoding a posted NewJudgement: either a judgement with CTIA's creation defaults
// applied (§5.2: valid_time start = now, end = 2525; timestamp = now; disposition and name
// derived from each other, 5/"Unknown" when neither is given) or the list of field errors.
// A disposition/name mismatch is reported as the single field "disposition_name" with
// explanation "mismatch" (CTIA's dedicated body is the server's business).
struct NewJudgementDecode {
  Judgement judgement;
  std::vector<FieldError> errors;
  bool ok() const { return errors.empty(); }
};
NewJudgementDecode DecodeNewJudgement(const rapidjson::Value& v, absl::Time now);

// Decodes a stored judgement as the server returns it (GET /ctia/judgement/{id}).
absl::StatusOr<Judgement> DecodeStoredJudgement(absl::string_view body);

}  // namespace enrich::schema

#endif  // ENRICH_SCHEMA_JSON_CODEC_H_
