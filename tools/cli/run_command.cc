#include "tools/cli/run_command.h"

#include "engine/byte_io.h"
#include "engine/exit_codes.h"
#include "engine/journal.h"
#include "engine/pipeline.h"
#include "engine/progress.h"
#include "engine/run_stats.h"
#include "engine/signals.h"
#include "engine/verdict_table.h"
#include "schema/allowlist.h"
#include "schema/clock.h"
#include "schema/observable.h"
#include "schema/time_format.h"
#include "tools/cli/ctia_stack.h"

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <deque>
#include <filesystem>
#include <fstream>
#include <future>
#include <iostream>
#include <memory>
#include <optional>
#include <sstream>
#include <thread>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/strip.h"
#include "absl/synchronization/notification.h"
#include "absl/time/time.h"
#include <sys/stat.h>
#include <unistd.h>

namespace enrich::cli {
namespace {

void Fail(absl::string_view message) {
  std::fprintf(stderr, "ctia-enrich: %.*s\n", static_cast<int>(message.size()), message.data());
}

// "ndjson" for *.ndjson / *.jsonl, "csv" for *.csv / *.tsv (optionally .gz / .zst), else
// nullopt.
std::optional<std::string> FormatByExtension(absl::string_view path) {
  for (absl::string_view z : {".gz", ".zst"}) {
    if (absl::EndsWith(path, z)) path.remove_suffix(z.size());
  }
  if (absl::EndsWith(path, ".ndjson") || absl::EndsWith(path, ".jsonl")) return "ndjson";
  if (absl::EndsWith(path, ".csv") || absl::EndsWith(path, ".tsv")) return "csv";
  return std::nullopt;
}

absl::StatusOr<engine::DataFormat> ParseFormat(absl::string_view flag, absl::string_view value) {
  if (value == "csv") return engine::DataFormat::kCsv;
  if (value == "ndjson") return engine::DataFormat::kNdjson;
  return absl::InvalidArgumentError(
      absl::StrCat(flag, " \"", value, "\": expected csv or ndjson"));
}

absl::StatusOr<engine::Compression> ParseCompression(absl::string_view flag,
                                                     absl::string_view value) {
  if (value == "auto") return engine::Compression::kAuto;
  if (value == "none") return engine::Compression::kNone;
  if (value == "gzip" || value == "gz") return engine::Compression::kGzip;
  if (value == "zstd" || value == "zst") return engine::Compression::kZstd;
  return absl::InvalidArgumentError(
      absl::StrCat(flag, " \"", value, "\": expected auto, none, gzip or zstd"));
}

absl::StatusOr<char> ParseDelimiter(absl::string_view value) {
  if (value == "\\t" || value == "tab" || value == "\t") return '\t';
  if (value == "," || value == ";" || value == "|") return value[0];
  return absl::InvalidArgumentError(
      absl::StrCat("--delimiter \"", value, "\": expected one of , ; | tab"));
}

// About the size of a journal record with a verdict (the largest kind, ~170 bytes; "no
// verdict" ~55): a resume reserves the verdict table's room for the journal's size over this,
// a lower bound of its entries, so the reserve never outgrows what the entries need.
constexpr size_t kJournalBytesPerEntry = 160;

// Restores a batch of journaled lookups into the verdict table, their strings not copied
// but into the table's arena.
void RestoreBatch(engine::VerdictTable& table, absl::Span<const engine::JournalRecordView> batch) {
  thread_local std::vector<engine::VerdictTable::Restored> items;
  thread_local std::deque<std::string> errors;  // "error:<code>", for the batch's failures
  items.clear();
  errors.clear();
  for (const engine::JournalRecordView& e : batch) {
    engine::VerdictTable::Restored& r =
        items.emplace_back(engine::VerdictTable::Restored{e.type, e.value, {}, e.valid_end,
                                                          e.settled_at});
    switch (e.kind) {
      case engine::JournalRecordView::Kind::kVerdict:
        r.settled.kind = engine::Settled::Kind::kVerdict;
        r.settled.disposition = static_cast<int8_t>(e.disposition);
        r.settled.judgement_id = e.judgement_id;
        break;
      case engine::JournalRecordView::Kind::kNoVerdict:
        r.settled.kind = engine::Settled::Kind::kNoVerdict;
        break;
      case engine::JournalRecordView::Kind::kError:
        r.settled.kind = engine::Settled::Kind::kFailed;
        r.settled.error = errors.emplace_back(absl::StrCat("error:", e.error_code));
        break;
    }
  }
  table.RestoreBatch(items);
}

// resume: the transport's text of the signal is "checkpoint: <why>; resume after <wait>"
// (transport/verdict_source.h), and a 429's why also holds "(retry after <wait>)"
// (StatusFromHttp).
std::string CheckpointCause(absl::string_view message) {
  absl::ConsumePrefix(&message, "checkpoint: ");
  if (size_t at = message.rfind("; resume after "); at != absl::string_view::npos) {
    message = message.substr(0, at);
  }
  std::string cause(message);
  if (size_t open = cause.find(" (retry after "); open != std::string::npos) {
    if (size_t close = cause.find(')', open); close != std::string::npos) {
      cause.erase(open, close + 1 - open);
    }
  }
  return cause;
}

// True for an output written in place rather than to a temp file renamed at the end (OpenSink):
// stdout, or an existing device or pipe such as /dev/null. Such an output has no journal.
bool WrittenInPlace(const std::string& output) {
  struct stat st;
  return output == "-" ||
         (stat(output.c_str(), &st) == 0 && !S_ISREG(st.st_mode) && !S_ISDIR(st.st_mode));
}

// Why `output` cannot be written, found before any work is done (the output itself is only
// created at the end, by a rename): it is the input, a directory, or its directory is missing
// or not writable. InvalidArgument for a usage error, FailedPrecondition otherwise; OK if none.
absl::Status CheckOutputPath(const std::string& output, const std::string& input) {
  if (WrittenInPlace(output)) return absl::OkStatus();
  const std::string where = absl::StrCat("cannot write output \"", output, "\": ");
  struct stat out_stat;
  if (stat(output.c_str(), &out_stat) == 0) {
    struct stat in_stat;
    if (input != "-" && stat(input.c_str(), &in_stat) == 0 && in_stat.st_dev == out_stat.st_dev &&
        in_stat.st_ino == out_stat.st_ino) {
      return absl::InvalidArgumentError(
          absl::StrCat(where, "it is the input (the enriched rows would replace it)"));
    }
    if (S_ISDIR(out_stat.st_mode)) {
      return absl::InvalidArgumentError(absl::StrCat(where, "it is a directory"));
    }
  }
  std::string dir = std::filesystem::path(output).parent_path().string();
  if (dir.empty()) dir = ".";
  struct stat dir_stat;
  if (stat(dir.c_str(), &dir_stat) != 0) {
    return absl::FailedPreconditionError(absl::StrCat(where, dir, ": ", std::strerror(errno)));
  }
  if (!S_ISDIR(dir_stat.st_mode)) {
    return absl::FailedPreconditionError(absl::StrCat(where, dir, ": not a directory"));
  }
  if (access(dir.c_str(), W_OK | X_OK) != 0) {
    return absl::FailedPreconditionError(absl::StrCat(where, dir, ": ", std::strerror(errno)));
  }
  return absl::OkStatus();
}

}  // namespace

CLI::App* AddRunCommand(CLI::App& app, RunFlags& flags) {
  CLI::App* run = app.add_subcommand(
      "run",
      "Enrich a log export (CSV or NDJSON): look up the CTIA verdict of each distinct observable "
      "of the given columns and write every row back, in order, with ctia_disposition, "
      "ctia_disposition_name, ctia_judgement_id, ctia_valid_until and ctia_status added "
      "(ctia_<column>_<field> with several columns).");
  run->add_option("-i,--input", flags.input,
                  "Input file ('-' = stdin); gzip/zstd detected by their magic bytes")
      ->required();
  run->add_option("-o,--output", flags.output,
                  "Output file ('-' = stdout). Written to a temporary file beside it and renamed "
                  "when complete, so a partial file never appears (a device or pipe such as "
                  "/dev/null is written in place, without a journal).")
      ->required();
  run->add_option("--column", flags.columns,
                  "Observable column as NAME[:TYPE|auto], repeatable, e.g. 'domain', 'dst:ip', "
                  "'url:auto', 'dns.query.name:domain' (NDJSON path), '3:ip' (--no-header)")
      ->required();
  run->add_option("--input-format", flags.input_format,
                  "csv or ndjson (default: by extension, .ndjson/.jsonl = ndjson). NDJSON: a "
                  "line that is not a JSON object gets invalid_row; a blank line (empty or "
                  "whitespace) is not a row: kept as it is (left out of CSV output), no status, "
                  "counted as a blank line in the summary");
  run->add_option("--output-format", flags.output_format,
                  "csv or ndjson (default: by the output's extension, else the input format)");
  run->add_option("--delimiter", flags.delimiter, "CSV delimiter: , ; | or tab")
      ->capture_default_str();
  run->add_flag("--no-header", flags.no_header,
                "CSV input has no header line; columns are numbers (1 = first)");
  run->add_option("--compression", flags.compression,
                  "Compression of the input and the output: auto (input by its magic bytes, "
                  "output by extension .gz/.zst), none, gzip, zstd; an input that is not what "
                  "was given is an error")
      ->capture_default_str();
  run->add_option("--output-compression", flags.output_compression,
                  "Compression of the output alone (auto, none, gzip, zstd); default: "
                  "--compression");
  run->add_option("--allowlist", flags.allowlist,
                  "File of observables never looked up (exact, *.suffix, CIDR, type:value); "
                  "their rows get status skipped");
  run->add_option("--threads", flags.threads, "Worker threads (0 = all cores)");
  run->add_option("--chunk-size", flags.chunk_size, "Bytes per pipeline chunk")
      ->capture_default_str();
  run->add_option("--max-record-bytes", flags.max_record_bytes,
                  absl::StrCat("Longest record in bytes (a CSV record with its quoted line ends, "
                               "or an NDJSON line; without its line end), 1 to ",
                               kMaxRecordBytesLimit,
                               ": a longer one stops the run with its file:line (most often a "
                               "quote that is never closed)"))
      ->capture_default_str();
  run->add_flag("--strict", flags.strict,
                "Stop at the first malformed row (file:line) instead of passing it through "
                "with status invalid_row (a blank NDJSON line is not a row)");
  run->add_flag("--resume", flags.resume,
                "Continue an interrupted run: reload the journal, skip its settled lookups "
                "(the input and columns may have changed since; the endpoint may not)");
  run->add_option("--journal", flags.journal,
                  "Journal of settled lookups (default <output>.journal; none for stdout)");
  run->add_option("--summary-json", flags.summary_json, "Also write the run summary as JSON here");
  run->add_option("--prometheus", flags.prometheus,
                  "Also write the run's metrics as a Prometheus textfile here");
  run->add_option("--max-cache-ttl", flags.max_cache_ttl_seconds,
                  "Longest time a verdict is reused within a run, seconds")
      ->capture_default_str();
  run->add_option("--prefix", flags.prefix, "Prefix of the added columns")->capture_default_str();
  AddCtiaFlags(*run, flags.ctia);
  return run;
}

int RunEnrich(const RunFlags& flags) {
  // Usage first: nothing is opened or sent before the flags make sense.
  engine::PipelineOptions options;
  for (const std::string& spec : flags.columns) {
    auto column = engine::ParseColumnSpec(spec);
    if (!column.ok()) {
      Fail(column.status().message());
      return engine::kExitUsage;
    }
    if (column->type != "auto" && !schema::IsKnownObservableType(column->type)) {
      std::fprintf(stderr,
                   "ctia-enrich: warning: \"%s\" is not an observable type this build knows; "
                   "sending it to CTIA as given\n",
                   column->type.c_str());
    }
    for (const engine::ColumnSpec& earlier : options.columns) {
      if (earlier.name == column->name) {
        Fail(absl::StrCat("--column \"", column->name,
                          "\" is given twice: its added columns would have the same names"));
        return engine::kExitUsage;
      }
    }
    options.columns.push_back(*column);
  }
  auto in_format = ParseFormat(
      "--input-format", !flags.input_format.empty()
                            ? flags.input_format
                            : FormatByExtension(flags.input).value_or("csv"));
  // Output: the flag, else the output's extension, else the input's format.
  auto out_format = ParseFormat(
      "--output-format", !flags.output_format.empty()
                             ? flags.output_format
                             : FormatByExtension(flags.output)
                                   .value_or(in_format.ok() &&
                                                     *in_format == engine::DataFormat::kNdjson
                                                 ? "ndjson"
                                                 : "csv"));
  auto delimiter = ParseDelimiter(flags.delimiter);
  auto compression = ParseCompression("--compression", flags.compression);
  auto output_compression =
      flags.output_compression.empty()
          ? compression
          : ParseCompression("--output-compression", flags.output_compression);
  for (const absl::Status& s : {in_format.status(), out_format.status(), delimiter.status(),
                                compression.status(), output_compression.status()}) {
    if (!s.ok()) {
      Fail(s.message());
      return engine::kExitUsage;
    }
  }
  options.input_format = *in_format;
  options.output_format = *out_format;
  options.delimiter = *delimiter;
  options.header = !flags.no_header;
  options.prefix = flags.prefix;
  options.strict = flags.strict;
  options.chunk_size = flags.chunk_size;
  if (flags.max_record_bytes < 1 || flags.max_record_bytes > kMaxRecordBytesLimit) {
    Fail(absl::StrCat("--max-record-bytes ", flags.max_record_bytes, ": expected 1 to ",
                      kMaxRecordBytesLimit, " bytes (1 GiB)"));
    return engine::kExitUsage;
  }
  options.max_record_bytes = static_cast<size_t>(flags.max_record_bytes);
  options.threads = flags.threads > 0 ? static_cast<size_t>(flags.threads) : 0;
  // Two full GraphQL batches per request slot: one on the wire, the next waiting, so a slot
  // that frees is refilled at once rather than after the answered batch has been settled and
  // journaled and its slots handed back (about 5% of the rate at 20 ms round trips).
  options.max_in_flight = 2 * static_cast<size_t>(flags.ctia.connections) *
                          static_cast<size_t>(flags.ctia.pipeline_depth) *
                          std::max<size_t>(8, static_cast<size_t>(flags.ctia.batch_size));
  options.input_name = flags.input == "-" ? "<stdin>" : flags.input;
  if (absl::Status s = engine::CheckPipelineOptions(options); !s.ok()) {
    Fail(s.message());
    return engine::kExitUsage;
  }

  std::optional<schema::Allowlist> allowlist;
  if (!flags.allowlist.empty()) {
    std::ifstream f(flags.allowlist, std::ios::binary);
    if (!f) {
      Fail(absl::StrCat("cannot open allowlist \"", flags.allowlist, "\": ",
                        std::strerror(errno)));
      return engine::kExitUsage;
    }
    std::stringstream text;
    text << f.rdbuf();
    auto parsed = schema::Allowlist::Parse(text.str(), flags.allowlist);
    if (!parsed.ok()) {
      Fail(parsed.status().message());
      return engine::kExitUsage;
    }
    allowlist = std::move(*parsed);
    options.allowlist = &*allowlist;
  }

  // Input.
  if (flags.input != "-" && access(flags.input.c_str(), R_OK) != 0) {
    Fail(absl::StrCat("cannot open input \"", flags.input, "\": ", std::strerror(errno)));
    return engine::kExitFailed;
  }
  if (absl::Status s = CheckOutputPath(flags.output, flags.input); !s.ok()) {
    Fail(s.message());
    return absl::IsInvalidArgument(s) ? engine::kExitUsage : engine::kExitFailed;
  }
  auto source = engine::OpenSource(flags.input, *compression);
  if (!source.ok()) {
    if (source.status().code() == absl::StatusCode::kInvalidArgument &&
        *compression != engine::Compression::kAuto) {
      // The data contradicts --compression.
      Fail(absl::StrCat(source.status().message(), "; --compression ", flags.compression,
                        " applies to the input and the output (--compression auto detects the "
                        "input's; --output-compression sets the output's alone)"));
      return engine::kExitUsage;
    }
    Fail(source.status().message());
    return engine::kExitFailed;
  }

  // On --resume the transport starts (thread, connection, token) while the journal reloads:
  // the run waits for the longer of the two, not their sum. Without --resume it starts first,
  // so that bad credentials fail the run before its journal is created.
  auto start_stack = [&flags] { return CtiaStack::Start(flags.ctia); };
  std::future<absl::StatusOr<std::unique_ptr<CtiaStack>>> starting;
  absl::StatusOr<std::unique_ptr<CtiaStack>> stack = absl::UnknownError("not started");
  if (flags.resume) {
    starting = std::async(std::launch::async, start_stack);
  } else {
    stack = start_stack();
    if (!stack.ok()) {
      Fail(stack.status().message());
      return ExitCodeFor(stack.status());
    }
  }

  // The verdict table, preloaded from the journal on --resume.
  engine::VerdictTable::Options table_options;
  table_options.max_ttl = absl::Seconds(flags.max_cache_ttl_seconds);
  engine::VerdictTable table(schema::SystemClock::Instance(), table_options);
  const bool in_place = WrittenInPlace(flags.output);
  const std::string journal_path = !flags.journal.empty() ? flags.journal
                                   : !in_place            ? absl::StrCat(flags.output, ".journal")
                                                          : "";
  std::unique_ptr<engine::Journal> journal;
  if (!journal_path.empty()) {
    const std::string fingerprint = engine::RunFingerprint(
        flags.input, (*source)->raw_size().value_or(0), absl::StrJoin(flags.columns, ","),
        flags.ctia.endpoint);
    if (flags.resume) {
      // Room for the journal's entries up front.
      struct stat st {};
      if (::stat(journal_path.c_str(), &st) == 0 && st.st_size > 0) {
        table.Reserve(static_cast<size_t>(st.st_size) / kJournalBytesPerEntry);
      }
    }
    auto opened = engine::Journal::Open(
        journal_path, fingerprint, flags.resume, {},
        [&table](absl::Span<const engine::JournalRecordView> batch) { RestoreBatch(table, batch); });
    if (!opened.ok()) {
      Fail(opened.status().message());
      return opened.status().code() == absl::StatusCode::kAlreadyExists ||
                     opened.status().code() == absl::StatusCode::kFailedPrecondition
                 ? engine::kExitUsage
                 : engine::kExitFailed;
    }
    journal = *std::move(opened);
    if (flags.resume) {
      std::fprintf(stderr, "ctia-enrich: resuming: %llu settled lookups reloaded from %s\n",
                   static_cast<unsigned long long>(journal->load().entries),
                   journal_path.c_str());
      if (const std::string& other = journal->load().other_run; !other.empty()) {
        std::fprintf(stderr,
                     "ctia-enrich: note: the journal was written for another input or columns "
                     "(%s); its verdicts are reused, as they are of observables whatever rows "
                     "hold them\n",
                     other.c_str());
      }
    }
    options.on_lookups_settled =
        [&journal](absl::Span<const engine::PipelineOptions::SettledLookup> settled) {
          // Views into the settled answers: nothing is copied on the way to the journal.
          thread_local std::vector<engine::JournalEntryView> entries;
          entries.clear();
          const absl::Time now = absl::Now();
          for (const auto& s : settled) {
            engine::JournalEntryView& e = entries.emplace_back();
            e.type = s.observable->type;
            e.value = s.observable->value;
            e.settled_at = now;
            if (!s.result->ok()) {
              e.failed = true;
              e.error_code = s.error_text;
              absl::ConsumePrefix(&e.error_code, "error:");
            } else {
              e.verdict = std::get_if<schema::Verdict>(&**s.result);
            }
          }
          // A failed append loses crash safety only; the run goes on (journal.h).
          (void)journal->AppendViews(entries);
        };
  }

  if (starting.valid()) {
    stack = starting.get();
    if (!stack.ok()) {
      Fail(stack.status().message());
      return ExitCodeFor(stack.status());
    }
  }

  if (!in_place) {
    // A killed run cannot remove its temp file; the next run for the same output does.
    auto removed = engine::RemoveStalePartialFiles(flags.output);
    for (const std::string& path : removed.value_or(std::vector<std::string>{})) {
      std::fprintf(stderr, "ctia-enrich: removed %s, left by a run that has ended\n",
                   path.c_str());
    }
    if (!removed.ok()) {
      std::fprintf(stderr, "ctia-enrich: warning: %s\n",
                   std::string(removed.status().message()).c_str());
    }
  }
  auto sink = engine::OpenSink(flags.output, *output_compression);
  if (!sink.ok()) {
    Fail(sink.status().message());
    return engine::kExitFailed;
  }

  auto signals = engine::ScopedStopSignals::Install();
  static std::atomic<bool> stop{false};
  absl::Notification polling_done;
  // The pipeline polls an atomic; mirror the signal flag into it. A notification, not a
  // sleep, between polls: the run's end does not wait for the poller's next tick.
  std::thread signal_poller([&polling_done] {
    do {
      if (engine::StopRequested()) stop.store(true);
    } while (!polling_done.WaitForNotificationWithTimeout(absl::Milliseconds(50)));
  });
  options.stop_requested = &stop;

  engine::RunStats stats(schema::SystemClock::Instance());
  options.stats = &stats;
  engine::ProgressOptions progress_options;
  progress_options.tty = engine::StderrIsTty();
  progress_options.input_bytes = (*source)->raw_size();
  engine::ProgressReporter progress(stats, schema::SystemClock::Instance(), std::cerr,
                                    progress_options);
  progress.Start();

  const absl::Status run_status =
      engine::RunPipeline(**source, **sink, options, table, (*stack)->verdicts());
  (*stack)->Shutdown();
  polling_done.Notify();
  signal_poller.join();
  stats.SetTransportCounters((*stack)->client().Snapshot());
  progress.Finish();

  if (!run_status.ok()) {
    (*sink)->Abandon();
    const absl::Status& s = run_status;
    const std::optional<absl::Duration> wait = transport::CheckpointWait(s);
    const bool interrupted = s.code() == absl::StatusCode::kCancelled && stop.load();
    if (journal != nullptr) (void)journal->Close();
    if (wait.has_value() || interrupted) {
      // The wait once: the time to resume (whole seconds, rounded up) and how long that is.
      const std::string when =
          wait.has_value()
              ? absl::StrCat(" after ",
                             absl::FormatTime("%Y-%m-%dT%H:%M:%SZ",
                                              absl::FromUnixSeconds(
                                                  absl::ToUnixSeconds(absl::Now() + *wait) + 1),
                                              absl::UTCTimeZone()),
                             " (in ", absl::FormatDuration(*wait), ")")
              : "";
      Fail(absl::StrCat(
          interrupted ? "interrupted" : CheckpointCause(s.message()), "; checkpointed: ",
          journal != nullptr ? absl::StrCat("settled lookups are in ", journal_path,
                                            "; run the same command with --resume", when,
                                            " to continue without repeating them")
                             : absl::StrCat("no journal (output is ",
                                            flags.output == "-" ? "stdout" : "not a regular file",
                                            "): rerun", when, " to start again")));
      return engine::kExitCheckpointed;
    }
    Fail(s.message());
    if (journal != nullptr) {
      if (s.code() == absl::StatusCode::kInvalidArgument && !flags.resume &&
          (engine::IsUsageError(s) || journal->appended() == 0)) {
        // Bad usage, or bad input (--strict) before any lookup settled: nothing was paid for,
        // leave nothing behind.
        std::remove(journal_path.c_str());
      } else {
        Fail(absl::StrCat("settled lookups are kept in ", journal_path,
                          "; once the cause is fixed, run the same command with --resume"));
      }
    }
    return engine::IsUsageError(s) ? engine::kExitUsage : engine::kExitFailed;
  }
  if (absl::Status s = (*sink)->Finish(); !s.ok()) {
    Fail(s.message());
    if (journal != nullptr) (void)journal->Close();
    return engine::kExitFailed;
  }
  // The output is complete: its journal has served its purpose.
  if (journal != nullptr) {
    (void)journal->Close();
    std::remove(journal_path.c_str());
  }
  const engine::RunStatsSnapshot snapshot = stats.Snapshot();
  std::fprintf(stderr, "%s", engine::FormatRunSummary(snapshot).c_str());
  if (flags.output != "-") std::fprintf(stderr, "output:             %s\n", flags.output.c_str());
  if (!flags.summary_json.empty()) {
    if (absl::Status s = engine::WriteRunStatsJson(flags.summary_json, snapshot); !s.ok()) {
      Fail(s.message());
      return engine::kExitFailed;
    }
  }
  if (!flags.prometheus.empty()) {
    if (absl::Status s = engine::WritePrometheusFile(flags.prometheus, snapshot); !s.ok()) {
      Fail(s.message());
      return engine::kExitFailed;
    }
  }
  return engine::kExitDone;
}

}  // namespace enrich::cli
