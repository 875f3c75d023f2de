// `ctia-enrich run --redis` sharing what the compact records carry beyond the verdict, against
// real ctia-sims and a real redis-server: a worker with --fields and --judgements gets the
// columns another worker paid for from the shared cache (and asks nothing), while a run that
// keeps other details shares none of its values; two workers with --intel both share each
// intel's lookups (each sim asked each observable once between them); and the shared cache
// keeps a "no verdict" for --negative-ttl (PTTL of its key).

#include "tests/integration/redis_cli_rig.h"
#include "transport/io_threads.h"
#include "transport/redis/redis_client.h"
#include "transport/redis/redis_endpoint.h"
#include "transport/redis/shared_verdict_codec.h"

#include <memory>
#include <string>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include <gmock/gmock.h>
#include <gtest/gtest.h>

namespace enrich {
namespace {

using ::testing::HasSubstr;

using testing::LookupsByObservable;

// A ctia-sim whose ids carry `public_base`, with the lookup tally.
std::unique_ptr<sim::SimServer> StartSim(const std::string& public_base) {
  sim::SimOptions options;
  options.public_base = public_base;
  options.test_api = true;
  options.threads = 2;
  return testing::StartSim(options);
}

// Two judgements of `domain` in `sim`: the deciding one (`disposition`, priority 95, started
// `hours_ago`) and an older Unknown one of another source.
void Seed(sim::SimServer& sim, const std::string& domain, schema::Disposition disposition,
          int hours_ago, const std::string& source) {
  const absl::Time now = absl::Now();
  schema::Judgement j;
  j.observable = {"domain", domain};
  j.disposition = disposition;
  j.priority = 95;
  j.source = source;
  j.reason = absl::StrCat("seen by ", source, ", twice");
  j.confidence = "High";
  j.severity = "Medium";
  j.tlp = "amber";
  j.valid_time = {now - absl::Hours(hours_ago), now + absl::Hours(24 * 30)};
  schema::Judgement feed = j;
  feed.disposition = schema::Disposition::kUnknown;
  feed.priority = 10;
  feed.source = "feed";
  feed.reason = "listed";
  sim.AddJudgements({j, feed});
}

class RedisDetailsTest : public testing::RedisCliTest {
 protected:
  // `domains` on two rows each.
  void WriteInput(const std::vector<std::string>& domains) {
    std::string text = "id,domain\n";
    for (int round = 0; round < 2; ++round) {
      for (size_t i = 0; i < domains.size(); ++i) {
        absl::StrAppend(&text, round * 1000 + i, ",", domains[i], "\n");
      }
    }
    testing::WriteFileBytes(dir_.File("in.csv"), text);
  }

