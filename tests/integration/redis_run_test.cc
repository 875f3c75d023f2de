// `ctia-enrich run --redis` as workers run it: several processes on one input against one
// ctia-sim and one real redis-server never ask an observable twice between them; an
// unreachable Redis stops the run (or not, with --redis-optional); a Redis killed mid-run
// loses no row. Sharded workers (--shard K/4) against a rate-limited ctia-sim share its quota
// through Redis: fewer requests than one worker alone, at most one 429 per worker per window,
// and `cat` of their outputs is the single run's output, Redis killed mid-run or not.

#include "tests/integration/redis_cli_rig.h"

#include <chrono>
#include <filesystem>
#include <functional>
#include <regex>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "rapidjson/document.h"
#include <gmock/gmock.h>
#include <gtest/gtest.h>

namespace enrich {
namespace {

using ::testing::HasSubstr;

using testing::LookupsByObservable;

class RedisRunTest : public testing::RedisCliTest {
 protected:
  void StartSim(absl::Duration latency = absl::ZeroDuration(), std::string public_base = "") {
    sim::SimOptions options;
    if (!public_base.empty()) options.public_base = public_base;  // ids alike across sims
    options.synthetic_percent = 30;  // every domain answered, from a hash (fixed ids)
    options.test_api = true;         // per-observable lookup tally
    options.latency = latency;
    options.threads = 2;
    sim_ = testing::StartSim(options);
    ASSERT_NE(sim_, nullptr);
  }

  // `uniques` distinct domains, each on `repeats` rows.
  void WriteInput(int uniques, int repeats) {
    std::string text = "id,domain\n";
    for (int r = 0; r < repeats; ++r) {
      for (int i = 0; i < uniques; ++i) absl::StrAppend(&text, r, "-", i, ",host-", i, ".example\n");
    }
    testing::WriteFileBytes(dir_.File("in.csv"), text);
  }

  // `run` into `output`, with `--redis redis_url` unless it is empty.
  std::vector<std::string> Args(const std::string& output, const std::string& redis_url) {
    std::vector<std::string> args = {"run", "-i", dir_.File("in.csv"), "-o", dir_.File(output),
                                     "--column", "domain", "--endpoint", sim_->base_url(),
                                     "--batch-size", "1", "--threads", "2"};
    if (!redis_url.empty()) args.insert(args.end(), {"--redis", redis_url});
    return args;
  }

  // A ctia-sim limited to `limit` requests per `window` for the org (429 beyond), every
  // domain answered from a hash, with its per-observable tally.
  static std::unique_ptr<sim::SimServer> LimitedSim(int64_t limit, absl::Duration window) {
    sim::SimOptions options;
    options.synthetic_percent = 30;
    options.test_api = true;
    options.threads = 2;
    options.rate_limit = limit;
    options.rate_limit_window = window;
    options.public_base = "http://ctia-sim.test";  // ids alike across sims
    return testing::StartSim(options);
  }

  std::vector<std::string> QuotaArgs(const sim::SimServer& sim, const std::string& output) {
    return {"run", "-i", dir_.File("in.csv"), "-o", dir_.File(output), "--column", "domain",
            "--endpoint", sim.base_url(), "--batch-size", "50", "--rate-limit", "20/2s",
            "--summary-json", dir_.File(output + ".json")};
  }

  // A number of a run's --summary-json.
  uint64_t SummaryNumber(const std::string& output, const std::string& key) {
    rapidjson::Document doc = testing::ParseJson(Read(output + ".json"));
    if (!doc.IsObject() || !doc.HasMember(key.c_str()) || !doc[key.c_str()].IsUint64()) {
      return ~uint64_t{0};
    }
    return doc[key.c_str()].GetUint64();
  }

  // Four workers, one shard each, sharing the quota of `sim` through Redis; `midway` runs
  // while they do. Returns the wall time of all four; `cat` of their outputs in `merged`.
  absl::Duration RunShards(sim::SimServer& sim, const std::function<void()>& midway,
                           std::string* merged) {
    const absl::Time start = absl::Now();
    std::vector<std::vector<std::string>> args;
    for (int w = 0; w < 4; ++w) {
      args.push_back(WithRedis(QuotaArgs(sim, absl::StrCat("shard", w, ".csv"))));
      args.back().insert(args.back().end(), {"--shard", absl::StrCat(w, "/4")});
    }
    RunWorkers(args, "shard", midway);
    const absl::Duration wall = absl::Now() - start;
    for (int w = 0; w < 4; ++w) merged->append(Read(absl::StrCat("shard", w, ".csv")));
    return wall;
  }

