// Test helper: one CSV file (FILE* in and out, one observable column, a header line) enriched
// through RunPipeline with a fresh verdict table, as the engine tests and the ctia-sim
// integration test drive a whole run without the CLI.

#ifndef ENRICH_TESTS_ENGINE_ENRICH_CSV_H_
#define ENRICH_TESTS_ENGINE_ENRICH_CSV_H_

#include <cerrno>
#include <cstddef>
#include <cstdio>
#include <cstring>
#include <memory>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"
#include "engine/byte_io.h"
#include "engine/extract.h"
#include "engine/pipeline.h"
#include "engine/run_stats.h"
#include "engine/verdict_table.h"
#include "schema/clock.h"
#include "transport/verdict_source.h"

namespace enrich::testing {

// EnrichCsv's options: one column, CSV with a header, FILE* in and out.
struct EnrichOptions {
  engine::ColumnSpec column;
  char delimiter = ',';
  std::string prefix = "ctia_";  // of the added column names
  size_t chunk_size = 1 << 20;   // bytes per pipeline chunk
  size_t threads = 0;            // 0 = all cores
  size_t max_in_flight = 256;    // lookups outstanding at once
  // Names the input in error messages ("events.csv", "<stdin>").
  std::string input_name = "<input>";
};

// A ByteSink over a FILE* it does not own; Finish() flushes.
class FileSink final : public engine::ByteSink {
 public:
  explicit FileSink(std::FILE* file) : file_(file) {}
  absl::Status Write(absl::string_view data) override {
    if (!data.empty() && std::fwrite(data.data(), 1, data.size(), file_) != data.size()) {
      return absl::DataLossError(absl::StrCat("write failed: ", std::strerror(errno)));
    }
    return absl::OkStatus();
  }
  absl::Status Finish() override {
    if (std::fflush(file_) != 0) {
      return absl::DataLossError(absl::StrCat("write failed: ", std::strerror(errno)));
    }
    return absl::OkStatus();
  }
  void Abandon() override {}
  const std::string& name() const override { return name_; }

 private:
  std::FILE* file_;
  std::string name_ = "<output>";
};

// Reads a CSV with a header from `in` and writes it to `out` through RunPipeline (see there
// for the row statuses): the header with the added columns `<prefix>disposition`,
// `<prefix>disposition_name`, `<prefix>judgement_id`, `<prefix>valid_until`, `<prefix>status`
// and every data row, in input order, its original bytes untouched, followed by those columns.
// Each distinct normalized value is looked up once (a fresh verdict table per call). Returns
// what the run counted.
//
// Errors (the run stops): unknown column (message lists the columns), empty input, I/O errors,
// Unauthenticated from the source, the source's checkpoint signal.
inline absl::StatusOr<engine::RunStatsSnapshot> EnrichCsv(std::FILE* in, std::FILE* out,
                                                          const EnrichOptions& options,
                                                          transport::VerdictSource& source) {
  std::unique_ptr<engine::ByteSource> src = engine::SourceFromFile(in, options.input_name);
  FileSink sink(out);
  engine::PipelineOptions p;
  p.columns = {options.column};
  p.delimiter = options.delimiter;
  p.prefix = options.prefix;
  p.chunk_size = options.chunk_size;
  p.threads = options.threads;
  p.max_in_flight = options.max_in_flight;
  p.input_name = options.input_name;
  engine::RunStats stats(schema::SystemClock::Instance());
  p.stats = &stats;
  engine::VerdictTable table(schema::SystemClock::Instance());
  if (absl::Status s = engine::RunPipeline(*src, sink, p, table, source); !s.ok()) return s;
  if (absl::Status s = sink.Finish(); !s.ok()) return s;
  return stats.Snapshot();
}

}  // namespace enrich::testing

#endif  // ENRICH_TESTS_ENGINE_ENRICH_CSV_H_
