#include "engine/csv.h"

#if defined(__SSE2__)
#include <emmintrin.h>
#endif

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

namespace {

// Whether `value` holds the delimiter, a quote, CR or LF; 16 bytes at a time with SSE2.
bool NeedsQuotes(absl::string_view value, char delimiter) {
  const char* p = value.data();
  size_t n = value.size();
#if defined(__SSE2__)
  const __m128i d = _mm_set1_epi8(delimiter);
  const __m128i q = _mm_set1_epi8('"');
  const __m128i cr = _mm_set1_epi8('\r');
  const __m128i lf = _mm_set1_epi8('\n');
  for (; n >= 16; p += 16, n -= 16) {
    const __m128i v = _mm_loadu_si128(reinterpret_cast<const __m128i*>(p));
    const __m128i m = _mm_or_si128(_mm_or_si128(_mm_cmpeq_epi8(v, d), _mm_cmpeq_epi8(v, q)),
                                   _mm_or_si128(_mm_cmpeq_epi8(v, cr), _mm_cmpeq_epi8(v, lf)));
    if (_mm_movemask_epi8(m) != 0) return true;
  }
#endif
  bool quote = false;
  for (size_t i = 0; i < n; ++i) {
    const char c = p[i];
    quote |= (c == delimiter) | (c == '"') | (c == '\r') | (c == '\n');
  }
  return quote;
}

}  // namespace

void AppendCsvField(std::string& out, absl::string_view value, char delimiter) {
  if (!NeedsQuotes(value, delimiter)) {
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
