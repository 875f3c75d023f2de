// `run --cache DIR` (issue 16, "Persistent cache"): the real binary, a real LMDB environment in
// a temp dir, ctia-sim on 127.0.0.1:0 with its lookup tally. A second run asks nothing and
// writes the same bytes; once 10% of the verdicts have expired the third run asks exactly
// those (and plan counted them beforehand); --negative-ttl 0 keeps no "no verdict"; two
// processes write one DIR at once; a damaged DIR is reported and never served (skip: the run
// goes on without it; fail: exit 2 before any lookup); `cache stats|prune|clear`.

#include "tests/fakes/cli_rig.h"

#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <map>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/time/clock.h"
#include "rapidjson/document.h"
#include <gmock/gmock.h>
#include <gtest/gtest.h>

namespace enrich {
namespace {

using ::testing::HasSubstr;

using testing::ReadFileBytes;

class CacheRunTest : public ::testing::Test {
 protected:
  static constexpr int kDomains = 400;     // judged: every 10th lives short
  static constexpr int kUnjudged = 100;    // no verdict
  static constexpr int kRows = 3000;

  void SetUp() override {
    sim::SimOptions options;
    options.test_api = true;
    sim_ = testing::StartSim(options);
    ASSERT_NE(sim_, nullptr);
    std::string text = "id,domain\n";
    for (int i = 0; i < kRows; ++i) {
      const int d = (i * 7919) % (kDomains + kUnjudged);
      absl::StrAppend(&text, i, ",", Domain(d), "\n");
    }
    std::ofstream(dir_.File("in.csv"), std::ios::binary) << text;
  }

  void TearDown() override { sim_->Stop(); }

  static std::string Domain(int d) {
    return d < kDomains ? absl::StrCat("judged-", d, ".example")
                        : absl::StrCat("unknown-", d, ".example");
  }

  // Judgements for every judged domain; every 10th valid for `short_life` only.
  void Judge(absl::Duration short_life) {
    std::vector<schema::Judgement> js;
    const absl::Time now = absl::Now();
    for (int d = 0; d < kDomains; ++d) {
      schema::Judgement j;
      j.observable = {"domain", Domain(d)};
      j.disposition = d % 2 == 0 ? schema::Disposition::kMalicious : schema::Disposition::kClean;
      j.priority = 90;
      j.source = "feed";
      j.valid_time = {now - absl::Hours(1),
                      d % 10 == 0 ? now + short_life : now + absl::Hours(24 * 30)};
      js.push_back(j);
    }
    sim_->AddJudgements(std::move(js));
  }

  std::vector<std::string> Args(const std::string& command, const std::string& out,
                                const std::vector<std::string>& extra) const {
    std::vector<std::string> args = {command, "-i", dir_.File("in.csv"), "-o", dir_.File(out),
                                     "--column", "domain", "--endpoint", sim_->base_url(),
                                     "--threads", "2", "--chunk-size", "16384"};
    args.insert(args.end(), extra.begin(), extra.end());
    return args;
  }

  // ctia-enrich with `args`, stdout and stderr in <name>.out and <name>.err.
  testing::ChildSpec Spec(const std::vector<std::string>& args, const std::string& name) const {
    return testing::CliSpec(args, dir_.File(name + ".out"), dir_.File(name + ".err"));
  }
  int Exec(const std::vector<std::string>& args, const std::string& name) {
    return testing::RunCli(Spec(args, name));
  }

  // Lookups per observable the sim has seen so far, all clients.
  std::map<std::string, uint64_t> Asked() const { return testing::LookupsByObservable(*sim_); }
  // The values asked since `before`.
  std::set<std::string> AskedSince(const std::map<std::string, uint64_t>& before) const {
    std::set<std::string> since;
    for (const auto& [value, n] : Asked()) {
      auto it = before.find(value);
      if (n > (it == before.end() ? 0 : it->second)) since.insert(value);
    }
    return since;
  }

