// Global + Private in one pass (issue 15): `ctia-enrich run --intel both` against TWO real
// ctia-sim instances on 127.0.0.1:0, a "private" and a "global" one, seeded so that they judge
// the same observables differently and some observables are known to one side only. For each
// --merge rule the chosen verdicts are asserted from the output (ctia_disposition_name, and
// ctia_judgement_id, whose host names the intel that decided: each sim's ids carry its own
// public base), and each sim is asked each observable exactly once (its lookup tally). Also:
// a failing side fails the lookups it could change, both clients' retries and 429s add up in
// the summary, a rejected token on one side stops the run, and the flags' usage errors.

#include "tests/fakes/cli_rig.h"
#include "tools/sim/fault_rule.h"

#include <chrono>
#include <fstream>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "absl/time/clock.h"
#include "rapidjson/document.h"
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <sys/stat.h>

namespace enrich {
namespace {

using schema::Disposition;
using ::testing::HasSubstr;
using ::testing::Not;

constexpr char kPrivateBase[] = "https://private.intel.amp.cisco.com";
constexpr char kGlobalBase[] = "https://intel.amp.cisco.com";

using testing::ReadFileBytes;

// One observable as each intel judges it (nullopt: unknown there; the start is hours ago) and
// the intel each rule picks ("" = no verdict).
struct Case {
  std::string domain;
  std::optional<Disposition> private_judgement;
  int private_hours_ago;
  std::optional<Disposition> global_judgement;
  int global_hours_ago;
  std::string ctia_winner;           // --merge ctia and both
  std::string private_first_winner;  // --merge private-first
};

// Equal priorities (95) on both sides: over REST no verdict carries its judgement's priority,
// so CTIA's order falls to disposition (Clean < Malicious < Suspicious), then earlier start.
const std::vector<Case>& Cases() {
  static const std::vector<Case> cases = {
      {"clean-beats-malicious.example", Disposition::kMalicious, 2, Disposition::kClean, 2,
       "global", "private"},
      {"malicious-beats-suspicious.example", Disposition::kSuspicious, 2, Disposition::kMalicious,
       2, "global", "private"},
      {"private-clean.example", Disposition::kClean, 2, Disposition::kMalicious, 2, "private",
       "private"},
      {"private-started-first.example", Disposition::kMalicious, 5, Disposition::kMalicious, 1,
       "private", "private"},
      {"global-started-first.example", Disposition::kSuspicious, 1, Disposition::kSuspicious, 5,
       "global", "private"},
      {"only-private.example", Disposition::kMalicious, 2, std::nullopt, 0, "private", "private"},
      {"only-global.example", std::nullopt, 0, Disposition::kSuspicious, 2, "global", "global"},
      {"neither.example", std::nullopt, 0, std::nullopt, 0, "", ""},
  };
  return cases;
}

std::optional<Disposition> JudgementOf(const Case& c, const std::string& intel) {
  return intel == "private" ? c.private_judgement : c.global_judgement;
}

// A parsed CSV output: header name to column, and the rows of each domain (Cell reads the
// first).
struct Output {
  std::map<std::string, size_t> column;
  std::map<std::string, std::vector<std::vector<std::string>>> rows;
  std::string Cell(const std::string& domain, const std::string& name) const {
    auto col = column.find(name);
    auto row = rows.find(domain);
    if (col == column.end() || row == rows.end()) return "<missing " + name + ">";
    return row->second.front().at(col->second);
  }
};

Output ParseOutput(const std::string& text) {
  Output out;
  std::vector<std::string> lines = absl::StrSplit(text, '\n', absl::SkipEmpty());
  if (lines.empty()) return out;
  std::vector<std::string> header = absl::StrSplit(lines[0], ',');
  for (size_t i = 0; i < header.size(); ++i) out.column[header[i]] = i;
  for (size_t i = 1; i < lines.size(); ++i) {
    std::vector<std::string> fields = absl::StrSplit(lines[i], ',');
    if (fields.size() > 1) out.rows[fields[1]].push_back(fields);
  }
  return out;
}

class MergeTest : public ::testing::Test {
 protected:
  void SetUp() override {
    private_ = StartSim(kPrivateBase);
    global_ = StartSim(kGlobalBase);
    ASSERT_NE(private_, nullptr);
    ASSERT_NE(global_, nullptr);
    const absl::Time now = absl::Now();
    for (const Case& c : Cases()) {
      Seed(*private_, c.domain, c.private_judgement, now - absl::Hours(c.private_hours_ago));
      Seed(*global_, c.domain, c.global_judgement, now - absl::Hours(c.global_hours_ago));
    }
    // Every domain on two rows: a value is looked up once however often it appears.
    std::string text = "id,domain\n";
    for (int round = 0; round < 2; ++round) {
      for (size_t i = 0; i < Cases().size(); ++i) {
        absl::StrAppend(&text, round * 100 + i, ",", Cases()[i].domain, "\n");
      }
    }
    std::ofstream(dir_.File("in.csv"), std::ios::binary) << text;
  }

