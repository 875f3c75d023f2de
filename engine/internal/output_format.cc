#include "engine/internal/output_format.h"

#include <array>
#include <string>

#include "absl/cleanup/cleanup.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"
#include "engine/csv.h"
#include "engine/ndjson.h"
#include "engine/verdict_table.h"
#include "schema/disposition.h"
#include "schema/time_format.h"

namespace enrich::engine::internal {
namespace {

// The status text of a cell: one of kFixedStatusNames (the same pointer) or the error text.
absl::string_view StatusText(const ChunkWork& w, uint32_t cell) {
  switch (cell) {
    case kSkippedCell:
      return kFixedStatusNames[kSkipped];
    case kInvalidCell:
      return kFixedStatusNames[kInvalid];
    case kInvalidRowCell:
      return kFixedStatusNames[kInvalidRow];
    default:
      break;
  }
  const Settled& s = w.results[cell];
  switch (s.kind) {
    case Settled::Kind::kVerdict:
      return kFixedStatusNames[kOk];
    case Settled::Kind::kNoVerdict:
      return kFixedStatusNames[kNoVerdict];
    case Settled::Kind::kFailed:
      break;
  }
  return s.error;
}

// The verdict of a cell, or null (no verdict, failed, or a cell without a lookup).
const Settled* VerdictOf(const ChunkWork& w, uint32_t cell) {
  if (cell >= kInvalidRowCell) return nullptr;
  const Settled& s = w.results[cell];
  return s.kind == Settled::Kind::kVerdict ? &s : nullptr;
}

void CountCell(ChunkWork& w, uint32_t cell) {
  switch (cell) {
    case kSkippedCell:
      ++w.fixed_counts[kSkipped];
      return;
    case kInvalidCell:
      ++w.fixed_counts[kInvalid];
      return;
    case kInvalidRowCell:
      ++w.fixed_counts[kInvalidRow];
      return;
    default:
      break;
  }
  const Settled& s = w.results[cell];
  switch (s.kind) {
    case Settled::Kind::kVerdict:
      ++w.fixed_counts[kOk];
      ++w.disposition_counts[s.disposition >= 1 && s.disposition <= 5 ? s.disposition : 0];
      break;
    case Settled::Kind::kNoVerdict:
      ++w.fixed_counts[kNoVerdict];
      break;
    case Settled::Kind::kFailed:
      ++w.error_counts[s.error];
      break;
  }
}

void AppendJsonAdded(const Layout& layout, ChunkWork& w, std::string& out, size_t column,
                     uint32_t cell) {
  const std::string* keys = &layout.added_json[column * kAddedFields.size()];
  if (column > 0) out.push_back(',');
  if (const Settled* v = VerdictOf(w, cell)) {
    const auto disposition = schema::DispositionFromNumber(v->disposition);
    absl::StrAppend(&out, keys[0], v->disposition, ",", keys[1]);
    AppendJsonString(out, disposition.has_value() ? schema::DispositionName(*disposition) : "");
    absl::StrAppend(&out, ",", keys[2]);
    AppendJsonString(out, v->judgement_id);
    absl::StrAppend(&out, ",", keys[3], "\"");
    schema::AppendIsoTimeMillis(out, v->valid_until_ms);
    out.append("\",");
  } else {
    absl::StrAppend(&out, keys[0], "null,", keys[1], "null,", keys[2], "null,", keys[3],
                    "null,");
  }
  out.append(keys[4]);
  AppendJsonString(out, StatusText(w, cell));
}

}  // namespace

void AppendCsvAdded(const Layout& layout, ChunkWork& w, std::string& out, uint32_t cell) {
  const char d = layout.delim;
  const Settled* v = VerdictOf(w, cell);
  // The common answers in fewer appends: "no verdict" is one constant; a verdict with a known
  // disposition is its constant prefix, the judgement id, and the end time and status, which
  // verdicts often share (formatted once while it repeats).
  if (cell < kInvalidRowCell && w.results[cell].kind == Settled::Kind::kNoVerdict) {
    out.append(layout.csv_no_verdict);
    return;
  }
  if (v != nullptr && v->disposition >= 1 && v->disposition <= 5) {
    out.append(layout.csv_disposition[static_cast<size_t>(v->disposition)]);
    AppendCsvField(out, v->judgement_id, d);
    if (v->valid_until_ms != w.iso_ms) {
      w.iso_text.clear();
      w.iso_text.push_back(d);
      schema::AppendIsoTimeMillis(w.iso_text, v->valid_until_ms);
      w.iso_text.append(layout.csv_status[kOk]);
      w.iso_ms = v->valid_until_ms;
    }
    out.append(w.iso_text);
    return;
  }
  // A verdict with a disposition number outside 1..5.
  if (v != nullptr) {
    out.push_back(d);
    absl::StrAppend(&out, v->disposition);
    out.push_back(d);
    const auto disposition = schema::DispositionFromNumber(v->disposition);
    AppendCsvField(out, disposition.has_value() ? schema::DispositionName(*disposition) : "", d);
    out.push_back(d);
    AppendCsvField(out, v->judgement_id, d);
    out.push_back(d);
    schema::AppendIsoTimeMillis(out, v->valid_until_ms);
  } else {
    out.append(4, d);
  }
  const absl::string_view status = StatusText(w, cell);
  for (size_t i = 0; i < kFixedStatuses; ++i) {
    if (status.data() == kFixedStatusNames[i].data()) {
      out.append(layout.csv_status[i]);
      return;
    }
  }
  out.push_back(d);
  AppendCsvField(out, status, d);
}

void NoteHitRow(const HitSelection& hits, ChunkWork& w, const uint32_t* cells, size_t columns,
                absl::string_view out, size_t row_start) {
  bool hit = false;
  for (size_t c = 0; c < columns; ++c) {
    const Settled* v = VerdictOf(w, cells[c]);
    if (v == nullptr || !InDispositionSet(hits.dispositions, v->disposition)) continue;
    hit = true;
    // The same observable in an earlier column of the row (columns may hold it in different
    // slots: compare the keys).
    const VerdictTable::Key& key = w.uniques[cells[c]];
    bool counted = false;
    for (size_t e = 0; e < c && !counted; ++e) {
      counted = cells[e] == cells[c] ||
                (cells[e] < kInvalidRowCell && w.uniques[cells[e]].value == key.value &&
                 w.uniques[cells[e]].type == key.type);
    }
    if (counted) continue;
    if (w.hit_rows.empty()) w.hit_rows.assign(w.uniques.size(), 0);
    if (w.hit_rows[cells[c]]++ == 0) w.hit_slots.push_back(cells[c]);
  }
  if (hit && hits.copy_rows) {
    const absl::string_view row = out.substr(row_start);
    w.hit_out.append(row.data(), row.size());
  }
}

void FormatChunk(const Layout& layout, ChunkWork& w, const HitSelection& hits) {
  const size_t columns = layout.types.size();
  std::string& out = w.out;
  out.reserve(w.chunk.bytes.size() + w.rows.size() * columns * 48);
  std::string members;
  // CSV output: the added fields of each unique, formatted once; rows copy them.
  std::array<std::string, 3> fixed_added;  // kInvalidRowCell, kInvalidCell, kSkippedCell
  auto added_for = [&](uint32_t cell) -> absl::string_view {
    if (cell >= kInvalidRowCell) return fixed_added[cell - kInvalidRowCell];
    return absl::string_view(w.added).substr(w.added_spans[cell].first, w.added_spans[cell].second);
  };
  if (layout.out == DataFormat::kCsv) {
    w.added_spans.resize(w.uniques.size(), kNotFormatted);
    for (uint32_t slot = 0; slot < w.uniques.size(); ++slot) {
      if (w.added_spans[slot] == kNotFormatted) FormatCsvAdded(layout, w, slot);
    }
    for (uint32_t cell : {kInvalidRowCell, kInvalidCell, kSkippedCell}) {
      AppendCsvAdded(layout, w, fixed_added[cell - kInvalidRowCell], cell);
    }
  }
  for (size_t i = 0; i < w.rows.size(); ++i) {
    const ChunkWork::Row& row = w.rows[i];
    const uint32_t* cells = &w.cells[i * columns];
    if (row.blank) {
      // NDJSON output: the line as it was; CSV output: no line (it would be a ragged row).
      if (layout.out == DataFormat::kNdjson) {
        out.append(row.raw.data(), row.raw.size());
        out.append(row.terminator.data(), row.terminator.size());
      }
      continue;
    }
    for (size_t c = 0; c < columns; ++c) CountCell(w, cells[c]);
    // Hits: once the row is formatted below (whichever branch ends it).
    const size_t row_start = out.size();
    absl::Cleanup note_hit = [&] {
      if (hits.dispositions != 0) NoteHitRow(hits, w, cells, columns, out, row_start);
    };
    if (layout.out == DataFormat::kCsv) {
      if (layout.in == DataFormat::kCsv) {
        out.append(row.raw.data(), row.raw.size());
      } else {
        AppendCsvField(out, row.raw, layout.delim);  // the JSON line in the `json` column
      }
      for (size_t c = 0; c < columns; ++c) {
        const absl::string_view a = added_for(cells[c]);
        out.append(a.data(), a.size());
      }
      const absl::string_view eol =
          layout.in == DataFormat::kCsv && !row.terminator.empty() ? row.terminator
                                                                    : layout.eol;
      out.append(eol.data(), eol.size());
      continue;
    }
    // NDJSON output.
    members.clear();
    for (size_t c = 0; c < columns; ++c) AppendJsonAdded(layout, w, members, c, cells[c]);
    if (layout.in == DataFormat::kNdjson) {
      if (row.invalid) {
        out.append(row.raw.data(), row.raw.size());  // no object to add fields to
      } else {
        AppendWithMembers(out, row.raw, row.object_empty, members);
      }
      const absl::string_view eol = row.terminator.empty() ? "\n" : row.terminator;
      out.append(eol.data(), eol.size());
      continue;
    }
    // CSV → NDJSON: one object per row, the header names as keys.
    out.push_back('{');
    const CsvRecordView& r = w.csv.records()[row.record];
    if (row.invalid) {
      out.append(layout.raw_json_key);
      AppendJsonString(out, row.raw);
    } else {
      for (uint32_t f = 0; f < r.field_count; ++f) {
        if (f > 0) out.push_back(',');
        if (f < layout.json_keys.size()) {
          out.append(layout.json_keys[f]);
        } else {
          absl::StrAppend(&out, "\"", f + 1, "\":");
        }
        AppendJsonString(out, w.csv.field(r, f));
      }
    }
    out.push_back(',');
    out.append(members);
    out.append("}\n");
  }
}

}  // namespace enrich::engine::internal
