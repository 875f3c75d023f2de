#include "engine/pipeline.h"

#include <algorithm>
#include <array>
#include <atomic>
#include <chrono>
#include <exception>
#include <memory>
#include <optional>
#include <thread>
#include <utility>

#include "absl/base/thread_annotations.h"
#include "absl/cleanup/cleanup.h"
#include "absl/container/flat_hash_map.h"
#include "absl/strings/cord.h"
#include "absl/strings/escaping.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/synchronization/mutex.h"
#include "absl/types/span.h"
#include "engine/chunk_reader.h"
#include "engine/csv.h"
#include "engine/csv_records.h"
#include "engine/enricher.h"
#include "engine/internal/byte_arena.h"
#include "engine/internal/value_memo.h"
#include "engine/ndjson.h"
#include "oneapi/tbb/parallel_pipeline.h"
#include "oneapi/tbb/task.h"
#include "oneapi/tbb/task_arena.h"
#include "rapidjson/document.h"
#include "rapidjson/error/en.h"
#include "schema/disposition.h"
#include "schema/time_format.h"
#include "transport/latency_histogram.h"

namespace enrich::engine {
namespace {

constexpr std::array<absl::string_view, 5> kAddedFields = {
    "disposition", "disposition_name", "judgement_id", "valid_until", "status"};

// New uniques are resolved against the verdict table in batches of this many, while the chunk
// is parsed: misses go out early, and a batch takes each shard's lock once, with enough keys
// per shard (8 on average with 64 shards) for the table to overlap their cache misses.
constexpr size_t kResolveBatch = 512;

// Cell slots that need no lookup.
constexpr uint32_t kSkippedCell = UINT32_MAX;
constexpr uint32_t kInvalidCell = UINT32_MAX - 1;
constexpr uint32_t kInvalidRowCell = UINT32_MAX - 2;

// ChunkWork::added_spans of a unique not formatted yet.
constexpr std::pair<uint32_t, uint32_t> kNotFormatted = {UINT32_MAX, 0};

// Indices into ChunkWork::fixed_counts.
enum FixedStatus { kOk, kNoVerdict, kSkipped, kInvalid, kInvalidRow, kFixedStatuses };
constexpr std::array<absl::string_view, kFixedStatuses> kFixedStatusNames = {
    "ok", "no_verdict", "skipped", "invalid", "invalid_row"};

// The fixed state shared by every chunk: where the columns are and how output is named.
struct Layout {
  DataFormat in = DataFormat::kCsv;
  DataFormat out = DataFormat::kCsv;
  char delim = ',';
  bool header = true;
  size_t header_fields = 0;              // CSV with header: expected field count
  std::vector<uint32_t> csv_index;       // per column, 0-based CSV field
  std::vector<std::string> json_path;    // per column, NDJSON field path
  std::vector<std::string> types;        // per column
  std::vector<std::string> json_keys;    // CSV→NDJSON: `"name":` per CSV field
  std::vector<std::string> added_csv;    // added names, CSV-escaped
  // CSV output: "<d><n><d><name><d>" for dispositions 1..5 (index n), "<d><status>" for the
  // fixed statuses: the constant parts of the added fields, escaped once.
  std::array<std::string, 6> csv_disposition;
  std::array<std::string, kFixedStatuses> csv_status;
  std::string csv_no_verdict;  // the added fields of a "no verdict" answer
  std::vector<std::string> added_json;   // added names as `"name":`
  std::string raw_json_key;              // `"<prefix>raw":` for CSV rows that are not rows
  absl::string_view eol = "\n";
  std::string input_name;
  bool strict = false;
  size_t max_record_bytes = 0;
  const schema::Allowlist* allowlist = nullptr;
};

class Run;

// One chunk on its way through the pipeline. Registered with the verdict table as the listener
// of its unique observables' lookups; must live until they all settle (the await stage).
class ChunkWork final : public SettleListener {
 public:
  struct Row {
    absl::string_view raw;
    absl::string_view terminator;
    uint64_t line = 0;
    uint32_t record = 0;  // CSV: index into csv.records()
    bool invalid = false;
    bool object_empty = false;  // NDJSON: `{}`
    bool blank = false;         // NDJSON: empty or whitespace only; not a row
  };

  Chunk chunk;
  size_t skip_records = 0;  // the header record of the first chunk
  CsvRecords csv;
  std::vector<Row> rows;
  std::vector<uint32_t> cells;  // rows × columns: a slot into uniques, or a k*Cell value
  // Normalized type and value per unique: views of the chunk's bytes when the raw value was
  // already normal, else of `values`.
  std::vector<VerdictTable::Key> uniques;
  internal::ByteArena values;
  size_t resolved = 0;  // uniques[0, resolved) went to the verdict table
  // Per unique. Sized (to the chunk's cell count) before the first Resolve and never resized
  // while lookups are outstanding: OnSettled writes into it from other threads.
  std::vector<Settled> results;
  std::atomic<int64_t> pending{1};  // unsettled uniques + 1 held by the pipeline task
  tbb::task::suspend_point suspend_point{};
  absl::Status row_error;  // --strict: the first malformed row
  std::string out;
  // CSV output: the added fields of each unique (a span of `added` per slot), formatted once
  // and copied into every row that holds the unique. Cache hits are formatted as soon as they
  // are resolved, while their verdict is still in the CPU cache; the rest in Format.
  std::string added;
  std::vector<std::pair<uint32_t, uint32_t>> added_spans;  // offset, length; kNotFormatted
  // CSV output: the last valid_until formatted, and its text with the delimiter before it and
  // the "ok" status after.
  int64_t iso_ms = INT64_MIN;
  std::string iso_text;
  std::array<uint64_t, kFixedStatuses> fixed_counts{};
  absl::flat_hash_map<std::string, uint64_t> error_counts;
  uint64_t hits = 0;
  uint64_t joined = 0;
  uint64_t blank_lines = 0;  // NDJSON rows[] that are blank lines, not rows

  // Ready for the next chunk, keeping the buffers' capacity (chunks are reused so that a run
  // in steady state does not allocate, nor fault in fresh pages, per chunk).
  void Reset() {
    skip_records = 0;
    rows.clear();
    cells.clear();
    uniques.clear();
    values.Clear();
    resolved = 0;
    results.clear();
    pending.store(1, std::memory_order_relaxed);
    row_error = absl::OkStatus();
    out.clear();
    added.clear();
    added_spans.clear();
    fixed_counts.fill(0);
    error_counts.clear();
    hits = 0;
    joined = 0;
    blank_lines = 0;
  }

  void OnSettled(uint32_t slot, const Settled& settled) override {
    results[slot] = settled;
    if (pending.fetch_sub(1, std::memory_order_acq_rel) == 1) tbb::task::resume(suspend_point);
  }

