// synthetic-journal: prepares the all-cached benchmark (bench/engine/cached_vs_duckdb.sh).
//
// Reads a CSV, extracts one observable column exactly as `ctia-enrich run` does
// (engine::ExtractObservable), and gives every distinct observable the answer ctia-sim
// --synthetic PERCENT --public-base BASE would give (sim::SyntheticVerdict), with
// --short-percent PCT --short-end TIME as ctia-sim's --synthetic-short-valid PCT:SECONDS
// answers once its short-lived verdicts end at TIME (sim::SyntheticShortLived). Writes:
//  - a `ctia-enrich run` journal with one settled lookup per distinct observable and the run
//    fingerprint of `run -i INPUT --column COLUMN --endpoint ENDPOINT`, so that the same
//    command with `--resume` has every verdict cached and sends no lookup;
//  - the same verdict table as CSV for the DuckDB join: one line per distinct raw field value
//    (value,disposition,disposition_name,judgement_id,valid_until,status), where status is ok,
//    no_verdict, invalid or skipped, as the engine would write it for that value.

#include "engine/csv.h"
#include "engine/extract.h"
#include "engine/journal.h"
#include "engine/pipeline.h"
#include "schema/disposition.h"
#include "schema/time_format.h"
#include "tools/sim/sim_server.h"

#include <cstdio>
#include <exception>
#include <string>

#include "CLI/CLI.hpp"
#include "absl/container/flat_hash_set.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"

