#include "engine/publish_io.h"

#include "engine/csv.h"
#include "engine/ndjson.h"
#include "engine/pipeline.h"

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "rapidjson/document.h"
#include "rapidjson/stringbuffer.h"
#include "rapidjson/writer.h"

namespace enrich::engine {
namespace {

constexpr size_t kChunkSize = 1 << 20;

const std::string& ColumnOf(const PublishInputOptions& options, size_t field) {
  static const std::array<std::string, kPublishFieldCount> kDefaults = [] {
    std::array<std::string, kPublishFieldCount> names;
    for (size_t i = 0; i < kPublishFieldCount; ++i) {
      names[i] = std::string(PublishFieldName(static_cast<PublishField>(i)));
    }
    return names;
  }();
  return options.columns[field].empty() ? kDefaults[field] : options.columns[field];
}

}  // namespace

PublishReader::PublishReader(const PublishInputOptions& options, std::unique_ptr<ByteSource> source)
    : options_(options),
      source_(std::move(source)),
      chunks_(*source_, RecordFormat::kCsv, options.delimiter, kChunkSize) {
  column_index_.fill(-1);
}

PublishReader::~PublishReader() = default;

absl::StatusOr<std::unique_ptr<PublishReader>> PublishReader::Open(
    const PublishInputOptions& options, const PublishValues& defaults) {
  absl::StatusOr<std::unique_ptr<ByteSource>> source =
      OpenSource(options.path, options.compression);
  if (!source.ok()) return source.status();
  std::unique_ptr<PublishReader> reader(new PublishReader(options, *std::move(source)));
  absl::StatusOr<std::optional<char>> first = reader->chunks_.PeekFirstDataByte();
  if (!first.ok()) return first.status();
  if (!first->has_value()) {
    return absl::InvalidArgumentError(absl::StrCat(reader->name(), ": the input is empty"));
  }
  // Without a header the input can only be CSV, as for `run --no-header`.
  reader->format_ = options.format.value_or(
      **first == '{' && options.header ? PublishFormat::kNdjson : PublishFormat::kCsv);
  if (!options.header && reader->format_ != PublishFormat::kCsv) {
    return UsageError("--no-header: only a CSV input has no header");
  }
  reader->chunks_.set_format(reader->format_ == PublishFormat::kCsv ? RecordFormat::kCsv
                                                                    : RecordFormat::kNdjson);
  if (absl::Status s = reader->ReadHeader(defaults); !s.ok()) return s;
  return reader;
}

absl::StatusOr<bool> PublishReader::NextChunk() {
  absl::StatusOr<bool> more = chunks_.Next(chunk_);
  if (!more.ok() || !*more) return more;
  have_chunk_ = true;
  if (format_ == PublishFormat::kCsv) {
    records_.Parse(chunk_.bytes, chunk_.first_line, chunk_.starts_input, options_.delimiter);
    next_record_ = 0;
  } else {
    ndjson_pos_ = 0;
    ndjson_line_ = chunk_.first_line;
    if (chunk_.starts_input && absl::StartsWith(chunk_.bytes, "\xEF\xBB\xBF")) ndjson_pos_ = 3;
  }
  return true;
}

absl::Status PublishReader::ReadHeader(const PublishValues& defaults) {
  auto check_map = [&](auto has_column) -> absl::Status {
    for (size_t f = 0; f < kPublishFieldCount; ++f) {
      const bool mapped = !options_.columns[f].empty();
      const bool needed = f == static_cast<size_t>(PublishField::kValue) ||
                          f == static_cast<size_t>(PublishField::kType);
      if (has_column(f)) continue;
      if (mapped) {
        return UsageError(absl::StrCat("--map ", PublishFieldName(static_cast<PublishField>(f)),
                                       "=", options_.columns[f], ": ", name(), " has no column \"",
                                       options_.columns[f], "\""));
      }
      if (needed && !defaults[f].has_value() && format_ == PublishFormat::kCsv) {
        return UsageError(absl::StrCat(
            name(), ": no column \"", ColumnOf(options_, f),
            "\" in the header (name it with --map ", PublishFieldName(static_cast<PublishField>(f)),
            "=COLUMN", f == static_cast<size_t>(PublishField::kType) ? ", or give --type TYPE" : "",
            ")"));
      }
    }
    return absl::OkStatus();
  };
  if (format_ == PublishFormat::kNdjson) {
    // Field paths are per row; only --map columns cannot be checked before the rows.
    return check_map([](size_t) { return true; });
  }
  if (!options_.header) {
    if (absl::Status s = PositionColumns(defaults); !s.ok()) return s;
    return check_map([this](size_t f) { return column_index_[f] >= 0; });
  }
  absl::StatusOr<bool> more = NextChunk();
  if (!more.ok()) return more.status();
  if (!*more || records_.records().empty()) {
    return absl::InvalidArgumentError(absl::StrCat(name(), ": the input is empty"));
  }
  const CsvRecordView& head = records_.records()[next_record_++];
  header_.assign(head.raw.data(), head.raw.size());
  header_terminator_.assign(head.terminator.data(), head.terminator.size());
  if (head.malformed) {
    return absl::InvalidArgumentError(
        absl::StrCat(name(), ":", head.line, ": header: ", CsvRecords::Problem(head)));
  }
  for (uint32_t i = 0; i < head.field_count; ++i) {
    const absl::string_view column = records_.field(head, i);
    for (size_t f = 0; f < kPublishFieldCount; ++f) {
      if (ColumnOf(options_, f) == column && column_index_[f] < 0)
        column_index_[f] = static_cast<int>(i);
    }
  }
  return check_map([this](size_t f) { return column_index_[f] >= 0; });
}

absl::Status PublishReader::PositionColumns(const PublishValues& defaults) {
  for (size_t f = 0; f < kPublishFieldCount; ++f) {
    const std::string& column = options_.columns[f];
    if (column.empty()) continue;
    int position = 0;
    if (!absl::SimpleAtoi(column, &position) || position < 1) {
      return UsageError(absl::StrCat("--map ", PublishFieldName(static_cast<PublishField>(f)), "=",
                                     column,
                                     ": with --no-header, name a column by its position "
                                     "(1 = the first)"));
    }
    column_index_[f] = position - 1;
  }
  for (PublishField f : {PublishField::kValue, PublishField::kType}) {
    const size_t i = static_cast<size_t>(f);
    if (column_index_[i] < 0 && !defaults[i].has_value()) {
      return UsageError(absl::StrCat(
          name(), ": --no-header: say which column holds the ", PublishFieldName(f), " (--map ",
          PublishFieldName(f), "=N", f == PublishField::kType ? ", or give --type TYPE" : "",
          ")"));
    }
  }
  return absl::OkStatus();
}

void PublishReader::ReadCsv(const CsvRecordView& view, PublishRecord& out) const {
  out.line = view.line;
  out.raw.assign(view.raw.data(), view.raw.size());
  out.terminator.assign(view.terminator.data(), view.terminator.size());
  if (view.malformed) {
    out.problem = PublishRowError{"row", CsvRecords::Problem(view)};
    return;
  }
  for (size_t f = 0; f < kPublishFieldCount; ++f) {
    const int i = column_index_[f];
    if (i < 0 || static_cast<uint32_t>(i) >= view.field_count) continue;
    const absl::string_view cell = records_.field(view, static_cast<uint32_t>(i));
    if (!cell.empty()) out.values[f] = std::string(cell);
  }
}

void PublishReader::ReadNdjson(absl::string_view line, PublishRecord& out) const {
  out.raw.assign(line.data(), line.size());
  rapidjson::Document doc;
  doc.Parse(line.data(), line.size());
  if (doc.HasParseError() || !doc.IsObject()) {
    out.problem = PublishRowError{"row", "not a JSON object"};
    return;
  }
  out.json_object_empty = doc.MemberCount() == 0;
  for (size_t f = 0; f < kPublishFieldCount; ++f) {
    const std::string& column = ColumnOf(options_, f);
    std::string twice;
    const rapidjson::Value* v = FindJsonPath(doc, column, &twice);
    if (v == nullptr) {
      if (!twice.empty()) out.problem = PublishRowError{column, twice};
      continue;
    }
    if (v->IsNull()) continue;
    if (v->IsString()) {
      if (v->GetStringLength() > 0)
        out.values[f] = std::string(v->GetString(), v->GetStringLength());
    } else if (v->IsNumber()) {
      rapidjson::StringBuffer buf;
      rapidjson::Writer<rapidjson::StringBuffer> w(buf);
      v->Accept(w);
      out.values[f] = std::string(buf.GetString(), buf.GetSize());
    } else {
      out.problem = PublishRowError{column, "not a string or a number"};
    }
  }
}

absl::StatusOr<bool> PublishReader::Next(PublishRecord& out) {
  out = PublishRecord{};
  while (true) {
    if (format_ == PublishFormat::kCsv) {
      if (have_chunk_ && next_record_ < records_.records().size()) {
        ReadCsv(records_.records()[next_record_++], out);
        return true;
      }
    } else if (have_chunk_) {
      while (ndjson_pos_ < chunk_.bytes.size()) {
        const absl::string_view rest = absl::string_view(chunk_.bytes).substr(ndjson_pos_);
        const size_t nl = rest.find('\n');
        const absl::string_view line = rest.substr(0, nl);
        ndjson_pos_ += nl == absl::string_view::npos ? rest.size() : nl + 1;
        const uint64_t number = ndjson_line_++;
        absl::string_view trimmed = line;
        if (absl::EndsWith(trimmed, "\r")) trimmed.remove_suffix(1);
        if (trimmed.find_first_not_of(" \t") == absl::string_view::npos) continue;  // blank
        out.line = number;
        ReadNdjson(trimmed, out);
        return true;
      }
    }
    absl::StatusOr<bool> more = NextChunk();
    if (!more.ok() || !*more) return more;
  }
}

absl::StatusOr<std::unique_ptr<PublishResultWriter>> PublishResultWriter::Open(
    const std::string& path, Compression compression, PublishFormat format, char delimiter,
    bool header_row, const std::string& header, const std::string& header_terminator) {
  absl::StatusOr<std::unique_ptr<ByteSink>> sink = OpenSink(path, compression);
  if (!sink.ok()) return sink.status();
  std::unique_ptr<PublishResultWriter> writer(
      new PublishResultWriter(*std::move(sink), format, delimiter));
  if (format == PublishFormat::kCsv && header_row) {
    std::string line = header;
    absl::StrAppend(&line, std::string(1, delimiter), "ctia_judgement_id",
                    std::string(1, delimiter), "ctia_publish_status",
                    header_terminator.empty() ? "\n" : header_terminator);
    if (absl::Status s = writer->sink_->Write(line); !s.ok()) return s;
  }
  return writer;
}

absl::Status PublishResultWriter::Write(const PublishRecord& record, absl::string_view judgement_id,
                                        absl::string_view status) {
  buf_.clear();
  if (format_ == PublishFormat::kCsv) {
    buf_.append(record.raw);
    buf_.push_back(delimiter_);
    AppendCsvField(buf_, judgement_id, delimiter_);
    buf_.push_back(delimiter_);
    AppendCsvField(buf_, status, delimiter_);
    buf_.append(record.terminator.empty() ? "\n" : record.terminator);
    return sink_->Write(buf_);
  }
  std::string members = "\"ctia_judgement_id\":";
  AppendJsonString(members, judgement_id);
  members.append(",\"ctia_publish_status\":");
  AppendJsonString(members, status);
  if (record.problem.has_value() && record.problem->field == "row") {
    // Not an object: the row's text goes into one of the result's own.
    buf_.append("{\"ctia_input\":");
    AppendJsonString(buf_, record.raw);
    absl::StrAppend(&buf_, ",", members, "}");
  } else {
    AppendWithMembers(buf_, record.raw, record.json_object_empty, members);
  }
  buf_.push_back('\n');
  return sink_->Write(buf_);
}

}  // namespace enrich::engine