  // Blocks the pipeline task, not its thread, until every unique has settled.
  void Await() {
    if (pending.load(std::memory_order_acquire) == 1) {
      pending.store(0, std::memory_order_relaxed);
      return;
    }
    tbb::task::suspend([this](tbb::task::suspend_point sp) {
      suspend_point = sp;
      // Drop the task's own count last, so whoever reaches zero sees `suspend_point`.
      if (pending.fetch_sub(1, std::memory_order_acq_rel) == 1) tbb::task::resume(sp);
    });
  }
};

// Sends misses to the source, at most `max_in_flight` at a time; the rest wait in a queue.
// The source's callbacks (an Asio thread) only hand the answer over; a settle thread of its
// own journals each answer and settles the verdict table (which wakes the waiting chunks), so
// the Asio thread, the lookup rate's bottleneck, does no more than the transport's work. A
// lookup counts as in flight until its answer is journaled, so a killed run loses at most
// `max_in_flight` answered-but-unjournaled lookups.
//
// The slots the settle thread frees are filled by the source's thread at its next answer, as
// the transport's own bench does: the settle thread then never calls into the source, whose
// locks and timers it would share with the io thread (on one CPU, a lock holder preempted by
// the io thread's wake-up makes the io thread block on it). Only when no lookup awaits an
// answer, so that no answer will come to do it, does the settle thread send them itself.
//
// Each lookup lives in a pooled record from submission to settlement: the source's callback
// holds the dispatcher and the record only (small enough for std::function's inline storage),
// the queues link records, and a recycled record's strings keep their capacity, so a lookup in
// steady state allocates nothing here.
class LookupDispatcher {
 public:
  LookupDispatcher(Run& run, VerdictTable& table, transport::VerdictSource& source,
                   size_t max_in_flight, const PipelineOptions& options)
      : run_(run),
        table_(table),
        source_(source),
        max_in_flight_(std::max<size_t>(max_in_flight, 1)),
        options_(options),
        settler_([this] { SettleLoop(); }) {}

  // Settles what the source has answered, then ends the settle thread. Every lookup has been
  // answered by then (each chunk awaits its lookups before the pipeline ends).
  ~LookupDispatcher() {
    {
      absl::MutexLock lock(&settle_mu_);
      settle_stop_ = true;
    }
    settler_.join();
  }

  // Queues lookups of `keys` (each a kMiss of the verdict table) and sends what the in-flight
  // bound allows.
  void SubmitBatch(absl::Span<const VerdictTable::Key> keys);

  // Stops sending: queued lookups are abandoned (their waiters told), later ones too.
  void Stop() {
    Lookup* dropped = nullptr;
    {
      absl::MutexLock lock(&mu_);
      stopped_ = true;
      stopped_flag_.store(true, std::memory_order_relaxed);
      dropped = std::exchange(queue_head_, nullptr);
      queue_tail_ = nullptr;
    }
    AbandonAll(dropped);
  }

  uint64_t sent() const { return sent_.load(std::memory_order_relaxed); }
  const transport::LatencyHistogram& latency() const { return latency_; }

 private:
  // One lookup, from submission until it is settled; then back to the pool. Small: a chunk's
  // misses wait as records in the queue.
  struct Lookup {
    schema::Observable observable;
    std::chrono::steady_clock::time_point started;
    Lookup* next = nullptr;  // in the queue or the free list
  };
  struct Answered {
    Answered(Lookup* l, absl::Duration t, absl::StatusOr<schema::VerdictResult>&& r)
        : lookup(l), took(t), result(std::move(r)) {}
    Lookup* lookup;
    absl::Duration took;  // from sending to the answer
    absl::StatusOr<schema::VerdictResult> result;
  };

  // A pooled record (or a new one). Its strings are assigned, so they reuse their capacity.
  Lookup* NewLookup(const VerdictTable::Key& key) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void Recycle(Lookup* first, Lookup* last) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    last->next = free_;
    free_ = first;
  }
  // Abandons the linked lookups from `first` on (their waiters told) and recycles them.
  void AbandonAll(Lookup* first);
  void Pump();
  void OnDone(Lookup* lookup, absl::StatusOr<schema::VerdictResult>&& result);
  void SettleLoop();
  bool SettleReady() const ABSL_SHARED_LOCKS_REQUIRED(settle_mu_) {
    return !settled_queue_.empty() || settle_stop_;
  }

  Run& run_;
  VerdictTable& table_;
  transport::VerdictSource& source_;
  const size_t max_in_flight_;
  const PipelineOptions& options_;
  absl::Mutex mu_;
  Lookup* queue_head_ ABSL_GUARDED_BY(mu_) = nullptr;  // waiting to be sent, oldest first
  Lookup* queue_tail_ ABSL_GUARDED_BY(mu_) = nullptr;
  Lookup* free_ ABSL_GUARDED_BY(mu_) = nullptr;
  std::vector<std::unique_ptr<Lookup>> pool_ ABSL_GUARDED_BY(mu_);  // every record made
  size_t in_flight_ ABSL_GUARDED_BY(mu_) = 0;
  // Of those in flight, how many are not answered yet; and whether the settle thread has
  // freed slots with lookups queued. Atomics, so an answer checks for room without mu_: the
  // settle thread sets room_ then reads unanswered_, an answer decrements unanswered_ then
  // reads room_ (all sequentially consistent), so one of them sees the other and sends.
  std::atomic<size_t> unanswered_{0};
  std::atomic<bool> room_{false};
  bool stopped_ ABSL_GUARDED_BY(mu_) = false;
  std::atomic<bool> stopped_flag_{false};  // stopped_, read without the lock while sending
  std::atomic<uint64_t> sent_{0};
  transport::LatencyHistogram latency_;
  absl::Mutex settle_mu_;
  // Answered, not yet settled; swapped with the settle thread's batch, so both keep capacity.
  std::vector<Answered> settled_queue_ ABSL_GUARDED_BY(settle_mu_);
  bool settle_stop_ ABSL_GUARDED_BY(settle_mu_) = false;
  std::thread settler_;  // last: started once the members above exist
};

// The state of one RunPipeline call.
class Run {
 public:
  Run(const PipelineOptions& options, Layout layout, VerdictTable& table,
      transport::VerdictSource& source)
      : options_(options),
        layout_(std::move(layout)),
        table_(table),
        dispatcher_(*this, table, source, options.max_in_flight, options) {}

  // Records the first failure; stops reading and sending.
  void Fail(absl::Status status) {
    {
      absl::MutexLock lock(&mu_);
      if (!failure_.ok()) return;
      failure_ = std::move(status);
    }
    failed_.store(true, std::memory_order_release);
    dispatcher_.Stop();
  }
  bool failed() const { return failed_.load(std::memory_order_acquire); }
  absl::Status failure() {
    absl::MutexLock lock(&mu_);
    return failure_;
  }

  // Parses the chunk and extracts its observables; resolves each new unique against the
  // verdict table as soon as it is found, so misses go out while the chunk is still parsed.
  void ParseAndExtract(ChunkWork& w);
  void Format(ChunkWork& w);

  const Layout& layout() const { return layout_; }
  LookupDispatcher& dispatcher() { return dispatcher_; }
  const PipelineOptions& options() const { return options_; }