namespace {

int Main(int argc, char** argv) {
  CLI::App app{
      "Writes a resume journal and a verdict-table CSV with ctia-sim's synthetic "
      "answers for every distinct observable of one CSV column.",
      "synthetic-journal"};
  std::string input, column_spec, endpoint, journal_path, verdicts_path, public_base;
  int percent = 50;
  app.add_option("--input", input, "CSV input, the path exactly as given to `run -i`")->required();
  app.add_option("--column", column_spec, "As given to `run --column` (one column)")->required();
  app.add_option("--endpoint", endpoint, "As given to `run --endpoint`")->required();
  app.add_option("--percent", percent, "As given to `ctia-sim --synthetic`")->default_val(50);
  app.add_option("--public-base", public_base, "As given to `ctia-sim --public-base`")->required();
  int short_percent = 0;
  std::string short_end_text;
  app.add_option("--short-percent", short_percent,
                 "PCT of `ctia-sim --synthetic-short-valid PCT:SECONDS`; needs --short-end")
      ->check(CLI::Range(0, 100));
  app.add_option("--short-end", short_end_text,
                 "End of ctia-sim's short-lived verdicts, as its answers give it, e.g. "
                 "2026-12-06T15:40:00.000Z");
  app.add_option("--journal", journal_path, "Journal to create")->required();
  app.add_option("--verdicts-csv", verdicts_path, "Verdict table CSV to write")->required();
  CLI11_PARSE(app, argc, argv);
  absl::Time short_end = enrich::schema::EndOfTime();
  if (short_percent > 0) {
    absl::StatusOr<absl::Time> t = enrich::schema::ParseIsoTime(short_end_text);
    if (!t.ok()) {
      std::fprintf(stderr, "synthetic-journal: --short-end: %s\n",
                   std::string(t.status().message()).c_str());
      return 2;
    }
    short_end = *t;
  }

  absl::StatusOr<enrich::engine::ColumnSpec> column = enrich::engine::ParseColumnSpec(column_spec);
  if (!column.ok()) {
    std::fprintf(stderr, "synthetic-journal: %s\n", std::string(column.status().message()).c_str());
    return 2;
  }
  std::FILE* in = std::fopen(input.c_str(), "rb");
  if (in == nullptr) {
    std::perror(("synthetic-journal: " + input).c_str());
    return 1;
  }
  std::fseek(in, 0, SEEK_END);
  const uint64_t input_size = static_cast<uint64_t>(std::ftell(in));
  std::fseek(in, 0, SEEK_SET);

  auto journal = enrich::engine::Journal::Open(
      journal_path, enrich::engine::RunFingerprint(input, input_size, column_spec, endpoint),
      /*resume=*/false);
  if (!journal.ok()) {
    std::fprintf(stderr, "synthetic-journal: %s\n", journal.status().ToString().c_str());
    return 1;
  }
  std::string table = "value,disposition,disposition_name,judgement_id,valid_until,status\n";

  enrich::engine::CsvReader reader(in);
  const enrich::engine::CsvRecord* header = reader.Next();
  size_t index = SIZE_MAX;
  for (size_t i = 0; header != nullptr && i < header->field_count(); ++i) {
    if (header->field(i) == column->name) index = i;
  }
  if (index == SIZE_MAX) {
    std::fprintf(stderr, "synthetic-journal: %s: no column %s\n", input.c_str(),
                 column->name.c_str());
    return 1;
  }
  absl::flat_hash_set<std::string> raw_seen;
  absl::flat_hash_set<enrich::schema::Observable> journaled;
  uint64_t rows = 0, verdicts = 0, short_lived = 0;
  const absl::Time now = absl::Now();
  while (const enrich::engine::CsvRecord* r = reader.Next()) {
    ++rows;
    if (r->malformed || index >= r->field_count()) continue;
    const std::string raw(r->field(index));
    if (!raw_seen.insert(raw).second) continue;
    enrich::engine::Extracted e = enrich::engine::ExtractObservable(column->type, raw, nullptr);
    enrich::engine::AppendCsvField(table, raw);
    if (e.status != enrich::engine::CellStatus::kLookup) {
      absl::StrAppend(&table, ",,,,,",
                      e.status == enrich::engine::CellStatus::kSkipped ? "skipped" : "invalid",
                      "\n");
      continue;
    }
    std::optional<enrich::schema::Verdict> v =
        enrich::sim::SyntheticVerdict(e.observable.type, e.observable.value, percent, public_base);
    if (v.has_value() && short_percent > 0 &&
        enrich::sim::SyntheticShortLived(e.observable.type, e.observable.value, short_percent)) {
      v->valid_time.end_time = short_end;
      if (!journaled.contains(e.observable)) ++short_lived;
    }
    if (v.has_value()) {
      ++verdicts;
      absl::StrAppend(&table, ",", static_cast<int>(v->disposition), ",",
                      enrich::schema::DispositionName(v->disposition), ",");
      enrich::engine::AppendCsvField(table, v->judgement_id);
      table.push_back(',');
      enrich::schema::AppendIsoTimeMillis(table, absl::ToUnixMillis(v->valid_time.end_time));
      table.append(",ok\n");
    } else {
      table.append(",,,,,no_verdict\n");
    }
    if (!journaled.insert(e.observable).second) continue;
    enrich::engine::JournalEntry entry{e.observable, enrich::schema::NoVerdict{}, now};
    if (v.has_value()) entry.outcome = *v;
    if (absl::Status s = (*journal)->Append(entry); !s.ok()) {
      std::fprintf(stderr, "synthetic-journal: %s\n", s.ToString().c_str());
      return 1;
    }
  }
  std::fclose(in);
  if (!reader.status().ok()) {
    std::fprintf(stderr, "synthetic-journal: %s\n", reader.status().ToString().c_str());
    return 1;
  }
  if (absl::Status s = (*journal)->Close(); !s.ok()) {
    std::fprintf(stderr, "synthetic-journal: %s\n", s.ToString().c_str());
    return 1;
  }
  std::FILE* out = std::fopen(verdicts_path.c_str(), "wb");
  if (out == nullptr || std::fwrite(table.data(), 1, table.size(), out) != table.size() ||
      std::fclose(out) != 0) {
    std::perror(("synthetic-journal: " + verdicts_path).c_str());
    return 1;
  }
  std::printf(
      "synthetic-journal: %llu rows, %zu distinct values, %zu observables journaled "
      "(%llu with a verdict, %llu of them short-lived)\n",
      static_cast<unsigned long long>(rows), raw_seen.size(), journaled.size(),
      static_cast<unsigned long long>(verdicts), static_cast<unsigned long long>(short_lived));
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  try {
    return Main(argc, argv);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "synthetic-journal: internal error: %s\n", e.what());
    return 1;
  }
}
