#ifndef ENRICH_TRANSPORT_INTERNAL_VERDICT_ANSWER_H_
#define ENRICH_TRANSPORT_INTERNAL_VERDICT_ANSWER_H_

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "schema/verdict.h"

namespace enrich::transport::internal {

// The answer to `GET .../verdict`, decoded in one pass over the body: exactly what
// schema::DecodeVerdictResponse returns for the same status and body (the same values, the
// same error codes and messages, the same JSON grammar: RapidJSON's reader with the flags of
// its DOM parse), without building a document. Keys match as the DOM's FindMember does (the
// first member of a name counts, whatever its type). Thread-safe; allocates only the
// result's strings that do not fit in place (e.g. the judgement id).
absl::StatusOr<schema::VerdictResult> DecodeVerdictAnswer(int http_status, absl::string_view body);

}  // namespace enrich::transport::internal

#endif  // ENRICH_TRANSPORT_INTERNAL_VERDICT_ANSWER_H_
