#include "engine/plan.h"

#include "engine/byte_io.h"
#include "engine/journal.h"
#include "engine/persistent_cache.h"
#include "engine/pipeline.h"
#include "engine/run_stats.h"
#include "engine/verdict_table.h"
#include "schema/clock.h"
#include "transport/verdict_source.h"

#include <algorithm>
#include <chrono>
#include <functional>
#include <cmath>
#include <memory>
#include <optional>
#include <thread>
#include <utility>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/clock.h"
#include <sys/stat.h>

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
// its table: a hit there is no lookup), else as cached when the persistent cache (--cache DIR)
// holds it (read as the run reads its table's misses there), else as shared when the workers'
// shared cache holds it (PlanOptions::shared_cache_holds: run --redis), else as a lookup.
// Known, cached and shared ones are answered at once; the others are collected into batches as
// BeastCtiaClient collects them, answered ("no verdict") when a batch is full or the pipeline
// flushes it (VerdictSource::FlushBatch: the run's chunks all wait), and counted as the run's
// requests: a batch of one is a GET, larger ones a POST /ctia/graphql. The plan's pipeline thus
// meets the very points where the run's batches leave. Nothing is sent. A batch left unflushed
// for a second (which the pipeline's rule should never leave) is answered anyway, and counted
// as `safety_flushes`.
class CountingSource : public transport::VerdictSource {
 public:
  // `cache`: may be null; `details`: the run keeps verdict details (a record without them is
  // no answer); `shared`: may be empty.
  CountingSource(VerdictTable& known, PersistentCache* cache, bool details, size_t batch_size,
                 std::function<bool(const schema::Observable&)> shared)
      : known_(known),
        any_known_(known.size() > 0),
        cache_(cache),
        details_(details),
        batch_size_(std::max<size_t>(batch_size, 1)),
        shared_(std::move(shared)) {
    if (batch_size_ > 1) safety_ = std::thread([this] { SafetyLoop(); });
  }
  ~CountingSource() override {
    {
      absl::MutexLock lock(&mu_);
      stopping_ = true;
    }
    if (safety_.joinable()) safety_.join();
  }

  void LookupVerdict(const schema::Observable& observable, Callback done) override {
    const bool hit =
        any_known_ &&
        known_.Resolve(observable.type, observable.value, &no_listener_, 0).resolution ==
            VerdictTable::Resolution::kHit;
    bool cached = false;
    if (!hit && cache_ != nullptr) {
      const VerdictTable::Key key{observable.type, observable.value};
      cache_->ReadBatch(absl::MakeConstSpan(&key, 1), details_,
                        [&cached](absl::Span<const PersistentCache::Hit> hits) {
                          cached = !hits.empty();
                        });
    }
    // Answered by the workers' shared cache: no request either.
    const bool shared = !hit && !cached && shared_ != nullptr && shared_(observable);
    const bool ask = !hit && !cached && !shared;
    std::vector<Callback> full;
    {
      absl::MutexLock lock(&mu_);
      PlanTypeCounts& c = types_[observable.type];
      ++c.unique;
      ++(hit ? c.known : cached ? c.cached : shared ? c.shared : c.lookups);
      if (!ask) {
        // answered at once, below
      } else if (batch_size_ > 1) {
        open_.push_back(std::move(done));
        if (open_.size() == 1) opened_ = absl::Now();
        if (open_.size() < batch_size_) return;
        ++requests_.graphql;
        full.swap(open_);
      } else {
        ++requests_.rest;
      }
    }
    if (!full.empty()) return Answer(std::move(full));
    done(schema::VerdictResult(schema::NoVerdict{}));
  }

  void FlushBatch() override { Answer(TakeOpen()); }

  size_t Collecting() const override {
    absl::MutexLock lock(&mu_);
    return open_.size();
  }

  std::map<std::string, PlanTypeCounts> types() const {
    absl::MutexLock lock(&mu_);
    return types_;
  }
  RequestEstimate requests() const {
    absl::MutexLock lock(&mu_);
    return requests_;
  }
  uint64_t safety_flushes() const {
    absl::MutexLock lock(&mu_);
    return safety_flushes_;
  }

