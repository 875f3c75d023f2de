// `ctia-enrich run --redis` as workers run it: several processes on one input against one
// ctia-sim and one real redis-server never ask an observable twice between them; an
// unreachable Redis stops the run (or not, with --redis-optional); a Redis killed mid-run
// loses no row.

#include <signal.h>

#include <chrono>
#include <fstream>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/match.h"
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

  void StartSim(absl::Duration latency = absl::ZeroDuration()) {
    sim::SimOptions options;
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

}  // namespace
}  // namespace enrich
