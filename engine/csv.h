#ifndef ENRICH_ENGINE_CSV_H_
#define ENRICH_ENGINE_CSV_H_

// CSV helpers beside the pipeline's own scanner (engine/csv_records.h): AppendCsvField writes
// the added columns of every output row; CsvReader reads a CSV file record by record for
// bench/engine/synthetic_journal.cc and the tests (the product reads through the pipeline).

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/string_view.h"
#include "engine/byte_io.h"
#include "engine/chunk_reader.h"
#include "engine/csv_records.h"

namespace enrich::engine {

// One CSV record as read: its exact bytes (so it can be written back untouched) and its
// unescaped fields.
struct CsvRecord {
  // The record's bytes without its terminator, exactly as in the input (quotes, doubled quotes
  // and embedded newlines included).
  std::string raw;
  // "\r\n", "\n", or "" for a last record that ends at end of file.
  absl::string_view terminator;
  // 1-based physical line on which the record starts.
  uint64_t line = 0;
  // Set when the record is not well formed: text after a closing quote, end of input inside a
  // quoted field, or bytes that are not UTF-8. `problem` says what and where ("line 2: end of
  // input inside quoted field 2"). The record is still returned (never dropped).
  bool malformed = false;
  std::string problem;

  size_t field_count() const { return spans_.size(); }
  absl::string_view field(size_t i) const {
    return absl::string_view(fields_).substr(spans_[i].first, spans_[i].second);
  }

 private:
  friend class CsvReader;
  std::string fields_;                             // unescaped field bytes, back to back
  std::vector<std::pair<uint32_t, uint32_t>> spans_;  // (offset, length) into fields_
};

// Streaming RFC 4180 reader for tools (bench/) and tests, one record at a time: ChunkReader and
// CsvRecords underneath, so it reads exactly as `run` does (engine/internal/csv_scan.h):
// quoted fields, doubled quotes, embedded delimiters and newlines, CRLF or LF record ends, a
// UTF-8 byte-order mark at the start of the input (kept in `raw` of the first record, removed
// from its first field). Reads in blocks of `block_size`; memory is about one block plus the
// current record.
//
// Not thread-safe. Does not own `file`.
class CsvReader {
 public:
  explicit CsvReader(std::FILE* file, char delimiter = ',', size_t block_size = 1 << 20);
  ~CsvReader();

  // The next record, valid until the next call; nullptr at end of input or on a read error
  // (then status() is not OK).
  const CsvRecord* Next();
  // OK, or the I/O error that stopped reading.
  const absl::Status& status() const { return status_; }
  // True when the input started with a UTF-8 byte-order mark.
  bool had_bom() const { return had_bom_; }

 private:
  std::unique_ptr<ByteSource> source_;
  ChunkReader chunks_;
  Chunk chunk_;
  CsvRecords records_;
  const char delimiter_;
  size_t next_record_ = 0;
  bool had_bom_ = false;
  CsvRecord record_;
  absl::Status status_;
};

// Appends `value` to `out` as one CSV field, quoting it (and doubling quotes) when it contains
// the delimiter, a quote, CR or LF.
void AppendCsvField(std::string& out, absl::string_view value, char delimiter = ',');

}  // namespace enrich::engine

#endif  // ENRICH_ENGINE_CSV_H_