 private:
  // The open batch, counted as the request it would be.
  std::vector<Callback> TakeOpen() {
    absl::MutexLock lock(&mu_);
    if (open_.size() >= 2) ++requests_.graphql;
    if (open_.size() == 1) ++requests_.rest;  // BeastCtiaClient sends a batch of one as a GET
    return std::exchange(open_, {});
  }
  static void Answer(std::vector<Callback> batch) {
    for (Callback& done : batch) done(schema::VerdictResult(schema::NoVerdict{}));
  }
  void SafetyLoop() {
    absl::MutexLock lock(&mu_);
    while (!stopping_) {
      mu_.AwaitWithTimeout(absl::Condition(&stopping_), absl::Milliseconds(200));
      if (stopping_ || open_.empty() || absl::Now() - opened_ < absl::Seconds(1)) continue;
      ++safety_flushes_;
      mu_.Unlock();
      FlushBatch();
      mu_.Lock();
    }
  }

  VerdictTable& known_;
  const bool any_known_;  // a journal was reloaded
  PersistentCache* const cache_;
  const bool details_;
  const size_t batch_size_;
  const std::function<bool(const schema::Observable&)> shared_;
  NoListener no_listener_;
  mutable absl::Mutex mu_;
  std::map<std::string, PlanTypeCounts> types_ ABSL_GUARDED_BY(mu_);
  std::vector<Callback> open_ ABSL_GUARDED_BY(mu_);
  absl::Time opened_ ABSL_GUARDED_BY(mu_);
  RequestEstimate requests_ ABSL_GUARDED_BY(mu_);
  uint64_t safety_flushes_ ABSL_GUARDED_BY(mu_) = 0;
  bool stopping_ ABSL_GUARDED_BY(mu_) = false;
  std::thread safety_;  // last: started once the members above exist
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
  const std::string fingerprint = JobFingerprint(options, input_size);
  JournalReload reload(known, DetailsSpecOf(options.pipeline));
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
  if (absl::Status s = ReloadJournal(options, (*source)->raw_size().value_or(0), known, report);
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
  // --cache DIR: read by the counting source for what the journal does not answer, as the
  // run reads its table's misses there (what it holds is no lookup); no record is written,
  // and a DIR without a cache is none (nothing created).
  auto cache = OpenJobCache(
      options, [&report](absl::string_view line) { report.cache_note = std::string(line); },
      true);
  if (!cache.ok()) return cache.status();
  pipeline.cache = nullptr;
  VerdictTable table(schema::SystemClock::Instance(), table_options);
  CountingSource counting(known, cache->get(), !DetailsSpecOf(pipeline).empty(),
                          report.batch_size, plan.shared_cache_holds);
  DiscardSink sink;
  if (absl::Status s = RunPipeline(**source, sink, pipeline, table, counting); !s.ok()) return s;

  const RunStatsSnapshot snapshot = stats.Snapshot();
  report.rows = snapshot.counter(RunCounter::kRowsRead);
  report.blank_lines = snapshot.counter(RunCounter::kBlankLines);
  report.cells = snapshot.counter(RunCounter::kCells);
  report.input_bytes = snapshot.counter(RunCounter::kInputBytes);
  report.skipped_cells = StatusCount(snapshot, "skipped");
  report.allowlisted_cells = snapshot.counter(RunCounter::kAllowlisted);
  report.empty_cells = report.skipped_cells - report.allowlisted_cells;
  report.invalid_cells = StatusCount(snapshot, "invalid");
  // Every cell of a malformed row is invalid_row.
  report.invalid_rows =
      StatusCount(snapshot, "invalid_row") / std::max<size_t>(pipeline.columns.size(), 1);
  report.types = counting.types();
  for (const auto& [type, c] : report.types) {
    report.unique += c.unique;
    report.known += c.known;
    report.cache_known += c.cached;
    report.shared_known += c.shared;
    report.lookups += c.lookups;
  }
  report.requests = counting.requests();
  report.safety_flushes = counting.safety_flushes();
  report.read_time = absl::FromChrono(std::chrono::steady_clock::now() - started);
  return report;
}

}  // namespace enrich::engine
