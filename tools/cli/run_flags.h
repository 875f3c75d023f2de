#ifndef ENRICH_TOOLS_CLI_RUN_FLAGS_H_
#define ENRICH_TOOLS_CLI_RUN_FLAGS_H_

// The flags of `ctia-enrich run` and their translation into an engine::JobOptions: the only
// place that knows both the command line and the engine's options (run_command.cc runs them).

#include "engine/chunk_reader.h"
#include "engine/job.h"
#include "tools/cli/ctia_stack.h"

#include <cstdint>
#include <string>
#include <vector>

#include "CLI/CLI.hpp"
#include "absl/status/statusor.h"

namespace enrich::cli {

// Flags of `ctia-enrich run`.
struct RunFlags {
  std::string input;
  std::string output;
  std::vector<std::string> columns;  // NAME[:TYPE|auto], repeatable
  std::string input_format;          // csv | ndjson; empty = by the input's extension
  std::string output_format;         // csv | ndjson; empty = by the output's extension, else input's
  std::string delimiter = ",";       // , \t (or "tab") ; |
  bool no_header = false;
  std::string compression = "auto";  // input and output: auto | none | gzip | zstd
  std::string output_compression;    // overrides `compression` for the output; empty = same
  std::string allowlist;             // optional path
  int threads = 0;                   // 0 = all cores
  size_t chunk_size = 1 << 20;
  // 1 .. kMaxRecordBytesLimit
  int64_t max_record_bytes = engine::ChunkReader::kDefaultMaxRecordSize;
  bool strict = false;
  bool resume = false;
  std::string journal;               // default <output>.journal (none for stdout)
  std::string shard;                 // --shard K/N; empty = the whole input
  std::string summary_json;          // optional path
  std::string prometheus;            // optional path (node_exporter textfile)
  std::string report;                // optional path (HTML page)
  std::string hits;                  // optional path: the hit rows alone
  std::string hit_dispositions = "Malicious,Suspicious";
  int top_hits = 10;                 // per hit disposition in the summaries; 0 = none
  double max_cache_ttl_seconds = 86400;
  std::string cache;                  // --cache DIR; empty = none
  double negative_ttl_seconds = 3600;  // --negative-ttl: "no verdict" kept in --cache; 0 = never
  std::string cache_damaged = "skip";  // --cache-damaged: skip | fail
  double max_error_rate = 0;          // 0..1; see engine::JobOptions::max_error_rate
  double stop_timeout_seconds = 5;
  std::string prefix = "ctia_";
  std::string fields;   // --fields: comma-separated engine::DetailField names, or all
  int judgements = 0;   // --judgements N: the first N of each observable's judgements
  std::string redis;            // --redis URL: the shared cache of several workers; "" = none
  bool redis_optional = false;  // --redis-optional: Redis unreachable at start → run alone
  CtiaFlags ctia;
};

// The largest --judgements.
inline constexpr int kMaxJudgements = 1000;

// The largest --max-record-bytes (1 GiB): a record is held whole in memory, and the pipeline's
// offsets within a chunk are 32-bit.
inline constexpr int64_t kMaxRecordBytesLimit = int64_t{1} << 30;

// --compression / --output-compression values (auto, none, gzip|gz, zstd|zst) and --delimiter
// values (, ; | tab); errors name `flag` (InvalidArgument). Shared with `publish`.
absl::StatusOr<engine::Compression> ParseCompression(absl::string_view flag,
                                                     absl::string_view value);
absl::StatusOr<char> ParseDelimiter(absl::string_view value);

// Registers `run` on `app`; the callback stores the flags.
CLI::App* AddRunCommand(CLI::App& app, RunFlags& flags);

// Registers run's flags on `cmd` (`run`, and `plan`, which must read a command line as run
// does); -o/--output is required when `output_required`.
void AddRunFlags(CLI::App& cmd, RunFlags& flags, bool output_required);

// The job the flags describe. Reads no file: the job checks the files (engine::Job::Open).
// Errors (InvalidArgument, exit code 2) name the flag: a bad column spec, one given twice or of
// an observable type this build does not know, an unknown format, compression or delimiter,
// --max-record-bytes, --max-error-rate or --stop-timeout out of range, an unknown
// --hit-dispositions name, a negative --top-hits, a --shard that is not K/N with K < N.
absl::StatusOr<engine::JobOptions> JobOptionsFromFlags(const RunFlags& flags);

// The CTIA flags of `run` with what its --fields and --judgements ask of each lookup
// (CtiaFlags::details): the deciding judgement when a judgement field is asked (not for
// observable_type / observable_value alone, which need no request), the first N judgements.
// Call after JobOptionsFromFlags accepted the flags.
CtiaFlags CtiaFlagsForRun(const RunFlags& flags);

}  // namespace enrich::cli

#endif  // ENRICH_TOOLS_CLI_RUN_FLAGS_H_
