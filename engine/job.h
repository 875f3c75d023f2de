#ifndef ENRICH_ENGINE_JOB_H_
#define ENRICH_ENGINE_JOB_H_

// One enrichment run as an object: input file → pipeline (engine/pipeline.h) → output file,
// with the journal of settled lookups, stop signals, progress and statistics around it. The
// CLI (tools/cli/run_command.cc) fills JobOptions from its flags and hands in the verdict source.

#include <atomic>
#include <cstdint>
#include <deque>
#include <functional>
#include <iosfwd>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "absl/types/span.h"
#include "engine/byte_io.h"
#include "engine/journal.h"
#include "engine/persistent_cache.h"
#include "engine/pipeline.h"
#include "engine/request_series.h"
#include "engine/run_stats.h"
#include "engine/setup_breaker.h"
#include "engine/signals.h"
#include "engine/verdict_table.h"
#include "schema/allowlist.h"
#include "schema/clock.h"
#include "transport/client_counters.h"
#include "transport/verdict_source.h"

namespace enrich::engine {

// Opens the input (OpenSource's contract) and the output (OpenSink's). Tests pass wrappers that
// fail the n-th operation (tests/fakes/faulty_byte_io.h).
using SourceOpener = std::function<absl::StatusOr<std::unique_ptr<ByteSource>>(
    const std::string& path, Compression compression)>;
using SinkOpener = std::function<absl::StatusOr<std::unique_ptr<ByteSink>>(
    const std::string& path, Compression compression)>;

// What a job does, checked by the caller for syntax (the CLI parses its flags into it); the job
// checks the rest (files, the pipeline options) in Open().
struct JobOptions {
  std::string input;   // path; "-" = stdin
  std::string output;  // path; "-" = stdout. A regular file is written to a temp file and renamed
  Compression input_compression = Compression::kAuto;
  Compression output_compression = Compression::kAuto;
  // The --compression value as given ("gz"), quoted when the input contradicts it.
  std::string compression_flag = "auto";
  // Formats, columns, threads, chunk sizes, ... `allowlist`, `stop_requested`, `stats`,
  // `on_lookups_settled` and `setup_breaker` are set by the job; `input_name` too ("<stdin>" for
  // "-").
  PipelineOptions pipeline;
  std::string allowlist;  // path of an allowlist file; empty = none
  // The run's identity in the journal (RunFingerprint): the columns as given, joined by ",",
  // and the CTIA endpoint.
  std::string column_specs;
  std::string endpoint;
  std::string journal;  // empty = <output>.journal, or none for an output written in place
  // Reload the journal's settled lookups instead of requiring none; with no journal there the
  // run starts fresh (one command line serves the first run and every rerun).
  bool resume = false;
  absl::Duration max_cache_ttl = absl::Hours(24);
  // --cache DIR (engine/persistent_cache.h): settled lookups kept across runs, read for the
  // table's misses and written as they settle; empty = none. Its answers are those of
  // `endpoint`, `cache_intel` and the details the columns keep; verdicts kept until their
  // valid_time.end_time capped by max_cache_ttl, "no verdict" for cache_negative_ttl (zero:
  // not kept). A damaged cache is said and the run goes on without it, or with
  // cache_damaged_fail stops before any lookup (a usage error: exit 2).
  std::string cache_dir;
  std::string cache_intel;
  absl::Duration cache_negative_ttl = absl::Hours(1);
  bool cache_damaged_fail = false;
  // Also write the summary as JSON / a Prometheus textfile here; empty = no. Written on every
  // end after the run started (done, error rows, failed, checkpointed), with the outcome.
  std::string summary_json;
  std::string prometheus;
  // Also write the run's report as one HTML page here (engine/run_report.h), at the same ends
  // as summary_json; empty = no.
  std::string report;
  // A second output with the hit rows alone (pipeline.hit_dispositions says which), written as
  // `output` is: a temp file renamed at the end, abandoned with the output (never a partial
  // file under its name), rewritten whole by a resumed run; compressed as output_compression
  // says (`auto`: by its own extension). Empty = none.
  std::string hits;
  // Observables per hit disposition in the summaries' top hits (counted when
  // pipeline.hit_dispositions is not empty); 0 = none.
  size_t top_hits = 10;
  // Share (0..1) of status cells (rows, with one column) that may end with `error:<code>` for
  // the run to end kDone; more ends kErrorRows. A run whose lookups all failed ends kErrorRows
  // whatever the share.
  double max_error_rate = 0;
  // After a stop request (RequestStop, SIGINT/SIGTERM): no new lookup is sent, and the run
  // waits this long at most for the answers in flight before it checkpoints without them.
  absl::Duration stop_timeout = absl::Seconds(5);
  // The circuit breaker (engine/setup_breaker.h): when this many first answered lookups all fail
  // with the same setup failure (HTML 404 on the verdict route, connection refused, host not
  // resolved, certificate not verified), the run stops at once: outcome failed, exit 1, the
  // journal kept. 0 = off.
  size_t setup_breaker_lookups = SetupBreaker::kDefaultLookups;
  // Where the job's messages, progress and summary go (stderr in the CLI); must outlive the job.
  std::ostream* log = nullptr;  // null = std::cerr
  bool progress_tty = false;    // redraw one progress line in place (stderr is a terminal)
  bool handle_stop_signals = true;  // SIGINT/SIGTERM checkpoint the run (engine/signals.h)
  SourceOpener open_source;  // null = OpenSource
  SinkOpener open_sink;      // null = OpenSink
};

// How a job ended, and the process exit code it maps to (engine/exit_codes.h).
enum class JobOutcome {
  kDone,          // output complete and renamed into place (kExitDone)
  kFailed,        // kExitFailed: I/O error, bad input under --strict, rejected credentials, ...
  kUsage,         // kExitUsage: options that contradict the input (a column it lacks, ...)
  kCheckpointed,  // kExitCheckpointed: SIGINT/SIGTERM or a rate-limit wait; --resume continues
  kErrorRows,     // kExitErrorRows: output complete, more error rows than max_error_rate allows
};

// "done", "failed", "usage", "checkpointed", "error_rows": the outcome in the statistics files.
const char* JobOutcomeName(JobOutcome outcome);

// True when the run's `error:<code>` statuses are more than `max_error_rate` of its statuses,
// or when it has error statuses and no lookup answered (ok or no_verdict): every lookup failed.
bool TooManyErrorRows(const RunStatsSnapshot& stats, double max_error_rate);

struct JobResult {
  JobOutcome outcome = JobOutcome::kFailed;
  // OK when done; otherwise what stopped the run (the pipeline's, the sink's or a statistics
  // file's error, naming the file and the operation).
  absl::Status status;
  RunStatsSnapshot stats;  // the run's counters at its end
  int exit_code = 1;
};

// True for an output written in place rather than to a temp file renamed at the end (OpenSink):
// stdout, or an existing device or pipe such as /dev/null. Such an output has no journal.
bool WrittenInPlace(const std::string& output);

// The journal a job of `options` keeps and resumes from: --journal, else <output>.journal for an
// output written to a file; empty for none (stdout, a device or a pipe, or no output given).
std::string JournalPathFor(const JobOptions& options);

// The journal identity (RunFingerprint) of a job of `options` over an input of `input_size`
// bytes: the input (with its shard, "<path> shard=K/N"), its columns and the details they
// write, the endpoint.
std::string JobFingerprint(const JobOptions& options, uint64_t input_size);

// The persistent cache of a job of `options` (cache_dir), opened: null without one, or when it
// is damaged and not cache_damaged_fail (`say` is told why, once, with "going on without the
// cache"); a usage error when damaged and cache_damaged_fail; other errors (DIR unusable)
// as they are. With `existing_only` (plan), a DIR without a cache is none, and nothing is
// created. Defined in job_files.cc.
absl::StatusOr<std::unique_ptr<PersistentCache>> OpenJobCache(
    const JobOptions& options, const std::function<void(absl::string_view)>& say,
    bool existing_only);

// The allowlist file at `path`, parsed; its errors are usage errors.
absl::StatusOr<schema::Allowlist> ReadAllowlist(const std::string& path);

// Opens `options.input` as a job does (options.open_source, else OpenSource): an unreadable
// input is an error naming it; data that contradicts an explicit --compression is a usage error.
absl::StatusOr<std::unique_ptr<ByteSource>> OpenJobInput(const JobOptions& options);

// Reloads a journal's settled lookups into a verdict table as a resumed job does (expiry
// counted from each lookup's settle time): the handler of Journal::Open's or Journal::Read's
// batches. Not thread-safe; the table must outlive it.
// Verdicts journaled without the details `details` keeps (a run with other --fields) are not
// reloaded (looked up again) and counted.
class JournalReload {
 public:
  JournalReload(VerdictTable& table, DetailsSpec details);
  void Restore(absl::Span<const JournalRecordView> batch);
  uint64_t without_details() const { return without_details_; }

