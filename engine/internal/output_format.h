// The format stage of the pipeline: the added columns (CSV) or fields (NDJSON) of each row,
// after its chunk's lookups have settled, appended to the row's bytes into ChunkWork::out.
// The CSV added fields of a unique are formatted once (cache hits already while resolving).

#ifndef ENRICH_ENGINE_INTERNAL_OUTPUT_FORMAT_H_
#define ENRICH_ENGINE_INTERNAL_OUTPUT_FORMAT_H_

#include <cstddef>
#include <cstdint>
#include <string>

#include "engine/internal/chunk_work.h"
#include "engine/internal/column_layout.h"

namespace enrich::engine::internal {

// Formats the rows of `w`, whose uniques have all settled, into w.out, and counts their
// statuses into w.fixed_counts and w.error_counts.
void FormatChunk(const Layout& layout, ChunkWork& w);

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