  static std::unique_ptr<sim::SimServer> StartSim(const std::string& public_base) {
    sim::SimOptions options;
    options.public_base = public_base;  // ids name their intel: <base>/ctia/judgement/...
    options.test_api = true;            // the per-observable lookup tally
    return testing::StartSim(options);
  }

  static void Seed(sim::SimServer& sim, const std::string& domain,
                   std::optional<Disposition> disposition, absl::Time start) {
    if (!disposition.has_value()) return;
    schema::Judgement j;
    j.observable = {"domain", domain};
    j.disposition = *disposition;
    j.priority = 95;
    j.source = "merge-test";
    j.confidence = "High";
    j.severity = "High";
    j.valid_time = {start, absl::Now() + absl::Hours(24 * 30)};
    sim.AddJudgements({j});
  }

  std::vector<std::string> Args(const std::vector<std::string>& extra) const {
    std::vector<std::string> args = {"run",
                                     "-i",
                                     dir_.File("in.csv"),
                                     "-o",
                                     dir_.File("out.csv"),
                                     "--column",
                                     "domain",
                                     "--intel",
                                     "both",
                                     "--endpoint",
                                     private_->base_url(),
                                     "--global-endpoint",
                                     global_->base_url(),
                                     "--connections",
                                     "2",
                                     "--threads",
                                     "2",
                                     "--summary-json",
                                     dir_.File("summary.json")};
    args.insert(args.end(), extra.begin(), extra.end());
    return args;
  }

  int Run(const std::vector<std::string>& args) {
    return testing::RunCli(testing::CliSpec(args, "", dir_.File("run.err")));
  }

  std::string Stderr() const { return ReadFileBytes(dir_.File("run.err")); }

  // Each sim was asked each domain exactly once (over all its clients), and nothing else.
  void ExpectEachLookedUpOnce(const sim::SimServer& sim, const std::string& name) {
    std::map<std::string, uint64_t> asked = testing::LookupsByObservable(sim);
    EXPECT_EQ(asked.size(), Cases().size()) << name;
    for (const Case& c : Cases()) {
      EXPECT_EQ(asked["domain:" + c.domain], 1u) << name << " " << c.domain;
    }
  }

  // The output holds, for every domain, the verdict of the intel `winner_of` names.
  template <typename WinnerOf>
  void ExpectWinners(WinnerOf winner_of) {
    const Output out = ParseOutput(ReadFileBytes(dir_.File("out.csv")));
    for (const Case& c : Cases()) {
      SCOPED_TRACE(c.domain);
      const std::string winner = winner_of(c);
      ASSERT_EQ(out.rows.count(c.domain), 1u);
      const auto& rows = out.rows.at(c.domain);
      ASSERT_EQ(rows.size(), 2u);
      // Past the id, both rows of a domain are alike.
      EXPECT_EQ(std::vector<std::string>(rows[0].begin() + 1, rows[0].end()),
                std::vector<std::string>(rows[1].begin() + 1, rows[1].end()));
      if (winner.empty()) {
        EXPECT_EQ(out.Cell(c.domain, "ctia_status"), "no_verdict");
        EXPECT_EQ(out.Cell(c.domain, "ctia_judgement_id"), "");
        continue;
      }
      EXPECT_EQ(out.Cell(c.domain, "ctia_status"), "ok");
      EXPECT_EQ(out.Cell(c.domain, "ctia_disposition_name"),
                schema::DispositionName(*JudgementOf(c, winner)));
      EXPECT_THAT(out.Cell(c.domain, "ctia_judgement_id"),
                  ::testing::StartsWith(absl::StrCat(
                      winner == "private" ? kPrivateBase : kGlobalBase, "/ctia/judgement/")));
      if (out.column.count("ctia_intel") != 0) {
        EXPECT_EQ(out.Cell(c.domain, "ctia_intel"), winner);
      }
    }
  }

  rapidjson::Document Summary() const {
    return testing::ParseJson(ReadFileBytes(dir_.File("summary.json")));
  }

