#ifndef ENRICH_ENGINE_UTF8_H_
#define ENRICH_ENGINE_UTF8_H_

// UTF-8 well-formedness checks for input rows (a row that is not UTF-8 gets invalid_row);
// used by the row parsers (engine/internal/chunk_parser.cc, engine/csv_records.cc).

#include <cstddef>

#include "absl/strings/string_view.h"

namespace enrich::engine {

// Length (1-4) of the well-formed UTF-8 sequence (RFC 3629: no overlong forms, no surrogates,
// nothing above U+10FFFF) that starts at `p`, of the `n` > 0 bytes available; 0 when the bytes
// there are not one.
size_t Utf8SequenceLength(const unsigned char* p, size_t n);

// Offset of the first byte of `text` that does not belong to well-formed UTF-8, or npos when
// all of it is. ASCII runs are checked 8 bytes at a time.
size_t FindInvalidUtf8(absl::string_view text);

}  // namespace enrich::engine

#endif  // ENRICH_ENGINE_UTF8_H_