 private:
  VerdictTable& table_;
  const DetailsSpec details_;
  const std::string details_header_;
  uint64_t without_details_ = 0;
  std::vector<VerdictTable::Restored> restored_;  // buffers reused from batch to batch
  std::deque<std::string> errors_;                // "error:<code>"; a deque keeps views valid
};

// The exit code of a job that failed with `status` before or after its pipeline ran: kExitDone
// for OK, kExitUsage for a usage error (IsUsageError), kExitFailed otherwise.
int JobExitCode(const absl::Status& status);

// One run, in three steps, so that the caller can start its verdict source between them (the
// CLI starts its CTIA stack after Open(), and on --resume while OpenJournal() reloads):
//   Open()        checks the options and the output path, reads the allowlist, opens the input;
//                 nothing is created and nothing sent.
//   OpenJournal() creates the journal, or (resume) reloads its settled lookups into the verdict
//                 table; prints the resume notes.
//   Run()         removes stale temp outputs, opens the output, runs the pipeline with the
//                 settled lookups journaled, and ends with the output renamed into place and
//                 the journal removed, or with the output abandoned (never a partial file under
//                 the final name) and the journal kept for --resume.
// Errors of Open() and OpenJournal() are returned, not printed (the message is whole, for
// "ctia-enrich: <message>"); usage errors are marked (IsUsageError, JobExitCode). Run() prints
// its own ending (checkpoint hints, the summary) to the log and returns it as a JobResult; once
// its pipeline started, every end (done, error rows, failed, checkpointed) also writes the
// statistics files (summary_json, prometheus) with the outcome and the exit code.
//
// Thread safety: the steps are called from one thread, in order; RequestStop() from any thread.
class Job {
 public:
  static absl::StatusOr<std::unique_ptr<Job>> Open(JobOptions options);
  ~Job();
  Job(const Job&) = delete;
  Job& operator=(const Job&) = delete;

