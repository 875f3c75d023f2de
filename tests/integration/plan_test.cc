// `ctia-enrich plan` against what `run` then sends (issue 15, the plan acceptance item): the
// real binary, ctia-sim on 127.0.0.1:0. The plan's request estimate equals the sim's counters
// after a run of the same command line, for REST, for GraphQL (several chunks parsed in
// parallel, a last single lookup sent as a GET; sparse new observables over many chunks, at
// two latencies), with an allowlist, and after a partial run (a run stopped by SIGTERM, then
// plan with its journal, then run --resume). plan itself sends nothing, not even a token
// request.

#include "tests/fakes/cli_rig.h"

#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "rapidjson/document.h"
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/stat.h>

namespace enrich {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;

using testing::ReadFileBytes;

// What the plan said it would send.
struct Estimate {
  uint64_t lookups = 0;
  uint64_t known = 0;
  uint64_t rest = 0;
  uint64_t graphql = 0;
};

class PlanSimTest : public ::testing::Test {
 protected:
  static constexpr int kRows = 6000;
  static constexpr int kDistinct = 1201;  // 12 full batches of 100 and a single lookup

  void SetUp() override {
    sim::SimOptions options;
    options.synthetic_percent = 30;
    options.threads = 2;
    sim_ = testing::StartSim(options);
    ASSERT_NE(sim_, nullptr);
    std::string text = "id,domain\n";
    for (int i = 0; i < kRows; ++i) {
      absl::StrAppend(&text, i, ",host-", (i * 7919) % kDistinct, ".example\n");
    }
    std::ofstream(dir_.File("in.csv"), std::ios::binary) << text;
  }

  void TearDown() override { sim_->Stop(); }

  // A command line of `command` (run or plan): in.csv (~130 KiB), 2 threads, chunks of 32 KiB:
  // 5 chunks parsed in parallel, within the 2 × 2 + 2 = 6 live ones; then `extra`.
  std::vector<std::string> Args(const std::string& command,
                                const std::vector<std::string>& extra) const {
    std::vector<std::string> args = {command,
                                     "-i",
                                     dir_.File("in.csv"),
                                     "-o",
                                     dir_.File("out.csv"),
                                     "--column",
                                     "domain",
                                     "--endpoint",
                                     sim_->base_url(),
                                     "--threads",
                                     "2",
                                     "--connections",
                                     "4",
                                     "--chunk-size",
                                     chunk_size_};
    args.insert(args.end(), extra.begin(), extra.end());
    return args;
  }

  // ctia-enrich with `args`, stdout and stderr in <name>.out and <name>.err.
  testing::ChildSpec Spec(const std::vector<std::string>& args, const std::string& name) const {
    return testing::CliSpec(args, dir_.File(name + ".out"), dir_.File(name + ".err"));
  }

  int Run(const std::vector<std::string>& args, const std::string& name) {
    return testing::RunCli(Spec(args, name));
  }

  // `plan --json` with `extra`; checks that it sent nothing.
  Estimate Plan(const std::vector<std::string>& extra) {
    const uint64_t before = sim_->Counters().total;
    std::vector<std::string> args = extra;
    args.push_back("--json");
    EXPECT_EQ(Run(Args("plan", args), "plan"), 0) << ReadFileBytes(dir_.File("plan.err"));
    EXPECT_EQ(sim_->Counters().total, before) << "plan sent a request";
    const std::string json = ReadFileBytes(dir_.File("plan.out"));
    rapidjson::Document doc = testing::ParseJson(json);
    Estimate e;
    if (doc.HasParseError() || !doc.IsObject()) return e;
    for (const char* key : {"rows", "invalid_rows", "cells", "skipped_cells", "allowlisted_cells",
                            "empty_cells", "invalid_cells",
                            "unique", "types", "journal", "known_journal", "known_cache", "lookups",
                            "requests", "quota", "time_seconds", "time"}) {
      EXPECT_TRUE(doc.HasMember(key)) << key << " missing in " << json;
    }
    e.lookups = doc["lookups"].GetUint64();
    e.known = doc["known_journal"].GetUint64();
    e.rest = doc["requests"]["rest"].GetUint64();
    e.graphql = doc["requests"]["graphql"].GetUint64();
    return e;
  }

  // Runs `args` to exit 0; the lookup requests the sim saw (tokens apart).
  Estimate Sent(const std::vector<std::string>& args) {
    const sim::SimCounters before = sim_->Counters();
    EXPECT_EQ(Run(args, "run"), 0) << ReadFileBytes(dir_.File("run.err"));
    const sim::SimCounters after = sim_->Counters();
    Estimate sent;
    sent.rest = after.verdict_requests - before.verdict_requests;
    sent.graphql = after.graphql_requests - before.graphql_requests;
    return sent;
  }

