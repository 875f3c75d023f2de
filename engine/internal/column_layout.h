// Column layout of a run: where each observable column is in the input (CSV field or NDJSON
// path), how the added columns are named, and their constant texts, fixed before the first
// chunk is parsed (from the options and the CSV header) and shared read-only by every stage.

#ifndef ENRICH_ENGINE_INTERNAL_COLUMN_LAYOUT_H_
#define ENRICH_ENGINE_INTERNAL_COLUMN_LAYOUT_H_

#include <array>
#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "engine/chunk_reader.h"
#include "engine/extract.h"
#include "engine/internal/chunk_work.h"
#include "engine/pipeline.h"
#include "schema/allowlist.h"

namespace enrich::engine::internal {

// The added fields of one column, in output order; a run's --fields, --judgements and intel
// columns follow them (AddedFieldNames).
inline constexpr std::array<absl::string_view, 5> kAddedFields = {
    "disposition", "disposition_name", "judgement_id", "valid_until", "status"};
// The verdict fields of each intel under --merge both, after "private_" and "global_".
inline constexpr std::array<absl::string_view, 4> kIntelVerdictFields = {
    "disposition", "disposition_name", "judgement_id", "valid_until"};

// The fixed state shared by every chunk: where the columns are and how output is named.
struct Layout {
  DataFormat in = DataFormat::kCsv;
  DataFormat out = DataFormat::kCsv;
  char delim = ',';
  bool header = true;
  size_t header_fields = 0;              // CSV with header: expected field count
  std::vector<uint32_t> csv_index;       // per column, 0-based CSV field
  std::vector<std::string> json_path;    // per column, NDJSON field path
  std::vector<std::string> types;        // per column
  std::vector<std::string> json_keys;    // CSV→NDJSON: `"name":` per CSV field
  std::vector<std::string> added_csv;    // added names, CSV-escaped
  // CSV output: "<d><n><d><name><d>" for dispositions 1..5 (index n), "<d><status>" for the
  // fixed statuses: the constant parts of the added fields, escaped once.
  std::array<std::string, 6> csv_disposition;
  std::array<std::string, kFixedStatuses> csv_status;
  std::string csv_no_verdict;  // the added fields of a "no verdict" answer
  std::vector<std::string> added_json;   // added names as `"name":`
  std::string raw_json_key;              // `"<prefix>raw":` for CSV rows that are not rows
  absl::string_view eol = "\n";
  std::string input_name;
  bool strict = false;
  size_t max_record_bytes = 0;
  const schema::Allowlist* allowlist = nullptr;
  // The columns after each column's five (PipelineOptions::fields ...), and the names of all of
  // a column's added fields: added_csv and added_json hold added_per_column names per column.
  std::vector<DetailField> fields;
  size_t judgements = 0;
  bool intel_column = false;
  bool both_intel_columns = false;
  DetailsSpec details;  // what Settled::details holds
  size_t added_per_column = kAddedFields.size();
  bool has_extra_columns() const { return added_per_column > kAddedFields.size(); }
};

// The field names each observable column adds, in output order: kAddedFields, then
// `options`' fields, judgements, intel, private_* and global_* (PipelineOptions::fields).
std::vector<std::string> AddedFieldNames(const PipelineOptions& options);

// The added column/field names for `columns`: `<prefix><field>` with one column (the names
// ctia_disposition, ctia_disposition_name, ctia_judgement_id, ctia_valid_until, ctia_status),
// `<prefix><column>_<field>` with several, every `.` of the column (an NDJSON path) made `_`:
// no added key holds a dot, which search engines read as an object path
// (`dns.query.name` → ctia_dns_query_name_status).
std::vector<std::string> AddedColumnNames(const std::vector<ColumnSpec>& columns,
                                          absl::string_view prefix);
// The same with the field names `fields` (AddedFieldNames) in place of kAddedFields.
std::vector<std::string> AddedColumnNames(const std::vector<ColumnSpec>& columns,
                                          absl::string_view prefix,
                                          const std::vector<std::string>& fields);

// The 1-based field number of a column of a CSV input without a header; a usage error when the
// column is not given by number.
absl::StatusOr<uint32_t> ColumnNumber(const ColumnSpec& c);

// Fills `layout` from `options` and, for CSV with a header, the first chunk's header line
// (`have_first` false: the input is empty), and `header_out` with the header line to write
// (empty when none is written). Errors: a malformed, empty or not-UTF-8 header line, an
// unknown or twice-named column, two columns whose added names are the same (`a.b` and
// `a_b`), a --prefix with a dot for NDJSON output, a header that already has the added
// columns, an empty CSV
// input with a header expected; the column errors are usage errors (IsUsageError).
absl::Status PrepareLayout(const PipelineOptions& options, const Chunk& first, bool have_first,
                           Layout& layout, std::string& header_out);

}  // namespace enrich::engine::internal

#endif  // ENRICH_ENGINE_INTERNAL_COLUMN_LAYOUT_H_
