#include "engine/job.h"

#include "engine/exit_codes.h"
#include "engine/progress.h"
#include "engine/run_report.h"
#include "engine/shard.h"

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <sstream>
#include <thread>
#include <utility>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/strip.h"
#include "rapidjson/document.h"
#include "rapidjson/stringbuffer.h"
#include "rapidjson/writer.h"
#include "schema/disposition.h"
#include "absl/synchronization/notification.h"
#include <sys/stat.h>
#include <unistd.h>

namespace enrich::engine {
namespace {

// About the size of a journal record with a verdict (the largest kind, ~170 bytes; "no
// verdict" ~55): a resume reserves the verdict table's room for the journal's size over this,
// a lower bound of its entries, so the reserve never outgrows what the entries need.
constexpr size_t kJournalBytesPerEntry = 160;

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

// Why `output` cannot be written, found before any work is done (the output itself is only
// created at the end, by a rename): it is the input, a directory (usage errors), or its
// directory is missing or not writable (FailedPrecondition). OK if none.
absl::Status CheckOutputPath(const std::string& output, const std::string& input) {
  if (WrittenInPlace(output)) return absl::OkStatus();
  const std::string where = absl::StrCat("cannot write output \"", output, "\": ");
  struct stat out_stat;
  if (stat(output.c_str(), &out_stat) == 0) {
    struct stat in_stat;
    if (input != "-" && stat(input.c_str(), &in_stat) == 0 && in_stat.st_dev == out_stat.st_dev &&
        in_stat.st_ino == out_stat.st_ino) {
      return UsageError(
          absl::StrCat(where, "it is the input (the enriched rows would replace it)"));
    }
    if (S_ISDIR(out_stat.st_mode)) return UsageError(absl::StrCat(where, "it is a directory"));
  }
  const std::filesystem::path parent = std::filesystem::path(output).parent_path();
  const std::string dir = parent.empty() ? std::string(".") : parent.string();
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

// Why the --hits output `hits` cannot be written beside `output` (CheckOutputPath's reasons,
// and being the output itself); OK if none or no --hits.
absl::Status CheckHitsPath(const std::string& hits, const std::string& output,
                           const std::string& input) {
  if (hits.empty()) return absl::OkStatus();
  struct stat h;
  struct stat o;
  if (hits == output || (!WrittenInPlace(hits) && stat(hits.c_str(), &h) == 0 &&
                         stat(output.c_str(), &o) == 0 && h.st_dev == o.st_dev &&
                         h.st_ino == o.st_ino)) {
    return UsageError(absl::StrCat("--hits \"", hits, "\" is the output (-o): give it a file "
                                   "of its own"));
  }
  absl::Status s = CheckOutputPath(hits, input);
  if (s.ok()) return s;
  return absl::Status(s.code(), absl::StrCat("--hits: ", s.message()));
}

// Mirrors the process's stop signals (engine/signals.h) into a job's stop flag, which the
// pipeline polls, from a thread of its own until destroyed. A notification, not a sleep,
// between polls: the run's end does not wait for the poller's next tick. Once the flag is set
// (by a signal or RequestStop) it calls `on_stop` once; if the run is still going `timeout`
// later, `on_timeout` (which may end the process).
class StopSignalWatcher {
 public:
  StopSignalWatcher(std::atomic<bool>& stop, absl::Duration timeout, std::function<void()> on_stop,
                    std::function<void()> on_timeout)
      : thread_([this, &stop, timeout, on_stop = std::move(on_stop),
                 on_timeout = std::move(on_timeout)] {
          std::optional<absl::Time> deadline;
          do {
            if (StopRequested()) stop.store(true);
            if (!deadline.has_value() && stop.load()) {
              deadline = absl::Now() + timeout;
              if (on_stop) on_stop();
            }
            if (deadline.has_value() && absl::Now() >= *deadline && on_timeout) {
              on_timeout();
              deadline = absl::InfiniteFuture();
            }
          } while (!done_.WaitForNotificationWithTimeout(absl::Milliseconds(50)));
        }) {}
  ~StopSignalWatcher() { Stop(); }
  void Stop() {
    if (!thread_.joinable()) return;
    done_.Notify();
    thread_.join();
  }

 private:
  absl::Notification done_;
  std::thread thread_;
};

// The endpoint as the statistics show it: without user info, query or fragment, where a secret
// could hide.
std::string PublicEndpoint(absl::string_view endpoint) {
  std::string out(endpoint.substr(0, endpoint.find_first_of("?#")));
  const size_t scheme = out.find("://");
  const size_t host = scheme == std::string::npos ? 0 : scheme + 3;
  const size_t at = out.find('@', host);
  if (at != std::string::npos && out.find('/', host) > at) out.erase(host, at + 1 - host);
  return out;
}

std::string PrometheusLabel(absl::string_view v) {
  std::string out;
  for (char c : v) {
    if (c == '\\' || c == '"') out.push_back('\\');
    if (c == '\n') {
      out += "\\n";
    } else {
      out.push_back(c);
    }
  }
  return out;
}

// "Clean" .. "Unknown" for disposition numbers 1..5.
absl::string_view DispositionLabel(int d) {
  return schema::DispositionName(static_cast<schema::Disposition>(d));
}

// What a scheduler reads beside the counters: how the run ended and what it ran on.
struct RunReport {
  const char* outcome;
  int exit_code;
  const std::string& input;
  const std::string& output;
  std::string endpoint;
  std::string failure;  // what ended a run that did not finish; empty otherwise
  // The setup failure that tripped the circuit breaker ("not_ctia", ...); empty if none.
  std::string circuit_breaker;  std::string shard;  // "K/N" for --shard, else empty
};

// The JSON summary: the ledger's (EncodeRunStatsJson) with the report's fields added.
std::string SummaryJson(const RunStatsSnapshot& s, const RunReport& r) {
  rapidjson::Document doc;
  const std::string base = EncodeRunStatsJson(s);
  doc.Parse(base.data(), base.size());
  auto& a = doc.GetAllocator();
  auto str = [&a](absl::string_view v) {
    return rapidjson::Value(v.data(), static_cast<rapidjson::SizeType>(v.size()), a);
  };
  doc.AddMember("outcome", str(r.outcome), a);
  doc.AddMember("exit_code", r.exit_code, a);
  doc.AddMember("input", str(r.input), a);
  doc.AddMember("output", str(r.output), a);
  doc.AddMember("endpoint", str(r.endpoint), a);
  if (!r.failure.empty()) doc.AddMember("failure", str(r.failure), a);
  if (!r.circuit_breaker.empty()) doc.AddMember("circuit_breaker", str(r.circuit_breaker), a);
  if (!r.shard.empty()) doc.AddMember("shard", str(r.shard), a);
  rapidjson::Value dispositions(rapidjson::kObjectType);
  for (int d = 1; d <= 5; ++d) {
    rapidjson::Value count(static_cast<uint64_t>(s.dispositions[static_cast<size_t>(d)]));
    dispositions.AddMember(str(DispositionLabel(d)), count, a);
  }
  doc.AddMember("dispositions", dispositions, a);
  rapidjson::StringBuffer buf;
  rapidjson::Writer<rapidjson::StringBuffer> w(buf);
  doc.Accept(w);
  return absl::StrCat(absl::string_view(buf.GetString(), buf.GetSize()), "\n");
}

// The Prometheus textfile: the ledger's (FormatPrometheus) with the report's series added.
std::string SummaryPrometheus(const RunStatsSnapshot& s, const RunReport& r) {
  std::string out = FormatPrometheus(s);
  absl::StrAppend(
      &out,
      "# HELP ctia_enrich_last_run_exit_code Exit code of the last run (0, 1, 3, 75).\n"
      "# TYPE ctia_enrich_last_run_exit_code gauge\n",
      "ctia_enrich_last_run_exit_code ", r.exit_code, "\n",
      "# HELP ctia_enrich_last_run_info How the last run ended and what it ran on.\n"
      "# TYPE ctia_enrich_last_run_info gauge\n",
      "ctia_enrich_last_run_info{outcome=\"", r.outcome, "\",input=\"",
      PrometheusLabel(r.input), "\",output=\"", PrometheusLabel(r.output), "\",endpoint=\"",
      PrometheusLabel(r.endpoint), "\"",
      r.shard.empty() ? std::string() : absl::StrCat(",shard=\"", r.shard, "\""), "} 1\n",
      "# HELP ctia_enrich_circuit_breaker_tripped 1 when the first lookups all failed the same "
      "way (a wrong setup) and the run stopped early.\n"
      "# TYPE ctia_enrich_circuit_breaker_tripped gauge\n",
      "ctia_enrich_circuit_breaker_tripped", r.circuit_breaker.empty()
                                                ? std::string(" 0\n")
                                                : absl::StrCat("{failure=\"", r.circuit_breaker,
                                                               "\"} 1\n"),
      "# HELP ctia_enrich_disposition_rows_total Rows (status cells) per verdict disposition.\n"
      "# TYPE ctia_enrich_disposition_rows_total counter\n");
  for (int d = 1; d <= 5; ++d) {
    absl::StrAppend(&out, "ctia_enrich_disposition_rows_total{disposition=\"",
                    DispositionLabel(d), "\"} ", s.dispositions[static_cast<size_t>(d)], "\n");
  }
  return out;
}

// `contents` to `path` ("-" = stdout), atomically for a file.
absl::Status WriteStatisticsFile(const std::string& path, const std::string& contents) {
  if (path != "-") return WriteFileAtomically(path, contents);
  if (std::fwrite(contents.data(), 1, contents.size(), stdout) != contents.size() ||
      std::fflush(stdout) != 0) {
    return absl::InternalError(absl::StrCat("cannot write statistics to stdout: ",
                                            std::strerror(errno)));
  }
  return absl::OkStatus();
}

}  // namespace

const char* JobOutcomeName(JobOutcome outcome) {
  switch (outcome) {
    case JobOutcome::kDone:
      return "done";
    case JobOutcome::kFailed:
      return "failed";
    case JobOutcome::kUsage:
      return "usage";
    case JobOutcome::kCheckpointed:
      return "checkpointed";
    case JobOutcome::kErrorRows:
      return "error_rows";
  }
  return "failed";
}

bool TooManyErrorRows(const RunStatsSnapshot& stats, double max_error_rate) {
  uint64_t errors = 0;
  uint64_t all = 0;
  for (const auto& [status, n] : stats.statuses) {
    all += n;
    if (absl::StartsWith(status, "error:")) errors += n;
  }
  if (errors == 0) return false;
  auto count = [&stats](const char* status) {
    auto it = stats.statuses.find(status);
    return it == stats.statuses.end() ? uint64_t{0} : it->second;
  };
  if (count("ok") + count("no_verdict") == 0) return true;  // every lookup failed
  return static_cast<double>(errors) > max_error_rate * static_cast<double>(all);
}

int JobExitCode(const absl::Status& status) {
  if (status.ok()) return kExitDone;
  return IsUsageError(status) ? kExitUsage : kExitFailed;
}

Job::Job(JobOptions options)
    : options_(std::move(options)),
      log_(options_.log != nullptr ? *options_.log : std::cerr),
      in_place_(WrittenInPlace(options_.output)),
      journal_path_(JournalPathFor(options_)),
      table_(schema::SystemClock::Instance(),
             VerdictTable::Options{.max_ttl = options_.max_cache_ttl}),
      breaker_(options_.setup_breaker_lookups, PublicEndpoint(options_.endpoint)) {
  if (!options_.open_source) options_.open_source = OpenSource;
  if (!options_.open_sink) options_.open_sink = OpenSink;
  options_.pipeline.input_name = options_.input == "-" ? "<stdin>" : options_.input;
  options_.pipeline.stop_requested = &stop_;
  options_.pipeline.setup_breaker = &breaker_;
}

Job::~Job() = default;

absl::StatusOr<std::unique_ptr<Job>> Job::Open(JobOptions options) {
  std::unique_ptr<Job> job(new Job(std::move(options)));
  if (absl::Status s = job->OpenInput(); !s.ok()) return s;
  return job;
}

absl::Status Job::OpenInput() {
  // Usage first: nothing is opened before the options make sense.
  if (absl::Status s = CheckPipelineOptions(options_.pipeline); !s.ok()) {
    return IsUsageError(s) ? s : UsageError(s.message());
  }
  if (!options_.allowlist.empty()) {
    auto allowlist = ReadAllowlist(options_.allowlist);
    if (!allowlist.ok()) return allowlist.status();
    allowlist_ = *std::move(allowlist);
    options_.pipeline.allowlist = &*allowlist_;
  }
  // The input first (its errors before the output's), then the output's path.
  auto source = OpenJobInput(options_);
  if (!source.ok()) return source.status();
  if (absl::Status s = CheckOutputPath(options_.output, options_.input); !s.ok()) return s;
  if (absl::Status s = CheckHitsPath(options_.hits, options_.output, options_.input); !s.ok()) {
    return s;
  }
  if (!options_.hits.empty() && options_.pipeline.hit_dispositions == 0) {
    return UsageError("--hits needs at least one hit disposition (--hit-dispositions)");
  }
  if (options_.output == "-") {
    for (const auto& [flag, path] : {std::pair{"--summary-json", &options_.summary_json},
                                     std::pair{"--prometheus", &options_.prometheus},
                                     std::pair{"--report", &options_.report},
                                     std::pair{"--hits", &options_.hits}}) {
      if (*path == "-") {
        return UsageError(absl::StrCat(flag, " - would mix the statistics into the output, "
                                             "which goes to stdout too: give it a file"));
      }
    }
  }
  source_ = *std::move(source);
  return absl::OkStatus();
}

absl::Status Job::OpenJournal() {
  // Called once, before the run (job.h); the run calls it if its caller did not.
  journal_opened_ = true;
  if (journal_path_.empty()) return absl::OkStatus();
  const std::string fingerprint = JobFingerprint(options_, source_->raw_size().value_or(0));
  bool fresh = false;  // --resume without a journal: the first run of a cron line
  if (options_.resume) {
    // Room for the journal's entries up front.
    struct stat st {};
    if (::stat(journal_path_.c_str(), &st) == 0) {
      if (st.st_size > 0) table_.Reserve(static_cast<size_t>(st.st_size) / kJournalBytesPerEntry);
    } else {
      fresh = errno == ENOENT;
    }
  }
  auto opened =
      Journal::Open(journal_path_, fingerprint, options_.resume, {},
                    [this](absl::Span<const JournalRecordView> batch) { reload_.Restore(batch); });
  if (!opened.ok()) {
    const absl::Status& s = opened.status();
    // Another run's journal, or one there without --resume: the command line must change.
    return s.code() == absl::StatusCode::kAlreadyExists ||
                   s.code() == absl::StatusCode::kFailedPrecondition
               ? UsageError(s.message())
               : s;
  }
  journal_ = *std::move(opened);
  if (fresh) {
    Say(absl::StrCat("--resume: no journal at ", journal_path_, ": starting fresh"));
  } else if (options_.resume) {
    Say(absl::StrCat("resuming: ", journal_->load().entries, " settled lookups reloaded from ",
                     journal_path_));
    if (const std::string& other = journal_->load().other_run; !other.empty()) {
      Say(absl::StrCat("note: the journal was written for another input or columns (", other,
                       "); its verdicts are reused, as they are of observables whatever rows "
                       "hold them"));
    }
    if (reload_.without_details() > 0) {
      Say(absl::StrCat("note: ", reload_.without_details(),
                       " journaled verdicts lack the details of --fields/--judgements/--intel "
                       "this run writes: they are looked up again"));
    }
  }
  options_.pipeline.on_lookups_settled =
      [this](absl::Span<const PipelineOptions::SettledLookup> settled) { JournalSettled(settled); };
  return absl::OkStatus();
}

void Job::JournalSettled(absl::Span<const PipelineOptions::SettledLookup> settled) {
  // Views into the settled answers: nothing is copied on the way to the journal. One buffer per
  // calling thread, reused: the pipeline may call from any thread (pipeline.h), without a lock.
  thread_local std::vector<JournalEntryView> entries;
  entries.clear();
  const absl::Time now = absl::Now();
  for (const auto& s : settled) {
    // Not an answer about the observable (a lookup the stop cancelled, a wrong setup's
    // failure): resume asks again.
    if (!s.result->ok() && (absl::IsCancelled(s.result->status()) ||
                            transport::SetupFailureOf(s.result->status()) !=
                                transport::SetupFailure::kNone)) {
      continue;
    }
    JournalEntryView& e = entries.emplace_back();
    e.type = s.observable->type;
    e.value = s.observable->value;
    e.settled_at = now;
    e.details = s.details;
    if (!s.result->ok()) {
      e.failed = true;
      e.error_code = s.error_text;
      absl::ConsumePrefix(&e.error_code, "error:");
    } else {
      e.verdict = std::get_if<schema::Verdict>(&**s.result);
    }
  }
  // A failed append loses crash safety only; the run goes on (journal.h).
  if (!entries.empty()) (void)journal_->AppendViews(entries);
}

absl::Status Job::OpenCache() {
  cache_opened_ = true;
  auto cache = OpenJobCache(
      options_, [this](absl::string_view line) { Say(std::string(line)); }, false);
  if (!cache.ok()) return cache.status();
  cache_ = *std::move(cache);
  return absl::OkStatus();
}

void Job::HookCache() {
  if (cache_ == nullptr) return;
  options_.pipeline.cache = cache_.get();
  auto journal = std::move(options_.pipeline.on_lookups_settled);
  options_.pipeline.on_lookups_settled =
      [this, journal = std::move(journal)](
          absl::Span<const PipelineOptions::SettledLookup> settled) {
        if (journal) journal(settled);
        cache_->Write(settled);
      };
}

JobResult Job::Run(transport::VerdictSource& source,
                   const std::function<transport::CtiaClientCounters()>& stop_source,
                   std::function<transport::CtiaClientCounters()> live_counters) {
  live_counters_ = std::move(live_counters);
  if (!journal_opened_) {
    if (absl::Status s = OpenJournal(); !s.ok()) {
      Say(std::string(s.message()));
      return Result(IsUsageError(s) ? JobOutcome::kUsage : JobOutcome::kFailed, s);
    }
  }
  if (!cache_opened_) {
    if (absl::Status s = OpenCache(); !s.ok()) {
      Say(std::string(s.message()));
      return Result(IsUsageError(s) ? JobOutcome::kUsage : JobOutcome::kFailed, s);
    }
  }
  HookCache();
  if (!in_place_) {
    // A killed run cannot remove its temp file; the next run for the same output does.
    auto removed = RemoveStalePartialFiles(options_.output);
    for (const std::string& path : removed.value_or(std::vector<std::string>{})) {
      Say(absl::StrCat("removed ", path, ", left by a run that has ended"));
    }
    if (!removed.ok()) Say(absl::StrCat("warning: ", removed.status().message()));
  }
  auto sink = options_.open_sink(options_.output, options_.output_compression);
  if (!sink.ok()) {
    Say(std::string(sink.status().message()));
    return Result(JobOutcome::kFailed, sink.status());
  }
  auto hits = OpenHits();
  if (!hits.ok()) {
    (*sink)->Abandon();
    Say(std::string(hits.status().message()));
    return Result(JobOutcome::kFailed, hits.status());
  }
  options_.pipeline.hits = hits->get();
  const absl::Status ran = RunPipelineWithSignals(**sink, source, stop_source);
  if (!ran.ok()) {
    (*sink)->Abandon();
    if (*hits != nullptr) (*hits)->Abandon();
    return EndFailed(ran);
  }
  return EndDone(**sink, hits->get());
}

absl::StatusOr<std::unique_ptr<ByteSink>> Job::OpenHits() {
  if (options_.hits.empty()) return nullptr;
  if (!WrittenInPlace(options_.hits)) {
    auto removed = RemoveStalePartialFiles(options_.hits);
    for (const std::string& path : removed.value_or(std::vector<std::string>{})) {
      Say(absl::StrCat("removed ", path, ", left by a run that has ended"));
    }
    if (!removed.ok()) Say(absl::StrCat("warning: ", removed.status().message()));
  }
  return options_.open_sink(options_.hits, options_.output_compression);
}

absl::Status Job::RunPipelineWithSignals(
    ByteSink& sink, transport::VerdictSource& source,
    const std::function<transport::CtiaClientCounters()>& stop_source) {
  if (options_.handle_stop_signals) {
    // Fails only if another job in this process holds the handlers: it then stops this one too.
    if (auto installed = ScopedStopSignals::Install(); installed.ok()) {
      signals_ = *std::move(installed);
    }
  }
  StopSignalWatcher watcher(
      stop_, options_.stop_timeout,
      [this, &source] {
        Say(absl::StrCat("stopping… no new lookups; waiting up to ",
                         absl::FormatDuration(options_.stop_timeout),
                         " for the answers in flight (a second signal exits at once)"));
        // Lookups handed to the source but not yet sent end now (Cancelled, not journaled),
        // rather than going out one by one as the answers in flight free their slots.
        source.StopSending();
      },
      [this] {
        if (options_.handle_stop_signals) CheckpointNow();
      });
  stats_ = std::make_unique<RunStats>(schema::SystemClock::Instance());
  options_.pipeline.stats = stats_.get();
  ProgressOptions progress_options;
  progress_options.tty = options_.progress_tty;
  progress_options.input_bytes = source_->raw_size();
  if (options_.pipeline.shard.has_value() && progress_options.input_bytes.has_value()) {
    // A shard counts the bytes of its range (those before it are scanned, not counted).
    const ByteRange range = ShardRange(*progress_options.input_bytes, *options_.pipeline.shard);
    progress_options.input_bytes = range.end - range.begin;
  }
  if (!options_.report.empty()) {
    progress_options.requests = &requests_;
    if (live_counters_) {
      progress_options.requests_sent = [this] { return live_counters_().requests; };
    }
  }
  ProgressReporter progress(*stats_, schema::SystemClock::Instance(), log_, progress_options);
  progress.Start();

  // The pipeline's summary is counted in stats_ too; only its status is needed here.
  const absl::Status status =
      RunPipeline(*source_, sink, options_.pipeline, table_, source);
  if (cache_ != nullptr) {  // what settled is in the cache before the run ends
    cache_->Flush();
    stats_->Add(RunCounter::kCacheStoreWrites, cache_->counters().writes.load());
  }
  transport::CtiaClientCounters counters;
  if (stop_source) counters = stop_source();
  watcher.Stop();
  if (stop_source) stats_->SetTransportCounters(counters);
  progress.Finish();
  return status;
}

JobResult Job::EndFailed(const absl::Status& s) {
  const std::optional<absl::Duration> wait = transport::CheckpointWait(s);
  const bool interrupted = s.code() == absl::StatusCode::kCancelled && stop_.load();
  if (journal_ != nullptr) (void)journal_->Close();
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
    Say(absl::StrCat(
        interrupted ? "interrupted" : CheckpointCause(s.message()), "; checkpointed: ",
        journal_ != nullptr
            ? absl::StrCat("settled lookups are in ", journal_path_,
                           "; run the same command with --resume", when,
                           " to continue without repeating them")
            : absl::StrCat("no journal (output is ",
                           options_.output == "-" ? "stdout" : "not a regular file", "): rerun",
                           when, " to start again")));
    return Finish(JobOutcome::kCheckpointed, s);
  }
  Say(std::string(s.message()));
  if (journal_ != nullptr) {
    if (s.code() == absl::StatusCode::kInvalidArgument && !options_.resume &&
        (IsUsageError(s) || journal_->appended() == 0)) {
      // Bad usage, or bad input (--strict) before any lookup settled: nothing was paid for,
      // leave nothing behind.
      std::remove(journal_path_.c_str());
    } else {
      Say(absl::StrCat("settled lookups are kept in ", journal_path_,
                       "; once the cause is fixed, run the same command with --resume"));
    }
  }
  return Finish(IsUsageError(s) ? JobOutcome::kUsage : JobOutcome::kFailed, s);
}

JobResult Job::EndDone(ByteSink& sink, ByteSink* hits) {
  // The hits first: a hits file that cannot be finished fails the run before its output
  // appears, and both are abandoned.
  for (ByteSink* done : {hits, &sink}) {
    if (done == nullptr) continue;
    if (absl::Status s = done->Finish(); !s.ok()) {
      Say(std::string(s.message()));
      sink.Abandon();  // removes the temp files now rather than when the sinks go
      if (hits != nullptr) hits->Abandon();
      if (journal_ != nullptr) (void)journal_->Close();
      return Finish(JobOutcome::kFailed, s);
    }
  }
  // The output is complete: its journal has served its purpose.
  if (journal_ != nullptr) {
    (void)journal_->Close();
    std::remove(journal_path_.c_str());
  }
  const RunStatsSnapshot snapshot = FinalSnapshot();
  log_ << FormatRunSummary(snapshot);
  if (options_.output != "-") log_ << "output:             " << options_.output << "\n";
  if (options_.pipeline.shard.has_value()) {
    log_ << "shard:              " << ShardName(*options_.pipeline.shard) << "\n";
  }
  if (!options_.hits.empty()) log_ << "hits:               " << options_.hits << "\n";
  log_.flush();
  // Too few lookups for the circuit breaker, but all failed alike: say what to check.
  if (const std::string hint = breaker_.EndHint(); !hint.empty()) Say(hint);
  if (TooManyErrorRows(snapshot, options_.max_error_rate)) {
    Say(absl::StrCat("rows with an error status are more than --max-error-rate ",
                     absl::StrFormat("%g", options_.max_error_rate),
                     " allows (see statuses above): exit code ", kExitErrorRows));
    return Finish(JobOutcome::kErrorRows, absl::OkStatus());
  }
  return Finish(JobOutcome::kDone, absl::OkStatus());
}

JobResult Job::Finish(JobOutcome outcome, absl::Status status) {
  JobResult result = Result(outcome, std::move(status));
  if (stats_ == nullptr) return result;  // the run did not start: no statistics
  if (absl::Status s =
          WriteStatistics(result.outcome, result.exit_code, result.status, result.stats);
      !s.ok()) {
    Say(std::string(s.message()));
    if (result.status.ok()) result = Result(JobOutcome::kFailed, s);
  }
  return result;
}

absl::Status Job::WriteStatistics(JobOutcome outcome, int exit_code, const absl::Status& failure,
                                  const RunStatsSnapshot& snapshot) const {
  const transport::SetupFailure tripped = breaker_.tripped();
  const RunReport report{
      JobOutcomeName(outcome), exit_code, options_.input, options_.output,
      PublicEndpoint(options_.endpoint), std::string(failure.message()),
      tripped == transport::SetupFailure::kNone
          ? std::string()
          : std::string(transport::SetupFailureName(tripped)),
      options_.pipeline.shard.has_value() ? ShardName(*options_.pipeline.shard) : std::string()};
  if (!options_.summary_json.empty()) {
    if (absl::Status s =
            WriteStatisticsFile(options_.summary_json, SummaryJson(snapshot, report));
        !s.ok()) {
      return s;
    }
  }
  if (!options_.report.empty()) {
    RunReportPage page{&snapshot,      report.outcome,  exit_code,
                       report.input,   report.output,   report.endpoint,
                       report.failure, DispositionSetNames(options_.pipeline.hit_dispositions),
                       requests_.Points(), static_cast<bool>(live_counters_)};
    if (absl::Status s = WriteStatisticsFile(options_.report, RenderRunReport(page)); !s.ok()) {
      return s;
    }
  }
  if (!options_.prometheus.empty()) {
    return WriteStatisticsFile(options_.prometheus, SummaryPrometheus(snapshot, report));
  }
  return absl::OkStatus();
}

void Job::CheckpointNow() {
  // The run is stuck on answers that do not come: end the process here, from the watcher
  // thread, leaving what a clean checkpoint leaves but the temp output (the next run removes
  // it). Appends are whole write(2)s, so the journal is intact once synced.
  if (journal_ != nullptr) (void)journal_->Sync();
  Say(absl::StrCat(
      "answers in flight did not come within --stop-timeout ",
      absl::FormatDuration(options_.stop_timeout), "; checkpointed: ",
      journal_ != nullptr
          ? absl::StrCat("settled lookups are in ", journal_path_,
                         "; run the same command with --resume to continue without repeating "
                         "them")
          : "no journal: rerun to start again"));
  if (stats_ != nullptr) {
    if (absl::Status s =
            WriteStatistics(JobOutcome::kCheckpointed, kExitCheckpointed,
                            absl::DeadlineExceededError("answers in flight did not come within "
                                                        "--stop-timeout"),
                            FinalSnapshot());
        !s.ok()) {
      Say(std::string(s.message()));
    }
  }
  log_.flush();
  std::fflush(nullptr);
  _exit(kExitCheckpointed);
}

JobResult Job::Result(JobOutcome outcome, absl::Status status) const {
  JobResult result;
  result.outcome = outcome;
  result.status = std::move(status);
  if (stats_ != nullptr) result.stats = FinalSnapshot();
  switch (outcome) {
    case JobOutcome::kDone:
      result.exit_code = kExitDone;
      break;
    case JobOutcome::kFailed:
      result.exit_code = kExitFailed;
      break;
    case JobOutcome::kUsage:
      result.exit_code = kExitUsage;
      break;
    case JobOutcome::kCheckpointed:
      result.exit_code = kExitCheckpointed;
      break;
    case JobOutcome::kErrorRows:
      result.exit_code = kExitErrorRows;
      break;
  }
  return result;
}

RunStatsSnapshot Job::FinalSnapshot() const {
  RunStatsSnapshot s = stats_->Snapshot();
  s.top_hits = stats_->TopHits(options_.top_hits);
  return s;
}

void Job::Say(const std::string& line) const {
  log_ << "ctia-enrich: " << line << "\n";
  log_.flush();
}

}  // namespace enrich::engine