  std::vector<std::string> Args(const std::string& output, const std::string& endpoint,
                                const std::vector<std::string>& extra) const {
    std::vector<std::string> args = {"run",     "-i",       dir_.File("in.csv"),
                                     "-o",      dir_.File(output),
                                     "--column", "domain",  "--endpoint",
                                     endpoint,  "--threads", "2"};
    args.insert(args.end(), extra.begin(), extra.end());
    return args;
  }
};

TEST_F(RedisDetailsTest, FieldsAndJudgementsComeFromTheSharedCacheWorkerAPaidFor) {
  auto sim = StartSim("https://private.intel.example");
  ASSERT_NE(sim, nullptr);
  std::vector<std::string> domains;
  for (int i = 0; i < 12; ++i) {
    domains.push_back(absl::StrCat("known-", i, ".example"));
    Seed(*sim, domains.back(), i % 2 == 0 ? schema::Disposition::kMalicious
                                          : schema::Disposition::kSuspicious,
         2, absl::StrCat("source-", i));
  }
  for (int i = 0; i < 4; ++i) domains.push_back(absl::StrCat("unknown-", i, ".example"));
  WriteInput(domains);
  const std::vector<std::string> details = {"--fields", "source,reason,severity,priority,tlp",
                                            "--judgements", "2"};

  // A run without details first: its values do not hold them, so worker A asks again.
  ASSERT_TRUE(RunOk(Args("plain.csv", sim->base_url(), WithRedis({})), "plain.txt"));
  const auto after_plain = LookupsByObservable(*sim);
  ASSERT_EQ(after_plain.size(), domains.size());

  ASSERT_TRUE(RunOk(Args("a.csv", sim->base_url(), WithRedis(details)), "a.txt"));
  EXPECT_THAT(Read("a.txt"), HasSubstr("0 answers from other workers, 16 asked here"));
  const auto after_a = LookupsByObservable(*sim);
  for (const auto& [observable, n] : after_a) EXPECT_EQ(n, 2u) << observable;

  // Worker B asks nothing: every column from the values A shared.
  ASSERT_TRUE(RunOk(Args("b.csv", sim->base_url(), WithRedis(details)), "b.txt"));
  EXPECT_THAT(Read("b.txt"),
              HasSubstr("16 answers from other workers, 0 asked here, 0 asked alone"));
  EXPECT_EQ(LookupsByObservable(*sim), after_a);
  const std::string a = Read("a.csv");
  EXPECT_EQ(Read("b.csv"), a);
  EXPECT_THAT(a, HasSubstr("ctia_source,ctia_reason,ctia_severity,ctia_priority,ctia_tlp"));
  EXPECT_THAT(a, HasSubstr("ctia_judgements"));
  EXPECT_THAT(a, HasSubstr("source-7"));
  EXPECT_THAT(a, HasSubstr("\"seen by source-7, twice\""));
  EXPECT_THAT(a, HasSubstr("feed"));
  // And both equal a run's without Redis.
  ASSERT_TRUE(RunOk(Args("alone.csv", sim->base_url(), details), "alone.txt"));
  EXPECT_EQ(Read("alone.csv"), a);

  // A run without details reads the detail-less values (nothing asked) and writes the plain
  // columns.
  const auto before_plain_again = LookupsByObservable(*sim);
  ASSERT_TRUE(RunOk(Args("plain2.csv", sim->base_url(), WithRedis({})), "plain2.txt"));
  EXPECT_EQ(LookupsByObservable(*sim), before_plain_again);
  EXPECT_EQ(Read("plain2.csv"), Read("plain.csv"));
  EXPECT_FALSE(absl::StrContains(Read("plain2.csv"), "ctia_source"));
}

TEST_F(RedisDetailsTest, TwoWorkersWithIntelBothAskEachIntelEachObservableOnce) {
  auto private_sim = StartSim("https://private.intel.amp.cisco.com");
  auto global_sim = StartSim("https://intel.amp.cisco.com");
  ASSERT_NE(private_sim, nullptr);
  ASSERT_NE(global_sim, nullptr);
  std::vector<std::string> domains;
  for (int i = 0; i < 40; ++i) {
    domains.push_back(absl::StrCat("d-", i, ".example"));
    // Each side knows some; where both do, the dispositions and the starts decide (equal
    // dispositions tie on priority and go to the earlier start).
    if (i % 4 != 3) {
      Seed(*private_sim, domains.back(),
           i % 3 == 0 ? schema::Disposition::kMalicious : schema::Disposition::kSuspicious,
           1 + i % 5, "private-feed");
    }
    if (i % 4 != 2) {
      Seed(*global_sim, domains.back(),
           i % 2 == 0 ? schema::Disposition::kMalicious : schema::Disposition::kSuspicious,
           1 + i % 7, "global-feed");
    }
  }
  WriteInput(domains);
  auto args = [&](const std::string& output, bool redis) {
    // REST (as redis_run_test's concurrent workers): single flight per observable, whatever
    // the timing of the two workers' batches.
    std::vector<std::string> extra = {"--intel",         "both",  "--global-endpoint",
                                      global_sim->base_url(), "--fields", "source",
                                      "--connections",   "2",     "--batch-size", "1"};
    return Args(output, private_sim->base_url(), redis ? WithRedis(extra) : extra);
  };
  RunWorkers({args("w0.csv", true), args("w1.csv", true)}, "w");
  for (const sim::SimServer* sim : {private_sim.get(), global_sim.get()}) {
    const auto asked = LookupsByObservable(*sim);
    EXPECT_EQ(asked.size(), domains.size());
    for (const auto& [observable, n] : asked) EXPECT_EQ(n, 1u) << observable;
  }
  // Between them the two workers found each side's answers once in Redis or asked once.
  const std::string w0 = Read("w0.csv");
  EXPECT_EQ(Read("w1.csv"), w0);
  EXPECT_THAT(w0, HasSubstr("ctia_intel"));
  EXPECT_THAT(w0, HasSubstr("global-feed"));
  EXPECT_THAT(w0, HasSubstr("private-feed"));

  // A third worker asks nothing, and all equal a run's without Redis.
  const auto private_before = LookupsByObservable(*private_sim);
  const auto global_before = LookupsByObservable(*global_sim);
  ASSERT_TRUE(RunOk(args("late.csv", true), "late.txt"));
  EXPECT_THAT(Read("late.txt"),
              HasSubstr("80 answers from other workers, 0 asked here, 0 asked alone"));
  EXPECT_EQ(LookupsByObservable(*private_sim), private_before);
  EXPECT_EQ(LookupsByObservable(*global_sim), global_before);
  EXPECT_EQ(Read("late.csv"), w0);
  ASSERT_TRUE(RunOk(args("alone.csv", false), "alone.txt"));
  EXPECT_EQ(Read("alone.csv"), w0);
}

TEST_F(RedisDetailsTest, ANoVerdictIsSharedForTheNegativeTtl) {
  auto sim = StartSim("https://private.intel.example");
  ASSERT_NE(sim, nullptr);
  WriteInput({"nothing-a.example", "nothing-b.example", "nothing-c.example"});
  transport::IoThreads io(1);
  auto endpoint = transport::ParseRedisUrl(redis_.url());
  ASSERT_TRUE(endpoint.ok());
  transport::RedisClient client(io.executor(), *endpoint);
  ASSERT_TRUE(testing::WaitUp(client));
  auto pttl = [&](const std::string& value) -> int64_t {
    const transport::SharedLookupKey key{sim->base_url(), "private", "domain", value};
    auto reply = testing::Call(
        client, {"PTTL", absl::StrCat("enrich:v2:verdict:{",
                                      transport::SharedKeyText(key, schema::DetailsSpec{}), "}")});
    EXPECT_TRUE(reply.ok()) << reply.status();
    return reply.ok() ? reply->integer : -100;
  };

  ASSERT_TRUE(
      RunOk(Args("ttl.csv", sim->base_url(), WithRedis({"--negative-ttl", "120"})), "ttl.txt"));
  for (const char* value : {"nothing-a.example", "nothing-b.example", "nothing-c.example"}) {
    const int64_t ms = pttl(value);
    EXPECT_GT(ms, 60'000) << value;  // generous: the run took under a minute
    EXPECT_LE(ms, 120'000) << value;
  }
  ASSERT_EQ(testing::Call(client, {"FLUSHALL"}).status(), absl::OkStatus());

  ASSERT_TRUE(RunOk(Args("default.csv", sim->base_url(), WithRedis({})), "default.txt"));
  EXPECT_GT(pttl("nothing-a.example"), 3'000'000);  // the default, 1 h
  EXPECT_LE(pttl("nothing-a.example"), 3'600'000);
  ASSERT_EQ(testing::Call(client, {"FLUSHALL"}).status(), absl::OkStatus());

  ASSERT_TRUE(
      RunOk(Args("never.csv", sim->base_url(), WithRedis({"--negative-ttl", "0"})), "never.txt"));
  EXPECT_EQ(pttl("nothing-a.example"), -2);  // not shared at all
}

}  // namespace
}  // namespace enrich
