#include "tools/cli/plan_command.h"

#include "engine/exit_codes.h"
#include "engine/job.h"
#include "engine/pipeline.h"
#include "schema/rate_spec.h"
#include "transport/ctia_client.h"

#include <cstdio>
#include <optional>
#include <string>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/time/time.h"
#include "rapidjson/stringbuffer.h"
#include "rapidjson/writer.h"

namespace enrich::cli {
namespace {

// CTIA's own default: ctia.http.rate-limit.limits.group.default, 18000 per hour (reference §9).
constexpr schema::RateSpec kCtiaDefaultQuota{18000, absl::Hours(1)};

// The quota the time is counted under: --rate-limit, else CTIA's default. A limit the transport
// learns from X-RateLimit-*-Limit lives as long as its run: no later command can read it.
struct Quota {
  schema::RateSpec rate;
  bool given = false;
};

absl::StatusOr<Quota> QuotaOf(const PlanFlags& flags) {
  if (flags.run.ctia.rate_limit.empty()) return Quota{kCtiaDefaultQuota, false};
  absl::StatusOr<schema::RateSpec> rate = schema::ParseRateSpec(flags.run.ctia.rate_limit);
  if (!rate.ok()) {
    return absl::InvalidArgumentError(absl::StrCat("--rate-limit: ", rate.status().message()));
  }
  return Quota{*rate, true};
}

std::string RateText(const schema::RateSpec& rate) {
  return absl::StrCat(rate.limit, "/", absl::FormatDuration(rate.window));
}

// The batch size the run's transport uses (its flag, capped as BeastCtiaClient caps it).
size_t BatchSize(const PlanFlags& flags) {
  return std::min(static_cast<size_t>(std::max(flags.run.ctia.batch_size, 1)),
                  transport::kMaxVerdictBatch);
}

std::string JournalLine(const engine::PlanReport& r, const PlanFlags& flags) {
  if (r.journal_path.empty()) return "none (output written in place, no --journal)";
  if (!r.journal_exists) return absl::StrCat(r.journal_path, ": none yet (a first run)");
  if (!r.journal_refused.empty()) {
    return absl::StrCat(r.journal_path,
                        ": not usable by this run, it refuses it: ", r.journal_refused);
  }
  std::string line = absl::StrCat(r.journal_path, ": ", r.journal_entries, " settled lookups");
  if (!flags.run.resume) {
    absl::StrAppend(&line,
                    "; run refuses to start beside it without --resume (counted as "
                    "known here, as --resume would reuse them)");
  }
  if (!r.journal_other_run.empty()) {
    absl::StrAppend(&line, "; written for another input or columns (", r.journal_other_run,
                    "): its verdicts are reused");
  }
  return line;
}

}  // namespace

CLI::App* AddPlanCommand(CLI::App& app, PlanFlags& flags) {
  CLI::App* plan = app.add_subcommand(
      "plan",
      "Say what `run` would do with the same flags, without sending anything: rows, unique "
      "observables per type, cells skipped (allowlisted or empty) and invalid, lookups already "
      "in the journal, the lookups and the requests the run sends (GraphQL batches or REST), "
      "and how long they take under the quota. Reads the input as `run` reads it; no token is "
      "asked for, no embedded ctia-sim started, no file written.");
  AddRunFlags(*plan, flags.run, /*output_required=*/false);
  plan->add_flag("--json", flags.json,
                 "Print the plan as one JSON object on stdout (keys: README \"Planning a "
                 "run\")");
  return plan;
}

std::string PlanText(const engine::PlanReport& r, const PlanFlags& flags) {
  std::string out;
  absl::StrAppend(&out, "input        ", flags.run.input,
                  flags.run.shard.empty() ? "" : absl::StrCat(" shard ", flags.run.shard), ": ",
                  r.rows, " rows");
  if (r.invalid_rows > 0) absl::StrAppend(&out, " (", r.invalid_rows, " invalid)");
  if (r.blank_lines > 0) absl::StrAppend(&out, ", ", r.blank_lines, " blank lines");
  absl::StrAppend(&out, ", ", r.cells, " observable cells\n");
  absl::StrAppend(&out, "skipped      ", r.skipped_cells, " cells (allowlisted or empty)\n");
  absl::StrAppend(&out, "invalid      ", r.invalid_cells,
                  " cells (not an observable of the column's type)\n");
  absl::StrAppend(&out, "unique       ", r.unique, " observables after normalization\n");
  for (const auto& [type, c] : r.types) {
    absl::StrAppend(&out, absl::StrFormat("  %-12s %10d unique %10d known", type, c.unique,
                                          c.known));
    if (!flags.run.cache.empty()) absl::StrAppend(&out, absl::StrFormat(" %10d cached", c.cached));
    absl::StrAppend(&out, absl::StrFormat(" %10d to look up\n", c.lookups));
  }
  absl::StrAppend(&out, "journal      ", JournalLine(r, flags), "\n");
  absl::StrAppend(&out, "known        ", r.known, " from the journal, ", r.cache_known,
                  flags.run.cache.empty()
                      ? " from a verdict cache (no --cache given)\n"
                      : " from the verdict cache (--cache)\n");
  if (!r.cache_note.empty()) absl::StrAppend(&out, "cache        ", r.cache_note, "\n");
  absl::StrAppend(&out, "lookups      ", r.lookups, "\n");
  if (r.batch_size <= 1) {
    absl::StrAppend(&out, "requests     ", r.requests.total(), " (REST, one per lookup)\n");
  } else {
    absl::StrAppend(&out, "requests     ", r.requests.total(), " (", r.requests.graphql,
                    " POST /ctia/graphql of up to ", r.batch_size, " verdicts");
    if (r.requests.rest > 0) absl::StrAppend(&out, ", ", r.requests.rest, " REST for the last one");
    absl::StrAppend(&out, "); token requests not counted\n");
  }
  if (r.safety_flushes > 0) {
    absl::StrAppend(&out, "note         ", r.safety_flushes,
                    " partial batches left on a timer, not where the run's pipeline sends them: "
                    "the run's count may differ\n");
  }
  absl::StatusOr<Quota> quota = QuotaOf(flags);
  if (quota.ok()) {
    const std::string about =
        engine::FormatAbout(engine::QuotaTime(r.requests.total(), quota->rate));
    absl::StrAppend(&out, "time         ",
                    quota->given ? absl::StrCat(about, " at --rate-limit ", RateText(quota->rate))
                                 : absl::StrCat("no quota given: ", about,
                                                " at CTIA's default "
                                                "group quota of ",
                                                RateText(quota->rate)),
                    "\n");
  }
  absl::StrAppend(&out, "read in      ",
                  absl::FormatDuration(absl::Trunc(r.read_time, absl::Milliseconds(1))), "\n");
  return out;
}

std::string PlanJson(const engine::PlanReport& r, const PlanFlags& flags) {
  rapidjson::StringBuffer buffer;
  rapidjson::Writer<rapidjson::StringBuffer> w(buffer);
  auto key_u64 = [&w](const char* key, uint64_t value) {
    w.Key(key);
    w.Uint64(value);
  };
  auto key_string = [&w](const char* key, const std::string& value) {
    w.Key(key);
    w.String(value.data(), static_cast<rapidjson::SizeType>(value.size()));
  };
  w.StartObject();
  key_string("input", flags.run.input);
  if (!flags.run.shard.empty()) key_string("shard", flags.run.shard);
  key_u64("rows", r.rows);
  key_u64("invalid_rows", r.invalid_rows);
  key_u64("blank_lines", r.blank_lines);
  key_u64("cells", r.cells);
  key_u64("skipped_cells", r.skipped_cells);
  key_u64("invalid_cells", r.invalid_cells);
  key_u64("unique", r.unique);
  w.Key("types");
  w.StartObject();
  for (const auto& [type, c] : r.types) {
    w.Key(type.c_str());
    w.StartObject();
    key_u64("unique", c.unique);
    key_u64("known", c.known);
    key_u64("cached", c.cached);
    key_u64("lookups", c.lookups);
    w.EndObject();
  }
  w.EndObject();
  w.Key("journal");
  w.StartObject();
  key_string("path", r.journal_path);
  w.Key("exists");
  w.Bool(r.journal_exists);
  key_u64("entries", r.journal_entries);
  key_string("refused", r.journal_refused);
  w.EndObject();
  key_u64("known_journal", r.known);
  key_u64("known_cache", r.cache_known);
  key_u64("lookups", r.lookups);
  w.Key("requests");
  w.StartObject();
  key_u64("total", r.requests.total());
  key_u64("graphql", r.requests.graphql);
  key_u64("rest", r.requests.rest);
  key_u64("batch_size", r.batch_size);
  key_u64("safety_flushes", r.safety_flushes);
  w.EndObject();
  absl::StatusOr<Quota> quota = QuotaOf(flags);
  if (quota.ok()) {
    const absl::Duration t = engine::QuotaTime(r.requests.total(), quota->rate);
    w.Key("quota");
    w.StartObject();
    key_u64("limit", static_cast<uint64_t>(quota->rate.limit));
    key_u64("window_seconds", static_cast<uint64_t>(absl::ToInt64Seconds(quota->rate.window)));
    key_string("source", quota->given ? "--rate-limit" : "ctia-default");
    w.EndObject();
    w.Key("time_seconds");
    w.Double(absl::ToDoubleSeconds(t));
    key_string("time", engine::FormatAbout(t));
  }
  w.Key("read_seconds");
  w.Double(absl::ToDoubleSeconds(r.read_time));
  w.EndObject();
  return std::string(buffer.GetString(), buffer.GetSize()) + "\n";
}

int RunPlan(const PlanFlags& flags) {
  auto fail = [](absl::string_view message) {
    std::fprintf(stderr, "ctia-enrich: %.*s\n", static_cast<int>(message.size()), message.data());
  };
  // Usage first, as run: the same flags fail the same way.
  auto options = JobOptionsFromFlags(flags.run);
  if (!options.ok()) {
    fail(options.status().message());
    return engine::kExitUsage;
  }
  if (absl::StatusOr<Quota> quota = QuotaOf(flags); !quota.ok()) {
    fail(quota.status().message());
    return engine::kExitUsage;
  }
  engine::PlanOptions plan;
  plan.batch_size = BatchSize(flags);
  absl::StatusOr<engine::PlanReport> report = engine::PlanJob(*options, plan);
  if (!report.ok()) {
    fail(report.status().message());
    return engine::JobExitCode(report.status());
  }
  const std::string text = flags.json ? PlanJson(*report, flags) : PlanText(*report, flags);
  std::fwrite(text.data(), 1, text.size(), stdout);
  return engine::kExitDone;
}

}  // namespace enrich::cli