  std::unique_ptr<sim::SimServer> sim_;
};

TEST_F(RedisRunTest, FourWorkersAskEveryObservableOnceBetweenThem) {
  StartSim(absl::Milliseconds(2));
  constexpr int kUniques = 300;
  WriteInput(kUniques, 2);
  std::vector<std::vector<std::string>> args;
  for (int w = 0; w < 4; ++w) args.push_back(Args(absl::StrCat("out", w, ".csv"), redis_.url()));
  RunWorkers(args, "err");
  const auto asked = LookupsByObservable(*sim_);
  EXPECT_EQ(asked.size(), static_cast<size_t>(kUniques));
  for (const auto& [observable, n] : asked) EXPECT_EQ(n, 1u) << observable;

  // A fifth worker later finds every answer shared (each worker's last ones included).
  ASSERT_TRUE(RunOk(Args("late.csv", redis_.url()), "late.txt"));
  EXPECT_THAT(Read("late.txt"),
              HasSubstr("300 answers from other workers, 0 asked here, 0 asked alone"));
  EXPECT_EQ(LookupsByObservable(*sim_), asked);

  // Every worker's output equals a run's without Redis, byte for byte.
  ASSERT_TRUE(RunOk(Args("alone.csv", ""), "alone.txt"));
  const std::string expected = Read("alone.csv");
  ASSERT_THAT(expected, HasSubstr("host-299.example"));
  for (int w = 0; w < 4; ++w) EXPECT_EQ(Read(absl::StrCat("out", w, ".csv")), expected);
  EXPECT_THAT(Read("err0.txt"), HasSubstr("shared cache (redis://127.0.0.1:"));
}

TEST_F(RedisRunTest, AnUnreachableRedisStopsTheRunUnlessOptional) {
  StartSim();
  WriteInput(20, 1);
  const int port = redis_.port();
  redis_.Kill();
  const std::string url = absl::StrCat("redis://127.0.0.1:", port);
  auto stopped = Start(Args("out.csv", url), "stopped.txt");
  ASSERT_TRUE(stopped.ok());
  EXPECT_EQ(stopped->Wait(), 1);
  const std::string message = Read("stopped.txt");
  EXPECT_THAT(message, HasSubstr(absl::StrCat("redis ", url, "/0: cannot connect")));
  EXPECT_THAT(message, HasSubstr("--redis-optional"));
  EXPECT_FALSE(std::filesystem::exists(dir_.File("out.csv")));
  EXPECT_FALSE(std::filesystem::exists(dir_.File("out.csv.journal")));  // nothing written

  std::vector<std::string> args = Args("out.csv", url);
  args.push_back("--redis-optional");
  EXPECT_TRUE(RunOk(args, "alone.txt"));
  EXPECT_THAT(Read("alone.txt"), HasSubstr("looking up alone"));
  EXPECT_THAT(Read("out.csv"), HasSubstr("host-19.example"));
}

TEST_F(RedisRunTest, APasswordOnTheCommandLineIsRefused) {
  StartSim();
  WriteInput(1, 1);
  auto run = Start(Args("out.csv", absl::StrCat("redis://:hunter2@127.0.0.1:", redis_.port())),
                   "err.txt");
  ASSERT_TRUE(run.ok());
  EXPECT_EQ(run->Wait(), 2);
  const std::string message = Read("err.txt");
  EXPECT_THAT(message, HasSubstr("ENRICH_REDIS_PASSWORD"));
  EXPECT_FALSE(absl::StrContains(message, "hunter2"));
}

TEST_F(RedisRunTest, RedisKilledMidRunLosesNoRow) {
  StartSim(absl::Milliseconds(50));  // 600 lookups on 4 connections: about 7 s
  WriteInput(600, 1);
  std::vector<std::string> args = Args("out.csv", redis_.url());
  args.insert(args.end(), {"--connections", "4"});
  auto run = Start(args, "err.txt");
  ASSERT_TRUE(run.ok());
  std::this_thread::sleep_for(std::chrono::milliseconds(1500));
  redis_.Kill();
  ASSERT_EQ(run->Wait(), 0) << Read("err.txt");
  const std::string err = Read("err.txt");
  EXPECT_THAT(err, HasSubstr("looking up alone"));

  ASSERT_TRUE(RunOk(Args("alone.csv", ""), "alone.txt"));
  EXPECT_EQ(Read("out.csv"), Read("alone.csv"));
}

// plan --redis counts what the shared cache answers now: the 50 domains a run shared, of 80.
TEST_F(RedisRunTest, PlanCountsTheLookupsTheSharedCacheAnswers) {
  StartSim();
  WriteInput(50, 1);
  ASSERT_TRUE(RunOk(Args("out.csv", redis_.url()), "run.txt"));
  WriteInput(80, 1);
  ASSERT_EQ(testing::RunCli(testing::CliSpec(
                {"plan", "-i", dir_.File("in.csv"), "--column", "domain", "--endpoint",
                 sim_->base_url(), "--batch-size", "1", "--redis", redis_.url(), "--json"},
                dir_.File("plan.json"), dir_.File("plan.txt"))),
            0)
      << Read("plan.txt");
  const std::string json = Read("plan.json");
  EXPECT_THAT(json, HasSubstr("\"known_shared\":50"));
  EXPECT_THAT(json, HasSubstr("\"lookups\":30"));
  EXPECT_EQ(LookupsByObservable(*sim_).size(), 50u);  // the plan asked CTIA nothing
}

// 20000 rows, 4000 distinct domains (each on 5 rows, spread over every shard), batches of 50,
// the org limited to 20 requests per 2 s.
TEST_F(RedisRunTest, FourShardsShareTheOrgsQuotaAndMergeIntoTheSingleRun) {
  WriteInput(4000, 5);
  auto alone_sim = LimitedSim(20, absl::Seconds(2));
  ASSERT_NE(alone_sim, nullptr);
  ASSERT_TRUE(RunOk(QuotaArgs(*alone_sim, "single.csv"), "single.txt"));
  const uint64_t single_requests = alone_sim->Counters().graphql_requests;
  ASSERT_GE(single_requests, 80u);  // 4000 / 50

  sim_ = LimitedSim(20, absl::Seconds(2));
  ASSERT_NE(sim_, nullptr);
  std::string merged;
  const absl::Duration wall = RunShards(*sim_, [] {}, &merged);
  EXPECT_EQ(merged, Read("single.csv"));

  const sim::EndpointCounts counts = sim_->CountsByEndpoint();
  uint64_t answered = 0, refused = 0;
  for (const auto& [status, n] : counts.at("graphql")) (status == 429 ? refused : answered) += n;
  // Each worker ends on a partial batch of its own; all but the last hand theirs to the last,
  // which sends them together. Where each worker's batches are cut mid-run depends on timing
  // (answers from other workers, the shared quota's waits), more so on a loaded machine and
  // under the sanitizers: three tails beyond one worker's are the most the four may send
  // beyond the single run's. The exact figure at scale is bench/engine/redis_workers.sh's.
  EXPECT_LE(answered, single_requests + 3);
  const auto asked = LookupsByObservable(*sim_);
  EXPECT_EQ(asked.size(), 4000u);
  for (const auto& [observable, n] : asked) ASSERT_EQ(n, 1u) << observable;
  // At most one 429 per worker per window of the run.
  const uint64_t windows =
      static_cast<uint64_t>(absl::Ceil(wall, absl::Seconds(2)) / absl::Seconds(2));
  uint64_t worker_429s = 0;
  for (int w = 0; w < 4; ++w) {
    const std::string out = absl::StrCat("shard", w, ".csv");
    EXPECT_LE(SummaryNumber(out, "rate_limited"), windows) << out;
    worker_429s += SummaryNumber(out, "rate_limited");
    EXPECT_THAT(Read(absl::StrCat("shard", w, ".txt")), HasSubstr("shared quota: "));
  }
  EXPECT_EQ(worker_429s, refused);
  // The quota bounds the run: at least (answered - 20) / 20 windows went by; generous bound
  // above (a loaded machine), as a ratio of the quota-bound time.
  const absl::Duration bound = absl::Seconds(2) * (static_cast<double>(answered) / 20.0);
  EXPECT_GE(wall, absl::Seconds(2) * (static_cast<double>(answered - 20) / 20.0));
  EXPECT_LE(wall, 3 * bound + absl::Seconds(10));
}

// 320 distinct domains, one row each, batches of 50: each shard (about 80 rows) sends one
// full batch and ends on a partial one of about 30. The four tails go in the last worker's
// requests (120 lookups: 3 requests), so the four send what one worker sends (7), not 8. The
// sim answers each request after 4 s, so that every worker has started (and registered as
// running) before the first one ends, even when four sanitized processes start on two busy
// CPUs (1.5 s was too short there: a late worker found the first one gone, and both sent).
TEST_F(RedisRunTest, FourShardsEachEndingOnAPartialBatchSendNoMoreThanOneWorker) {
  WriteInput(320, 1);
  StartSim(absl::Seconds(4), "http://ctia-sim.test");
  ASSERT_TRUE(RunOk({"run", "-i", dir_.File("in.csv"), "-o", dir_.File("single.csv"), "--column",
                     "domain", "--endpoint", sim_->base_url(), "--batch-size", "50"},
                    "single.txt"));
  const uint64_t single_requests = sim_->Counters().graphql_requests;
  EXPECT_EQ(single_requests, 7u);  // 6 x 50 + 20

  StartSim(absl::Seconds(4), "http://ctia-sim.test");
  std::vector<std::vector<std::string>> args;
  for (int w = 0; w < 4; ++w) {
    args.push_back(
        WithRedis({"run", "-i", dir_.File("in.csv"), "-o",
                   dir_.File(absl::StrCat("shard", w, ".csv")), "--column", "domain", "--endpoint",
                   sim_->base_url(), "--batch-size", "50", "--shard", absl::StrCat(w, "/4")}));
  }
  ASSERT_TRUE(RunWorkers(args, "shard"));
  std::string merged;
  int64_t handed = 0, taken = 0;
  for (int w = 0; w < 4; ++w) merged += Read(absl::StrCat("shard", w, ".csv"));
  for (int w = 0; w < 4; ++w) {
    const std::string err = Read(absl::StrCat("shard", w, ".txt"));
    std::smatch m;
    ASSERT_TRUE(std::regex_search(
        err, m, std::regex("([0-9]+) handed to other workers, ([0-9]+) taken from others")))
        << err;
    handed += std::stoll(m[1]);
    taken += std::stoll(m[2]);
  }
  EXPECT_EQ(merged, Read("single.csv"));
  // 7 when every worker was registered before the first one ended (the rule). A worker that
  // starts later than that (four sanitized processes on two busy CPUs) finds the first gone,
  // and ends as a last worker too: one more request. Not more: the tails were handed.
  EXPECT_LE(sim_->Counters().graphql_requests, single_requests + 1);
  EXPECT_GT(handed, 0);
  EXPECT_EQ(taken, handed);
  const auto asked = LookupsByObservable(*sim_);
  EXPECT_EQ(asked.size(), 320u);
  for (const auto& [observable, n] : asked) EXPECT_EQ(n, 1u) << observable;
}

TEST_F(RedisRunTest, RedisKilledUnderTheQuotaLosesNoRowPacesAloneAndRejoins) {
  WriteInput(4000, 5);
  auto alone_sim = LimitedSim(20, absl::Seconds(2));
  ASSERT_NE(alone_sim, nullptr);
  ASSERT_TRUE(RunOk(QuotaArgs(*alone_sim, "single.csv"), "single.txt"));

  sim_ = LimitedSim(20, absl::Seconds(2));
  ASSERT_NE(sim_, nullptr);
  std::string merged;
  RunShards(
      *sim_,
      [this] {
        std::this_thread::sleep_for(std::chrono::milliseconds(2500));
        redis_.Kill();
        // Back (empty) a few seconds later: the workers rejoin it.
        std::this_thread::sleep_for(std::chrono::milliseconds(3000));
        EXPECT_TRUE(redis_.Restart());
      },
      &merged);
  EXPECT_EQ(merged, Read("single.csv"));
  int paced_alone = 0;
  for (int w = 0; w < 4; ++w) {
    const std::string err = Read(absl::StrCat("shard", w, ".txt"));
    if (absl::StrContains(err, "shared quota unavailable")) {
      // Its share: the limit over the workers it last saw in Redis (each heard from once it
      // asked for a grant), 20 / 4 once all four have.
      EXPECT_THAT(err, ::testing::ContainsRegex(
                           "pacing alone at ([5-9]|1[0-9]|20) requests per 2s"));
      ++paced_alone;
    }
  }
  EXPECT_GE(paced_alone, 1);  // a worker still asking when Redis went away said so
  int rejoined = 0;
  for (int w = 0; w < 4; ++w) {
    rejoined +=
        absl::StrContains(Read(absl::StrCat("shard", w, ".txt")), "shared quota available again");
  }
  EXPECT_GE(rejoined, 1);
}

}  // namespace
}  // namespace enrich
