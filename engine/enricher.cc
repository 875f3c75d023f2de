#include "engine/enricher.h"

#include <cerrno>
#include <chrono>
#include <cstring>
#include <optional>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_map.h"
#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/synchronization/mutex.h"
#include "engine/csv.h"
#include "schema/observable.h"
#include "schema/time_format.h"

namespace enrich::engine {
namespace {

using schema::NoVerdict;
using schema::Verdict;

// Settled answer for one unique observable.
struct Outcome {
  std::optional<Verdict> verdict;  // set for `ok`
  std::string status;              // "ok", "no_verdict" or "error:<code>"
};

// One buffered input row.
struct Row {
  std::string raw;
  absl::string_view terminator;
  // Set when the row needs no lookup ("invalid_row", "skipped").
  const char* fixed_status = nullptr;
  std::string key;  // lower-cased value while waiting for the outcome
};

absl::Status WriteAll(std::FILE* out, const std::string& bytes) {
  if (bytes.empty()) return absl::OkStatus();
  if (std::fwrite(bytes.data(), 1, bytes.size(), out) != bytes.size()) {
    return absl::DataLossError(absl::StrCat("write failed: ", std::strerror(errno)));
  }
  return absl::OkStatus();
}

// Sends the lookups of one batch, at most `max_in_flight` at a time, and waits for all.
class BatchLookup {
 public:
  BatchLookup(transport::VerdictSource& source, size_t max_in_flight)
      : source_(source), max_in_flight_(max_in_flight == 0 ? 1 : max_in_flight) {}

  // Looks up every observable; returns the outcomes in the same order.
  std::vector<Outcome> Run(const std::vector<schema::Observable>& observables,
                           absl::Status* fatal) {
    std::vector<Outcome> outcomes(observables.size());
    for (size_t i = 0; i < observables.size(); ++i) {
      {
        absl::MutexLock lock(&mu_);
        auto room = [this]() ABSL_SHARED_LOCKS_REQUIRED(mu_) {
          return in_flight_ < max_in_flight_;
        };
        mu_.Await(absl::Condition(&room));
        if (!fatal_.ok()) break;  // no point sending more with rejected credentials
        ++in_flight_;
      }
      source_.LookupVerdict(observables[i], [this, &outcomes, i](auto result) {
        Outcome o;
        if (!result.ok()) {
          o.status = ErrorStatusFor(result.status());
        } else if (auto* v = std::get_if<Verdict>(&*result)) {
          o.verdict = std::move(*v);
          o.status = "ok";
        } else {
          o.status = "no_verdict";
        }
        absl::MutexLock lock(&mu_);
        if (!result.ok() && result.status().code() == absl::StatusCode::kUnauthenticated &&
            fatal_.ok()) {
          fatal_ = result.status();
        }
        outcomes[i] = std::move(o);
        --in_flight_;
      });
    }
    absl::MutexLock lock(&mu_);
    auto idle = [this]() ABSL_SHARED_LOCKS_REQUIRED(mu_) { return in_flight_ == 0; };
    mu_.Await(absl::Condition(&idle));
    *fatal = fatal_;
    return outcomes;
  }

