// `ctia-enrich run --redis` as workers run it: several processes on one input against one
// ctia-sim and one real redis-server never ask an observable twice between them; an
// unreachable Redis stops the run (or not, with --redis-optional); a Redis killed mid-run
// loses no row. Sharded workers (--shard K/4) against a rate-limited ctia-sim share its quota
// through Redis: fewer requests than one worker alone, at most one 429 per worker per window,
// and `cat` of their outputs is the single run's output, Redis killed mid-run or not.

#include <signal.h>

#include <chrono>
#include <fstream>
#include <regex>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/time/clock.h"
#include "absl/strings/str_cat.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/engine/temp_dir.h"
#include "tests/fakes/child_process.h"
#include "tests/transport/redis_server.h"
#include "tools/sim/sim_server.h"

namespace enrich {
namespace {

using ::testing::HasSubstr;

std::string ReadFile(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  std::stringstream s;
  s << f.rdbuf();
  return s.str();
}

class RedisRunTest : public ::testing::Test {
 protected:
  void SetUp() override { ASSERT_TRUE(redis_.running()); }

  void StartSim(absl::Duration latency = absl::ZeroDuration(), std::string public_base = "") {
    sim::SimOptions options;
    if (!public_base.empty()) options.public_base = public_base;  // ids alike across sims
    options.synthetic_percent = 30;  // every domain answered, from a hash (fixed ids)
    options.test_api = true;         // per-observable lookup tally
    options.latency = latency;
    options.threads = 2;
    sim_ = std::make_unique<sim::SimServer>(options);
    auto port = sim_->Start();
    ASSERT_TRUE(port.ok()) << port.status();
  }

  // `uniques` distinct domains, each on `repeats` rows.
  void WriteInput(int uniques, int repeats) {
    std::string text = "id,domain\n";
    for (int r = 0; r < repeats; ++r) {
      for (int i = 0; i < uniques; ++i) absl::StrAppend(&text, r, "-", i, ",host-", i, ".example\n");
    }
    std::ofstream(dir_.File("in.csv"), std::ios::binary) << text;
  }

  std::vector<std::string> Args(const std::string& output, const std::string& redis_url) {
    std::vector<std::string> args = {"run", "-i", dir_.File("in.csv"), "-o", dir_.File(output),
                                     "--column", "domain", "--endpoint", sim_->base_url(),
                                     "--batch-size", "1", "--threads", "2"};
    if (!redis_url.empty()) {
      args.push_back("--redis");
      args.push_back(redis_url);
    }
    return args;
  }

  absl::StatusOr<testing::ChildProcess> Start(std::vector<std::string> args,
                                              const std::string& stderr_name) {
    testing::ChildSpec spec;
    spec.program = CTIA_ENRICH_BIN;
    spec.args = std::move(args);
    spec.stderr_path = dir_.File(stderr_name);
    spec.env = {{"CTIA_CLIENT_ID", "client"}, {"CTIA_CLIENT_SECRET", "secret"}};
    return testing::ChildProcess::Start(spec);
  }

  // Lookups the sim answered per observable, all clients together.
  std::map<std::string, uint64_t> AskedPerObservable() const {
    std::map<std::string, uint64_t> asked;
    for (const auto& [client, tally] : sim_->Lookups()) {
      for (const auto& [observable, n] : tally) asked[observable] += n;
    }
    return asked;
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
    auto sim = std::make_unique<sim::SimServer>(options);
    if (!sim->Start().ok()) return nullptr;
    return sim;
  }

  std::vector<std::string> QuotaArgs(const sim::SimServer& sim, const std::string& output) {
    return {"run", "-i", dir_.File("in.csv"), "-o", dir_.File(output), "--column", "domain",
            "--endpoint", sim.base_url(), "--batch-size", "50", "--rate-limit", "20/2s",
            "--summary-json", dir_.File(output + ".json")};
  }

  // A number of a run's --summary-json.
  uint64_t SummaryNumber(const std::string& output, const std::string& key) {
    const std::string json = ReadFile(dir_.File(output + ".json"));
    const std::string tag = absl::StrCat("\"", key, "\":");
    const size_t at = json.find(tag);
    if (at == std::string::npos) return ~uint64_t{0};
    uint64_t n = 0;
    size_t end = at + tag.size();
    while (end < json.size() && json[end] >= '0' && json[end] <= '9') ++end;
    if (!absl::SimpleAtoi(json.substr(at + tag.size(), end - at - tag.size()), &n)) return ~0ull;
    return n;
  }

