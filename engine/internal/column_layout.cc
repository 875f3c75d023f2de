#include "engine/internal/column_layout.h"

#include <algorithm>
#include <utility>

#include "absl/strings/escaping.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_replace.h"
#include "engine/csv.h"
#include "engine/csv_records.h"
#include "schema/disposition.h"
#include "engine/ndjson.h"

namespace enrich::engine::internal {

std::vector<std::string> AddedFieldNames(const PipelineOptions& options) {
  std::vector<std::string> names(kAddedFields.begin(), kAddedFields.end());
  for (DetailField f : options.fields) names.emplace_back(DetailFieldName(f));
  if (options.judgements > 0) names.emplace_back("judgements");
  if (options.intel_column) names.emplace_back("intel");
  if (options.both_intel_columns) {
    for (absl::string_view intel : {"private_", "global_"}) {
      for (absl::string_view field : kIntelVerdictFields) {
        names.push_back(absl::StrCat(intel, field));
      }
    }
  }
  return names;
}

std::vector<std::string> AddedColumnNames(const std::vector<ColumnSpec>& columns,
                                          absl::string_view prefix) {
  return AddedColumnNames(columns, prefix,
                          std::vector<std::string>(kAddedFields.begin(), kAddedFields.end()));
}

std::vector<std::string> AddedColumnNames(const std::vector<ColumnSpec>& columns,
                                          absl::string_view prefix,
                                          const std::vector<std::string>& fields) {
  std::vector<std::string> names;
  for (const ColumnSpec& c : columns) {
    // Search engines (Elasticsearch, OpenSearch, Splunk) read a dot in a key as an object
    // path: `dns.query.name` names its added fields ctia_dns_query_name_<field>.
    const std::string column = absl::StrReplaceAll(c.name, {{".", "_"}});
    for (absl::string_view field : fields) {
      names.push_back(columns.size() == 1 ? absl::StrCat(prefix, field)
                                          : absl::StrCat(prefix, column, "_", field));
    }
  }
  return names;
}

absl::StatusOr<uint32_t> ColumnNumber(const ColumnSpec& c) {
  uint32_t number = 0;
  if (!absl::SimpleAtoi(c.name, &number) || number == 0) {
    return UsageError(absl::StrCat(
        "--column \"", c.name, ":", c.type,
        "\": without a header line, columns are given by number (1 = first)"));
  }
  return number;
}

namespace {

// The added column names at the end of a CSV header line.
void AppendAddedHeader(const Layout& layout, char delimiter, std::string& out) {
  for (const std::string& name : layout.added_csv) {
    out.push_back(delimiter);
    out.append(name);
  }
}

// The added names, escaped for CSV and JSON, and the constant parts of the added CSV fields.
void FillAddedTexts(const PipelineOptions& options, const std::vector<std::string>& added,
                    Layout& layout) {
  for (const std::string& name : added) {
    std::string csv;
    AppendCsvField(csv, name, options.delimiter);
    layout.added_csv.push_back(std::move(csv));
    std::string json;
    AppendJsonString(json, name);
    json.push_back(':');
    layout.added_json.push_back(std::move(json));
  }
  for (int n = 1; n <= 5; ++n) {
    std::string& text = layout.csv_disposition[static_cast<size_t>(n)];
    absl::StrAppend(&text, std::string(1, options.delimiter), n, std::string(1, options.delimiter));
    AppendCsvField(text, schema::DispositionName(*schema::DispositionFromNumber(n)),
                   options.delimiter);
    text.push_back(options.delimiter);
  }
  for (size_t i = 0; i < kFixedStatuses; ++i) {
    layout.csv_status[i].push_back(options.delimiter);
    AppendCsvField(layout.csv_status[i], kFixedStatusNames[i], options.delimiter);
  }
  layout.csv_no_verdict =
      absl::StrCat(std::string(4, options.delimiter), layout.csv_status[kNoVerdict]);
  AppendJsonString(layout.raw_json_key, absl::StrCat(options.prefix, "raw"));
  layout.raw_json_key.push_back(':');
}

// CSV with a header: finds the columns in the first chunk's header line, and the header line
// to write.
absl::Status ReadCsvHeader(const PipelineOptions& options, const Chunk& first, bool have_first,
                           const std::vector<std::string>& added, Layout& layout,
                           std::string& header_out) {
  if (!have_first) {
    return absl::InvalidArgumentError(
        absl::StrCat(options.input_name, ": empty input, expected a header line"));
  }
  CsvRecords header;
  header.Parse(first.bytes, first.first_line, first.starts_input, options.delimiter);
  const CsvRecordView& h = header.records().front();
  if (h.malformed) {
    // Unlike a data row, a header cannot pass through with a status: read as it is, it would
    // name the columns wrongly (or, with a quote never closed, swallow the whole input).
    return absl::InvalidArgumentError(absl::StrCat(options.input_name, ":", h.line,
                                                   ": malformed header line: ",
                                                   CsvRecords::Problem(h)));
  }
  const std::string where = absl::StrCat(options.input_name, ":", h.line, ": ");
  if (h.field_count == 1 && header.field(h, 0).empty()) {
    // A first line that is empty (or only a BOM) names no column.
    return absl::InvalidArgumentError(absl::StrCat(where,
                                                   "the header line is empty: expected the column "
                                                   "names (input without a header: --no-header)"));
  }
  layout.header_fields = h.field_count;
  std::vector<std::string> names;
  for (uint32_t i = 0; i < h.field_count; ++i) names.emplace_back(header.field(h, i));
  for (const ColumnSpec& c : options.columns) {
    auto it = std::find(names.begin(), names.end(), c.name);
    if (it == names.end()) {
      // Control bytes escaped (a CR would garble the terminal line), UTF-8 kept.
      const std::string listed =
          absl::StrJoin(names, ", ", [](std::string* out, const std::string& name) {
            out->append(absl::Utf8SafeCEscape(name));
          });
      return UsageError(absl::StrCat(
          where, "no column \"", absl::Utf8SafeCEscape(c.name), "\"; the columns are: ", listed,
          absl::StrContains(h.raw, '\r')
              ? " (the line holds a CR not followed by LF: records end at LF or CRLF, so CR-only "
                "line ends are not line ends)"
              : ""));
    }
    if (auto again = std::find(it + 1, names.end(), c.name); again != names.end()) {
      return UsageError(absl::StrCat(
          where, "the header names two columns \"", c.name, "\" (fields ", it - names.begin() + 1,
          " and ", again - names.begin() + 1, "): which one to look up is not clear"));
    }
    layout.csv_index.push_back(static_cast<uint32_t>(it - names.begin()));
  }
  for (const std::string& name : added) {
    if (std::find(names.begin(), names.end(), name) != names.end()) {
      // An enriched file enriched again would get a second column of that name.
      return UsageError(
          absl::StrCat(where, "the header already has a column \"", name,
                       "\" (an enriched file?); --prefix names the added columns differently"));
    }
  }
  for (const std::string& name : names) {
    std::string key;
    AppendJsonString(key, name);
    key.push_back(':');
    layout.json_keys.push_back(std::move(key));
  }
  if (!h.terminator.empty()) layout.eol = h.terminator;
  if (options.output_format == DataFormat::kCsv) {
    header_out.assign(h.raw.data(), h.raw.size());
    AppendAddedHeader(layout, options.delimiter, header_out);
    header_out.append(layout.eol.data(), layout.eol.size());
  }
  return absl::OkStatus();
}

}  // namespace

absl::Status PrepareLayout(const PipelineOptions& options, const Chunk& first, bool have_first,
                           Layout& layout, std::string& header_out) {
  layout.in = options.input_format;
  layout.out = options.output_format;
  layout.delim = options.delimiter;
  layout.header = options.input_format == DataFormat::kCsv && options.header;
  layout.input_name = options.input_name;
  layout.strict = options.strict;
  layout.max_record_bytes = options.max_record_bytes;
  layout.allowlist = options.allowlist;
  for (const ColumnSpec& c : options.columns) layout.types.push_back(c.type);

  if (options.output_format == DataFormat::kNdjson && absl::StrContains(options.prefix, '.')) {
    return UsageError(absl::StrCat("--prefix \"", options.prefix,
                                   "\": NDJSON keys with a dot are read as object paths by search "
                                   "engines; choose a prefix without one"));
  }
  layout.fields = options.fields;
  layout.judgements = options.judgements;
  layout.intel_column = options.intel_column;
  layout.both_intel_columns = options.both_intel_columns;
  layout.details = DetailsSpecOf(options);
  const std::vector<std::string> fields = AddedFieldNames(options);
  layout.added_per_column = fields.size();
  const size_t per = fields.size();
  const std::vector<std::string> added =
      AddedColumnNames(options.columns, options.prefix, fields);
  for (size_t i = per; i < added.size(); ++i) {
    for (size_t j = 0; j < i / per * per; ++j) {
      if (added[i] != added[j]) continue;
      const ColumnSpec& a = options.columns[j / per];
      const ColumnSpec& b = options.columns[i / per];
      return UsageError(absl::StrCat("--column \"", a.name, "\" and --column \"", b.name,
                                     "\" would add the same columns (", added[i],
                                     ", ...): a dot in a column name becomes _ in them"));
    }
  }
  FillAddedTexts(options, added, layout);

  if (options.input_format == DataFormat::kNdjson) {
    for (const ColumnSpec& c : options.columns) layout.json_path.push_back(c.name);
    if (options.output_format == DataFormat::kCsv) {
      header_out = "json";
      AppendAddedHeader(layout, options.delimiter, header_out);
      header_out.push_back('\n');
    }
    return absl::OkStatus();
  }

  if (!layout.header) {
    for (const ColumnSpec& c : options.columns) {
      layout.csv_index.push_back(*ColumnNumber(c) - 1);  // CheckPipelineOptions passed
    }
    return absl::OkStatus();  // no header in, no header out
  }

  return ReadCsvHeader(options, first, have_first, added, layout, header_out);
}

}  // namespace enrich::engine::internal
