// The format stage of the pipeline: the added columns (CSV) or fields (NDJSON) of each row,
// after its chunk's lookups have settled, appended to the row's bytes into ChunkWork::out.
// The CSV added fields of a unique are formatted once (cache hits already while resolving).
// With hit dispositions (--hits, --top-hits) it also picks out the hit rows (NoteHitRow).

#ifndef ENRICH_ENGINE_INTERNAL_OUTPUT_FORMAT_H_
#define ENRICH_ENGINE_INTERNAL_OUTPUT_FORMAT_H_

#include <cstddef>
#include <cstdint>
#include <string>

#include "engine/internal/chunk_work.h"
#include "engine/internal/column_layout.h"
#include "engine/top_hits.h"

namespace enrich::engine::internal {

// What the format stage does with hits: rows any of whose observable columns has a verdict
// whose disposition is in `dispositions` are hits; their rows per unique are counted into
// ChunkWork::hit_rows (and hit_slots), and with `copy_rows` their output bytes are also appended to
// ChunkWork::hit_out. Nothing is done for an empty set.
struct HitSelection {
  DispositionSet dispositions = 0;
  bool copy_rows = false;
};

// Formats the rows of `w`, whose uniques have all settled, into w.out, and counts their
// statuses into w.fixed_counts and w.error_counts, and the hits as `hits` says.
void FormatChunk(const Layout& layout, ChunkWork& w, const HitSelection& hits = {});

// The deciding judgement's source of a verdict, for the top hits: kept only when the run writes
// it (--fields with source); empty otherwise. A view into the verdict table's arena.
absl::string_view JudgementSourceOf(const Layout& layout, const Settled& settled);

// For a row just formatted into `out` from offset `row_start`, with the cells `cells` (one per
// column): counts each distinct hit unique of the row once into w.hit_rows (noting the slots
// first counted in w.hit_slots) and, if the row is
// a hit and hits.copy_rows, appends its bytes to w.hit_out.
void NoteHitRow(const HitSelection& hits, ChunkWork& w, const uint32_t* cells, size_t columns,
                absl::string_view out, size_t row_start);

// Appends the CSV added fields of `cell` (a unique's slot or a k*Cell value), each after the
// delimiter. Called per unique of a chunk: by the resolve stage for cache hits
// (chunk_parser.cc) and by FormatChunk for the rest.
void AppendCsvAdded(const Layout& layout, ChunkWork& w, std::string& out, uint32_t cell);

// Formats the CSV added fields of unique `slot` into w.added, once; w.added_spans[slot] is
// their span.
inline void FormatCsvAdded(const Layout& layout, ChunkWork& w, uint32_t slot) {
  const size_t start = w.added.size();
  AppendCsvAdded(layout, w, w.added, slot);
  w.added_spans[slot] = {static_cast<uint32_t>(start),
                         static_cast<uint32_t>(w.added.size() - start)};
}

}  // namespace enrich::engine::internal

#endif  // ENRICH_ENGINE_INTERNAL_OUTPUT_FORMAT_H_