 private:
  void ParseCsv(ChunkWork& w);
  void ParseNdjson(ChunkWork& w);
  // The first record of the chunk longer than max_record_bytes, if any, becomes its row_error
  // (ChunkReader stops only those that do not end within the bytes it holds).
  void CheckRecordSizes(ChunkWork& w);
  // The chunk's extraction state: each column's raw values seen so far, and the
  // uniques. Two raw values that normalize alike ("EVIL.com", "evil.com") get two slots; the
  // verdict table's single flight still sends one lookup.
  struct CellMemo {
    // Per column: the slot of each raw value seen in the chunk. The parsing thread's own,
    // reused for every chunk it parses, so they stay in its caches.
    std::vector<internal::ValueMemo>& seen;
    // CSV fields are views into the chunk, which outlives the uniques' views; NDJSON values
    // live in a per-line document, so new ones are copied into the chunk's arena first.
    bool copy_keys;
  };
  // The calling thread's memos, one per column, each emptied for about `values` values.
  static std::vector<internal::ValueMemo>& ThreadMemos(size_t columns, size_t values);
  uint32_t AddCell(ChunkWork& w, size_t column, absl::string_view raw, CellMemo& memo);
  // Resolves the uniques found since the last call (w.resolved onwards) in one batch; misses go
  // to the dispatcher at once.
  void ResolveNew(ChunkWork& w);
  void AppendCsvAdded(ChunkWork& w, std::string& out, uint32_t cell);
  // Formats the CSV added fields of unique `slot` into w.added.
  void FormatCsvAdded(ChunkWork& w, uint32_t slot);
  void AppendJsonAdded(ChunkWork& w, std::string& out, size_t column, uint32_t cell);
  void CountCell(ChunkWork& w, uint32_t cell);

