// What a run would do, without doing it (`ctia-enrich plan`): PlanJob reads the input exactly as
// a run of the same JobOptions would (the run's pipeline, readers, extraction, normalization,
// allowlist and verdict table) and sends nothing: its lookups go to a source that only counts
// them. It reports the rows, the unique observables per type, those the journal already holds
// (and, with `run --redis`, those the workers' shared cache holds), the lookups and the
// requests the run would send, and how long they take under a quota.

#ifndef ENRICH_ENGINE_PLAN_H_
#define ENRICH_ENGINE_PLAN_H_

#include "engine/job.h"
#include "schema/rate_spec.h"

#include <cstddef>
#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <string>

#include "absl/status/statusor.h"
#include "absl/time/time.h"

namespace enrich::engine {

// The observables of one type after normalization (the input's distinct ones).
struct PlanTypeCounts {
  uint64_t unique = 0;   // distinct observables of the type in the input
  uint64_t known = 0;    // of those, answered by the journal
  uint64_t cached = 0;   // of the others, answered by the persistent cache (--cache DIR)
  uint64_t shared = 0;   // of the others, answered by the workers' shared cache (run --redis)
  uint64_t lookups = 0;  // of those, to be looked up: unique - known - cached - shared
};

// The requests a run sends (token requests apart): its lookups go in POST /ctia/graphql
// batches of the batch size, a batch leaving full or when the run's live chunks all wait for
// it (a batch of one is a GET); with batch size 1, one GET per lookup.
struct RequestEstimate {
  uint64_t rest = 0;     // GET /ctia/{type}/{value}/verdict
  uint64_t graphql = 0;  // POST /ctia/graphql
  uint64_t total() const { return rest + graphql; }
};

// How long `requests` take when a quota of `rate` (requests per window) is the limit:
// requests × window / limit (the sustained rate; a first window's burst is not counted).
absl::Duration QuotaTime(uint64_t requests, const schema::RateSpec& rate);

// "about 2 h 10 min", "about 4 min", "about 12 s", "under a second".
std::string FormatAbout(absl::Duration d);

struct PlanOptions {
  // Verdicts per GraphQL request, as the run's transport uses it (1 = REST only; at most
  // transport::kMaxVerdictBatch).
  size_t batch_size = 1;
  // run --redis: whether the workers' shared cache answers this observable now (asked once per
  // distinct observable the journal does not hold, from the pipeline's threads); null: none.
  std::function<bool(const schema::Observable&)> shared_cache_holds = nullptr;
};

struct PlanReport {
  uint64_t rows = 0;           // data rows (an NDJSON blank line is not a row)
  uint64_t invalid_rows = 0;   // malformed records (status invalid_row)
  uint64_t blank_lines = 0;    // NDJSON blank lines
  uint64_t cells = 0;          // observable fields examined (rows × columns)
  uint64_t skipped_cells = 0;  // status skipped, never looked up: allowlisted + empty
  uint64_t allowlisted_cells = 0;  // of those, held by the allowlist
  uint64_t empty_cells = 0;        // of those, empty or blank
  uint64_t invalid_cells = 0;  // not an observable of the column's type (status invalid)
  uint64_t input_bytes = 0;    // decoded
  std::map<std::string, PlanTypeCounts> types;  // by CTIA observable type
  uint64_t unique = 0;                          // sum over types
  uint64_t known = 0;                           // sum over types: from the journal
  // Sum over types: answered by the persistent verdict cache (--cache DIR, read for what the
  // journal does not answer, as the run reads it).
  uint64_t cache_known = 0;
  std::string cache_note;  // why a --cache DIR is not used (damaged), else empty
  uint64_t shared_known = 0;  // sum over types: from the workers' shared cache (run --redis)
  uint64_t lookups = 0;  // sum over types: what the run looks up
  // Counted by batching the lookups as the run's transport does, in the run's pipeline: a batch
  // leaves full or where the run's would (its chunks all waiting for it), so the requests are
  // the run's for the same input, options and --threads.
  RequestEstimate requests;
  size_t batch_size = 1;
  // Partial batches the plan had to send after a second with no flush from the pipeline (none
  // expected; the run's transport sends such a batch after its own linger).
  uint64_t safety_flushes = 0;
  // The journal the run would reload (JournalPathFor), if one is there.
  std::string journal_path;  // empty: the run keeps none (output written in place, none given)
  bool journal_exists = false;
  uint64_t journal_entries = 0;  // intact records
  // Why the journal's lookups do not count (another endpoint: the run refuses it), else empty.
  std::string journal_refused;
  // The journal was written for another input or columns (same endpoint): its verdicts are
  // reused; this is its fingerprint. Empty otherwise.
  std::string journal_other_run;
  absl::Duration read_time;  // the counting pass's wall time
};

// Reads `options.input` as Job::Open + Job::Run would (same checks and usage errors, the
// journal at JournalPathFor(options) reloaded as a resumed run reloads it, read-only) and counts.
// Creates, changes and sends nothing; the output is not opened. Errors are the run's: usage
// errors marked (IsUsageError), bad input under --strict, I/O.
absl::StatusOr<PlanReport> PlanJob(const JobOptions& options, const PlanOptions& plan);

}  // namespace enrich::engine

#endif  // ENRICH_ENGINE_PLAN_H_
