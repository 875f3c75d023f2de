#include "engine/csv_records.h"

#include "engine/internal/csv_scan.h"
#include "engine/internal/csv_structural.h"
#include "engine/utf8.h"

#include <cstring>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"

namespace enrich::engine {

CsvRecords::CsvRecords() : index_(std::make_unique<internal::CsvStructuralIndex>()) {}
CsvRecords::~CsvRecords() = default;
CsvRecords::CsvRecords(CsvRecords&&) noexcept = default;
CsvRecords& CsvRecords::operator=(CsvRecords&&) noexcept = default;

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

absl::string_view CsvRecords::Unescape(absl::string_view content) const {
  const size_t from = scratch_.size();
  for (size_t k = 0; k < content.size(); ++k) {
    scratch_.push_back(content[k]);
    if (content[k] == '"') ++k;  // the second quote of a pair
  }
  return absl::string_view(scratch_.data() + from, scratch_.size() - from);
}

void CsvRecords::MarkEscaped(CsvRecordView& r) {
  if (!r.escaped) r.first_escaped = static_cast<uint32_t>(escaped_.size());
  escaped_.push_back(static_cast<uint32_t>(fields_.size() - 1));
  r.escaped = true;
}

absl::string_view CsvRecords::EscapedRecordField(const CsvRecordView& r, uint32_t k) const {
  // The record's entries come one after the other, ascending, from r.first_escaped.
  size_t j = r.first_escaped;
  while (j < escaped_.size() && escaped_[j] < k) ++j;
  if (j == escaped_.size() || escaped_[j] != k) return fields_[k];
  if (!unescaped_[j]) {
    fields_[k] = Unescape(fields_[k]);
    unescaped_[j] = true;
  }
  return fields_[k];
}

void CsvRecords::Parse(absl::string_view chunk, uint64_t first_line, bool starts_input,
                       char delim) {
  records_.clear();
  fields_.clear();
  escaped_.clear();
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
  const bool vector_scan = vector_scan_ && n < (size_t{1} << 32);
  if (vector_scan) index_->Build(base, n, delim);
  cursor_ = 0;

  while (i < n || bom_record) {
    bom_record = false;
    CsvRecordView r;
    r.line = line;
    r.first_field = static_cast<uint32_t>(fields_.size());
    bool non_ascii = true;  // unknown: check the record's UTF-8
    if (vector_scan && ScanOneLineRecord(base, n, delim, i, record_start, r, non_ascii, line)) {
      FinishRecord(r, non_ascii);
      record_start = i;
      continue;
    }
    for (;;) {
      const internal::CsvFieldScan f = internal::ScanCsvField(base, i, n, delim);
      line += f.newlines;
      absl::string_view content(base + f.content_begin, f.content_end - f.content_begin);
      fields_.push_back(content);
      if (f.doubled_quotes) MarkEscaped(r);
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
    FinishRecord(r, non_ascii);
    record_start = i;
  }
  unescaped_.assign(escaped_.size(), false);
}

bool CsvRecords::ScanOneLineRecord(const char* base, size_t n, char delim, size_t& i,
                                   size_t record_start, CsvRecordView& r, bool& non_ascii,
                                   uint64_t& line) {
  const uint32_t* const pos = index_->positions();
  const size_t count = index_->count();
  size_t k = cursor_;
  while (k < count && pos[k] < i) ++k;
  cursor_ = k;
  // pos[k]: the first delimiter, LF or quote not read yet (n when none is left). Each one read
  // moves k on, so it is always the next one after the bytes read.
  auto peek = [&]() -> size_t { return k < count ? pos[k] : n; };
  auto give_up = [&] {
    fields_.resize(r.first_field);
    while (!escaped_.empty() && escaped_.back() >= r.first_field) escaped_.pop_back();
    r.escaped = false;
    non_ascii = true;
    return false;
  };
  size_t from = i;  // the field's first byte
  size_t at = 0;     // the delimiter or LF that ends the field, or n
  bool crlf = false;  // a CR before the LF at `at`
  for (;;) {
    at = peek();
    if (at == from && at < n && base[at] == '"') {
      // Quoted: up to the quote not followed by another; delimiters inside are data.
      bool doubled = false;
      ++k;
      size_t hit = peek();
      for (;;) {
        // An open quote at the end, or a line end inside the quotes (lines to count).
        if (hit == n || base[hit] == '\n') return give_up();
        if (base[hit] == '"' && hit + 1 < n && base[hit + 1] == '"') {
          doubled = true;
          k += 2;  // both quotes of the pair
        } else {
          ++k;
          if (base[hit] == '"') break;
        }
        hit = peek();
      }
      at = hit + 1;
      if (at < n && base[at] == '\r' && at + 1 < n && base[at + 1] == '\n') {
        crlf = true;
        ++at;
      } else if (at < n && base[at] != delim && base[at] != '\n') {
        return give_up();  // text after the closing quote
      }
      fields_.emplace_back(base + from + 1, hit - from - 1);
      if (doubled) MarkEscaped(r);
    } else {
      if (at < n && base[at] == '"') return give_up();  // a quote inside the field (data)
      size_t content_end = at;
      if (at < n && base[at] == '\n' && at > from && base[at - 1] == '\r') {
        crlf = true;
        --content_end;
      }
      fields_.emplace_back(base + from, content_end - from);
    }
    if (at == n) break;
    ++k;  // the delimiter or LF at `at`
    if (base[at] != delim) break;
    from = at + 1;
  }
  // LF (CRLF) or the end of the bytes: the record ends.
  non_ascii = index_->MayHaveNonAscii(i, at);
  r.terminator = at == n ? absl::string_view() : crlf ? absl::string_view("\r\n") : "\n";
  if (at < n) ++line;
  r.raw = absl::string_view(base + record_start, at - (crlf ? 1 : 0) - record_start);
  i = at < n ? at + 1 : n;
  cursor_ = k;
  return true;
}

void CsvRecords::FinishRecord(CsvRecordView& r, bool non_ascii) {
  r.field_count = static_cast<uint32_t>(fields_.size()) - r.first_field;
  // A record of ASCII bytes is UTF-8.
  if (!r.malformed && non_ascii && FindInvalidUtf8(r.raw) != absl::string_view::npos) {
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

}  // namespace enrich::engine
