#include "engine/internal/output_format.h"

#include <array>
#include <string>

#include "absl/cleanup/cleanup.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"
#include "engine/csv.h"
#include "engine/ndjson.h"
#include "schema/verdict_details.h"
#include "engine/verdict_table.h"
#include "schema/disposition.h"
#include "schema/time_format.h"

namespace enrich::engine::internal {
namespace {

// The status text of a cell: one of kFixedStatusNames (the same pointer) or the error text.
absl::string_view StatusText(const ChunkWork& w, uint32_t cell) {
  switch (cell) {
    case kSkippedCell:
    case kAllowlistedCell:
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
  if (cell >= kFirstFixedCell) return nullptr;
  const Settled& s = w.results[cell];
  return s.kind == Settled::Kind::kVerdict ? &s : nullptr;
}

void CountCell(ChunkWork& w, uint32_t cell) {
  switch (cell) {
    case kSkippedCell:
      ++w.fixed_counts[kSkipped];
      return;
    case kAllowlistedCell:
      ++w.fixed_counts[kSkipped];
      ++w.allowlisted_cells;
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

// The name of disposition number `n`, or "" outside 1..5.
absl::string_view NameOf(int n) {
  const auto disposition = schema::DispositionFromNumber(n);
  return disposition.has_value() ? schema::DispositionName(*disposition) : "";
}

// The text of a verdict's judgement id (formatted from its record; valid until the next call
// on this thread).
absl::string_view IdText(const Settled& v) {
  thread_local std::string buf;
  return v.judgement_id.Text(buf);
}

// One intel's verdict under --merge both: present, or none.
struct IntelVerdict {
  bool present = false;
  int disposition = 0;
  absl::string_view judgement_id;
  int64_t valid_until_ms = 0;
};

// What the extra columns of a cell show: its verdict's details decoded, the observable looked
// up (null for a cell without a lookup), and each intel's verdict under --merge both.
struct CellDetails {
  const Settled* verdict = nullptr;
  const VerdictTable::Key* observable = nullptr;
  DetailsView view;
  IntelVerdict intel[2];  // private, global
  std::string id_text;    // the deciding verdict's judgement id, formatted
};

void ReadCellDetails(const Layout& layout, const ChunkWork& w, uint32_t cell, CellDetails& d) {
  d.verdict = VerdictOf(w, cell);
  d.observable = cell < kFirstFixedCell ? &w.uniques[cell] : nullptr;
  if (d.verdict == nullptr || !DecodeDetails(layout.details, d.verdict->details, d.view)) {
    DecodeDetails(layout.details, "", d.view);
  }
  d.intel[0] = d.intel[1] = IntelVerdict();
  if (!layout.both_intel_columns || d.verdict == nullptr) return;
  // The deciding verdict is the intel it names (private unless it says global); the other
  // verdict, if any, is the other intel's.
  const int own = d.view.intel == "global" ? 1 : 0;
  d.intel[own] = {true, d.verdict->disposition, d.verdict->judgement_id.Text(d.id_text),
                  d.verdict->valid_until_ms};
  if (d.view.has_other) {
    d.intel[1 - own] = {true, d.view.other_disposition, d.view.other_judgement_id,
                        d.view.other_valid_until_ms};
  }
}

// The text of detail `field` of a cell; false when it has none.
bool FieldText(const CellDetails& d, DetailField field, absl::string_view& text) {
  if (field == DetailField::kObservableType || field == DetailField::kObservableValue) {
    if (d.observable == nullptr) return false;
    text = field == DetailField::kObservableType ? d.observable->type : d.observable->value;
    return true;
  }
  if (!d.view.has_judgement) return false;
  text = d.view.judgement[static_cast<size_t>(field)];
  return true;
}

// The CSV text of --judgements: `source:disposition_name` joined by `;`.
void JudgementsText(const DetailsView& view, std::string& out) {
  out.clear();
  for (const JudgementBriefView& j : view.judgements) {
    if (!out.empty()) out.push_back(';');
    absl::StrAppend(&out, j.source, ":", NameOf(j.disposition));
  }
}

// The extra CSV fields of a cell (Layout::fields ...), each after the delimiter.
void AppendCsvExtra(const Layout& layout, const ChunkWork& w, std::string& out, uint32_t cell) {
  const char d = layout.delim;
  thread_local CellDetails cd;
  thread_local std::string text;
  ReadCellDetails(layout, w, cell, cd);
  for (DetailField f : layout.fields) {
    out.push_back(d);
    absl::string_view value;
    if (FieldText(cd, f, value)) AppendCsvField(out, value, d);
  }
  if (layout.judgements > 0) {
    out.push_back(d);
    JudgementsText(cd.view, text);
    AppendCsvField(out, text, d);
  }
  if (layout.intel_column) {
    out.push_back(d);
    AppendCsvField(out, cd.view.intel, d);
  }
  if (!layout.both_intel_columns) return;
  for (const IntelVerdict& v : cd.intel) {
    if (!v.present) {
      out.append(kIntelVerdictFields.size(), d);
      continue;
    }
    absl::StrAppend(&out, std::string(1, d), v.disposition, std::string(1, d));
    AppendCsvField(out, NameOf(v.disposition), d);
    out.push_back(d);
    AppendCsvField(out, v.judgement_id, d);
    out.push_back(d);
    schema::AppendIsoTimeMillis(out, v.valid_until_ms);
  }
}

// A JSON string, or null.
void JsonStringOrNull(std::string& out, bool present, absl::string_view text) {
  if (present) {
    AppendJsonString(out, text);
  } else {
    out.append("null");
  }
}

// The extra NDJSON members of a cell, each after a comma; `keys`: their `"name":`.
void AppendJsonExtra(const Layout& layout, const ChunkWork& w, std::string& out,
                     const std::string* keys, uint32_t cell) {
  thread_local CellDetails cd;
  ReadCellDetails(layout, w, cell, cd);
  for (DetailField f : layout.fields) {
    absl::StrAppend(&out, ",", *keys++);
    absl::string_view value;
    const bool present = FieldText(cd, f, value);
    int64_t priority = 0;
    if (f == DetailField::kPriority && present && absl::SimpleAtoi(value, &priority)) {
      absl::StrAppend(&out, priority);  // a number
    } else {
      JsonStringOrNull(out, present, value);
    }
  }
  if (layout.judgements > 0) {
    absl::StrAppend(&out, ",", *keys++);
    if (cd.verdict == nullptr) {
      out.append("null");
    } else {
      out.push_back('[');
      for (size_t i = 0; i < cd.view.judgements.size(); ++i) {
        const JudgementBriefView& j = cd.view.judgements[i];
        out.append(i == 0 ? "{\"source\":" : ",{\"source\":");
        AppendJsonString(out, j.source);
        out.append(",\"disposition_name\":");
        AppendJsonString(out, NameOf(j.disposition));
        out.append(",\"id\":");
        AppendJsonString(out, j.id);
        out.push_back('}');
      }
      out.push_back(']');
    }
  }
  if (layout.intel_column) {
    absl::StrAppend(&out, ",", *keys++);
    JsonStringOrNull(out, cd.verdict != nullptr && !cd.view.intel.empty(), cd.view.intel);
  }
  if (!layout.both_intel_columns) return;
  for (const IntelVerdict& v : cd.intel) {
    if (!v.present) {
      for (size_t k = 0; k < kIntelVerdictFields.size(); ++k) {
        absl::StrAppend(&out, ",", *keys++, "null");
      }
      continue;
    }
    absl::StrAppend(&out, ",", keys[0], v.disposition, ",", keys[1]);
    AppendJsonString(out, NameOf(v.disposition));
    absl::StrAppend(&out, ",", keys[2]);
    AppendJsonString(out, v.judgement_id);
    absl::StrAppend(&out, ",", keys[3], "\"");
    keys += kIntelVerdictFields.size();
    schema::AppendIsoTimeMillis(out, v.valid_until_ms);
    out.push_back('"');
  }
}

void AppendJsonAdded(const Layout& layout, ChunkWork& w, std::string& out, size_t column,
                     uint32_t cell) {
  const std::string* keys = &layout.added_json[column * layout.added_per_column];
  if (column > 0) out.push_back(',');
  if (const Settled* v = VerdictOf(w, cell)) {
    const auto disposition = schema::DispositionFromNumber(v->disposition);
    absl::StrAppend(&out, keys[0], v->disposition, ",", keys[1]);
    AppendJsonString(out, disposition.has_value() ? schema::DispositionName(*disposition) : "");
    absl::StrAppend(&out, ",", keys[2]);
    AppendJsonString(out, IdText(*v));
    absl::StrAppend(&out, ",", keys[3], "\"");
    schema::AppendIsoTimeMillis(out, v->valid_until_ms);
    out.append("\",");
  } else {
    absl::StrAppend(&out, keys[0], "null,", keys[1], "null,", keys[2], "null,", keys[3],
                    "null,");
  }
  out.append(keys[4]);
  AppendJsonString(out, StatusText(w, cell));
  if (layout.has_extra_columns()) AppendJsonExtra(layout, w, out, keys + kAddedFields.size(), cell);
}

// The five added CSV fields of every column (kAddedFields).
void AppendCsvBase(const Layout& layout, ChunkWork& w, std::string& out, uint32_t cell) {
  const char d = layout.delim;
  const Settled* v = VerdictOf(w, cell);
  // The common answers in fewer appends: "no verdict" is one constant; a verdict with a known
  // disposition is its constant prefix, the judgement id, and the end time and status, which
  // verdicts often share (formatted once while it repeats).
  if (cell < kFirstFixedCell && w.results[cell].kind == Settled::Kind::kNoVerdict) {
    out.append(layout.csv_no_verdict);
    return;
  }
  if (v != nullptr && v->disposition >= 1 && v->disposition <= 5) {
    out.append(layout.csv_disposition[static_cast<size_t>(v->disposition)]);
    AppendCsvField(out, IdText(*v), d);
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
    AppendCsvField(out, IdText(*v), d);
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

}  // namespace

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
                (cells[e] < kFirstFixedCell && w.uniques[cells[e]].value == key.value &&
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

absl::string_view JudgementSourceOf(const Layout& layout, const Settled& settled) {
  if (!layout.details.Keeps(DetailField::kSource) || settled.details.empty()) return {};
  DetailsView view;
  if (!DecodeDetails(layout.details, settled.details, view) || !view.has_judgement) return {};
  return view.judgement[static_cast<size_t>(DetailField::kSource)];
}

void AppendCsvAdded(const Layout& layout, ChunkWork& w, std::string& out, uint32_t cell) {
  AppendCsvBase(layout, w, out, cell);
  if (layout.has_extra_columns()) AppendCsvExtra(layout, w, out, cell);
}

void FormatChunk(const Layout& layout, ChunkWork& w, const HitSelection& hits) {
  const size_t columns = layout.types.size();
  std::string& out = w.out;
  out.reserve(w.chunk.bytes.size() + w.rows.size() * columns * 48);
  std::string members;
  // CSV output: the added fields of each unique, formatted once; rows copy them.
  // kAllowlistedCell, kInvalidRowCell, kInvalidCell, kSkippedCell
  std::array<std::string, 4> fixed_added;
  auto added_for = [&](uint32_t cell) -> absl::string_view {
    if (cell >= kFirstFixedCell) return fixed_added[cell - kFirstFixedCell];
    return absl::string_view(w.added).substr(w.added_spans[cell].first, w.added_spans[cell].second);
  };
  if (layout.out == DataFormat::kCsv) {
    w.added_spans.resize(w.uniques.size(), kNotFormatted);
    for (uint32_t slot = 0; slot < w.uniques.size(); ++slot) {
      if (w.added_spans[slot] == kNotFormatted) FormatCsvAdded(layout, w, slot);
    }
    for (uint32_t cell : {kAllowlistedCell, kInvalidRowCell, kInvalidCell, kSkippedCell}) {
      AppendCsvAdded(layout, w, fixed_added[cell - kFirstFixedCell], cell);
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
