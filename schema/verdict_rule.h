#ifndef ENRICH_SCHEMA_VERDICT_RULE_H_
#define ENRICH_SCHEMA_VERDICT_RULE_H_

// CTIA's verdict rule as a pure function: which of an observable's judgements wins, at a given
// time or in a created-time window. ctia-sim answers verdict requests with it. Part of schema,
// the vocabulary layer; no I/O.

#include <optional>

#include "absl/time/time.h"
#include "absl/types/span.h"
#include "schema/judgement.h"
#include "schema/verdict.h"

namespace enrich::schema {

// Optional `from`/`to` of the verdict request (reference/ctia-api.md §2.1). When either is set,
// CTIA drops the valid_time filter and filters on `created` instead (§2.4 step 1).
struct VerdictQuery {
  std::optional<absl::Time> from;  // created >= from
  std::optional<absl::Time> to;    // created < to
};

// CTIA's verdict rule (§2.4), as a pure function.
//
// `candidates` must already be the judgements of the requested observable (type and value
// matched case-insensitively) that the caller may see (§2.5). Filter: without from/to,
// `start_time <= now < end_time`; with from/to, `from <= created < to`. Order: priority
// descending, then disposition ascending (Clean beats Malicious), then start_time ascending.
// CTIA has no further tie-break; this function makes the choice deterministic with earliest
// `created`, then smallest `id`, then earliest position in `candidates`.
//
// Returns the index of the winner in `candidates`, or nullopt when none qualifies (CTIA 404).
std::optional<size_t> SelectVerdictJudgement(absl::Span<const Judgement> candidates,
                                             absl::Time now, const VerdictQuery& query = {});

// SelectVerdictJudgement + VerdictFromJudgement.
VerdictResult ComputeVerdict(absl::Span<const Judgement> candidates, absl::Time now,
                             const VerdictQuery& query = {});

}  // namespace enrich::schema

#endif  // ENRICH_SCHEMA_VERDICT_RULE_H_