  // Four workers, one shard each, sharing the quota of `sim` through Redis; `midway` runs
  // while they do. Returns the wall time of all four; `cat` of their outputs in `merged`.
  absl::Duration RunShards(sim::SimServer& sim, const std::function<void()>& midway,
                           std::string* merged) {
    const absl::Time start = absl::Now();
    std::vector<testing::ChildProcess> workers;
    for (int w = 0; w < 4; ++w) {
      std::vector<std::string> args = QuotaArgs(sim, absl::StrCat("shard", w, ".csv"));
      args.insert(args.end(), {"--shard", absl::StrCat(w, "/4"), "--redis", redis_.url()});
      auto child = Start(args, absl::StrCat("shard", w, ".txt"));
      EXPECT_TRUE(child.ok()) << child.status();
      if (child.ok()) workers.push_back(*std::move(child));
    }
    midway();
    for (size_t w = 0; w < workers.size(); ++w) {
      EXPECT_EQ(workers[w].Wait(), 0) << ReadFile(dir_.File(absl::StrCat("shard", w, ".txt")));
    }
    const absl::Duration wall = absl::Now() - start;
    for (int w = 0; w < 4; ++w) {
      merged->append(ReadFile(dir_.File(absl::StrCat("shard", w, ".csv"))));
    }
    return wall;
  }