  void ExpectEqual(const Estimate& planned, const Estimate& sent) {
    EXPECT_EQ(planned.rest, sent.rest) << "REST requests";
    EXPECT_EQ(planned.graphql, sent.graphql) << "GraphQL requests";
    std::printf(
        "plan: %llu lookups, %llu known -> %llu REST + %llu GraphQL; run sent %llu REST + "
        "%llu GraphQL\n",
        static_cast<unsigned long long>(planned.lookups),
        static_cast<unsigned long long>(planned.known),
        static_cast<unsigned long long>(planned.rest),
        static_cast<unsigned long long>(planned.graphql),
        static_cast<unsigned long long>(sent.rest), static_cast<unsigned long long>(sent.graphql));
  }

  testing::TempDir dir_;
  std::unique_ptr<sim::SimServer> sim_;
  std::string chunk_size_ = "32768";
};

TEST_F(PlanSimTest, RestEstimateIsWhatTheRunSends) {
  const Estimate planned = Plan({"--batch-size", "1"});
  EXPECT_EQ(planned.lookups, static_cast<uint64_t>(kDistinct));
  EXPECT_EQ(planned.rest, static_cast<uint64_t>(kDistinct));
  ExpectEqual(planned, Sent(Args("run", {"--batch-size", "1"})));
}

TEST_F(PlanSimTest, GraphqlEstimateIsWhatTheRunSends) {
  const Estimate planned = Plan({});
  EXPECT_EQ(planned.graphql, 12u);
  EXPECT_EQ(planned.rest, 1u);  // the last single lookup
  ExpectEqual(planned, Sent(Args("run", {})));
  // Again, with a batch size that leaves a partial last batch: the same count each time.
  for (int round = 0; round < 2; ++round) {
    std::filesystem::remove(dir_.File("out.csv"));
    const Estimate by_40 = Plan({"--batch-size", "40"});
    EXPECT_EQ(by_40.graphql, 30u);  // 30 full, and a single lookup as a GET
    EXPECT_EQ(by_40.rest, 1u);
    ExpectEqual(by_40, Sent(Args("run", {"--batch-size", "40"})));
  }
}

// A new domain every 60 rows over ~250 chunks of 4 KiB, 6 live: the run's chunks get stuck on
// partial batches long before the input ends, each such batch one more request (37 rather
// than the 7 full ones 667 lookups would fill). plan meets the same points, whatever the
// answers' latency.
TEST_F(PlanSimTest, SparseNewObservablesOverManyChunksMatchAtAnyLatency) {
  std::string text = "id,domain\n";
  for (int i = 0; i < 40000; ++i) absl::StrAppend(&text, i, ",host-", i / 60, ".example\n");
  std::ofstream(dir_.File("in.csv"), std::ios::binary) << text;
  chunk_size_ = "4096";
  const Estimate planned = Plan({});
  EXPECT_EQ(planned.lookups, 667u);
  EXPECT_GT(planned.graphql, 7u);
  ExpectEqual(planned, Sent(Args("run", {})));
  for (const char* prefix : {"/ctia/domain/", "/ctia/graphql"}) {
    sim::FaultRule slow;
    slow.kind = sim::FaultKind::kLatency;
    slow.path_prefix = prefix;
    slow.latency = absl::Milliseconds(30);
    sim_->AddFault(slow);
  }
  std::filesystem::remove(dir_.File("out.csv"));
  ExpectEqual(planned, Sent(Args("run", {})));
}

TEST_F(PlanSimTest, AllowlistedObservablesAreNeitherPlannedNorSent) {
  std::string allow;
  for (int i = 0; i < 101; ++i) absl::StrAppend(&allow, "host-", i, ".example\n");
  std::ofstream(dir_.File("allow.txt")) << allow;
  const std::vector<std::string> extra = {"--allowlist", dir_.File("allow.txt")};
  const Estimate planned = Plan(extra);
  EXPECT_EQ(planned.lookups, static_cast<uint64_t>(kDistinct - 101));
  EXPECT_EQ(planned.graphql, 11u);
  EXPECT_EQ(planned.rest, 0u);
  ExpectEqual(planned, Sent(Args("run", extra)));
}

TEST_F(PlanSimTest, AfterAPartialRunThePlanIsWhatResumeSends) {
  for (const char* prefix : {"/ctia/domain/", "/ctia/graphql"}) {
    sim::FaultRule slow;
    slow.kind = sim::FaultKind::kLatency;
    slow.path_prefix = prefix;
    slow.latency = absl::Milliseconds(400);
    sim_->AddFault(slow);
  }
  const std::vector<std::string> small_batches = {"--batch-size", "20"};
  auto child = testing::StartCli(Spec(Args("run", small_batches), "stopped"));
  ASSERT_TRUE(child.ok()) << child.status();
  const std::string journal = dir_.File("out.csv.journal");
  // Stopped once a wave of answers is journaled.
  ASSERT_TRUE(testing::WaitForFileSize(journal, 2000, absl::Seconds(30)))
      << ReadFileBytes(dir_.File("stopped.err"));
  child->Signal(SIGTERM);
  ASSERT_EQ(child->Wait(), 75) << ReadFileBytes(dir_.File("stopped.err"));
  sim_->ClearFaults();

  std::vector<std::string> resume = small_batches;
  resume.push_back("--resume");
  const Estimate planned = Plan(resume);
  EXPECT_GT(planned.known, 0u);
  EXPECT_LT(planned.known, static_cast<uint64_t>(kDistinct));
  EXPECT_EQ(planned.known + planned.lookups, static_cast<uint64_t>(kDistinct));
  EXPECT_THAT(ReadFileBytes(dir_.File("plan.out")), HasSubstr("\"exists\":true"));
  ExpectEqual(planned, Sent(Args("run", resume)));
}

TEST_F(PlanSimTest, TimeCountsEachCredentialGroupsBudgetAndTheSlowerIntel) {
  // The same requests under one group, then two groups (three credentials), then under
  // --intel both with a Global-Intel quota four times smaller: the time halves, then the
  // global side decides.
  const std::string creds = dir_.File("creds");
  std::ofstream(creds) << "id-a:secret-a:org-1\nid-b:secret-b:org-2\nid-c:secret-c:org-1\n";
  ASSERT_EQ(::chmod(creds.c_str(), 0600), 0);
  auto plan_json = [&](const std::vector<std::string>& extra, const std::string& name) {
    std::vector<std::string> args = extra;
    args.push_back("--json");
    EXPECT_EQ(Run(Args("plan", args), name), 0) << ReadFileBytes(dir_.File(name + ".err"));
    const std::string json = ReadFileBytes(dir_.File(name + ".out"));
    rapidjson::Document doc = testing::ParseJson(json);
    EXPECT_TRUE(doc.IsObject()) << json;
    return doc;
  };
  rapidjson::Document one = plan_json({"--rate-limit", "100/10s"}, "one");
  rapidjson::Document two =
      plan_json({"--rate-limit", "100/10s", "--credentials-file", creds}, "two");
  ASSERT_TRUE(one.IsObject() && two.IsObject());
  const double requests = one["requests"]["total"].GetDouble();
  ASSERT_GT(requests, 0);
  EXPECT_EQ(one["quota"]["groups"].GetUint64(), 1u);
  EXPECT_EQ(two["quota"]["groups"].GetUint64(), 2u);
  EXPECT_NEAR(one["time_seconds"].GetDouble(), requests * 10 / 100, 1e-6);
  EXPECT_NEAR(two["time_seconds"].GetDouble(), requests * 10 / 100 / 2, 1e-6);
  EXPECT_FALSE(two.HasMember("global_quota"));
  EXPECT_THAT(ReadFileBytes(dir_.File("two.out")), Not(HasSubstr("secret")));

  rapidjson::Document both =
      plan_json({"--rate-limit", "100/10s", "--credentials-file", creds, "--intel", "both",
                 "--global-endpoint", sim_->base_url(), "--global-rate-limit", "25/10s"},
                "both");
  ASSERT_TRUE(both.IsObject() && both.HasMember("global_quota"))
      << ReadFileBytes(dir_.File("both.out"));
  EXPECT_EQ(both["global_quota"]["groups"].GetUint64(), 2u);  // the private side's credentials
  EXPECT_EQ(std::string(both["global_quota"]["source"].GetString()), "--global-rate-limit");
  EXPECT_NEAR(both["time_seconds"].GetDouble(), requests * 10 / 25 / 2, 1e-6);

  // The text says the same, and a credentials file the run would refuse fails the plan too.
  ASSERT_EQ(Run(Args("plan", {"--rate-limit", "100/10s", "--credentials-file", creds}), "text"),
            0);
  EXPECT_THAT(ReadFileBytes(dir_.File("text.out")),
              HasSubstr("at --rate-limit 100/10s over 2 credential groups"));
  ASSERT_EQ(::chmod(creds.c_str(), 0644), 0);
  EXPECT_EQ(Run(Args("plan", {"--credentials-file", creds}), "mode"), 2);
  EXPECT_THAT(ReadFileBytes(dir_.File("mode.err")), HasSubstr(creds));
}

TEST_F(PlanSimTest, UsageErrorsExitTwoAsRunsAndTextIsTheDefault) {
  EXPECT_EQ(Run(Args("plan", {"--column", "domain:nosuchtype"}), "usage"), 2);
  EXPECT_EQ(Run(Args("plan", {"--rate-limit", "many"}), "rate"), 2);
  EXPECT_THAT(ReadFileBytes(dir_.File("rate.err")), HasSubstr("--rate-limit"));
  ASSERT_EQ(Run(Args("plan", {"--rate-limit", "18000/1h"}), "text"), 0)
      << ReadFileBytes(dir_.File("text.err"));
  const std::string text = ReadFileBytes(dir_.File("text.out"));
  EXPECT_THAT(text, HasSubstr("1201 observables after normalization"));
  EXPECT_THAT(text, HasSubstr("requests     13 (12 POST /ctia/graphql"));
  EXPECT_THAT(text, HasSubstr("at --rate-limit 18000/1h"));
  EXPECT_FALSE(std::filesystem::exists(dir_.File("out.csv")));
  EXPECT_FALSE(std::filesystem::exists(dir_.File("out.csv.journal")));
}

}  // namespace
}  // namespace enrich