  testing::TempDir dir_;
  std::unique_ptr<sim::SimServer> private_;
  std::unique_ptr<sim::SimServer> global_;
};

TEST_F(MergeTest, CtiaIsTheDefaultRuleThroughGraphql) {
  ASSERT_EQ(Run(Args({})), 0) << Stderr();
  ExpectWinners([](const Case& c) { return c.ctia_winner; });
  ExpectEachLookedUpOnce(*private_, "private");
  ExpectEachLookedUpOnce(*global_, "global");
  EXPECT_GT(private_->Counters().graphql_requests, 0u);
  EXPECT_GT(global_->Counters().graphql_requests, 0u);
}

TEST_F(MergeTest, CtiaRuleThroughRest) {
  ASSERT_EQ(Run(Args({"--merge", "ctia", "--batch-size", "1"})), 0) << Stderr();
  ExpectWinners([](const Case& c) { return c.ctia_winner; });
  ExpectEachLookedUpOnce(*private_, "private");
  ExpectEachLookedUpOnce(*global_, "global");
  EXPECT_EQ(private_->Counters().verdict_requests, Cases().size());
  EXPECT_EQ(global_->Counters().verdict_requests, Cases().size());
}

TEST_F(MergeTest, PrivateFirstTakesThePrivateVerdictWhenThereIsOne) {
  ASSERT_EQ(Run(Args({"--merge", "private-first", "--batch-size", "1"})), 0) << Stderr();
  ExpectWinners([](const Case& c) { return c.private_first_winner; });
  ExpectEachLookedUpOnce(*private_, "private");
  ExpectEachLookedUpOnce(*global_, "global");
}

TEST_F(MergeTest, BothChoosesAsCtia) {
  ASSERT_EQ(Run(Args({"--merge", "both"})), 0) << Stderr();
  ExpectWinners([](const Case& c) { return c.ctia_winner; });
  ExpectEachLookedUpOnce(*private_, "private");
  ExpectEachLookedUpOnce(*global_, "global");
}

TEST_F(MergeTest, AFarSideWithAHungAnswerStillMergesEveryRow) {
  // Global-Intel across an ocean: every lookup 150 ms late, and its first one never answered
  // (the connection is closed only after a minute). The run's timeout retries the hung
  // request; the verdicts are those of a near, healthy pair of intels.
  sim::FaultRule far;
  far.kind = sim::FaultKind::kLatency;
  far.latency = absl::Milliseconds(150);
  far.lookups_only = true;
  sim::FaultRule hung;
  hung.kind = sim::FaultKind::kHang;
  hung.next = 1;
  hung.hang = absl::Minutes(1);
  hung.lookups_only = true;
  global_->AddFault(hung);  // tried first: fires once, then the latency rule decides
  global_->AddFault(far);
  const auto started = std::chrono::steady_clock::now();
  ASSERT_EQ(Run(Args({"--batch-size", "1", "--timeout", "2"})), 0) << Stderr();
  EXPECT_LT(std::chrono::steady_clock::now() - started, std::chrono::seconds(40));
  ExpectWinners([](const Case& c) { return c.ctia_winner; });
  ExpectEachLookedUpOnce(*private_, "private");
}

TEST_F(MergeTest, AFailingSideFailsTheLookupsItCouldChange) {
  sim::FaultRule rule;
  rule.kind = sim::FaultKind::kStatus500;
  rule.lookups_only = true;
  global_->AddFault(rule);  // every global lookup: 500, after the client's retries too
  ASSERT_EQ(Run(Args({"--merge", "private-first", "--batch-size", "1"})), 3) << Stderr();
  const Output out = ParseOutput(ReadFileBytes(dir_.File("out.csv")));
  for (const Case& c : Cases()) {
    // A private verdict stands under private-first; without one the global answer was needed.
    EXPECT_EQ(out.Cell(c.domain, "ctia_status"),
              c.private_judgement.has_value() ? "ok" : "error:500")
        << c.domain;
  }
  ASSERT_EQ(Run(Args({"--merge", "ctia", "--batch-size", "1"})), 3) << Stderr();
  const Output ctia = ParseOutput(ReadFileBytes(dir_.File("out.csv")));
  for (const Case& c : Cases()) {
    EXPECT_EQ(ctia.Cell(c.domain, "ctia_status"), "error:500") << c.domain;
  }
}

TEST_F(MergeTest, BothClientsRetriesAndRateLimitsAddUpInTheSummary) {
  sim::FaultRule errors;
  errors.kind = sim::FaultKind::kStatus500;
  errors.lookups_only = true;
  errors.next = 2;  // two retries in the private client
  private_->AddFault(errors);
  sim::FaultRule limited;
  limited.kind = sim::FaultKind::kBurst429;
  limited.lookups_only = true;
  limited.next = 1;  // one 429 (and its retry) in the global client
  limited.retry_after_seconds = 1;
  global_->AddFault(limited);
  ASSERT_EQ(Run(Args({"--batch-size", "1"})), 0) << Stderr();
  ExpectWinners([](const Case& c) { return c.ctia_winner; });
  rapidjson::Document summary = Summary();
  ASSERT_TRUE(summary.HasMember("retries")) << ReadFileBytes(dir_.File("summary.json"));
  EXPECT_EQ(summary["retries"].GetUint64(), 3u);
  EXPECT_EQ(summary["rate_limited"].GetUint64(), 1u);
}

TEST_F(MergeTest, AQuotaCheckpointOfOneSideCheckpointsTheRun) {
  sim::FaultRule limited;
  limited.kind = sim::FaultKind::kBurst429;
  limited.lookups_only = true;
  limited.retry_after_seconds = 3600;  // beyond --max-wait: checkpoint, not a wait
  global_->AddFault(limited);
  ASSERT_EQ(Run(Args({"--batch-size", "1", "--max-wait", "5"})), 75) << Stderr();
  EXPECT_THAT(Stderr(), HasSubstr("checkpointed"));
  EXPECT_THAT(Stderr(), HasSubstr("--resume"));
}

TEST_F(MergeTest, AWrongGlobalEndpointIsNamedByTheCircuitBreaker) {
  sim::FaultRule not_ctia;
  not_ctia.kind = sim::FaultKind::kHtml404;  // a server that is not CTIA at that base URL
  not_ctia.lookups_only = true;
  global_->AddFault(not_ctia);
  EXPECT_EQ(Run(Args({"--batch-size", "1"})), 3) << Stderr();
  // The advice names the wrong host and its flag, not the private one.
  EXPECT_THAT(Stderr(),
              HasSubstr(absl::StrCat(global_->base_url(), " answered 404 with an HTML page")));
  EXPECT_THAT(Stderr(), HasSubstr("fix --global-endpoint"));
}

TEST_F(MergeTest, ARejectedTokenOnOneSideStopsTheRun) {
  const std::string file = dir_.File("global.credentials");
  std::ofstream(file) << "client:wrong-secret-1234\n";
  ASSERT_EQ(::chmod(file.c_str(), 0600), 0);
  EXPECT_EQ(Run(Args({"--global-credentials-file", file})), 1) << Stderr();
  EXPECT_THAT(Stderr(), HasSubstr("cannot get a CTIA token"));
  EXPECT_THAT(Stderr(), HasSubstr(global_->base_url()));
  EXPECT_THAT(Stderr(), Not(HasSubstr("wrong-secret-1234")));
  EXPECT_EQ(global_->Counters().verdict_requests + global_->Counters().graphql_requests, 0u);
  EXPECT_EQ(private_->Counters().verdict_requests + private_->Counters().graphql_requests, 0u);
}

TEST_F(MergeTest, UsageErrorsExitTwoBeforeAnyRequest) {
  const std::string in = dir_.File("in.csv");
  const std::string out = dir_.File("usage.csv");
  const std::vector<std::pair<std::vector<std::string>, std::string>> cases = {
      {{"--endpoint", private_->base_url(), "--merge", "both"}, "--merge needs --intel both"},
      {{"--endpoint", private_->base_url(), "--global-endpoint", global_->base_url()},
       "--global-endpoint needs --intel both"},
      {{"--endpoint", private_->base_url(), "--global-rate-limit", "10/1s"},
       "--global-rate-limit needs --intel both"},
      {{"--intel", "both", "--endpoint", private_->base_url()}, "--intel both needs --region"},
      {{"--intel", "both", "--endpoint", private_->base_url(), "--global-endpoint",
        global_->base_url(), "--merge", "global-first"},
       "--merge"},
  };
  for (const auto& [extra, message] : cases) {
    std::vector<std::string> args = {"run", "-i", in, "-o", out, "--column", "domain"};
    args.insert(args.end(), extra.begin(), extra.end());
    EXPECT_EQ(Run(args), 2) << absl::StrJoin(extra, " ") << "\n" << Stderr();
    EXPECT_THAT(Stderr(), HasSubstr(message)) << absl::StrJoin(extra, " ");
  }
  EXPECT_EQ(private_->Counters().total, 0u);
  EXPECT_EQ(global_->Counters().total, 0u);
}

}  // namespace
}  // namespace enrich
