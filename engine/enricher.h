#ifndef ENRICH_ENGINE_ENRICHER_H_
#define ENRICH_ENGINE_ENRICHER_H_

#include <cstdint>
#include <cstdio>
#include <map>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "transport/verdict_source.h"

namespace enrich::engine {

// The observable column of `--column NAME[:TYPE]`.
struct ColumnSpec {
  std::string name;
  std::string type;  // CTIA observable type, e.g. "domain"
};

// Parses "NAME[:TYPE]". Without TYPE, the column name itself must be a CTIA type ("domain",
// "ip", "sha256", ...). The last ':' separates the type, so names may contain ':'.
// Errors: InvalidArgument with a message for the user.
absl::StatusOr<ColumnSpec> ParseColumnSpec(absl::string_view spec);

struct EnrichOptions {
  ColumnSpec column;
  char delimiter = ',';
  std::string prefix = "ctia_";  // of the added column names
  // Rows read before their lookups are sent; bounds memory (~row size × batch_rows).
  size_t batch_rows = 1 << 16;
  // Lookups outstanding at once.
  size_t max_in_flight = 256;
  // Names the input in error messages ("events.csv", "<stdin>").
  std::string input_name = "<input>";
};

// What a run did. `statuses` counts rows per `status` value.
struct EnrichSummary {
  uint64_t rows = 0;                // data rows read (= data rows written)
  uint64_t unique_observables = 0;  // distinct non-empty values, case-insensitive
  uint64_t lookups = 0;             // verdict lookups asked of the source
  std::map<std::string, uint64_t> statuses;
  double seconds = 0;
};

// Reads a CSV with a header from `in` and writes it to `out`: the header with the added
// columns `<prefix>disposition`, `<prefix>disposition_name`, `<prefix>judgement_id`,
// `<prefix>valid_until`, `<prefix>status` and every data row, in input order, its original bytes
// untouched, followed by those columns. Each distinct value (compared case-insensitively, as
// CTIA matches, reference §1.2) is looked up once.
//
// Row status: `ok` (verdict), `no_verdict`, `skipped` (empty value), `invalid_row` (not RFC 4180
// or a field count different from the header's), `error:<code>` (lookup failed after the
// source's retries; <code> is the HTTP status or the error class, e.g. `error:503`,
// `error:deadline_exceeded`). No row is ever dropped.
//
// Errors (the run stops): unknown column (message lists the columns), empty input, I/O errors,
// and Unauthenticated from the source (bad credentials fail every lookup the same way).
absl::StatusOr<EnrichSummary> EnrichCsv(std::FILE* in, std::FILE* out,
                                        const EnrichOptions& options,
                                        transport::VerdictSource& source);

// "error:<code>" for a failed lookup.
std::string ErrorStatusFor(const absl::Status& status);

// Multi-line human summary of a run.
std::string FormatSummary(const EnrichSummary& summary);

}  // namespace enrich::engine

#endif  // ENRICH_ENGINE_ENRICHER_H_