  // Once, after Open(). Errors: a journal that exists without --resume, or belongs to another
  // endpoint (usage errors), or cannot be read or created.
  absl::Status OpenJournal();

  // Once, after Open() and before the verdict source starts: opens --cache DIR (OpenJobCache;
  // none without it). Errors: a damaged DIR with cache_damaged_fail (a usage error), a DIR
  // that cannot be used. Run() calls it first if it was not called.
  absl::Status OpenCache();

  // Runs the job against `source` (which must outlive the call); calls OpenJournal() first if
  // it was not called. `stop_source`, if set, is called once the pipeline has ended, before the
  // statistics are final: it stops the source and returns the transport's cumulative counters
  // (retries, 429s) for the summary. `live_counters`, if set, is read while the run goes (from
  // the progress thread): its requests are the report's quota use over time (else the lookups
  // sent are). Call once.
  JobResult Run(transport::VerdictSource& source,
                const std::function<transport::CtiaClientCounters()>& stop_source = nullptr,
                std::function<transport::CtiaClientCounters()> live_counters = nullptr);

  // Stops the run as SIGINT does: no new lookup is sent (those the source holds unsent end
  // Cancelled: VerdictSource::StopSending), the answers on the wire are awaited (at
  // most options.stop_timeout: then, with handle_stop_signals, the process ends with
  // kExitCheckpointed, statistics written and journal synced), and the run ends checkpointed,
  // its journal intact. "stopping…" is logged once the stop is seen (within 50 ms).
  void RequestStop() { stop_.store(true); }

