#include "tools/cli/plan_command.h"

#include "engine/exit_codes.h"
#include "engine/job.h"
#include "engine/pipeline.h"
#include "schema/rate_spec.h"
#include "schema/status_macros.h"
#include "tools/cli/ctia_stack.h"
#include "tools/cli/shared_redis.h"
#include "transport/ctia_client.h"

#include <cstdio>
#include <optional>
#include <string>
#include <utility>

#include "absl/container/flat_hash_set.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/time/time.h"
#include "rapidjson/stringbuffer.h"
#include "rapidjson/writer.h"

namespace enrich::cli {
namespace {

// CTIA's own default: ctia.http.rate-limit.limits.group.default, 18000 per hour (reference §9).
constexpr schema::RateSpec kCtiaDefaultQuota{18000, absl::Hours(1)};

// The quota one intel's requests are counted under: --rate-limit (--global-rate-limit), else
// CTIA's default. A limit the transport learns from X-RateLimit-*-Limit lives as long as its
// run: no later command can read it. Each credential group (org) has a budget of its own and
// the run spreads its requests over them (it takes from the group with most budget left), so
// `groups` groups send `groups` times as fast.
struct Quota {
  schema::RateSpec rate;
  bool given = false;
  std::string flag;   // the flag that gives it: --rate-limit or --global-rate-limit
  size_t groups = 1;  // distinct groups of the credentials file; the environment's is one
  absl::Duration Time(uint64_t requests) const {
    return engine::QuotaTime(requests, rate) / static_cast<double>(std::max<size_t>(groups, 1));
  }
};

absl::StatusOr<Quota> QuotaFor(const std::string& rate_limit, const char* rate_flag,
                               const std::string& credentials_file) {
  Quota quota{kCtiaDefaultQuota, false, rate_flag, 1};
  if (!rate_limit.empty()) {
    absl::StatusOr<schema::RateSpec> rate = schema::ParseRateSpec(rate_limit);
    if (!rate.ok()) {
      return absl::InvalidArgumentError(absl::StrCat(rate_flag, ": ", rate.status().message()));
    }
    quota.rate = *rate;
    quota.given = true;
  }
  if (!credentials_file.empty()) {
    // Read as the run reads it (its mode and lines checked); only the groups are kept.
    absl::StatusOr<std::vector<CredentialLine>> lines = ReadCredentialsFile(credentials_file);
    if (!lines.ok()) return lines.status();
    absl::flat_hash_set<std::string> groups;
    for (const CredentialLine& line : *lines) groups.insert(line.group);
    quota.groups = std::max<size_t>(groups.size(), 1);
  }
  return quota;
}

// The quotas of the run's intels: Private-Intel's (or the one intel's), and under --intel both
// Global-Intel's, which is asked every lookup too (its credentials default to the private side's).
struct Quotas {
  Quota first;
  std::optional<Quota> global;
  // Both intels answer each lookup at once: the slower one decides.
  absl::Duration Time(uint64_t requests) const {
    return global.has_value() ? std::max(first.Time(requests), global->Time(requests))
                              : first.Time(requests);
  }
};

absl::StatusOr<Quotas> QuotaOf(const PlanFlags& flags) {
  const CtiaFlags& ctia = flags.run.ctia;
  Quotas q;
  ENRICH_ASSIGN_OR_RETURN(q.first,
                          QuotaFor(ctia.rate_limit, "--rate-limit", ctia.credentials_file));
  if (ctia.intel == "both") {
    ENRICH_ASSIGN_OR_RETURN(
        q.global, QuotaFor(ctia.global_rate_limit, "--global-rate-limit",
                           ctia.global_credentials_file.empty() ? ctia.credentials_file
                                                                : ctia.global_credentials_file));
  }
  return q;
}

std::string RateText(const schema::RateSpec& rate) {
  return absl::StrCat(rate.limit, "/", absl::FormatDuration(rate.window));
}

// "about 2 h at --rate-limit 18000/1h over 2 credential groups (a budget each)".
std::string QuotaText(const Quota& q, uint64_t requests) {
  std::string text = absl::StrCat(engine::FormatAbout(q.Time(requests)), " at ",
                                  q.given ? q.flag + " " : "CTIA's default group quota of ",
                                  RateText(q.rate));
  if (q.groups > 1) absl::StrAppend(&text, " over ", q.groups, " credential groups (a budget each)");
  if (!q.given) absl::StrAppend(&text, " (no quota given)");
  return text;
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
      "observables per type, cells allowlisted, empty and invalid, lookups already "
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
  absl::StrAppend(&out, "allowlisted  ", r.allowlisted_cells, " cells (the allowlist holds them)\n");
  absl::StrAppend(&out, "empty        ", r.empty_cells, " cells\n");
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
  if (!flags.run.redis.empty()) {
    absl::StrAppend(&out, "shared       ", r.shared_known,
                    " answered by the workers' shared cache (--redis) now\n");
  }
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
  absl::StatusOr<Quotas> quotas = QuotaOf(flags);
  if (quotas.ok()) {
    const uint64_t n = r.requests.total();
    absl::StrAppend(&out, "time         ", engine::FormatAbout(quotas->Time(n)));
    if (quotas->global.has_value()) {
      absl::StrAppend(&out, " (--intel both: each intel gets every request; the slower decides)\n",
                      "  private    ", QuotaText(quotas->first, n), "\n", "  global     ",
                      QuotaText(*quotas->global, n), "\n");
    } else {
      absl::StrAppend(&out, ": ", QuotaText(quotas->first, n), "\n");
    }
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
  key_u64("allowlisted_cells", r.allowlisted_cells);
  key_u64("empty_cells", r.empty_cells);
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
    key_u64("shared", c.shared);
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
  key_u64("known_shared", r.shared_known);
  key_u64("lookups", r.lookups);
  w.Key("requests");
  w.StartObject();
  key_u64("total", r.requests.total());
  key_u64("graphql", r.requests.graphql);
  key_u64("rest", r.requests.rest);
  key_u64("batch_size", r.batch_size);
  key_u64("safety_flushes", r.safety_flushes);
  w.EndObject();
  absl::StatusOr<Quotas> quotas = QuotaOf(flags);
  if (quotas.ok()) {
    auto quota_object = [&](const char* key, const Quota& q) {
      w.Key(key);
      w.StartObject();
      key_u64("limit", static_cast<uint64_t>(q.rate.limit));
      key_u64("window_seconds", static_cast<uint64_t>(absl::ToInt64Seconds(q.rate.window)));
      key_string("source", q.given ? q.flag : "ctia-default");
      key_u64("groups", q.groups);
      w.Key("time_seconds");
      w.Double(absl::ToDoubleSeconds(q.Time(r.requests.total())));
      w.EndObject();
    };
    quota_object("quota", quotas->first);
    if (quotas->global.has_value()) quota_object("global_quota", *quotas->global);
    const absl::Duration t = quotas->Time(r.requests.total());
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
  if (absl::StatusOr<Quotas> quotas = QuotaOf(flags); !quotas.ok()) {
    fail(quotas.status().message());
    return engine::kExitUsage;
  }
  engine::PlanOptions plan;
  plan.batch_size = BatchSize(flags);
  std::unique_ptr<SharedCacheProbe> shared;
  if (!flags.run.redis.empty()) {
    auto probe = SharedCacheProbe::Start({flags.run.redis, flags.run.redis_optional,
                                          flags.run.max_cache_ttl_seconds,
                                          flags.run.negative_ttl_seconds},
                                         CtiaFlagsForRun(flags.run));
    if (!probe.ok()) {
      fail(probe.status().message());
      return absl::IsInvalidArgument(probe.status()) ? engine::kExitUsage : engine::kExitFailed;
    }
    shared = *std::move(probe);
    plan.shared_cache_holds = [&shared](const schema::Observable& o) { return shared->Holds(o); };
  }
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
