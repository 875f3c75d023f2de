#ifndef ENRICH_ENGINE_ENRICHER_H_
#define ENRICH_ENGINE_ENRICHER_H_

#include <cstdint>
#include <cstdio>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "engine/extract.h"
#include "engine/pipeline.h"
#include "transport/verdict_source.h"

namespace enrich::engine {

// EnrichCsv's options: one column, CSV with a header, FILE* in and out.
struct EnrichOptions {
  ColumnSpec column;
  char delimiter = ',';
  std::string prefix = "ctia_";  // of the added column names
  size_t chunk_size = 1 << 20;   // bytes per pipeline chunk
  size_t threads = 0;            // 0 = all cores
  size_t max_in_flight = 256;    // lookups outstanding at once
  // Names the input in error messages ("events.csv", "<stdin>").
  std::string input_name = "<input>";
};

// Reads a CSV with a header from `in` and writes it to `out` through RunPipeline (see there
// for the row statuses): the header with the added columns `<prefix>disposition`,
// `<prefix>disposition_name`, `<prefix>judgement_id`, `<prefix>valid_until`, `<prefix>status`
// and every data row, in input order, its original bytes untouched, followed by those columns.
// Each distinct normalized value is looked up once (a fresh verdict table per call).
//
// Errors (the run stops): unknown column (message lists the columns), empty input, I/O errors,
// Unauthenticated from the source, the source's checkpoint signal.
// Returns what the run counted.
absl::StatusOr<RunStatsSnapshot> EnrichCsv(std::FILE* in, std::FILE* out,
                                           const EnrichOptions& options,
                                           transport::VerdictSource& source);

}  // namespace enrich::engine

#endif  // ENRICH_ENGINE_ENRICHER_H_