  const PipelineOptions& options_;
  const Layout layout_;
  VerdictTable& table_;
  LookupDispatcher dispatcher_;
  std::atomic<bool> failed_{false};
  absl::Mutex mu_;
  absl::Status failure_ ABSL_GUARDED_BY(mu_);
};

LookupDispatcher::Lookup* LookupDispatcher::NewLookup(const VerdictTable::Key& key) {
  Lookup* l = free_;
  if (l != nullptr) {
    free_ = l->next;
  } else {
    l = pool_.emplace_back(std::make_unique<Lookup>()).get();
  }
  l->observable.type.assign(key.type.data(), key.type.size());
  l->observable.value.assign(key.value.data(), key.value.size());
  l->next = nullptr;
  return l;
}

void LookupDispatcher::AbandonAll(Lookup* first) {
  if (first == nullptr) return;
  Lookup* last = first;
  for (Lookup* l = first; l != nullptr; l = l->next) {
    table_.Abandon(l->observable.type, l->observable.value, "error:cancelled");
    last = l;
  }
  absl::MutexLock lock(&mu_);
  Recycle(first, last);
}

void LookupDispatcher::SubmitBatch(absl::Span<const VerdictTable::Key> keys) {
  if (keys.empty()) return;
  bool queued = false;
  {
    absl::MutexLock lock(&mu_);
    queued = !stopped_;
    if (queued) {
      for (const VerdictTable::Key& key : keys) {
        Lookup* l = NewLookup(key);
        if (queue_tail_ != nullptr) {
          queue_tail_->next = l;
        } else {
          queue_head_ = l;
        }
        queue_tail_ = l;
      }
    }
  }
  if (!queued) {
    for (const VerdictTable::Key& key : keys) {
      table_.Abandon(key.type, key.value, "error:cancelled");
    }
    return;
  }
  Pump();
}

void LookupDispatcher::Pump() {
  // A source answering inline would recurse Pump → LookupVerdict → OnDone → Pump; the
  // outermost Pump on this thread keeps sending instead.
  thread_local bool pumping = false;
  if (pumping) return;
  pumping = true;
  for (;;) {
    // Takes as many as the bound allows under one lock, then sends them without it.
    Lookup* first = nullptr;
    size_t taken = 0;
    {
      absl::MutexLock lock(&mu_);
      if (stopped_) break;
      Lookup* last = nullptr;
      while (queue_head_ != nullptr && in_flight_ + taken < max_in_flight_) {
        last = queue_head_;
        queue_head_ = queue_head_->next;
        if (first == nullptr) first = last;
        ++taken;
      }
      if (taken == 0) break;
      last->next = nullptr;
      if (queue_head_ == nullptr) queue_tail_ = nullptr;
      in_flight_ += taken;
    }
    unanswered_.fetch_add(taken);  // before any of them is sent
    for (Lookup* l = first; l != nullptr;) {
      Lookup* const next = l->next;  // `l` may settle and be recycled once it is sent
      if (stopped_flag_.load(std::memory_order_relaxed)) {
        // Stopped while these were being sent: the rest are not sent.
        size_t left = 0;
        for (Lookup* r = l; r != nullptr; r = r->next) ++left;
        AbandonAll(l);
        absl::MutexLock lock(&mu_);
        in_flight_ -= left;
        unanswered_.fetch_sub(left);
        break;
      }
      sent_.fetch_add(1, std::memory_order_relaxed);
      if (options_.stats != nullptr) options_.stats->Add(RunCounter::kLookupsSent);
      l->started = std::chrono::steady_clock::now();
      // Called once: the record goes on into the settle queue.
      source_.LookupVerdict(l->observable,
                            [this, l](absl::StatusOr<schema::VerdictResult>&& result) {
                              OnDone(l, std::move(result));
                            });
      l = next;
    }
  }
  pumping = false;
}

void LookupDispatcher::OnDone(Lookup* l, absl::StatusOr<schema::VerdictResult>&& result) {
  const absl::Duration took = absl::FromChrono(std::chrono::steady_clock::now() - l->started);
  // Rejected credentials fail every lookup the same way; a checkpoint signal means the source
  // would wait too long: both end the run at once with this lookup unsettled (not journaled).
  const bool fatal = !result.ok() &&
                     (transport::CheckpointWait(result.status()).has_value() ||
                      result.status().code() == absl::StatusCode::kUnauthenticated);
  if (fatal) {
    latency_.Record(took);
    if (options_.stats != nullptr) {
      options_.stats->Add(RunCounter::kLookupsSettled);
      options_.stats->RecordLatency(took);
    }
    unanswered_.fetch_sub(1);
    run_.Fail(result.status());
    table_.Abandon(l->observable.type, l->observable.value, ErrorStatusFor(result.status()));
    {
      absl::MutexLock lock(&mu_);
      --in_flight_;
      Recycle(l, l);
    }
    Pump();
    return;
  }
  // Fills the slots the settle thread has freed since the last answer (see the class comment).
  unanswered_.fetch_sub(1);
  if (room_.load() && room_.exchange(false)) Pump();
  // Last: once the settle thread has it, the run may end and this dispatcher go. The settle
  // thread counts it and frees its in-flight slot once it is journaled.
  absl::MutexLock lock(&settle_mu_);
  settled_queue_.emplace_back(l, took, std::move(result));
}

void LookupDispatcher::SettleLoop() {
  std::vector<Answered> batch;
  std::vector<std::string> errors;  // per answer: "error:<code>" or ""; strings reused
  std::vector<PipelineOptions::SettledLookup> told;
  std::vector<VerdictTable::Completion> completions;
  std::vector<absl::Duration> took;
  for (;;) {
    {
      absl::MutexLock lock(&settle_mu_);
      settle_mu_.Await(absl::Condition(this, &LookupDispatcher::SettleReady));
      if (settled_queue_.empty()) return;  // stopping, and everything is settled
      batch.swap(settled_queue_);
    }
    // The answers' counts and latencies, a batch at a time (the stats are atomics).
    took.clear();
    for (const Answered& a : batch) {
      latency_.Record(a.took);
      took.push_back(a.took);
    }
    if (options_.stats != nullptr) {
      options_.stats->Add(RunCounter::kLookupsSettled, batch.size());
      options_.stats->RecordLatencies(took);
    }
    if (errors.size() < batch.size()) errors.resize(batch.size());
    for (size_t i = 0; i < batch.size(); ++i) {
      if (batch[i].result.ok()) {
        errors[i].clear();
      } else {
        errors[i] = ErrorStatusFor(batch[i].result.status());
      }
    }
    if (options_.on_lookups_settled) {
      told.clear();
      for (size_t i = 0; i < batch.size(); ++i) {
        told.push_back({&batch[i].lookup->observable, &batch[i].result, errors[i]});
      }
      options_.on_lookups_settled(told);
    } else if (options_.on_lookup_settled) {
      for (size_t i = 0; i < batch.size(); ++i) {
        options_.on_lookup_settled(batch[i].lookup->observable, batch[i].result, errors[i]);
      }
    }
    completions.clear();
    for (size_t i = 0; i < batch.size(); ++i) {
      const schema::Observable& o = batch[i].lookup->observable;
      completions.push_back({o.type, o.value, &batch[i].result, errors[i]});
    }
    table_.CompleteBatch(completions);
    for (size_t i = 1; i < batch.size(); ++i) batch[i - 1].lookup->next = batch[i].lookup;
    batch.back().lookup->next = nullptr;
    // The freed slots are filled at the next answer; with none to come, here.
    bool queued = false;
    {
      absl::MutexLock lock(&mu_);
      in_flight_ -= batch.size();
      Recycle(batch.front().lookup, batch.back().lookup);
      queued = queue_head_ != nullptr;
    }
    batch.clear();
    if (queued) {
      room_.store(true);
      if (unanswered_.load() == 0) Pump();
    }
  }
}

std::vector<internal::ValueMemo>& Run::ThreadMemos(size_t columns, size_t values) {
  thread_local std::vector<internal::ValueMemo> memos;
  if (memos.size() < columns) memos.resize(columns);
  for (size_t c = 0; c < columns; ++c) memos[c].Reset(values);
  return memos;
}

uint32_t Run::AddCell(ChunkWork& w, size_t column, absl::string_view raw, CellMemo& memo) {
  // Log columns repeat their values: normalize each distinct raw value once per chunk. One
  // probe finds or adds it; NDJSON values are kept as the arena's copy.
  absl::string_view kept = raw;  // what the memo keeps, and what the uniques may view
  auto keep = [&](absl::string_view v) {
    if (memo.copy_keys) kept = w.values.Copy(v);
    return kept;
  };
  auto [memo_cell, added] = memo.seen[column].FindOrAdd(raw, keep);
  if (!added) return *memo_cell;
  raw = kept;
  uint32_t cell;
  const ExtractedView e =
      ExtractObservableView(layout_.types[column], raw, layout_.allowlist, w.values);
  if (e.status == CellStatus::kSkipped) {
    cell = kSkippedCell;
  } else if (e.status == CellStatus::kInvalid) {
    cell = kInvalidCell;
  } else {
    cell = static_cast<uint32_t>(w.uniques.size());
    w.uniques.push_back({e.type, e.value});
    if (w.uniques.size() - w.resolved >= kResolveBatch) ResolveNew(w);
  }
  *memo_cell = cell;  // neither extraction nor ResolveNew touches the memo: the slot is there
  return cell;
}

void Run::ParseCsv(ChunkWork& w) {
  w.csv.Parse(w.chunk.bytes, w.chunk.first_line, w.chunk.starts_input, layout_.delim);
  const auto& records = w.csv.records();
  const size_t columns = layout_.types.size();
  // Sized once for the chunk: growing the memos row by row would rehash them several times.
  CellMemo memo{ThreadMemos(columns, records.size()), /*copy_keys=*/false};
  w.rows.reserve(records.size());
  w.cells.reserve(records.size() * columns);
  w.results.resize(records.size() * columns);  // at most one unique per cell
  for (size_t i = w.skip_records; i < records.size(); ++i) {
    const CsvRecordView& r = records[i];
    ChunkWork::Row& row = w.rows.emplace_back();
    row.raw = r.raw;
    row.terminator = r.terminator;
    row.line = r.line;
    row.record = static_cast<uint32_t>(i);
    std::string problem;
    if (r.malformed) {
      problem = CsvRecords::Problem(r);
    } else if (layout_.header && r.field_count != layout_.header_fields) {
      problem = absl::StrCat(r.field_count, " fields, the header has ", layout_.header_fields);
    } else if (!layout_.header) {
      for (size_t c = 0; c < columns; ++c) {
        if (layout_.csv_index[c] >= r.field_count) {
          problem = absl::StrCat(r.field_count, " fields, no column ", layout_.csv_index[c] + 1);
          break;
        }
      }
    }
    if (!problem.empty()) {
      row.invalid = true;
      if (layout_.strict && w.row_error.ok()) {
        w.row_error = absl::InvalidArgumentError(
            absl::StrCat(layout_.input_name, ":", r.line, ": malformed row: ", problem));
      }
      for (size_t c = 0; c < columns; ++c) w.cells.push_back(kInvalidRowCell);
      continue;
    }
    for (size_t c = 0; c < columns; ++c) {
      w.cells.push_back(AddCell(w, c, w.csv.field(r, layout_.csv_index[c]), memo));
    }
  }
}

void Run::ParseNdjson(ChunkWork& w) {
  const absl::string_view bytes = w.chunk.bytes;
  const size_t columns = layout_.types.size();
  const size_t lines =
      static_cast<size_t>(std::count(bytes.begin(), bytes.end(), '\n')) + 1;  // at most
  CellMemo memo{ThreadMemos(columns, lines), /*copy_keys=*/true};
  w.results.resize(lines * columns);  // at most one unique per cell
  rapidjson::Document doc;
  std::vector<const rapidjson::Value*> found;  // per column, in the current line
  std::string number;
  uint64_t line = w.chunk.first_line;
  size_t pos = 0;
  while (pos < bytes.size()) {
    size_t nl = bytes.find('\n', pos);
    const bool has_nl = nl != absl::string_view::npos;
    if (!has_nl) nl = bytes.size();
    ChunkWork::Row& row = w.rows.emplace_back();
    row.line = line++;
    row.raw = bytes.substr(pos, nl - pos);
    row.terminator = has_nl ? absl::string_view("\n") : absl::string_view();
    if (!row.raw.empty() && row.raw.back() == '\r' && has_nl) {
      row.raw.remove_suffix(1);
      row.terminator = "\r\n";
    }
    pos = has_nl ? nl + 1 : nl;
    if (row.raw.find_first_not_of(" \t\r") == absl::string_view::npos) {
      // NDJSON readers skip blank lines: not a row, so no status, and not malformed (even under
      // --strict); the output keeps the line's bytes and the summary counts it.
      row.blank = true;
      ++w.blank_lines;
      for (size_t c = 0; c < columns; ++c) w.cells.push_back(kSkippedCell);
      continue;
    }

    doc.Parse<rapidjson::kParseValidateEncodingFlag>(row.raw.data(), row.raw.size());
    std::string problem;
    if (doc.HasParseError()) {
      problem = absl::StrCat("invalid JSON at byte ", doc.GetErrorOffset() + 1, ": ",
                             rapidjson::GetParseError_En(doc.GetParseError()));
    } else if (!doc.IsObject()) {
      problem = "not a JSON object";
    } else {
      found.clear();
      for (size_t c = 0; c < columns && problem.empty(); ++c) {
        found.push_back(FindJsonPath(doc, layout_.json_path[c], &problem));
      }
    }
    if (!problem.empty()) {
      row.invalid = true;
      if (layout_.strict && w.row_error.ok()) {
        w.row_error = absl::InvalidArgumentError(
            absl::StrCat(layout_.input_name, ":", row.line, ": malformed row: ", problem));
      }
      for (size_t c = 0; c < columns; ++c) w.cells.push_back(kInvalidRowCell);
      continue;
    }
    row.object_empty = doc.ObjectEmpty();
    for (size_t c = 0; c < columns; ++c) {
      const rapidjson::Value* v = found[c];
      if (v == nullptr || v->IsNull()) {
        w.cells.push_back(kSkippedCell);
      } else if (v->IsString()) {
        w.cells.push_back(
            AddCell(w, c, absl::string_view(v->GetString(), v->GetStringLength()), memo));
      } else if (v->IsInt64() || v->IsUint64()) {
        number = v->IsInt64() ? absl::StrCat(v->GetInt64()) : absl::StrCat(v->GetUint64());
        w.cells.push_back(AddCell(w, c, number, memo));
      } else {
        w.cells.push_back(kInvalidCell);  // an object, array, boolean or fraction
      }
    }
  }
}

void Run::ParseAndExtract(ChunkWork& w) {
  if (layout_.in == DataFormat::kCsv) {
    ParseCsv(w);
  } else {
    ParseNdjson(w);
  }
  if (w.chunk.bytes.size() > layout_.max_record_bytes) CheckRecordSizes(w);
  ResolveNew(w);
}

void Run::CheckRecordSizes(ChunkWork& w) {
  auto check = [&](absl::string_view raw, uint64_t line, bool open_quote) {
    if (raw.size() <= layout_.max_record_bytes) return true;
    if (w.row_error.ok()) {
      w.row_error = RecordTooLongError(layout_.input_name, line, layout_.max_record_bytes,
                                       open_quote ? kOpenQuoteHint : "");
    }
    return false;
  };
  if (layout_.in == DataFormat::kCsv) {
    for (const CsvRecordView& r : w.csv.records()) {  // the header too
      if (!check(r.raw, r.line, r.problem == CsvProblem::kOpenQuote)) return;
    }
  } else {
    for (const ChunkWork::Row& row : w.rows) {
      if (!check(row.raw, row.line, false)) return;
    }
  }
}

void Run::ResolveNew(ChunkWork& w) {
  const size_t first = w.resolved;
  const size_t n = w.uniques.size() - first;
  if (n == 0) return;
  thread_local std::vector<VerdictTable::ResolveResult> answers;
  answers.resize(n);
  // Counted before the listener is registered, so an early settlement cannot reach zero.
  w.pending.fetch_add(static_cast<int64_t>(n), std::memory_order_relaxed);
  table_.ResolveBatch(absl::MakeConstSpan(w.uniques).subspan(first), &w,
                      static_cast<uint32_t>(first), answers.data());
  w.resolved = w.uniques.size();
  int64_t hits = 0;
  thread_local std::vector<VerdictTable::Key> misses;
  misses.clear();
  for (size_t i = 0; i < n; ++i) {
    switch (answers[i].resolution) {
      case VerdictTable::Resolution::kHit:
        w.results[first + i] = answers[i].settled;
        ++hits;
        break;
      case VerdictTable::Resolution::kJoined:
        ++w.joined;
        break;
      case VerdictTable::Resolution::kMiss:
        misses.push_back(w.uniques[first + i]);
        break;
    }
  }
  dispatcher_.SubmitBatch(misses);
  w.hits += static_cast<uint64_t>(hits);
  w.pending.fetch_sub(hits, std::memory_order_relaxed);
  if (layout_.out == DataFormat::kCsv) {
    w.added_spans.resize(first + n, kNotFormatted);
    for (size_t i = 0; i < n; ++i) {
      if (answers[i].resolution == VerdictTable::Resolution::kHit) {
        FormatCsvAdded(w, static_cast<uint32_t>(first + i));
      }
    }
  }
}

void Run::FormatCsvAdded(ChunkWork& w, uint32_t slot) {
  const size_t start = w.added.size();
  AppendCsvAdded(w, w.added, slot);
  w.added_spans[slot] = {static_cast<uint32_t>(start),
                         static_cast<uint32_t>(w.added.size() - start)};
}

void Run::CountCell(ChunkWork& w, uint32_t cell) {
  switch (cell) {
    case kSkippedCell:
      ++w.fixed_counts[kSkipped];
      return;
    case kInvalidCell:
      ++w.fixed_counts[kInvalid];
      return;
    case kInvalidRowCell:
      ++w.fixed_counts[kInvalidRow];
      return;
    default:
      break;
  }
  const Settled& s = w.results[cell];
  switch (s.kind) {
    case Settled::Kind::kVerdict:
      ++w.fixed_counts[kOk];
      break;
    case Settled::Kind::kNoVerdict:
      ++w.fixed_counts[kNoVerdict];
      break;
    case Settled::Kind::kFailed:
      ++w.error_counts[s.error];
      break;
  }
}

absl::string_view StatusText(const ChunkWork& w, uint32_t cell) {
  switch (cell) {
    case kSkippedCell:
      return kFixedStatusNames[kSkipped];
    case kInvalidCell:
      return kFixedStatusNames[kInvalid];
    case kInvalidRowCell:
      return kFixedStatusNames[kInvalidRow];
    default:
      break;
  }
  const Settled& s = w.results[cell];
  switch (s.kind) {
    case Settled::Kind::kVerdict:
      return kFixedStatusNames[kOk];
    case Settled::Kind::kNoVerdict:
      return kFixedStatusNames[kNoVerdict];
    case Settled::Kind::kFailed:
      break;
  }
  return s.error;
}

const Settled* VerdictOf(const ChunkWork& w, uint32_t cell) {
  if (cell >= kInvalidRowCell) return nullptr;
  const Settled& s = w.results[cell];
  return s.kind == Settled::Kind::kVerdict ? &s : nullptr;
}

void Run::AppendCsvAdded(ChunkWork& w, std::string& out, uint32_t cell) {
  const char d = layout_.delim;
  const Settled* v = VerdictOf(w, cell);
  // The common answers in fewer appends: "no verdict" is one constant; a verdict with a known
  // disposition is its constant prefix, the judgement id, and the end time and status, which
  // verdicts often share (formatted once while it repeats).
  if (cell < kInvalidRowCell && w.results[cell].kind == Settled::Kind::kNoVerdict) {
    out.append(layout_.csv_no_verdict);
    return;
  }
  if (v != nullptr && v->disposition >= 1 && v->disposition <= 5) {
    out.append(layout_.csv_disposition[static_cast<size_t>(v->disposition)]);
    AppendCsvField(out, v->judgement_id, d);
    if (v->valid_until_ms != w.iso_ms) {
      w.iso_text.clear();
      w.iso_text.push_back(d);
      AppendIsoMillis(w.iso_text, v->valid_until_ms);
      w.iso_text.append(layout_.csv_status[kOk]);
      w.iso_ms = v->valid_until_ms;
    }
    out.append(w.iso_text);
    return;
  }
  if (v != nullptr && v->disposition >= 1 && v->disposition <= 5) {
    out.append(layout_.csv_disposition[static_cast<size_t>(v->disposition)]);
  } else if (v != nullptr) {
    out.push_back(d);
    absl::StrAppend(&out, v->disposition);
    out.push_back(d);
    const auto disposition = schema::DispositionFromNumber(v->disposition);
    AppendCsvField(out, disposition.has_value() ? schema::DispositionName(*disposition) : "", d);
    out.push_back(d);
  }
  if (v != nullptr) {
    AppendCsvField(out, v->judgement_id, d);
    out.push_back(d);
    AppendIsoMillis(out, v->valid_until_ms);
  } else {
    out.append(4, d);
  }
  const absl::string_view status = StatusText(w, cell);
  for (size_t i = 0; i < kFixedStatuses; ++i) {
    if (status.data() == kFixedStatusNames[i].data()) {
      out.append(layout_.csv_status[i]);
      return;
    }
  }
  out.push_back(d);
  AppendCsvField(out, status, d);
}

void Run::AppendJsonAdded(ChunkWork& w, std::string& out, size_t column, uint32_t cell) {
  const std::string* keys = &layout_.added_json[column * kAddedFields.size()];
  if (column > 0) out.push_back(',');
  if (const Settled* v = VerdictOf(w, cell)) {
    const auto disposition = schema::DispositionFromNumber(v->disposition);
    absl::StrAppend(&out, keys[0], v->disposition, ",", keys[1]);
    AppendJsonString(out, disposition.has_value() ? schema::DispositionName(*disposition) : "");
    absl::StrAppend(&out, ",", keys[2]);
    AppendJsonString(out, v->judgement_id);
    absl::StrAppend(&out, ",", keys[3], "\"");
    AppendIsoMillis(out, v->valid_until_ms);
    out.append("\",");
  } else {
    absl::StrAppend(&out, keys[0], "null,", keys[1], "null,", keys[2], "null,", keys[3],
                    "null,");
  }
  out.append(keys[4]);
  AppendJsonString(out, StatusText(w, cell));
}

void Run::Format(ChunkWork& w) {
  const size_t columns = layout_.types.size();
  std::string& out = w.out;
  out.reserve(w.chunk.bytes.size() + w.rows.size() * columns * 48);
  std::string members;
  // CSV output: the added fields of each unique, formatted once; rows copy them.
  std::array<std::string, 3> fixed_added;  // kInvalidRowCell, kInvalidCell, kSkippedCell
  auto added_for = [&](uint32_t cell) -> absl::string_view {
    if (cell >= kInvalidRowCell) return fixed_added[cell - kInvalidRowCell];
    return absl::string_view(w.added).substr(w.added_spans[cell].first, w.added_spans[cell].second);
  };
  if (layout_.out == DataFormat::kCsv) {
    w.added_spans.resize(w.uniques.size(), kNotFormatted);
    for (uint32_t slot = 0; slot < w.uniques.size(); ++slot) {
      if (w.added_spans[slot] == kNotFormatted) FormatCsvAdded(w, slot);
    }
    for (uint32_t cell : {kInvalidRowCell, kInvalidCell, kSkippedCell}) {
      AppendCsvAdded(w, fixed_added[cell - kInvalidRowCell], cell);
    }
  }
  for (size_t i = 0; i < w.rows.size(); ++i) {
    const ChunkWork::Row& row = w.rows[i];
    const uint32_t* cells = &w.cells[i * columns];
    if (row.blank) {
      // NDJSON output: the line as it was; CSV output: no line (it would be a ragged row).
      if (layout_.out == DataFormat::kNdjson) {
        out.append(row.raw.data(), row.raw.size());
        out.append(row.terminator.data(), row.terminator.size());
      }
      continue;
    }
    for (size_t c = 0; c < columns; ++c) CountCell(w, cells[c]);
    if (layout_.out == DataFormat::kCsv) {
      if (layout_.in == DataFormat::kCsv) {
        out.append(row.raw.data(), row.raw.size());
      } else {
        AppendCsvField(out, row.raw, layout_.delim);  // the JSON line in the `json` column
      }
      for (size_t c = 0; c < columns; ++c) {
        const absl::string_view a = added_for(cells[c]);
        out.append(a.data(), a.size());
      }
      const absl::string_view eol =
          layout_.in == DataFormat::kCsv && !row.terminator.empty() ? row.terminator
                                                                    : layout_.eol;
      out.append(eol.data(), eol.size());
      continue;
    }
    // NDJSON output.
    members.clear();
    for (size_t c = 0; c < columns; ++c) AppendJsonAdded(w, members, c, cells[c]);
    if (layout_.in == DataFormat::kNdjson) {
      if (row.invalid) {
        out.append(row.raw.data(), row.raw.size());  // no object to add fields to
      } else {
        AppendWithMembers(out, row.raw, row.object_empty, members);
      }
      const absl::string_view eol = row.terminator.empty() ? "\n" : row.terminator;
      out.append(eol.data(), eol.size());
      continue;
    }
    // CSV → NDJSON: one object per row, the header names as keys.
    out.push_back('{');
    const CsvRecordView& r = w.csv.records()[row.record];
    if (row.invalid) {
      out.append(layout_.raw_json_key);
      AppendJsonString(out, row.raw);
    } else {
      for (uint32_t f = 0; f < r.field_count; ++f) {
        if (f > 0) out.push_back(',');
        if (f < layout_.json_keys.size()) {
          out.append(layout_.json_keys[f]);
        } else {
          absl::StrAppend(&out, "\"", f + 1, "\":");
        }
        AppendJsonString(out, w.csv.field(r, f));
      }
    }
    out.push_back(',');
    out.append(members);
    out.append("}\n");
  }
}

constexpr absl::string_view kUsageErrorPayload = "enrich.engine/usage-error";

// The 1-based field number of a column of a CSV input without a header.
absl::StatusOr<uint32_t> ColumnNumber(const ColumnSpec& c) {
  uint32_t number = 0;
  if (!absl::SimpleAtoi(c.name, &number) || number == 0) {
    return UsageError(absl::StrCat(
        "--column \"", c.name, ":", c.type,
        "\": without a header line, columns are given by number (1 = first)"));
  }
  return number;
}

// Reads the first chunk; for CSV with a header, finds the columns. Fills `layout`.
absl::Status PrepareLayout(const PipelineOptions& options, const Chunk& first, bool have_first,
                           Layout& layout, std::string& header_out) {
  layout.in = options.input_format;
  layout.out = options.output_format;
  layout.delim = options.delimiter;
  layout.header = options.input_format == DataFormat::kCsv && options.header;
  layout.input_name = options.input_name;
  layout.strict = options.strict;
  layout.max_record_bytes = options.max_record_bytes;
  layout.allowlist = options.allowlist;
  for (const ColumnSpec& c : options.columns) layout.types.push_back(c.type);

  const std::vector<std::string> added = AddedColumnNames(options.columns, options.prefix);
  for (const std::string& name : added) {
    std::string csv;
    AppendCsvField(csv, name, options.delimiter);
    layout.added_csv.push_back(std::move(csv));
    std::string json;
    AppendJsonString(json, name);
    json.push_back(':');
    layout.added_json.push_back(std::move(json));
  }
  for (int n = 1; n <= 5; ++n) {
    std::string& text = layout.csv_disposition[static_cast<size_t>(n)];
    absl::StrAppend(&text, std::string(1, options.delimiter), n, std::string(1, options.delimiter));
    AppendCsvField(text, schema::DispositionName(*schema::DispositionFromNumber(n)),
                   options.delimiter);
    text.push_back(options.delimiter);
  }
  for (size_t i = 0; i < kFixedStatuses; ++i) {
    layout.csv_status[i].push_back(options.delimiter);
    AppendCsvField(layout.csv_status[i], kFixedStatusNames[i], options.delimiter);
  }
  layout.csv_no_verdict =
      absl::StrCat(std::string(4, options.delimiter), layout.csv_status[kNoVerdict]);
  AppendJsonString(layout.raw_json_key, absl::StrCat(options.prefix, "raw"));
  layout.raw_json_key.push_back(':');

  auto append_added_header = [&](std::string& out) {
    for (const std::string& name : layout.added_csv) {
      out.push_back(options.delimiter);
      out.append(name);
    }
  };

  if (options.input_format == DataFormat::kNdjson) {
    for (const ColumnSpec& c : options.columns) layout.json_path.push_back(c.name);
    if (options.output_format == DataFormat::kCsv) {
      header_out = "json";
      append_added_header(header_out);
      header_out.push_back('\n');
    }
    return absl::OkStatus();
  }

  if (!layout.header) {
    for (const ColumnSpec& c : options.columns) {
      layout.csv_index.push_back(*ColumnNumber(c) - 1);  // CheckPipelineOptions passed
    }
    if (options.output_format == DataFormat::kCsv) {
      // No header in, no header out.
    }
    return absl::OkStatus();
  }

  if (!have_first) {
    return absl::InvalidArgumentError(
        absl::StrCat(options.input_name, ": empty input, expected a header line"));
  }
  CsvRecords header;
  header.Parse(first.bytes, first.first_line, first.starts_input, options.delimiter);
  const CsvRecordView& h = header.records().front();
  if (h.malformed) {
    // Unlike a data row, a header cannot pass through with a status: read as it is, it would
    // name the columns wrongly (or, with a quote never closed, swallow the whole input).
    return absl::InvalidArgumentError(absl::StrCat(options.input_name, ":", h.line,
                                                   ": malformed header line: ",
                                                   CsvRecords::Problem(h)));
  }
  const std::string where = absl::StrCat(options.input_name, ":", h.line, ": ");
  if (h.field_count == 1 && header.field(h, 0).empty()) {
    // A first line that is empty (or only a BOM) names no column.
    return absl::InvalidArgumentError(absl::StrCat(where,
                                                   "the header line is empty: expected the column "
                                                   "names (input without a header: --no-header)"));
  }
  layout.header_fields = h.field_count;
  std::vector<std::string> names;
  for (uint32_t i = 0; i < h.field_count; ++i) names.emplace_back(header.field(h, i));
  for (const ColumnSpec& c : options.columns) {
    auto it = std::find(names.begin(), names.end(), c.name);
    if (it == names.end()) {
      // Control bytes escaped (a CR would garble the terminal line), UTF-8 kept.
      const std::string listed =
          absl::StrJoin(names, ", ", [](std::string* out, const std::string& name) {
            out->append(absl::Utf8SafeCEscape(name));
          });
      return UsageError(absl::StrCat(
          where, "no column \"", absl::Utf8SafeCEscape(c.name), "\"; the columns are: ", listed,
          absl::StrContains(h.raw, '\r')
              ? " (the line holds a CR not followed by LF: records end at LF or CRLF, so CR-only "
                "line ends are not line ends)"
              : ""));
    }
    if (auto again = std::find(it + 1, names.end(), c.name); again != names.end()) {
      return UsageError(absl::StrCat(
          where, "the header names two columns \"", c.name, "\" (fields ", it - names.begin() + 1,
          " and ", again - names.begin() + 1, "): which one to look up is not clear"));
    }
    layout.csv_index.push_back(static_cast<uint32_t>(it - names.begin()));
  }
  for (const std::string& name : added) {
    if (std::find(names.begin(), names.end(), name) != names.end()) {
      // An enriched file enriched again would get a second column of that name.
      return UsageError(
          absl::StrCat(where, "the header already has a column \"", name,
                       "\" (an enriched file?); --prefix names the added columns differently"));
    }
  }
  for (const std::string& name : names) {
    std::string key;
    AppendJsonString(key, name);
    key.push_back(':');
    layout.json_keys.push_back(std::move(key));
  }
  if (!h.terminator.empty()) layout.eol = h.terminator;
  if (options.output_format == DataFormat::kCsv) {
    header_out.assign(h.raw.data(), h.raw.size());
    append_added_header(header_out);
    header_out.append(layout.eol.data(), layout.eol.size());
  }
  return absl::OkStatus();
}

}  // namespace

