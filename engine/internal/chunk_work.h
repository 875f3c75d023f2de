// One chunk's state on its way through the pipeline (pipeline.cc): the read stage fills its
// bytes, parse+extract+resolve (chunk_parser) its rows, cells and uniques, the await stage waits
// for its lookups, format (output_format) its output, and the write stage writes and counts it.

#ifndef ENRICH_ENGINE_INTERNAL_CHUNK_WORK_H_
#define ENRICH_ENGINE_INTERNAL_CHUNK_WORK_H_

#include <array>
#include <atomic>
#include <cstddef>
#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/status/status.h"
#include "absl/strings/string_view.h"
#include "engine/chunk_reader.h"
#include "engine/csv_records.h"
#include "engine/internal/byte_arena.h"
#include "engine/verdict_table.h"
#include "oneapi/tbb/task.h"

namespace enrich::engine::internal {

// Cell slots that need no lookup.
inline constexpr uint32_t kSkippedCell = UINT32_MAX;
inline constexpr uint32_t kInvalidCell = UINT32_MAX - 1;
inline constexpr uint32_t kInvalidRowCell = UINT32_MAX - 2;
// An allowlisted observable: written as "skipped" like an empty cell, counted apart
// (RunCounter::kAllowlisted: plan reports the two separately).
inline constexpr uint32_t kAllowlistedCell = UINT32_MAX - 3;
// The lowest of the slots above: a cell below it indexes the chunk's uniques.
inline constexpr uint32_t kFirstFixedCell = kAllowlistedCell;

// ChunkWork::added_spans of a unique not formatted yet.
inline constexpr std::pair<uint32_t, uint32_t> kNotFormatted = {UINT32_MAX, 0};

// Indices into ChunkWork::fixed_counts.
enum FixedStatus { kOk, kNoVerdict, kSkipped, kInvalid, kInvalidRow, kFixedStatuses };
inline constexpr std::array<absl::string_view, kFixedStatuses> kFixedStatusNames = {
    "ok", "no_verdict", "skipped", "invalid", "invalid_row"};

// One chunk on its way through the pipeline. Registered with the verdict table as the listener
// of its unique observables' lookups; must live until they all settle (the await stage).
// Thread safety: one pipeline task at a time works on a chunk; OnSettled comes from the threads
// that settle lookups and writes only `results` and `pending`.
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
  ByteArena values;
  size_t resolved = 0;  // uniques[0, resolved) went to the verdict table
  // Per unique. Sized (to the chunk's cell count) before the first Resolve and never resized
  // while lookups are outstanding: OnSettled writes into it from other threads.
  std::vector<Settled> results;
  std::atomic<int64_t> pending{1};  // unsettled uniques + 1 held by the pipeline task
  tbb::task::suspend_point suspend_point{};
  // The run's count of chunks waiting for lookups, while this one is counted in it.
  std::atomic<std::atomic<size_t>*> waiting_count{nullptr};
  std::atomic<bool> suspending{false};  // the task is dropping its own count of `pending`
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
  uint64_t allowlisted_cells = 0;  // of fixed_counts[kSkipped]
  absl::flat_hash_map<std::string, uint64_t> error_counts;
  // Cells with a verdict per disposition number: 1..5, 0 for one outside 1..5.
  std::array<uint64_t, 6> disposition_counts{};
  uint64_t hits = 0;
  uint64_t joined = 0;
  uint64_t blank_lines = 0;  // NDJSON rows[] that are blank lines, not rows
  uint64_t input_end = 0;    // decoded input bytes up to the chunk's end (RunStats::NoteLookupsAt)
  // Hits (output_format.h, NoteHitRow): the output bytes of the hit rows, in order (with
  // PipelineOptions::hits), and the hit rows per unique slot (with hit dispositions; sized to
  // the uniques at the chunk's first hit) with the slots counted, in the order first seen.
  std::string hit_out;
  std::vector<uint32_t> hit_rows;
  std::vector<uint32_t> hit_slots;

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
    suspending.store(false, std::memory_order_relaxed);
    waiting_count.store(nullptr, std::memory_order_relaxed);
    row_error = absl::OkStatus();
    out.clear();
    added.clear();
    added_spans.clear();
    fixed_counts.fill(0);
    allowlisted_cells = 0;
    error_counts.clear();
    disposition_counts.fill(0);
    hits = 0;
    joined = 0;
    blank_lines = 0;
    input_end = 0;
    hit_out.clear();
    hit_rows.clear();
    hit_slots.clear();
  }

  void OnSettled(uint32_t slot, const Settled& settled) override {
    results[slot] = settled;
    const int64_t left = pending.fetch_sub(1, std::memory_order_acq_rel) - 1;
    // Every unique settled: none left, or only the task's own count (not yet suspended; if it
    // is suspending meanwhile, its own drop to 0 stops the count).
    if (left == 0 || (left == 1 && !suspending.load())) StopWaiting();
    if (left == 0) tbb::task::resume(suspend_point);
  }

  // True while some unique of the chunk has not settled.
  bool Waits() const { return pending.load(std::memory_order_acquire) != 1; }

  // Counts the chunk into `*waiting` until every unique has settled (at once if it has). The
  // count drops on the settle thread, as the last lookup settles: before the task resumes.
  void CountWaiting(std::atomic<size_t>* waiting) {
    waiting->fetch_add(1);
    waiting_count.store(waiting);
    if (!Waits()) StopWaiting();
  }

  // Counted into the run's waiting chunks, and not all its uniques settled yet.
  bool CountedWaiting() const { return waiting_count.load() != nullptr; }

  void StopWaiting() {
    if (std::atomic<size_t>* w = waiting_count.exchange(nullptr)) w->fetch_sub(1);
  }

  // Blocks the pipeline task, not its thread, until every unique has settled.
  void Await() {
    if (pending.load(std::memory_order_acquire) == 1) {
      pending.store(0, std::memory_order_relaxed);
      return;
    }
    tbb::task::suspend([this](tbb::task::suspend_point sp) {
      suspend_point = sp;
      suspending.store(true);
      // Drop the task's own count last, so whoever reaches zero sees `suspend_point`.
      if (pending.fetch_sub(1, std::memory_order_acq_rel) == 1) {
        StopWaiting();
        tbb::task::resume(sp);
      }
    });
  }
};

}  // namespace enrich::engine::internal

#endif  // ENRICH_ENGINE_INTERNAL_CHUNK_WORK_H_
