#include "engine/csv_records.h"

#include <cstring>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "engine/internal/csv_scan.h"
#include "engine/utf8.h"

namespace enrich::engine {

std::string CsvRecords::Problem(const CsvRecordView& r) {
  switch (r.problem) {
    case CsvProblem::kOpenQuote:
      return absl::StrCat("end of input inside quoted field ", r.problem_field);
    case CsvProblem::kTextAfterQuote:
      return absl::StrCat("text after a closing quote in field ", r.problem_field);
    case CsvProblem::kInvalidUtf8:
      return absl::StrCat("invalid UTF-8 in field ", r.problem_field);
    case CsvProblem::kNone:
      break;
  }
  return "";
}

void CsvRecords::Parse(absl::string_view chunk, uint64_t first_line, bool starts_input,
                       char delim) {
  records_.clear();
  fields_.clear();
  scratch_.clear();
  // Unescaped text is never longer than the chunk, so views into scratch_ stay valid.
  if (scratch_.capacity() < chunk.size()) scratch_.reserve(chunk.size());

  const char* const base = chunk.data();
  const size_t n = chunk.size();
  size_t i = 0;
  uint64_t line = first_line;
  // A BOM belongs to the first record's raw bytes, which exists even if nothing follows it.
  bool bom_record = starts_input && n >= 3 && std::memcmp(base, "\xEF\xBB\xBF", 3) == 0;
  if (bom_record) i = 3;
  size_t record_start = 0;

  while (i < n || bom_record) {
    bom_record = false;
    CsvRecordView r;
    r.line = line;
    r.first_field = static_cast<uint32_t>(fields_.size());
    for (;;) {
      const internal::CsvFieldScan f = internal::ScanCsvField(base, i, n, delim);
      line += f.newlines;
      absl::string_view content(base + f.content_begin, f.content_end - f.content_begin);
      if (f.doubled_quotes) {
        const size_t from = scratch_.size();
        for (size_t k = 0; k < content.size(); ++k) {
          scratch_.push_back(content[k]);
          if (content[k] == '"') ++k;  // the second quote of a pair
        }
        content = absl::string_view(scratch_.data() + from, scratch_.size() - from);
      }
      fields_.push_back(content);
      const auto field_number = static_cast<uint32_t>(fields_.size() - r.first_field);
      if (f.open_quote) {
        r.malformed = true;
        r.problem = CsvProblem::kOpenQuote;
        r.problem_field = field_number;
      } else if (f.text_after_quote && !r.malformed) {
        r.malformed = true;
        r.problem = CsvProblem::kTextAfterQuote;
        r.problem_field = field_number;
      }
      if (f.end == internal::CsvFieldEnd::kDelimiter) {
        i = f.next;
        continue;
      }
      r.raw = absl::string_view(base + record_start, f.next - f.terminator_size - record_start);
      r.terminator = f.terminator_size == 2   ? absl::string_view("\r\n")
                     : f.terminator_size == 1 ? absl::string_view("\n")
                                              : absl::string_view();
      line += f.terminator_size > 0 ? 1 : 0;
      i = f.next;
      break;
    }
    if (r.problem == CsvProblem::kOpenQuote) {
      // Only the end of input leaves a quote open (chunks end on record boundaries). Its last
      // line end is the record's terminator, so the added columns stay on the line.
      if (absl::EndsWith(r.raw, "\r\n")) {
        r.terminator = "\r\n";
      } else if (absl::EndsWith(r.raw, "\n")) {
        r.terminator = "\n";
      }
      r.raw.remove_suffix(r.terminator.size());
    }
    r.field_count = static_cast<uint32_t>(fields_.size()) - r.first_field;
    if (!r.malformed && FindInvalidUtf8(r.raw) != absl::string_view::npos) {
      // Delimiters, quotes and line ends are ASCII, so the bad bytes are in a field.
      r.malformed = true;
      r.problem = CsvProblem::kInvalidUtf8;
      r.problem_field = 1;
      for (uint32_t f = 0; f < r.field_count; ++f) {
        if (FindInvalidUtf8(fields_[r.first_field + f]) != absl::string_view::npos) {
          r.problem_field = f + 1;
          break;
        }
      }
    }
    records_.push_back(r);
    record_start = i;
  }
}

}  // namespace enrich::engine
