#include "engine/internal/chunk_parser.h"

#include <algorithm>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "engine/csv_records.h"
#include "engine/extract.h"
#include "engine/internal/output_format.h"
#include "engine/ndjson.h"
#include "rapidjson/document.h"
#include "rapidjson/error/en.h"

namespace enrich::engine::internal {
namespace {

// New uniques are resolved against the verdict table in batches of this many, while the chunk
// is parsed: misses go out early, and a batch takes each shard's lock once, with enough keys
// per shard (8 on average with 64 shards) for the table to overlap their cache misses.
constexpr size_t kResolveBatch = 512;

}  // namespace

std::vector<ValueMemo>& ChunkParser::ThreadMemos(size_t columns, size_t values) {
  thread_local std::vector<ValueMemo> memos;
  if (memos.size() < columns) memos.resize(columns);
  for (size_t c = 0; c < columns; ++c) memos[c].Reset(values);
  return memos;
}

uint32_t ChunkParser::AddCell(ChunkWork& w, size_t column, absl::string_view raw, CellMemo& memo) {
  // Log columns repeat their values: normalize each distinct raw value once per chunk. One
  // probe finds or adds it; NDJSON values are kept as the arena's copy.
  absl::string_view kept = raw;  // what the memo keeps, and what the uniques may view
  auto keep = [&](absl::string_view v) {
    if (memo.copy_keys) kept = w.values.Copy(v);
    return kept;
  };
  auto [memo_cell, added] = memo.seen[column].FindOrAdd(raw, keep);
  if (!added) return *memo_cell;
  raw = kept;
  uint32_t cell;
  const ExtractedView e =
      ExtractObservableView(layout_.types[column], raw, layout_.allowlist, w.values);
  if (e.status == CellStatus::kSkipped) {
    cell = kSkippedCell;
  } else if (e.status == CellStatus::kAllowlisted) {
    cell = kAllowlistedCell;
  } else if (e.status == CellStatus::kInvalid) {
    cell = kInvalidCell;
  } else {
    cell = static_cast<uint32_t>(w.uniques.size());
    w.uniques.push_back({e.type, e.value});
    if (w.uniques.size() - w.resolved >= kResolveBatch) ResolveNew(w);
  }
  *memo_cell = cell;  // neither extraction nor ResolveNew touches the memo: the slot is there
  return cell;
}

void ChunkParser::MarkInvalidRow(ChunkWork& w, ChunkWork::Row& row,
                                 const std::string& problem) const {
  row.invalid = true;
  if (layout_.strict && w.row_error.ok()) {
    w.row_error = absl::InvalidArgumentError(
        absl::StrCat(layout_.input_name, ":", row.line, ": malformed row: ", problem));
  }
  for (size_t c = 0; c < layout_.types.size(); ++c) w.cells.push_back(kInvalidRowCell);
}

void ChunkParser::ParseCsv(ChunkWork& w) {
  w.csv.Parse(w.chunk.bytes, w.chunk.first_line, w.chunk.starts_input, layout_.delim);
  const auto& records = w.csv.records();
  const size_t columns = layout_.types.size();
  // Sized once for the chunk: growing the memos row by row would rehash them several times.
  CellMemo memo{ThreadMemos(columns, records.size()), /*copy_keys=*/false};
  w.rows.reserve(records.size());
  w.cells.reserve(records.size() * columns);
  w.results.resize(records.size() * columns);  // at most one unique per cell
  for (size_t i = w.skip_records; i < records.size(); ++i) {
    const CsvRecordView& r = records[i];
    ChunkWork::Row& row = w.rows.emplace_back();
    row.raw = r.raw;
    row.terminator = r.terminator;
    row.line = r.line;
    row.record = static_cast<uint32_t>(i);
    std::string problem;
    if (r.malformed) {
      problem = CsvRecords::Problem(r);
    } else if (layout_.header && r.field_count != layout_.header_fields) {
      problem = absl::StrCat(r.field_count, " fields, the header has ", layout_.header_fields);
    } else if (!layout_.header) {
      for (size_t c = 0; c < columns; ++c) {
        if (layout_.csv_index[c] >= r.field_count) {
          problem = absl::StrCat(r.field_count, " fields, no column ", layout_.csv_index[c] + 1);
          break;
        }
      }
    }
    if (!problem.empty()) {
      MarkInvalidRow(w, row, problem);
      continue;
    }
    for (size_t c = 0; c < columns; ++c) {
      w.cells.push_back(AddCell(w, c, w.csv.field(r, layout_.csv_index[c]), memo));
    }
  }
}

void ChunkParser::ParseNdjson(ChunkWork& w) {
  const absl::string_view bytes = w.chunk.bytes;
  const size_t columns = layout_.types.size();
  const size_t lines =
      static_cast<size_t>(std::count(bytes.begin(), bytes.end(), '\n')) + 1;  // at most
  CellMemo memo{ThreadMemos(columns, lines), /*copy_keys=*/true};
  w.results.resize(lines * columns);  // at most one unique per cell
  rapidjson::Document doc;
  std::vector<const rapidjson::Value*> found;  // per column, in the current line
  std::string number;
  uint64_t line = w.chunk.first_line;
  size_t pos = 0;
  while (pos < bytes.size()) {
    size_t nl = bytes.find('\n', pos);
    const bool has_nl = nl != absl::string_view::npos;
    if (!has_nl) nl = bytes.size();
    ChunkWork::Row& row = w.rows.emplace_back();
    row.line = line++;
    row.raw = bytes.substr(pos, nl - pos);
    row.terminator = has_nl ? absl::string_view("\n") : absl::string_view();
    if (!row.raw.empty() && row.raw.back() == '\r' && has_nl) {
      row.raw.remove_suffix(1);
      row.terminator = "\r\n";
    }
    pos = has_nl ? nl + 1 : nl;
    if (row.raw.find_first_not_of(" \t\r") == absl::string_view::npos) {
      // NDJSON readers skip blank lines: not a row, so no status, and not malformed (even under
      // --strict); the output keeps the line's bytes and the summary counts it.
      row.blank = true;
      ++w.blank_lines;
      for (size_t c = 0; c < columns; ++c) w.cells.push_back(kSkippedCell);
      continue;
    }

    doc.Parse<rapidjson::kParseValidateEncodingFlag>(row.raw.data(), row.raw.size());
    std::string problem;
    if (doc.HasParseError()) {
      problem = absl::StrCat("invalid JSON at byte ", doc.GetErrorOffset() + 1, ": ",
                             rapidjson::GetParseError_En(doc.GetParseError()));
    } else if (!doc.IsObject()) {
      problem = "not a JSON object";
    } else {
      found.clear();
      for (size_t c = 0; c < columns && problem.empty(); ++c) {
        found.push_back(FindJsonPath(doc, layout_.json_path[c], &problem));
      }
    }
    if (!problem.empty()) {
      MarkInvalidRow(w, row, problem);
      continue;
    }
    row.object_empty = doc.ObjectEmpty();
    for (size_t c = 0; c < columns; ++c) {
      const rapidjson::Value* v = found[c];
      if (v == nullptr || v->IsNull()) {
        w.cells.push_back(kSkippedCell);
      } else if (v->IsString()) {
        w.cells.push_back(
            AddCell(w, c, absl::string_view(v->GetString(), v->GetStringLength()), memo));
      } else if (v->IsInt64() || v->IsUint64()) {
        number = v->IsInt64() ? absl::StrCat(v->GetInt64()) : absl::StrCat(v->GetUint64());
        w.cells.push_back(AddCell(w, c, number, memo));
      } else {
        w.cells.push_back(kInvalidCell);  // an object, array, boolean or fraction
      }
    }
  }
}

void ChunkParser::Parse(ChunkWork& w) {
  if (layout_.in == DataFormat::kCsv) {
    ParseCsv(w);
  } else {
    ParseNdjson(w);
  }
  if (w.chunk.bytes.size() > layout_.max_record_bytes) CheckRecordSizes(w);
  ResolveNew(w);
}

void ChunkParser::CheckRecordSizes(ChunkWork& w) {
  auto check = [&](absl::string_view raw, uint64_t line, bool open_quote) {
    if (raw.size() <= layout_.max_record_bytes) return true;
    if (w.row_error.ok()) {
      w.row_error = RecordTooLongError(layout_.input_name, line, layout_.max_record_bytes,
                                       open_quote ? kOpenQuoteHint : "");
    }
    return false;
  };
  if (layout_.in == DataFormat::kCsv) {
    for (const CsvRecordView& r : w.csv.records()) {  // the header too
      if (!check(r.raw, r.line, r.problem == CsvProblem::kOpenQuote)) return;
    }
  } else {
    for (const ChunkWork::Row& row : w.rows) {
      if (!check(row.raw, row.line, false)) return;
    }
  }
}

void ChunkParser::ResolveNew(ChunkWork& w) {
  const size_t first = w.resolved;
  const size_t n = w.uniques.size() - first;
  if (n == 0) return;
  thread_local std::vector<VerdictTable::ResolveResult> answers;
  answers.resize(n);
  // Counted before the listener is registered, so an early settlement cannot reach zero.
  w.pending.fetch_add(static_cast<int64_t>(n), std::memory_order_relaxed);
  table_.ResolveBatch(absl::MakeConstSpan(w.uniques).subspan(first), &w,
                      static_cast<uint32_t>(first), answers.data());
  w.resolved = w.uniques.size();
  int64_t hits = 0;
  thread_local std::vector<VerdictTable::Key> misses;
  misses.clear();
  for (size_t i = 0; i < n; ++i) {
    switch (answers[i].resolution) {
      case VerdictTable::Resolution::kHit:
        w.results[first + i] = answers[i].settled;
        ++hits;
        break;
      case VerdictTable::Resolution::kJoined:
        ++w.joined;
        break;
      case VerdictTable::Resolution::kMiss:
        misses.push_back(w.uniques[first + i]);
        break;
    }
  }
  dispatcher_.SubmitBatch(misses);
  w.hits += static_cast<uint64_t>(hits);
  w.pending.fetch_sub(hits, std::memory_order_relaxed);
  if (layout_.out == DataFormat::kCsv) {
    w.added_spans.resize(first + n, kNotFormatted);
    for (size_t i = 0; i < n; ++i) {
      if (answers[i].resolution == VerdictTable::Resolution::kHit) {
        FormatCsvAdded(layout_, w, static_cast<uint32_t>(first + i));
      }
    }
  }
}

}  // namespace enrich::engine::internal