std::vector<std::string> AddedColumnNames(const std::vector<ColumnSpec>& columns,
                                          absl::string_view prefix) {
  std::vector<std::string> names;
  for (const ColumnSpec& c : columns) {
    for (absl::string_view field : kAddedFields) {
      names.push_back(columns.size() == 1 ? absl::StrCat(prefix, field)
                                          : absl::StrCat(prefix, c.name, "_", field));
    }
  }
  return names;
}

void AppendIsoMillis(std::string& out, int64_t unix_ms) {
  // Days to civil date (H. Hinnant's algorithm), proleptic Gregorian, UTC.
  int64_t days = unix_ms >= 0 ? unix_ms / 86'400'000 : (unix_ms - 86'399'999) / 86'400'000;
  int64_t ms_of_day = unix_ms - days * 86'400'000;
  days += 719'468;
  const int64_t era = (days >= 0 ? days : days - 146'096) / 146'097;
  const int64_t doe = days - era * 146'097;
  const int64_t yoe = (doe - doe / 1460 + doe / 36'524 - doe / 146'096) / 365;
  int64_t year = yoe + era * 400;
  const int64_t doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
  const int64_t mp = (5 * doy + 2) / 153;
  const int64_t day = doy - (153 * mp + 2) / 5 + 1;
  const int64_t month = mp < 10 ? mp + 3 : mp - 9;
  if (month <= 2) ++year;
  if (year < 1000 || year > 9999) {  // FormatIsoTime does not pad to 4 digits
    out.append(schema::FormatIsoTime(absl::FromUnixMillis(unix_ms)));
    return;
  }
  char buf[24];
  auto put = [&buf](int at, int64_t v, int width) {
    for (int i = width - 1; i >= 0; --i, v /= 10) buf[at + i] = static_cast<char>('0' + v % 10);
  };
  put(0, year, 4);
  buf[4] = '-';
  put(5, month, 2);
  buf[7] = '-';
  put(8, day, 2);
  buf[10] = 'T';
  put(11, ms_of_day / 3'600'000, 2);
  buf[13] = ':';
  put(14, ms_of_day / 60'000 % 60, 2);
  buf[16] = ':';
  put(17, ms_of_day / 1000 % 60, 2);
  buf[19] = '.';
  put(20, ms_of_day % 1000, 3);
  buf[23] = 'Z';
  out.append(buf, sizeof buf);
}

absl::Status UsageError(absl::string_view message) {
  absl::Status status = absl::InvalidArgumentError(message);
  status.SetPayload(kUsageErrorPayload, absl::Cord());
  return status;
}

bool IsUsageError(const absl::Status& status) {
  return status.GetPayload(kUsageErrorPayload).has_value();
}

absl::Status CheckPipelineOptions(const PipelineOptions& options) {
  if (options.columns.empty()) return UsageError("no observable column given");
  if (options.input_format == DataFormat::kCsv && !options.header) {
    for (const ColumnSpec& c : options.columns) {
      if (auto number = ColumnNumber(c); !number.ok()) return number.status();
    }
  }
  return absl::OkStatus();
}

absl::StatusOr<EnrichSummary> RunPipeline(ByteSource& in, ByteSink& out,
                                          const PipelineOptions& options, VerdictTable& table,
                                          transport::VerdictSource& source) {
  const auto started = std::chrono::steady_clock::now();
  if (absl::Status s = CheckPipelineOptions(options); !s.ok()) return s;
  ChunkReader reader(
      in, options.input_format == DataFormat::kCsv ? RecordFormat::kCsv : RecordFormat::kNdjson,
      options.delimiter, options.chunk_size, options.max_record_bytes);
  auto first = std::make_unique<ChunkWork>();
  absl::StatusOr<bool> have_first = reader.Next(first->chunk);
  if (!have_first.ok()) return have_first.status();

  Layout layout;
  std::string header;
  if (absl::Status s = PrepareLayout(options, first->chunk, *have_first, layout, header);
      !s.ok()) {
    return s;
  }
  if (layout.header) first->skip_records = 1;
  if (!header.empty()) {
    if (absl::Status s = out.Write(header); !s.ok()) return s;
  }

  const size_t threads =
      options.threads > 0 ? options.threads
                          : static_cast<size_t>(tbb::this_task_arena::max_concurrency());
  const size_t live = options.max_live_chunks > 0 ? options.max_live_chunks : 2 * threads + 2;

  Run run(options, std::move(layout), table, source);
  EnrichSummary summary;
  std::unique_ptr<ChunkWork> pending_first = *have_first ? std::move(first) : nullptr;
  // Chunks that went through the pipeline, for reuse (at most `live` exist).
  absl::Mutex spare_mu;
  std::vector<std::unique_ptr<ChunkWork>> spare;  // guarded by spare_mu

  auto input = [&](tbb::flow_control& fc) -> ChunkWork* {
    if (options.stop_requested != nullptr && options.stop_requested->load()) {
      run.Fail(absl::CancelledError("interrupted"));
    }
    if (run.failed()) {
      fc.stop();
      return nullptr;
    }
    if (pending_first != nullptr) return pending_first.release();
    std::unique_ptr<ChunkWork> w;
    {
      absl::MutexLock lock(&spare_mu);
      if (!spare.empty()) {
        w = std::move(spare.back());
        spare.pop_back();
      }
    }
    if (w == nullptr) w = std::make_unique<ChunkWork>();
    absl::StatusOr<bool> more = reader.Next(w->chunk);
    if (!more.ok()) {
      run.Fail(more.status());
      fc.stop();
      return nullptr;
    }
    if (options.stats != nullptr) {
      // Here, in the serial input stage: the source is not thread-safe.
      options.stats->Set(RunCounter::kBytesRead, in.raw_bytes_read());
    }
    if (!*more) {
      fc.stop();
      return nullptr;
    }
    return w.release();
  };
  auto parse = [&run](ChunkWork* w) {
    if (!run.failed()) run.ParseAndExtract(*w);
    return w;
  };
  auto await = [](ChunkWork* w) {
    w->Await();
    return w;
  };
  auto format = [&run](ChunkWork* w) {
    if (!run.failed() && w->row_error.ok()) run.Format(*w);
    return w;
  };
  auto write = [&](ChunkWork* raw) {
    std::unique_ptr<ChunkWork> w(raw);
    absl::Cleanup recycle = [&] {
      w->Reset();
      absl::MutexLock lock(&spare_mu);
      spare.push_back(std::move(w));
    };
    if (run.failed()) return;
    if (!w->row_error.ok()) {
      run.Fail(w->row_error);
      return;
    }
    if (absl::Status s = out.Write(w->out); !s.ok()) {
      run.Fail(s);
      return;
    }
    summary.rows += w->rows.size() - w->blank_lines;
    summary.blank_lines += w->blank_lines;
    summary.cells += w->cells.size() - w->blank_lines * run.layout().types.size();
    summary.cache_hits += w->hits;
    summary.joined += w->joined;
    for (size_t i = 0; i < kFixedStatuses; ++i) {
      if (w->fixed_counts[i] > 0) summary.statuses[std::string(kFixedStatusNames[i])] +=
          w->fixed_counts[i];
    }
    for (const auto& [status, count] : w->error_counts) summary.statuses[status] += count;
    if (options.stats != nullptr) {
      RunStats& st = *options.stats;
      st.Add(RunCounter::kRowsRead, w->rows.size() - w->blank_lines);
      st.Add(RunCounter::kRowsWritten, w->rows.size() - w->blank_lines);
      if (w->blank_lines > 0) st.Add(RunCounter::kBlankLines, w->blank_lines);
      st.Add(RunCounter::kCacheHits, w->hits);
      for (size_t i = 0; i < kFixedStatuses; ++i) {
        if (w->fixed_counts[i] > 0) st.CountStatus(kFixedStatusNames[i], w->fixed_counts[i]);
      }
      for (const auto& [status, count] : w->error_counts) st.CountStatus(status, count);
    }
  };

  tbb::task_arena arena(static_cast<int>(threads));
  try {
    arena.execute([&] {
      tbb::parallel_pipeline(
          live,
          tbb::make_filter<void, ChunkWork*>(tbb::filter_mode::serial_in_order, input) &
              tbb::make_filter<ChunkWork*, ChunkWork*>(tbb::filter_mode::parallel, parse) &
              tbb::make_filter<ChunkWork*, ChunkWork*>(tbb::filter_mode::parallel, await) &
              tbb::make_filter<ChunkWork*, ChunkWork*>(tbb::filter_mode::parallel, format) &
              tbb::make_filter<ChunkWork*, void>(tbb::filter_mode::serial_in_order, write));
    });
  } catch (const std::exception& e) {
    // Only allocation failures can throw here; the chunks in flight are lost with the run.
    run.Fail(absl::ResourceExhaustedError(absl::StrCat("pipeline failed: ", e.what())));
  }
  if (run.failed()) return run.failure();

  summary.input_bytes = reader.bytes_read();
  summary.lookups = run.dispatcher().sent();
  summary.unique_observables = table.size();
  summary.latency_p50_ms =
      absl::ToDoubleMilliseconds(run.dispatcher().latency().Percentile(0.50));
  summary.latency_p99_ms =
      absl::ToDoubleMilliseconds(run.dispatcher().latency().Percentile(0.99));
  summary.seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
  if (options.stats != nullptr) {
    options.stats->Set(RunCounter::kUniqueObservables, summary.unique_observables);
  }
  return summary;
}

}  // namespace enrich::engine