  // Raw size of the input when it is a regular file.
  std::optional<uint64_t> input_size() const { return source_->raw_size(); }
  // The journal's path; empty for an output written in place (no journal).
  const std::string& journal_path() const { return journal_path_; }

 private:
  explicit Job(JobOptions options);
  absl::Status OpenInput();
  // Journals settled lookups, but not those a stop cancelled nor setup failures (their rows
  // say nothing of the observable): resume asks them again.
  void JournalSettled(absl::Span<const PipelineOptions::SettledLookup> settled);
  // Hooks the opened cache (if any) into the pipeline's options: read for the table's misses,
  // written as lookups settle (after the journal, whose hook OpenJournal() sets).
  void HookCache();
  absl::Status RunPipelineWithSignals(ByteSink& sink, transport::VerdictSource& source,
                                      const std::function<transport::CtiaClientCounters()>& stop);
  // Opens the --hits output (after removing a killed run's temp file); null without --hits.
  absl::StatusOr<std::unique_ptr<ByteSink>> OpenHits();
  JobResult EndFailed(const absl::Status& status);
  JobResult EndDone(ByteSink& sink, ByteSink* hits);
  // The statistics now, with the top hits.
  RunStatsSnapshot FinalSnapshot() const;
  JobResult Result(JobOutcome outcome, absl::Status status) const;
  // Result(), with the statistics files written once the run started; a done run whose files
  // cannot be written fails.
  JobResult Finish(JobOutcome outcome, absl::Status status);
  absl::Status WriteStatistics(JobOutcome outcome, int exit_code, const absl::Status& failure,
                               const RunStatsSnapshot& snapshot) const;
  // The stop timeout expired with answers still in flight: syncs the journal, writes the
  // statistics and ends the process with kExitCheckpointed.
  [[noreturn]] void CheckpointNow();
  void Say(const std::string& line) const;

  JobOptions options_;
  std::ostream& log_;
  const bool in_place_;  // the output is stdout, a device or a pipe: no temp file, no journal
  std::string journal_path_;
  std::optional<schema::Allowlist> allowlist_;
  std::unique_ptr<ByteSource> source_;
  VerdictTable table_;
  std::unique_ptr<Journal> journal_;
  bool journal_opened_ = false;
  std::unique_ptr<PersistentCache> cache_;  // --cache DIR; null without one
  bool cache_opened_ = false;
  JournalReload reload_{table_, DetailsSpecOf(options_.pipeline)};  // on the Open thread only
  std::atomic<bool> stop_{false};
  // Kept to the job's end, so a signal during the summary is still a stop request.
  std::unique_ptr<ScopedStopSignals> signals_;
  std::unique_ptr<RunStats> stats_;  // made when the pipeline starts: the run's clock starts then
  RequestSeries requests_;           // quota use over time, for the report
  std::function<transport::CtiaClientCounters()> live_counters_;
  SetupBreaker breaker_;
};

}  // namespace enrich::engine

#endif  // ENRICH_ENGINE_JOB_H_