  testing::RedisServer redis_;
  std::unique_ptr<sim::SimServer> sim_;
  testing::TempDir dir_;
};

TEST_F(RedisRunTest, FourWorkersAskEveryObservableOnceBetweenThem) {
  StartSim(absl::Milliseconds(2));
  constexpr int kUniques = 300;
  WriteInput(kUniques, 2);
  std::vector<testing::ChildProcess> workers;
  for (int w = 0; w < 4; ++w) {
    auto child = Start(Args(absl::StrCat("out", w, ".csv"), redis_.url()),
                       absl::StrCat("err", w, ".txt"));
    ASSERT_TRUE(child.ok()) << child.status();
    workers.push_back(*std::move(child));
  }
  for (int w = 0; w < 4; ++w) {
    EXPECT_EQ(workers[w].Wait(), 0) << ReadFile(dir_.File(absl::StrCat("err", w, ".txt")));
  }
  const auto asked = AskedPerObservable();
  EXPECT_EQ(asked.size(), static_cast<size_t>(kUniques));
  for (const auto& [observable, n] : asked) EXPECT_EQ(n, 1u) << observable;

  // A fifth worker later finds every answer shared (each worker's last ones included).
  auto late = Start(Args("late.csv", redis_.url()), "late.txt");
  ASSERT_TRUE(late.ok());
  ASSERT_EQ(late->Wait(), 0) << ReadFile(dir_.File("late.txt"));
  EXPECT_THAT(ReadFile(dir_.File("late.txt")),
              HasSubstr("300 answers from other workers, 0 asked here, 0 asked alone"));
  EXPECT_EQ(AskedPerObservable(), asked);

  // Every worker's output equals a run's without Redis, byte for byte.
  auto alone = Start(Args("alone.csv", ""), "alone.txt");
  ASSERT_TRUE(alone.ok());
  ASSERT_EQ(alone->Wait(), 0) << ReadFile(dir_.File("alone.txt"));
  const std::string expected = ReadFile(dir_.File("alone.csv"));
  ASSERT_THAT(expected, HasSubstr("host-299.example"));
  for (int w = 0; w < 4; ++w) EXPECT_EQ(ReadFile(dir_.File(absl::StrCat("out", w, ".csv"))), expected);
  EXPECT_THAT(ReadFile(dir_.File("err0.txt")), HasSubstr("shared cache (redis://127.0.0.1:"));
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
  const std::string message = ReadFile(dir_.File("stopped.txt"));
  EXPECT_THAT(message, HasSubstr(absl::StrCat("redis ", url, "/0: cannot connect")));
  EXPECT_THAT(message, HasSubstr("--redis-optional"));
  EXPECT_FALSE(std::filesystem::exists(dir_.File("out.csv")));
  EXPECT_FALSE(std::filesystem::exists(dir_.File("out.csv.journal")));  // nothing written

  std::vector<std::string> args = Args("out.csv", url);
  args.push_back("--redis-optional");
  auto alone = Start(args, "alone.txt");
  ASSERT_TRUE(alone.ok());
  EXPECT_EQ(alone->Wait(), 0) << ReadFile(dir_.File("alone.txt"));
  EXPECT_THAT(ReadFile(dir_.File("alone.txt")), HasSubstr("looking up alone"));
  EXPECT_THAT(ReadFile(dir_.File("out.csv")), HasSubstr("host-19.example"));
}

TEST_F(RedisRunTest, APasswordOnTheCommandLineIsRefused) {
  StartSim();
  WriteInput(1, 1);
  auto run = Start(Args("out.csv", absl::StrCat("redis://:hunter2@127.0.0.1:", redis_.port())),
                   "err.txt");
  ASSERT_TRUE(run.ok());
  EXPECT_EQ(run->Wait(), 2);
  const std::string message = ReadFile(dir_.File("err.txt"));
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
  ASSERT_EQ(run->Wait(), 0) << ReadFile(dir_.File("err.txt"));
  const std::string err = ReadFile(dir_.File("err.txt"));
  EXPECT_THAT(err, HasSubstr("looking up alone"));

  auto alone = Start(Args("alone.csv", ""), "alone.txt");
  ASSERT_TRUE(alone.ok());
  ASSERT_EQ(alone->Wait(), 0);
  EXPECT_EQ(ReadFile(dir_.File("out.csv")), ReadFile(dir_.File("alone.csv")));
}

// plan --redis counts what the shared cache answers now: the 50 domains a run shared, of 80.
TEST_F(RedisRunTest, PlanCountsTheLookupsTheSharedCacheAnswers) {
  StartSim();
  WriteInput(50, 1);
  auto run = Start(Args("out.csv", redis_.url()), "run.txt");
  ASSERT_TRUE(run.ok());
  ASSERT_EQ(run->Wait(), 0) << ReadFile(dir_.File("run.txt"));
  WriteInput(80, 1);
  testing::ChildSpec spec;
  spec.program = CTIA_ENRICH_BIN;
  spec.args = {"plan", "-i", dir_.File("in.csv"), "--column", "domain", "--endpoint",
               sim_->base_url(), "--batch-size", "1", "--redis", redis_.url(), "--json"};
  spec.stdout_path = dir_.File("plan.json");
  spec.stderr_path = dir_.File("plan.txt");
  auto plan = testing::ChildProcess::Start(spec);
  ASSERT_TRUE(plan.ok());
  ASSERT_EQ(plan->Wait(), 0) << ReadFile(dir_.File("plan.txt"));
  const std::string json = ReadFile(dir_.File("plan.json"));
  EXPECT_THAT(json, HasSubstr("\"known_shared\":50"));
  EXPECT_THAT(json, HasSubstr("\"lookups\":30"));
  EXPECT_EQ(AskedPerObservable().size(), 50u);  // the plan asked CTIA nothing
}

// 20000 rows, 4000 distinct domains (each on 5 rows, spread over every shard), batches of 50,
// the org limited to 20 requests per 2 s.
TEST_F(RedisRunTest, FourShardsShareTheOrgsQuotaAndMergeIntoTheSingleRun) {
  WriteInput(4000, 5);
  auto alone_sim = LimitedSim(20, absl::Seconds(2));
  ASSERT_NE(alone_sim, nullptr);
  auto single = Start(QuotaArgs(*alone_sim, "single.csv"), "single.txt");
  ASSERT_TRUE(single.ok());
  ASSERT_EQ(single->Wait(), 0) << ReadFile(dir_.File("single.txt"));
  const uint64_t single_requests = alone_sim->Counters().graphql_requests;
  ASSERT_GE(single_requests, 80u);  // 4000 / 50

  sim_ = LimitedSim(20, absl::Seconds(2));
  ASSERT_NE(sim_, nullptr);
  std::string merged;
  const absl::Duration wall = RunShards(*sim_, [] {}, &merged);
  EXPECT_EQ(merged, ReadFile(dir_.File("single.csv")));

  const sim::EndpointCounts counts = sim_->CountsByEndpoint();
  uint64_t answered = 0, refused = 0;
  for (const auto& [status, n] : counts.at("graphql")) (status == 429 ? refused : answered) += n;
  // Each worker ends on a partial batch of its own; all but the last hand theirs to the last,
  // which sends them together: no more requests than the single run's.
  EXPECT_LE(answered, single_requests);
  const auto asked = AskedPerObservable();
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
    EXPECT_THAT(ReadFile(dir_.File(absl::StrCat("shard", w, ".txt"))), HasSubstr("shared quota: "));
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
// sim answers each request after 1.5 s, so that every worker has started (and registered as
// running) before the first one ends.
TEST_F(RedisRunTest, FourShardsEachEndingOnAPartialBatchSendNoMoreThanOneWorker) {
  WriteInput(320, 1);
  StartSim(absl::Milliseconds(1500), "http://ctia-sim.test");
  auto single = Start({"run", "-i", dir_.File("in.csv"), "-o", dir_.File("single.csv"),
                       "--column", "domain", "--endpoint", sim_->base_url(), "--batch-size",
                       "50"},
                      "single.txt");
  ASSERT_TRUE(single.ok());
  ASSERT_EQ(single->Wait(), 0) << ReadFile(dir_.File("single.txt"));
  const uint64_t single_requests = sim_->Counters().graphql_requests;
  EXPECT_EQ(single_requests, 7u);  // 6 x 50 + 20

  StartSim(absl::Milliseconds(1500), "http://ctia-sim.test");
  std::vector<testing::ChildProcess> workers;
  for (int w = 0; w < 4; ++w) {
    auto child = Start({"run", "-i", dir_.File("in.csv"), "-o",
                        dir_.File(absl::StrCat("shard", w, ".csv")), "--column", "domain",
                        "--endpoint", sim_->base_url(), "--batch-size", "50", "--shard",
                        absl::StrCat(w, "/4"), "--redis", redis_.url()},
                       absl::StrCat("shard", w, ".txt"));
    ASSERT_TRUE(child.ok()) << child.status();
    workers.push_back(*std::move(child));
  }
  std::string merged;
  int64_t handed = 0, taken = 0;
  for (int w = 0; w < 4; ++w) {
    const std::string err = ReadFile(dir_.File(absl::StrCat("shard", w, ".txt")));
    ASSERT_EQ(workers[w].Wait(), 0) << err;
    merged += ReadFile(dir_.File(absl::StrCat("shard", w, ".csv")));
  }
  for (int w = 0; w < 4; ++w) {
    const std::string err = ReadFile(dir_.File(absl::StrCat("shard", w, ".txt")));
    std::smatch m;
    ASSERT_TRUE(std::regex_search(
        err, m, std::regex("([0-9]+) handed to the last worker, ([0-9]+) taken from others")))
        << err;
    handed += std::stoll(m[1]);
    taken += std::stoll(m[2]);
  }
  EXPECT_EQ(merged, ReadFile(dir_.File("single.csv")));
  EXPECT_LE(sim_->Counters().graphql_requests, single_requests);
  EXPECT_GT(handed, 0);
  EXPECT_EQ(taken, handed);
  const auto asked = AskedPerObservable();
  EXPECT_EQ(asked.size(), 320u);
  for (const auto& [observable, n] : asked) EXPECT_EQ(n, 1u) << observable;
}

TEST_F(RedisRunTest, RedisKilledUnderTheQuotaLosesNoRowPacesAloneAndRejoins) {
  WriteInput(4000, 5);
  auto alone_sim = LimitedSim(20, absl::Seconds(2));
  ASSERT_NE(alone_sim, nullptr);
  auto single = Start(QuotaArgs(*alone_sim, "single.csv"), "single.txt");
  ASSERT_TRUE(single.ok());
  ASSERT_EQ(single->Wait(), 0) << ReadFile(dir_.File("single.txt"));

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
  EXPECT_EQ(merged, ReadFile(dir_.File("single.csv")));
  int paced_alone = 0;
  for (int w = 0; w < 4; ++w) {
    const std::string err = ReadFile(dir_.File(absl::StrCat("shard", w, ".txt")));
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
    rejoined += absl::StrContains(ReadFile(dir_.File(absl::StrCat("shard", w, ".txt"))),
                                  "shared quota available again");
  }
  EXPECT_GE(rejoined, 1);
}

}  // namespace
}  // namespace enrich
