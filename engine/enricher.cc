#include "engine/enricher.h"

#include <cerrno>
#include <cstring>

#include "absl/strings/str_cat.h"
#include "engine/byte_io.h"
#include "engine/verdict_table.h"
#include "schema/clock.h"

namespace enrich::engine {
namespace {

// A ByteSink over a FILE* it does not own; Finish() flushes.
class FileSink final : public ByteSink {
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

}  // namespace

absl::StatusOr<EnrichSummary> EnrichCsv(std::FILE* in, std::FILE* out,
                                        const EnrichOptions& options,
                                        transport::VerdictSource& source) {
  std::unique_ptr<ByteSource> src = SourceFromFile(in, options.input_name);
  FileSink sink(out);
  PipelineOptions p;
  p.columns = {options.column};
  p.delimiter = options.delimiter;
  p.prefix = options.prefix;
  p.chunk_size = options.chunk_size;
  p.threads = options.threads;
  p.max_in_flight = options.max_in_flight;
  p.input_name = options.input_name;
  VerdictTable table(schema::SystemClock::Instance());
  absl::StatusOr<EnrichSummary> summary = RunPipeline(*src, sink, p, table, source);
  if (!summary.ok()) return summary;
  if (absl::Status s = sink.Finish(); !s.ok()) return s;
  return summary;
}

std::string FormatSummary(const EnrichSummary& s) {
  std::string out = absl::StrCat("rows:               ", s.rows, "\n",
                                 "unique observables: ", s.unique_observables, "\n",
                                 "lookups:            ", s.lookups, "\n",
                                 "cache hits:         ", s.cache_hits, "\n", "statuses:\n");
  for (const auto& [status, count] : s.statuses) {
    absl::StrAppend(&out, "  ", status, ": ", count, "\n");
  }
  char secs[96];
  std::snprintf(secs, sizeof secs, "%.2f (%.0f rows/s); lookup latency p50 %.1f ms, p99 %.1f ms",
                s.seconds, s.seconds > 0 ? static_cast<double>(s.rows) / s.seconds : 0.0,
                s.latency_p50_ms, s.latency_p99_ms);
  absl::StrAppend(&out, "seconds:            ", secs, "\n");
  return out;
}

}  // namespace enrich::engine