  // A run to `out` with --cache and `extra`, exit 0; the values it asked.
  std::set<std::string> RunCached(const std::string& out, const std::vector<std::string>& extra,
                                  const std::string& name = "run") {
    const auto before = Asked();
    std::vector<std::string> args = {"--cache", cache_, "--summary-json",
                                     dir_.File(name + ".json")};
    args.insert(args.end(), extra.begin(), extra.end());
    EXPECT_EQ(Exec(Args("run", out, args), name), 0) << ReadFileBytes(dir_.File(name + ".err"));
    return AskedSince(before);
  }

  uint64_t SummaryCache(const std::string& name, const char* key) {
    rapidjson::Document doc = testing::ParseJson(ReadFileBytes(dir_.File(name + ".json")));
    if (!doc.IsObject() || !doc.HasMember("persistent_cache")) return UINT64_MAX;
    return doc["persistent_cache"][key].GetUint64();
  }

  enrich::testing::TempDir dir_;
  std::string cache_ = dir_.File("cache");
  std::unique_ptr<sim::SimServer> sim_;
};

TEST_F(CacheRunTest, SecondRunAsksNothingAndWritesTheSameBytes) {
  Judge(absl::Hours(24));
  const std::set<std::string> first = RunCached("first.csv", {}, "first");
  EXPECT_EQ(first.size(), static_cast<size_t>(kDomains + kUnjudged));
  EXPECT_EQ(SummaryCache("first", "hits"), 0u);
  EXPECT_EQ(SummaryCache("first", "writes"), static_cast<uint64_t>(kDomains + kUnjudged));
  const std::set<std::string> second = RunCached("second.csv", {}, "second");
  EXPECT_TRUE(second.empty()) << second.size() << " asked again, e.g. " << *second.begin();
  EXPECT_EQ(SummaryCache("second", "hits"), static_cast<uint64_t>(kDomains + kUnjudged));
  EXPECT_EQ(SummaryCache("second", "misses"), 0u);
  const std::string a = ReadFileBytes(dir_.File("first.csv"));
  EXPECT_EQ(a, ReadFileBytes(dir_.File("second.csv")));
  EXPECT_THAT(a, HasSubstr("judged-0.example,"));
}

TEST_F(CacheRunTest, ExpiredTenthIsAskedAgainAndPlanCountsTheRest) {
  const absl::Duration life = absl::Seconds(6);
  const absl::Time judged = absl::Now();
  Judge(life);
  RunCached("first.csv", {}, "first");
  EXPECT_TRUE(RunCached("second.csv", {}, "second").empty());
  absl::SleepFor(judged + life + absl::Milliseconds(500) - absl::Now());
  // plan: the cache answers all but the expired tenth.
  ASSERT_EQ(Exec(Args("plan", "third.csv", {"--cache", cache_, "--json"}), "plan"), 0)
      << ReadFileBytes(dir_.File("plan.err"));
  rapidjson::Document plan = testing::ParseJson(ReadFileBytes(dir_.File("plan.out")));
  ASSERT_TRUE(plan.IsObject()) << ReadFileBytes(dir_.File("plan.out"));
  ASSERT_EQ(Exec(Args("plan", "third.csv", {"--cache", cache_}), "plan_text"), 0);
  const std::set<std::string> third = RunCached("third.csv", {}, "third");
  std::set<std::string> expected;
  for (int d = 0; d < kDomains; d += 10) expected.insert("domain:" + Domain(d));
  EXPECT_EQ(third, expected);
  EXPECT_EQ(plan["lookups"].GetUint64(), third.size());
  const uint64_t cached = static_cast<uint64_t>(kDomains + kUnjudged) - expected.size();
  EXPECT_EQ(plan["known_cache"].GetUint64(), cached);
  EXPECT_EQ(plan["unique"].GetUint64(), static_cast<uint64_t>(kDomains + kUnjudged));
  // By type, as the journal's: every domain, the cache's among them.
  ASSERT_TRUE(plan["types"].HasMember("domain"));
  const auto& domain = plan["types"]["domain"];
  EXPECT_EQ(domain["unique"].GetUint64(), static_cast<uint64_t>(kDomains + kUnjudged));
  EXPECT_EQ(domain["known"].GetUint64(), 0u);
  EXPECT_EQ(domain["cached"].GetUint64(), cached);
  EXPECT_EQ(domain["lookups"].GetUint64(), expected.size());
  // The text table has the column.
  EXPECT_THAT(ReadFileBytes(dir_.File("plan_text.out")),
              ::testing::ContainsRegex(absl::StrCat(" ", cached, " cached +",
                                                    expected.size(), " to look up")));
}

TEST_F(CacheRunTest, NegativeTtlZeroKeepsNoNoVerdict) {
  Judge(absl::Hours(24));
  RunCached("first.csv", {"--negative-ttl", "0"}, "first");
  const std::set<std::string> second = RunCached("second.csv", {"--negative-ttl", "0"}, "second");
  EXPECT_EQ(second.size(), static_cast<size_t>(kUnjudged));
  for (const std::string& v : second) EXPECT_THAT(v, HasSubstr("unknown-"));
}

TEST_F(CacheRunTest, TwoProcessesShareOneDirAtOnce) {
  Judge(absl::Hours(24));
  std::vector<testing::ChildProcess> children;
  for (const char* name : {"a", "b"}) {
    std::vector<std::string> args = Args("run", absl::StrCat(name, ".csv"), {"--cache", cache_});
    auto child = testing::ChildProcess::Start(Spec(args, name));
    ASSERT_TRUE(child.ok()) << child.status();
    children.push_back(*std::move(child));
  }
  EXPECT_EQ(children[0].Wait(), 0) << ReadFileBytes(dir_.File("a.err"));
  EXPECT_EQ(children[1].Wait(), 0) << ReadFileBytes(dir_.File("b.err"));
  EXPECT_EQ(ReadFileBytes(dir_.File("a.csv")), ReadFileBytes(dir_.File("b.csv")));
  EXPECT_TRUE(RunCached("c.csv", {}, "c").empty());
  EXPECT_EQ(ReadFileBytes(dir_.File("a.csv")), ReadFileBytes(dir_.File("c.csv")));
}

TEST_F(CacheRunTest, DamagedCacheIsReportedAndNeverServed) {
  Judge(absl::Hours(24));
  RunCached("first.csv", {}, "first");
  {  // garble the meta pages: not an LMDB file any more
    std::fstream f(cache_ + "/data.mdb", std::ios::in | std::ios::out | std::ios::binary);
    const std::string junk(64, '\x5a');
    f.seekp(0);
    f.write(junk.data(), static_cast<std::streamsize>(junk.size()));
  }
  // fail: exit 2 before the CTIA stack starts: no token asked for, no lookup.
  auto before = Asked();
  const uint64_t tokens = sim_->Counters().token_requests;
  EXPECT_EQ(Exec(Args("run", "fail.csv", {"--cache", cache_, "--cache-damaged", "fail"}), "fail"),
            2);
  EXPECT_TRUE(AskedSince(before).empty());
  EXPECT_EQ(sim_->Counters().token_requests, tokens);
  const std::string fail_err = ReadFileBytes(dir_.File("fail.err"));
  EXPECT_THAT(fail_err, HasSubstr(absl::StrCat("cache ", cache_, " is damaged")));
  // Without --endpoint: no embedded ctia-sim is started either.
  EXPECT_EQ(Exec({"run", "-i", dir_.File("in.csv"), "-o", dir_.File("demo.csv"), "--column",
                  "domain", "--cache", cache_, "--cache-damaged", "fail"},
                 "demo"),
            2);
  const std::string demo_err = ReadFileBytes(dir_.File("demo.err"));
  EXPECT_THAT(demo_err, HasSubstr("is damaged"));
  EXPECT_THAT(demo_err, ::testing::Not(HasSubstr("embedded ctia-sim")));
  EXPECT_FALSE(std::filesystem::exists(dir_.File("demo.csv")));
  // skip (the default): said once, the run looks everything up.
  const std::set<std::string> skipped = RunCached("skip.csv", {}, "skip");
  EXPECT_EQ(skipped.size(), static_cast<size_t>(kDomains + kUnjudged));
  const std::string err = ReadFileBytes(dir_.File("skip.err"));
  EXPECT_THAT(err, HasSubstr(absl::StrCat("cache ", cache_, " is damaged")));
  EXPECT_THAT(err, HasSubstr("without the cache"));
  EXPECT_EQ(ReadFileBytes(dir_.File("first.csv")), ReadFileBytes(dir_.File("skip.csv")));
}

TEST_F(CacheRunTest, TruncatedDataFileIsDamaged) {
  Judge(absl::Hours(24));
  RunCached("first.csv", {}, "first");
  const auto size = std::filesystem::file_size(cache_ + "/data.mdb");
  std::filesystem::resize_file(cache_ + "/data.mdb", size / 2);
  const std::set<std::string> asked = RunCached("again.csv", {}, "again");
  EXPECT_EQ(asked.size(), static_cast<size_t>(kDomains + kUnjudged));
  EXPECT_THAT(ReadFileBytes(dir_.File("again.err")), HasSubstr("is damaged"));
  EXPECT_EQ(ReadFileBytes(dir_.File("first.csv")), ReadFileBytes(dir_.File("again.csv")));
}

TEST_F(CacheRunTest, StatsPruneClear) {
  Judge(absl::Hours(24));
  RunCached("first.csv", {}, "first");
  ASSERT_EQ(Exec({"cache", "stats", "--json", cache_}, "stats"), 0)
      << ReadFileBytes(dir_.File("stats.err"));
  rapidjson::Document stats = testing::ParseJson(ReadFileBytes(dir_.File("stats.out")));
  ASSERT_TRUE(stats.IsObject()) << ReadFileBytes(dir_.File("stats.out"));
  EXPECT_EQ(stats["entries"].GetUint64(), static_cast<uint64_t>(kDomains + kUnjudged));
  ASSERT_EQ(stats["groups"].Size(), 1u);
  EXPECT_EQ(stats["groups"][0]["type"].GetString(), std::string("domain"));
  EXPECT_EQ(stats["groups"][0]["verdicts"].GetUint64(), static_cast<uint64_t>(kDomains));
  EXPECT_EQ(stats["groups"][0]["no_verdicts"].GetUint64(), static_cast<uint64_t>(kUnjudged));
  EXPECT_THAT(stats["groups"][0]["scope"].GetString(), HasSubstr(sim_->base_url()));
  EXPECT_GT(stats["file_bytes"].GetUint64(), 0u);
  ASSERT_EQ(Exec({"cache", "stats", cache_}, "text"), 0);
  EXPECT_THAT(ReadFileBytes(dir_.File("text.out")),
              HasSubstr("500 entries (0 expired, 0 damaged)"));
  ASSERT_EQ(Exec({"cache", "prune", cache_}, "prune"), 0);
  EXPECT_THAT(ReadFileBytes(dir_.File("prune.out")), HasSubstr(": 0 expired records deleted"));
  ASSERT_EQ(Exec({"cache", "clear", cache_}, "clear"), 0);
  EXPECT_THAT(ReadFileBytes(dir_.File("clear.out")), HasSubstr(": 500 records deleted"));
  EXPECT_EQ(RunCached("again.csv", {}, "again").size(),
            static_cast<size_t>(kDomains + kUnjudged));
  EXPECT_EQ(Exec({"cache", "stats", dir_.File("nowhere")}, "none"), 1);
}

}  // namespace
}  // namespace enrich
