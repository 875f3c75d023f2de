#ifndef ENRICH_SCHEMA_JUDGEMENT_ID_H_
#define ENRICH_SCHEMA_JUDGEMENT_ID_H_

// CTIA judgement ids (reference/ctia-api.md §5.2): a stored judgement's long id is
// `{base}/ctia/judgement/judgement-<uuid>`; routes take its short id, the last path segment.
// Used by the client (GET /ctia/judgement/{short id}) and by ctia-sim (its store's keys).

#include <cstddef>

#include "absl/strings/string_view.h"

namespace enrich::schema {

// The short id ("judgement-<uuid>") of a long or short judgement id: its last path segment;
// a short id stays as it is.
inline absl::string_view ShortJudgementId(absl::string_view id) {
  const size_t slash = id.rfind('/');
  return slash == absl::string_view::npos ? id : id.substr(slash + 1);
}

}  // namespace enrich::schema

#endif  // ENRICH_SCHEMA_JUDGEMENT_ID_H_
