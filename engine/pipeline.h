// The enrichment run: RunPipeline reads an input (CSV or NDJSON), looks up each observable once
// through a VerdictSource, and writes every row with its verdict columns, on a TBB pipeline of
// stages read → parse+extract+resolve → await → format → write (engine/internal/*, DESIGN.md).

#ifndef ENRICH_ENGINE_PIPELINE_H_
#define ENRICH_ENGINE_PIPELINE_H_

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/types/span.h"
#include "engine/byte_io.h"
#include "engine/chunk_reader.h"
#include "engine/extract.h"
#include "engine/run_stats.h"
#include "engine/shard.h"
#include "engine/top_hits.h"
#include "engine/verdict_table.h"
#include "schema/allowlist.h"
#include "schema/verdict_details.h"
#include "transport/verdict_source.h"

namespace enrich::engine {

class SetupBreaker;     // engine/setup_breaker.h
class PersistentCache;  // engine/persistent_cache.h

enum class DataFormat { kCsv, kNdjson };

struct PipelineOptions {
  DataFormat input_format = DataFormat::kCsv;
  DataFormat output_format = DataFormat::kCsv;
  // The input format is the input's to say (stdin, a file without a known extension): its
  // first byte that is neither whitespace nor a UTF-8 BOM decides, `{` for NDJSON, anything
  // else (or none) for input_format. The bytes peeked at are read as usual.
  bool detect_input_format = false;
  // With detect_input_format: the output is written in the format detected.
  bool output_format_follows_input = false;
  char delimiter = ',';  // CSV input and output
  // CSV input with a header line. Without one, column names are 1-based numbers and no header
  // is written.
  bool header = true;
  std::vector<ColumnSpec> columns;  // at least one
  std::string prefix = "ctia_";     // of the added column names
  // Columns added after each observable column's five (run --fields, --judgements, --intel
  // both), in this order, named like them (<prefix><name>, <prefix><column>_<name> with
  // several columns):
  //  - `fields`, in the order given: the deciding judgement's source, source_uri, reason,
  //    severity, confidence, priority, tlp (empty/null when the source did not give them), the
  //    observable_type and observable_value looked up (empty/null for a cell without lookup);
  //  - `judgements` > 0: `judgements`, the first N of the observable's judgements, in CSV
  //    `source:disposition_name` joined by `;`, in NDJSON an array of {source,
  //    disposition_name, id};
  //  - `intel_column`: `intel`, the intel whose verdict decided (private or global);
  //  - `both_intel_columns` (--merge both): private_disposition, private_disposition_name,
  //    private_judgement_id, private_valid_until, then the same with global_: each intel's own
  //    verdict (empty/null when it had none).
  // The verdict table and the journal keep only what these columns need (DetailsSpec).
  std::vector<DetailField> fields;
  size_t judgements = 0;
  bool intel_column = false;
  bool both_intel_columns = false;
  size_t chunk_size = 1 << 20;      // bytes per chunk (a longer record makes a longer chunk)
  size_t threads = 0;               // TBB threads; 0 = all cores
  size_t max_live_chunks = 0;       // chunks in the pipeline at once; 0 = 2 × threads + 2
  size_t max_in_flight = 256;       // lookups sent to the source at once
  bool strict = false;              // stop at the first malformed row
  // A record (CSV record, quoted line ends included, or NDJSON line; without its line end)
  // longer than this many bytes stops the run with its file:line: most often a quote never
  // closed, which would make the rest of the input one record held in memory.
  size_t max_record_bytes = ChunkReader::kDefaultMaxRecordSize;
  const schema::Allowlist* allowlist = nullptr;  // may be null
  std::string input_name = "<input>";            // in error messages
  // --shard K/N: only the records that start in the input's K-th of N byte ranges
  // (engine/shard.h); the CSV header (and a CSV output's header line) is read by every shard,
  // written by shard 0 alone. The input must be an uncompressed regular file (a usage error
  // otherwise). The bytes before the range are not counted as read (RunCounter::kBytesRead).
  // Unset: the whole input.
  std::optional<Shard> shard;
  // Set (e.g. by a signal handler) to stop: the run ends with Cancelled, its journal intact.
  const std::atomic<bool>* stop_requested = nullptr;
  // Told of the lookups the source settled (not of cache hits), those the settle thread settles
  // together in one call (e.g. one journal write for them all), from the pipeline's settle
  // thread, before the rows that wait for them are released. `error_text` is "error:<code>" on
  // failure, else empty. Used to journal settled lookups. May be empty.
  struct SettledLookup {
    const schema::Observable* observable;
    const absl::StatusOr<schema::VerdictResult>* result;
    absl::string_view error_text;
    absl::string_view details = {};  // a verdict's details the run keeps (EncodeDetails), or empty
  };
  std::function<void(absl::Span<const SettledLookup>)> on_lookups_settled;
  // --cache DIR: the lookups the verdict table misses are read there first (one read
  // transaction per batch of misses) and the records found settle them with no request
  // (counted as RunCounter::kCacheStoreHits / kCacheStoreMisses). Only read here: the job
  // writes the settled lookups back through on_lookups_settled. May be null.
  PersistentCache* cache = nullptr;
  // The run's circuit breaker (engine/setup_breaker.h), fed every answer as it comes; when it
  // trips, its error stops the run at once, as rejected credentials do. May be null.
  SetupBreaker* setup_breaker = nullptr;
  // The run's ledger: everything it counts (rows, blank lines, cells, bytes, unique observables,
  // cache hits, joined resolves, lookups sent/settled, statuses, lookup latency), live, for the
  // progress line and the summaries. May be null: the run then counts into a RunStats of its
  // own (on the system clock), which it discards. Must outlive the run.
  RunStats* stats = nullptr;
  // Hits (--hit-dispositions): a row is a hit when any of its observable columns has a verdict
  // with one of these dispositions. Hit rows are counted per observable into the stats
  // (RunStats::CountHits, the summaries' top hits). Empty = none counted, at no cost.
  DispositionSet hit_dispositions = 0;
  // --hits: a second output that gets the hit rows alone, in input order, exactly as `out`
  // gets them (same added columns and format; the CSV header too). May be null; needs
  // hit_dispositions. The caller finishes or abandons it with `out`.
  ByteSink* hits = nullptr;
};

// Enriches `in` into `out` (which the caller finishes or abandons) on a oneTBB parallel
// pipeline:
//   read chunks (serial, in order, record boundaries) → parse + extract, each new unique
//   observable resolved against `table` as soon as it is found, misses to the lookup queue at
//   once (parallel) → await the chunk's lookups, the TBB task suspended (tbb::task::suspend),
//   its thread free for other chunks → format (parallel) → write (serial, in order).
// At most `max_live_chunks` chunks exist; lookups beyond `max_in_flight` wait in a queue whose
// length is bounded by the live chunks' unique observables, so a slow source stalls the reader
// (backpressure) and memory does not grow with the number of rows.
//
// Every row comes out once, in order: CSV rows as their exact bytes plus the added columns,
// NDJSON objects with the added fields inserted before the closing brace (other bytes kept).
// An NDJSON line that is empty or only spaces, tabs and CRs is not a row (NDJSON readers skip
// such lines): it gets no status, is not malformed under --strict either, is written unchanged
// to NDJSON output (left out of CSV output, where it would be a ragged row), and is counted as
// RunCounter::kBlankLines.
// Counts go to `options.stats` as the run goes: RunStats::CountStatus counts cells (row ×
// observable column) per status; with one column that is rows per status.
// Statuses: ok, no_verdict, skipped (empty or allowlisted), invalid (not an observable of the
// column's type; no request), invalid_row (malformed CSV record, wrong field count, a line that
// is not a JSON object or holds a member of a column's path twice), error:<code>. An NDJSON
// invalid_row line is written unchanged when the output is NDJSON (there is no object to add
// fields to); CSV output gets the line in its `json` column and the statuses.
//
// Errors (the run stops; rows written so far are not complete): unknown column (a usage error,
// IsUsageError), empty CSV input
// with a header expected, a CSV header line that is malformed or not UTF-8 ("file:line:
// malformed header line: ..."), I/O errors, --strict and a malformed row ("file:line: ..."),
// Unauthenticated from the source, the source's checkpoint signal (the status carries
// transport::CheckpointWait) and `stop_requested` (Cancelled). Lookups settled before the stop
// were reported to `on_lookups_settled`.
absl::Status RunPipeline(ByteSource& in, ByteSink& out, const PipelineOptions& options,
                         VerdictTable& table, transport::VerdictSource& source);

// What the options decide alone, before any input is read (RunPipeline checks it too): at least
// one column, and with a CSV input without a header, columns given by number (1 = first).
// Its errors are usage errors.
absl::Status CheckPipelineOptions(const PipelineOptions& options);

// What the verdict table and the journal keep of each verdict for `options`' added columns.
DetailsSpec DetailsSpecOf(const PipelineOptions& options);

// Options that contradict each other or the input's header (a column the header lacks or names
// twice, a header that already has the added columns, --no-header with a column name): the
// command line must change, not the run be retried. InvalidArgument, marked so that
// IsUsageError tells it from bad input (`ctia-enrich run` exits 2 for these, 1 for the rest).
absl::Status UsageError(absl::string_view message);
bool IsUsageError(const absl::Status& status);

}  // namespace enrich::engine

#endif  // ENRICH_ENGINE_PIPELINE_H_
