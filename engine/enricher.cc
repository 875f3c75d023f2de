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

absl::StatusOr<RunStatsSnapshot> EnrichCsv(std::FILE* in, std::FILE* out,
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
  RunStats stats(schema::SystemClock::Instance());
  p.stats = &stats;
  VerdictTable table(schema::SystemClock::Instance());
  if (absl::Status s = RunPipeline(*src, sink, p, table, source); !s.ok()) return s;
  if (absl::Status s = sink.Finish(); !s.ok()) return s;
  return stats.Snapshot();
}

}  // namespace enrich::engine
