#ifndef ENRICH_ENGINE_CSV_RECORDS_H_
#define ENRICH_ENGINE_CSV_RECORDS_H_

// Splits a chunk of CSV into records and fields (RFC 4180 quoting), for the row parser
// (engine/internal/chunk_parser.cc); one-line records take the structural index's fast path.

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "absl/strings/string_view.h"

namespace enrich::engine {
namespace internal {
class CsvStructuralIndex;
}  // namespace internal

enum class CsvProblem : uint8_t { kNone, kTextAfterQuote, kOpenQuote, kInvalidUtf8 };

// One record of a chunk, as views into the chunk (and into the parser's scratch for fields that
// needed unescaping). Valid while the chunk and the CsvRecords that produced it live.
struct CsvRecordView {
  absl::string_view raw;         // exact bytes without the terminator (BOM included if first)
  absl::string_view terminator;  // "\r\n", "\n", or "" at end of input
  uint64_t line = 0;             // 1-based physical line where it starts
  uint32_t first_field = 0;      // index into CsvRecords::fields()
  uint32_t field_count = 0;
  // Not a well-formed record: text after a closing quote, end of input inside a quoted field,
  // or bytes that are not UTF-8. `problem` says which (the first found), `problem_field` in
  // which 1-based field.
  bool malformed = false;
  // A field holds doubled quotes: CsvRecords::field() unescapes it when it is first read.
  bool escaped = false;
  CsvProblem problem = CsvProblem::kNone;
  uint32_t problem_field = 0;
  uint32_t first_escaped = 0;  // escaped: the record's first entry in CsvRecords' list of them
};

// Parses every record of a chunk (ChunkReader output) with the rules of
// engine/internal/csv_scan.h (CsvReader reads through this class):
// quoted fields, doubled quotes, embedded delimiters and newlines, CRLF or LF, a UTF-8 BOM at
// the start of the input (kept in `raw`, not in the first field). A CR not followed by LF is
// data. A record whose bytes are not UTF-8 is malformed (kInvalidUtf8).
//
// A quoted field's doubled quotes are made single when field() first reads it (a log's quoted
// user agents are seldom read at all).
//
// Not thread-safe, field() included; one per pipeline task. Reuses its buffers across calls.
class CsvRecords {
 public:
  CsvRecords();
  ~CsvRecords();
  CsvRecords(CsvRecords&&) noexcept;
  CsvRecords& operator=(CsvRecords&&) noexcept;

  void Parse(absl::string_view chunk, uint64_t first_line, bool starts_input, char delimiter);

  const std::vector<CsvRecordView>& records() const { return records_; }
  absl::string_view field(const CsvRecordView& r, uint32_t i) const {
    return r.escaped ? EscapedRecordField(r, r.first_field + i) : fields_[r.first_field + i];
  }
  // "text after a closing quote in field 3", "end of input inside quoted field 2",
  // "invalid UTF-8 in field 4".
  static std::string Problem(const CsvRecordView& r);

  // Records on one line without malformed quoting (the common case) are read from an index of
  // the chunk's delimiter, LF and quote bytes built by a vector scan (internal/csv_structural.h);
  // the others, or all records when this is off, with ScanCsvField. Both give the same records
  // (tested); off is for those tests.
  void set_vector_scan(bool on) { vector_scan_ = on; }

 private:
  // Reads the record at `i` when it is on one line and well-formed: appends its fields, sets
  // r.raw and r.terminator, sets `non_ascii` if a byte has its top bit set, and moves `i` and
  // `line` past it. Returns false, with nothing changed, for any other record.
  bool ScanOneLineRecord(const char* base, size_t n, char delim, size_t& i, size_t record_start,
                         CsvRecordView& r, bool& non_ascii, uint64_t& line);
  // The content of a quoted field with its doubled quotes made single, in scratch_.
  absl::string_view Unescape(absl::string_view content) const;
  // fields_[k] of `r`, a record with doubled quotes in some field: unescaped (once) if it is
  // one of those.
  absl::string_view EscapedRecordField(const CsvRecordView& r, uint32_t k) const;
  // Field fields_.size() - 1 holds doubled quotes.
  void MarkEscaped(CsvRecordView& r);
  // Sets r.field_count, checks the UTF-8 of a record with a non-ASCII byte, and keeps `r`.
  void FinishRecord(CsvRecordView& r, bool non_ascii);

  bool vector_scan_ = true;
  std::unique_ptr<internal::CsvStructuralIndex> index_;  // of the chunk being parsed
  size_t cursor_ = 0;  // index_ positions before it lie before the record being read
  std::vector<CsvRecordView> records_;
  // Mutable: field() replaces an escaped field by its unescaped copy in scratch_.
  mutable std::vector<absl::string_view> fields_;
  std::vector<uint32_t> escaped_;        // indices of fields_ with doubled quotes, ascending
  mutable std::vector<bool> unescaped_;  // per escaped_ entry: fields_ holds the copy
  // Unescaped fields; reserved to the chunk's size (each field is copied at most once), so views
  // of it stay valid.
  mutable std::string scratch_;
};

}  // namespace enrich::engine

#endif  // ENRICH_ENGINE_CSV_RECORDS_H_