 private:
  transport::VerdictSource& source_;
  const size_t max_in_flight_;
  absl::Mutex mu_;
  size_t in_flight_ ABSL_GUARDED_BY(mu_) = 0;
  absl::Status fatal_ ABSL_GUARDED_BY(mu_);
};

void AppendAdded(std::string& out, const char* fixed_status, const Outcome* o, char delim) {
  out.push_back(delim);
  if (o != nullptr && o->verdict.has_value()) {
    const Verdict& v = *o->verdict;
    absl::StrAppend(&out, static_cast<int>(v.disposition));
    out.push_back(delim);
    AppendCsvField(out, v.disposition_name, delim);
    out.push_back(delim);
    AppendCsvField(out, v.judgement_id, delim);
    out.push_back(delim);
    AppendCsvField(out, schema::FormatIsoTime(v.valid_time.end_time), delim);
  } else {
    out.append(3, delim);
  }
  out.push_back(delim);
  AppendCsvField(out, fixed_status != nullptr ? fixed_status : o->status, delim);
}

}  // namespace

absl::StatusOr<ColumnSpec> ParseColumnSpec(absl::string_view spec) {
  ColumnSpec c;
  const size_t colon = spec.rfind(':');
  if (colon == absl::string_view::npos) {
    c.name = std::string(spec);
    if (!schema::IsKnownObservableType(c.name)) {
      return absl::InvalidArgumentError(absl::StrCat(
          "--column \"", spec, "\": the column name is not a CTIA observable type; ",
          "give the type as NAME:TYPE, e.g. --column ", spec, ":domain"));
    }
    c.type = c.name;
  } else {
    c.name = std::string(spec.substr(0, colon));
    c.type = std::string(spec.substr(colon + 1));
  }
  if (c.name.empty() || c.type.empty()) {
    return absl::InvalidArgumentError(
        absl::StrCat("--column \"", spec, "\": expected NAME or NAME:TYPE"));
  }
  return c;
}

std::string ErrorStatusFor(const absl::Status& status) {
  // The transport starts messages with "http <code>" when the server answered (ctia_client.h).
  absl::string_view msg = status.message();
  if (absl::StartsWith(msg, "http ")) {
    absl::string_view digits = msg.substr(5, 3);
    int code = 0;
    if (absl::SimpleAtoi(digits, &code)) return absl::StrCat("error:", code);
  }
  return absl::StrCat("error:", absl::AsciiStrToLower(absl::StatusCodeToString(status.code())));
}

absl::StatusOr<EnrichSummary> EnrichCsv(std::FILE* in, std::FILE* out,
                                        const EnrichOptions& options,
                                        transport::VerdictSource& source) {
  const auto started = std::chrono::steady_clock::now();
  const char delim = options.delimiter;
  CsvReader reader(in, delim);
  const CsvRecord* header = reader.Next();
  if (header == nullptr) {
    if (!reader.status().ok()) {
      return absl::DataLossError(
          absl::StrCat(options.input_name, ": ", reader.status().message()));
    }
    return absl::InvalidArgumentError(
        absl::StrCat(options.input_name, ": empty input, expected a header line"));
  }
  const size_t columns = header->field_count();
  std::optional<size_t> col;
  std::vector<std::string> names;
  for (size_t i = 0; i < columns; ++i) {
    names.emplace_back(header->field(i));
    if (header->field(i) == options.column.name && !col.has_value()) col = i;
  }
  if (!col.has_value()) {
    return absl::InvalidArgumentError(absl::StrCat(
        options.input_name, ":", header->line, ": no column \"", options.column.name,
        "\"; the columns are: ", absl::StrJoin(names, ", ")));
  }
  const absl::string_view eol_default = header->terminator.empty() ? "\n" : header->terminator;

  std::string outbuf = header->raw;
  for (const char* name : {"disposition", "disposition_name", "judgement_id", "valid_until",
                           "status"}) {
    outbuf.push_back(delim);
    AppendCsvField(outbuf, absl::StrCat(options.prefix, name), delim);
  }
  outbuf.append(eol_default.data(), eol_default.size());

  EnrichSummary summary;
  absl::flat_hash_map<std::string, Outcome> settled;
  BatchLookup lookup(source, options.max_in_flight);
  std::vector<Row> rows;
  rows.reserve(std::min<size_t>(options.batch_rows, 1 << 16));
  bool done = false;
  while (!done) {
    // 1. Read a batch; collect values not settled yet.
    rows.clear();
    absl::flat_hash_map<std::string, size_t> wanted;  // key → index in `ask`
    std::vector<schema::Observable> ask;
    while (rows.size() < options.batch_rows) {
      const CsvRecord* rec = reader.Next();
      if (rec == nullptr) {
        done = true;
        break;
      }
      Row& row = rows.emplace_back();
      row.raw = rec->raw;
      row.terminator = rec->terminator.empty() ? eol_default : rec->terminator;
      if (rec->malformed || rec->field_count() != columns) {
        row.fixed_status = "invalid_row";
        continue;
      }
      absl::string_view value = absl::StripAsciiWhitespace(rec->field(*col));
      if (value.empty()) {
        row.fixed_status = "skipped";
        continue;
      }
      row.key = absl::AsciiStrToLower(value);
      if (settled.contains(row.key)) continue;
      if (wanted.emplace(row.key, ask.size()).second) {
        ask.push_back({options.column.type, std::string(value)});
      }
    }
    if (!reader.status().ok()) {
      return absl::DataLossError(
          absl::StrCat(options.input_name, ": ", reader.status().message()));
    }

    // 2. Look the new values up.
    if (!ask.empty()) {
      absl::Status fatal;
      std::vector<Outcome> outcomes = lookup.Run(ask, &fatal);
      if (!fatal.ok()) return fatal;
      summary.lookups += ask.size();
      for (auto& [key, index] : wanted) settled.emplace(key, std::move(outcomes[index]));
    }

    // 3. Write the batch in order.
    for (Row& row : rows) {
      const Outcome* o = nullptr;
      if (row.fixed_status == nullptr) o = &settled.find(row.key)->second;
      const std::string& status = row.fixed_status != nullptr ? row.fixed_status : o->status;
      ++summary.statuses[status];
      outbuf.append(row.raw);
      AppendAdded(outbuf, row.fixed_status, o, delim);
      outbuf.append(row.terminator.data(), row.terminator.size());
      if (outbuf.size() >= (1 << 20)) {
        if (absl::Status s = WriteAll(out, outbuf); !s.ok()) return s;
        outbuf.clear();
      }
    }
    summary.rows += rows.size();
  }
  if (absl::Status s = WriteAll(out, outbuf); !s.ok()) return s;
  if (std::fflush(out) != 0) {
    return absl::DataLossError(absl::StrCat("write failed: ", std::strerror(errno)));
  }
  summary.unique_observables = settled.size();
  summary.seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
  return summary;
}

std::string FormatSummary(const EnrichSummary& s) {
  std::string out = absl::StrCat("rows:               ", s.rows, "\n",
                                 "unique observables: ", s.unique_observables, "\n",
                                 "lookups:            ", s.lookups, "\n", "statuses:\n");
  for (const auto& [status, count] : s.statuses) {
    absl::StrAppend(&out, "  ", status, ": ", count, "\n");
  }
  char secs[32];
  std::snprintf(secs, sizeof secs, "%.2f", s.seconds);
  absl::StrAppend(&out, "seconds:            ", secs, "\n");
  return out;
}

}  // namespace enrich::engine
