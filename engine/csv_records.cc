#include "engine/csv_records.h"

#include <cstring>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
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
  const bool bom = starts_input && n >= 3 && std::memcmp(base, "\xEF\xBB\xBF", 3) == 0;

  while (i < n) {
    CsvRecordView r;
    r.line = line;
    r.first_field = static_cast<uint32_t>(fields_.size());
    const size_t record_start = i;
    if (bom && i == 0) i = 3;
    bool done = false;
    while (!done) {
      // One field starting at i.
      if (i < n && base[i] == '"') {
        ++i;
        size_t start = i;
        bool escaped = false;  // saw a doubled quote: copy into scratch_
        size_t scratch_start = scratch_.size();
        bool closed = false;
        while (i < n) {
          const char* q = static_cast<const char*>(std::memchr(base + i, '"', n - i));
          const size_t stop = q == nullptr ? n : static_cast<size_t>(q - base);
          for (size_t k = i; k < stop; ++k) line += base[k] == '\n';
          if (escaped) scratch_.append(base + i, stop - i);
          i = stop;
          if (q == nullptr) break;
          if (i + 1 < n && base[i + 1] == '"') {
            if (!escaped) {
              escaped = true;
              scratch_.append(base + start, i - start);
            }
            scratch_.push_back('"');
            i += 2;
            continue;
          }
          closed = true;
          break;
        }
        if (escaped) {
          fields_.emplace_back(scratch_.data() + scratch_start, scratch_.size() - scratch_start);
        } else {
          fields_.emplace_back(base + start, i - start);
        }
        if (!closed) {
          if (!r.malformed) {
            r.malformed = true;
            r.problem = CsvProblem::kOpenQuote;
            r.problem_field = static_cast<uint32_t>(fields_.size() - r.first_field);
          }
          done = true;
          // Only the end of input leaves a quote open (chunks end on record boundaries). Its
          // last line end is the record's terminator, so the added columns stay on the line.
          r.raw = absl::string_view(base + record_start, n - record_start);
          if (absl::EndsWith(r.raw, "\r\n")) {
            r.terminator = "\r\n";
          } else if (absl::EndsWith(r.raw, "\n")) {
            r.terminator = "\n";
          }
          r.raw.remove_suffix(r.terminator.size());
          break;
        }
        ++i;  // closing quote
        // Text after the closing quote up to the delimiter or record end: malformed.
        const size_t after = i;
        while (i < n && base[i] != delim && base[i] != '\n' &&
               !(base[i] == '\r' && i + 1 < n && base[i + 1] == '\n')) {
          ++i;
        }
        if (i != after && !r.malformed) {
          r.malformed = true;
          r.problem = CsvProblem::kTextAfterQuote;
          r.problem_field = static_cast<uint32_t>(fields_.size() - r.first_field);
        }
      } else {
        const size_t start = i;
        while (i < n && base[i] != delim && base[i] != '\n' &&
               !(base[i] == '\r' && i + 1 < n && base[i + 1] == '\n')) {
          ++i;
        }
        fields_.emplace_back(base + start, i - start);
      }
      // i is at a delimiter, a record end, or the end of the chunk.
      if (i < n && base[i] == delim) {
        ++i;
        if (i == n) {  // "a,b," at end of input: a last empty field
          fields_.emplace_back();
          r.raw = absl::string_view(base + record_start, i - record_start);
          done = true;
        }
        continue;
      }
      r.raw = absl::string_view(base + record_start, i - record_start);
      if (i < n && base[i] == '\r') {
        r.terminator = "\r\n";
        i += 2;
        ++line;
      } else if (i < n) {
        r.terminator = "\n";
        ++i;
        ++line;
      }
      done = true;
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
  }
}

}  // namespace enrich::engine
