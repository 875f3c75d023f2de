// The parse+extract+resolve stage of the pipeline: a chunk's records become rows (CSV or
// NDJSON), each observable column's value a cell, each distinct observable a unique resolved
// against the verdict table at once; misses go to the lookup dispatcher while the chunk is read.

#ifndef ENRICH_ENGINE_INTERNAL_CHUNK_PARSER_H_
#define ENRICH_ENGINE_INTERNAL_CHUNK_PARSER_H_

#include <cstddef>
#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/string_view.h"
#include "engine/internal/chunk_work.h"
#include "engine/internal/column_layout.h"
#include "engine/internal/lookup_dispatcher.h"
#include "engine/internal/value_memo.h"
#include "engine/verdict_table.h"

namespace enrich::engine::internal {

// Parses chunks for one run, and holds the run's column layout (which the format stage reads
// too). Thread-safe: Parse may run on several chunks at once (each on its own thread); the
// table and dispatcher must outlive this object.
class ChunkParser {
 public:
  ChunkParser(Layout layout, VerdictTable& table, LookupDispatcher& dispatcher)
      : layout_(std::move(layout)), table_(table), dispatcher_(dispatcher) {}

  const Layout& layout() const { return layout_; }

  // Parses the chunk and extracts its observables; resolves each new unique against the
  // verdict table as soon as it is found, so misses go out while the chunk is still parsed.
  // Cache hits get their CSV added fields formatted at once (FormatCsvAdded). A malformed row
  // under --strict, or a record longer than max_record_bytes, becomes w.row_error.
  void Parse(ChunkWork& w);

 private:
  void ParseCsv(ChunkWork& w);
  // A malformed row (the last of w.rows): its cells are invalid_row; under --strict the first
  // one is the chunk's row_error.
  void MarkInvalidRow(ChunkWork& w, ChunkWork::Row& row, const std::string& problem) const;
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
    std::vector<ValueMemo>& seen;
    // CSV fields are views into the chunk, which outlives the uniques' views; NDJSON values
    // live in a per-line document, so new ones are copied into the chunk's arena first.
    bool copy_keys;
  };
  // The calling thread's memos, one per column, each emptied for about `values` values.
  static std::vector<ValueMemo>& ThreadMemos(size_t columns, size_t values);
  uint32_t AddCell(ChunkWork& w, size_t column, absl::string_view raw, CellMemo& memo);
  // Resolves the uniques found since the last call (w.resolved onwards) in one batch; misses go
  // to the dispatcher at once.
  void ResolveNew(ChunkWork& w);

  const Layout layout_;
  VerdictTable& table_;
  LookupDispatcher& dispatcher_;
};

}  // namespace enrich::engine::internal

#endif  // ENRICH_ENGINE_INTERNAL_CHUNK_PARSER_H_
