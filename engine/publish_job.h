#ifndef ENRICH_ENGINE_PUBLISH_JOB_H_
#define ENRICH_ENGINE_PUBLISH_JOB_H_

// `ctia-enrich publish`: creates judgements in CTIA (Private-Intel) from the rows of a CSV or
// NDJSON file. Reads the rows in order (publish_io.h), checks each one locally
// (publish_row.h), sends the valid ones in POST /ctia/bulk requests of at most `bulk_size`
// through transport::CtiaPublisher (the client's budgets, limiter and retries), keeps a
// journal (publish_journal.h) and writes every row with its judgement id and status.
//
// Idempotence: each row carries a stable external id (its external_id column, else derived
// from its content, DeriveExternalId). The journal records the ids of each bulk before it is
// sent and the judgement ids its answer created; a run that --resumes the journal sends no row
// the journal has as created (status `exists`), and looks up by external id
// (GET /ctia/judgement/external_id/{xid}, one request each) only the rows that were in flight
// when an earlier run stopped: CTIA may or may not have created those. The journal stays after
// a finished run, so publishing the same file again with --resume creates nothing and sends
// nothing. `check_existing` looks up every row the journal does not know (a lost journal, or
// rows another host published), at one request per row.

#include "engine/byte_io.h"
#include "engine/publish_io.h"
#include "engine/publish_row.h"
#include "transport/ctia_publisher.h"

#include <cstdint>
#include <memory>
#include <string>

#include "absl/status/statusor.h"

namespace enrich::engine {

// CTIA's limit of entities in one POST /ctia/bulk (reference §6.1).
inline constexpr int kMaxPublishBulk = 2000;

struct PublishOptions {
  PublishInputOptions input;
  // Values for every row (the --source, --confidence ... flags); a row's own non-empty cell
  // wins over them.
  PublishValues defaults;
  std::string output;  // "" = no result file; "-" = stdout
  Compression output_compression = Compression::kAuto;
  std::string journal;  // "" = <input>.publish-journal, or <output>.journal for stdin
  int bulk_size = kMaxPublishBulk;  // 1..kMaxPublishBulk
  bool dry_run = false;
  bool resume = false;
  bool check_existing = false;
  int max_messages = 20;  // invalid-row messages printed; the rest are counted
};

struct PublishCounts {
  uint64_t rows = 0;
  uint64_t valid = 0;
  uint64_t invalid = 0;
  uint64_t created = 0;
  uint64_t exists = 0;
  uint64_t failed = 0;
  uint64_t bulk_requests = 0;
  uint64_t lookups = 0;
};

struct PublishResult {
  int exit_code = 0;  // engine/exit_codes.h: 0, 1, 2, 3 (rows failed on the server), 75
  PublishCounts counts;
};

class PublishJob {
 public:
  // Checks the options and opens the input (header read, columns checked). Usage errors
  // (IsUsageError): bulk size out of range, a --map column the input lacks, a journal that
  // exists without `resume`. Other errors name the file.
  static absl::StatusOr<std::unique_ptr<PublishJob>> Open(PublishOptions options);
  ~PublishJob();

  // The journal path in use ("" = none: the input is stdin and there is no result file).
  const std::string& journal_path() const { return journal_path_; }

  // Publishes (or, with dry_run, only checks and counts: `publisher` may be null). Installs
  // the SIGINT/SIGTERM handlers: a stop between bulks checkpoints (exit 75), as does the
  // transport's CheckpointSignal. Prints the invalid rows (file:line: field: why, up to
  // max_messages) and the summary on stderr.
  PublishResult Run(transport::CtiaPublisher* publisher);

 private:
  class Runner;
  PublishJob(PublishOptions options, std::unique_ptr<PublishReader> reader,
             std::string journal_path);
  PublishOptions options_;
  std::unique_ptr<PublishReader> reader_;
  std::string journal_path_;
};

}  // namespace enrich::engine

#endif  // ENRICH_ENGINE_PUBLISH_JOB_H_
