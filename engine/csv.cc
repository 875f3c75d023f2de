#include "engine/csv.h"

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"

namespace enrich::engine {

CsvReader::CsvReader(std::FILE* file, char delimiter, size_t block_size)
    : source_(SourceFromFile(file, "<file>")),
      chunks_(*source_, RecordFormat::kCsv, delimiter, block_size),
      delimiter_(delimiter) {}

CsvReader::~CsvReader() = default;

const CsvRecord* CsvReader::Next() {
  while (next_record_ == records_.records().size()) {
    if (!status_.ok()) return nullptr;
    absl::StatusOr<bool> more = chunks_.Next(chunk_);
    if (!more.ok()) status_ = more.status();
    if (!more.ok() || !*more) return nullptr;
    records_.Parse(chunk_.bytes, chunk_.first_line, chunk_.starts_input, delimiter_);
    next_record_ = 0;
    if (chunk_.starts_input) had_bom_ = absl::StartsWith(chunk_.bytes, "\xEF\xBB\xBF");
  }
  const CsvRecordView& v = records_.records()[next_record_++];
  CsvRecord& r = record_;
  r.raw.assign(v.raw.data(), v.raw.size());
  r.terminator = v.terminator;
  r.line = v.line;
  r.malformed = v.malformed;
  r.problem = v.malformed ? absl::StrCat("line ", v.line, ": ", CsvRecords::Problem(v)) : "";
  r.fields_.clear();
  r.spans_.clear();
  for (uint32_t i = 0; i < v.field_count; ++i) {
    const absl::string_view field = records_.field(v, i);
    r.spans_.emplace_back(static_cast<uint32_t>(r.fields_.size()),
                          static_cast<uint32_t>(field.size()));
    r.fields_.append(field.data(), field.size());
  }
  return &r;
}

void AppendCsvField(std::string& out, absl::string_view value, char delimiter) {
  // No early exit: this loop vectorizes, and fields that need quotes are rare.
  bool quote = false;
  for (char c : value) quote |= (c == delimiter) | (c == '"') | (c == '\r') | (c == '\n');
  if (!quote) {
    out.append(value.data(), value.size());
    return;
  }
  out.push_back('"');
  for (char c : value) {
    if (c == '"') out.push_back('"');
    out.push_back(c);
  }
  out.push_back('"');
}

}  // namespace enrich::engine
