#include "engine/plan.h"

#include <sys/stat.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <memory>
#include <optional>
#include <utility>

#include "absl/base/thread_annotations.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "engine/byte_io.h"
#include "engine/journal.h"
#include "engine/pipeline.h"
#include "engine/run_stats.h"
#include "engine/verdict_table.h"
#include "schema/clock.h"
#include "transport/verdict_source.h"

namespace enrich::engine {
namespace {

// A listener nobody tells: the known table's misses are never completed.
class NoListener : public SettleListener {
 public:
  void OnSettled(uint32_t, const Settled&) override {}
};

// The verdict source of a plan: each lookup the run's pipeline asks for (each distinct
// observable once: the pipeline's verdict table single-flights them) is counted per type, as
// known when the journal's reloaded answers hold it (the very resolve a resumed run makes on
// its table), else as a lookup, and answered at once with "no verdict". Nothing is sent.
class CountingSource : public transport::VerdictSource {
 public:
  explicit CountingSource(VerdictTable& known) : known_(known) {}

  void LookupVerdict(const schema::Observable& observable, Callback done) override {
    const bool hit = known_.Resolve(observable.type, observable.value, &no_listener_, 0)
                         .resolution == VerdictTable::Resolution::kHit;
    {
      absl::MutexLock lock(&mu_);
      PlanTypeCounts& c = types_[observable.type];
      ++c.unique;
      ++(hit ? c.known : c.lookups);
    }
    done(schema::VerdictResult(schema::NoVerdict{}));
  }

  std::map<std::string, PlanTypeCounts> types() const {
    absl::MutexLock lock(&mu_);
    return types_;
  }

 private:
  VerdictTable& known_;
  NoListener no_listener_;
  mutable absl::Mutex mu_;
  std::map<std::string, PlanTypeCounts> types_ ABSL_GUARDED_BY(mu_);
};

// The enriched rows of a plan: formatted by the pipeline, as a run's, and dropped.
class DiscardSink : public ByteSink {
 public:
  absl::Status Write(absl::string_view) override { return absl::OkStatus(); }
  absl::Status Finish() override { return absl::OkStatus(); }
  void Abandon() override {}
  const std::string& name() const override { return name_; }

 private:
  const std::string name_ = "<plan>";
};

// Reloads the journal at report->journal_path (if there is one) into `known`, read-only, as a
// resumed run reloads it into its table. A journal of another endpoint is reported, not an
// error: the run would refuse it (without --resume it refuses any journal: PlanJob's caller
// says so).
absl::Status ReloadJournal(const JobOptions& options, uint64_t input_size, VerdictTable& known,
                           PlanReport& report) {
  if (report.journal_path.empty()) return absl::OkStatus();
  struct stat st {};
  if (::stat(report.journal_path.c_str(), &st) != 0) return absl::OkStatus();
  report.journal_exists = true;
  const std::string fingerprint =
      RunFingerprint(options.input, input_size, options.column_specs, options.endpoint);
  JournalReload reload(known);
  absl::StatusOr<JournalLoad> load = Journal::Read(
      report.journal_path, fingerprint,
      [&reload](absl::Span<const JournalRecordView> batch) { reload.Restore(batch); });
  if (!load.ok()) {
    if (load.status().code() != absl::StatusCode::kFailedPrecondition) return load.status();
    report.journal_refused = std::string(load.status().message());
    return absl::OkStatus();
  }
  report.journal_entries = load->entries;
  report.journal_other_run = load->other_run;
  return absl::OkStatus();
}

uint64_t StatusCount(const RunStatsSnapshot& s, const std::string& status) {
  auto it = s.statuses.find(status);
  return it == s.statuses.end() ? 0 : it->second;
}

}  // namespace

RequestEstimate EstimateRequests(uint64_t lookups, size_t batch_size) {
  RequestEstimate e;
  if (batch_size <= 1) {
    e.rest = lookups;
    return e;
  }
  e.graphql = lookups / batch_size;
  const uint64_t last = lookups % batch_size;
  if (last >= 2) ++e.graphql;
  if (last == 1) ++e.rest;  // a batch of one goes as a GET: the same quota, a simpler answer
  return e;
}

absl::Duration QuotaTime(uint64_t requests, const schema::RateSpec& rate) {
  if (rate.limit <= 0) return absl::ZeroDuration();
  return rate.window * (static_cast<double>(requests) / static_cast<double>(rate.limit));
}

std::string FormatAbout(absl::Duration d) {
  if (d < absl::Seconds(1)) return "under a second";
  const int64_t seconds = absl::ToInt64Seconds(d + absl::Milliseconds(500));
  if (seconds < 60) return absl::StrCat("about ", seconds, " s");
  const int64_t minutes = (seconds + 30) / 60;
  if (minutes < 60) return absl::StrCat("about ", minutes, " min");
  const int64_t hours = minutes / 60;
  if (hours < 48) {
    return minutes % 60 == 0 ? absl::StrCat("about ", hours, " h")
                             : absl::StrCat("about ", hours, " h ", minutes % 60, " min");
  }
  const int64_t whole_hours = (minutes + 30) / 60;
  return absl::StrCat("about ", whole_hours / 24, " d ", whole_hours % 24, " h");
}

absl::StatusOr<PlanReport> PlanJob(const JobOptions& options, const PlanOptions& plan) {
  const auto started = std::chrono::steady_clock::now();
  PipelineOptions pipeline = options.pipeline;
  if (absl::Status s = CheckPipelineOptions(pipeline); !s.ok()) {
    return IsUsageError(s) ? s : UsageError(s.message());
  }
  std::optional<schema::Allowlist> allowlist;
  if (!options.allowlist.empty()) {
    auto read = ReadAllowlist(options.allowlist);
    if (!read.ok()) return read.status();
    allowlist = *std::move(read);
    pipeline.allowlist = &*allowlist;
  }
  auto source = OpenJobInput(options);
  if (!source.ok()) return source.status();

  PlanReport report;
  report.batch_size = std::max<size_t>(plan.batch_size, 1);
  report.journal_path = JournalPathFor(options);
  const VerdictTable::Options table_options{.max_ttl = options.max_cache_ttl};
  VerdictTable known(schema::SystemClock::Instance(), table_options);
  if (absl::Status s =
          ReloadJournal(options, (*source)->raw_size().value_or(0), known, report);
      !s.ok()) {
    return s;
  }

  RunStats stats(schema::SystemClock::Instance());
  pipeline.input_name = options.input == "-" ? "<stdin>" : options.input;
  pipeline.stats = &stats;
  pipeline.stop_requested = nullptr;
  pipeline.on_lookups_settled = nullptr;
  pipeline.setup_breaker = nullptr;
  // The counting source answers at once: the bound only sizes the dispatcher's batches.
  pipeline.max_in_flight = std::max<size_t>(pipeline.max_in_flight, 4096);
  VerdictTable table(schema::SystemClock::Instance(), table_options);
  CountingSource counting(known);
  DiscardSink sink;
  if (absl::Status s = RunPipeline(**source, sink, pipeline, table, counting); !s.ok()) return s;

  const RunStatsSnapshot snapshot = stats.Snapshot();
  report.rows = snapshot.counter(RunCounter::kRowsRead);
  report.blank_lines = snapshot.counter(RunCounter::kBlankLines);
  report.cells = snapshot.counter(RunCounter::kCells);
  report.input_bytes = snapshot.counter(RunCounter::kInputBytes);
  report.skipped_cells = StatusCount(snapshot, "skipped");
  report.invalid_cells = StatusCount(snapshot, "invalid");
  // Every cell of a malformed row is invalid_row.
  report.invalid_rows = StatusCount(snapshot, "invalid_row") /
                        std::max<size_t>(pipeline.columns.size(), 1);
  report.types = counting.types();
  for (const auto& [type, c] : report.types) {
    report.unique += c.unique;
    report.known += c.known;
    report.lookups += c.lookups;
  }
  report.requests = EstimateRequests(report.lookups, report.batch_size);
  report.read_time = absl::FromChrono(std::chrono::steady_clock::now() - started);
  return report;
}

}  // namespace enrich::engine
