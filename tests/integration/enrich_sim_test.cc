// End to end: ctia-sim on 127.0.0.1:0, judgements seeded through POST /ctia/bulk by the real
// client, a 10,000-row CSV enriched through the real transport, every output row checked.

#include <gtest/gtest.h>

#include <future>
#include <random>
#include <string>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "engine/csv.h"
#include "engine/run_stats.h"
#include "schema/time_format.h"
#include "tests/engine/enrich_csv.h"
#include "tests/engine/mem_file.h"
#include "tools/sim/sim_server.h"
#include "transport/connection_pool.h"
#include "transport/ctia_client.h"
#include "transport/io_threads.h"
#include "transport/oauth_token_source.h"

namespace enrich {
namespace {

using schema::Disposition;
using schema::Judgement;

struct Expected {
  std::string status;       // "ok" or "no_verdict"
  int disposition = 0;      // when ok
  std::string judgement_id; // when ok
};

class EnrichSimTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto port = sim_.Start();
    ASSERT_TRUE(port.ok()) << port.status();
    auto url = transport::ParseUrl(sim_.base_url());
    ASSERT_TRUE(url.ok());
    transport::PoolOptions options;
    options.connections = 8;
    pool_ = std::make_unique<transport::ConnectionPool>(io_.executor(), *url, options);
    tokens_ = std::make_unique<transport::OAuthTokenSource>(
        *pool_, "/iroh/oauth2/token", transport::ClientCredentials{"client", "secret"},
        schema::SystemClock::Instance());
    client_ = std::make_unique<transport::BeastCtiaClient>(*pool_, *tokens_);
  }
  void TearDown() override {
    pool_->Shutdown();
    io_.Stop();
    sim_.Stop();
  }

  std::vector<std::string> Bulk(std::vector<Judgement> judgements) {
    std::promise<absl::StatusOr<std::vector<absl::StatusOr<std::string>>>> done;
    client_->BulkCreateJudgements(std::move(judgements),
                                  [&done](auto result) { done.set_value(std::move(result)); });
    auto result = done.get_future().get();
    EXPECT_TRUE(result.ok()) << result.status();
    std::vector<std::string> ids;
    if (!result.ok()) return ids;
    for (auto& item : *result) {
      EXPECT_TRUE(item.ok()) << item.status();
      ids.push_back(item.ok() ? *item : "");
    }
    return ids;
  }

  static Judgement Make(std::string domain, Disposition d, int64_t priority,
                        absl::Time start = absl::Now() - absl::Hours(1),
                        absl::Time end = schema::EndOfTime()) {
    Judgement j;
    j.observable = {"domain", std::move(domain)};
    j.disposition = d;
    j.priority = priority;
    j.confidence = "High";
    j.severity = "Medium";
    j.source = "integration-test";
    j.valid_time = {start, end};
    return j;
  }

  sim::SimServer sim_{sim::SimOptions{}};
  transport::IoThreads io_{1};
  std::unique_ptr<transport::ConnectionPool> pool_;
  std::unique_ptr<transport::OAuthTokenSource> tokens_;
  std::unique_ptr<transport::BeastCtiaClient> client_;
};

TEST_F(EnrichSimTest, TenThousandRowsMatchTheSeededVerdicts) {
  // 1,200 domains: i % 6 == 5 → no judgement; i % 7 == 3 → only an expired judgement;
  // otherwise disposition 1 + i % 5 at priority 95, and for i % 4 == 0 a second, lower-priority
  // Clean judgement that must lose.
  constexpr int kDomains = 1200;
  std::vector<Judgement> seed;
  std::vector<int> winner_index(kDomains, -1);
  for (int i = 0; i < kDomains; ++i) {
    const std::string domain = absl::StrCat("Host", i, ".Example.test");
    if (i % 6 == 5) continue;
    if (i % 7 == 3) {
      seed.push_back(Make(domain, Disposition::kMalicious, 100, absl::Now() - absl::Hours(48),
                          absl::Now() - absl::Hours(24)));
      continue;
    }
    winner_index[i] = static_cast<int>(seed.size());
    seed.push_back(Make(domain, static_cast<Disposition>(1 + i % 5), 95));
    if (i % 4 == 0) seed.push_back(Make(domain, Disposition::kClean, 50));
  }
  // Seed in bulk requests of at most 2000 entities.
  std::vector<std::string> ids;
  for (size_t at = 0; at < seed.size(); at += 1000) {
    std::vector<Judgement> part(seed.begin() + static_cast<long>(at),
                                seed.begin() + static_cast<long>(std::min(seed.size(), at + 1000)));
    for (auto& id : Bulk(std::move(part))) ids.push_back(std::move(id));
  }
  ASSERT_EQ(ids.size(), seed.size());
  ASSERT_EQ(sim_.JudgementCount(), seed.size());

  absl::flat_hash_map<std::string, Expected> expected;  // lower-cased domain → expectation
  for (int i = 0; i < kDomains; ++i) {
    Expected e{"no_verdict", 0, ""};
    if (winner_index[i] >= 0) {
      e = {"ok", 1 + i % 5, ids[static_cast<size_t>(winner_index[i])]};
    }
    expected[absl::AsciiStrToLower(absl::StrCat("Host", i, ".Example.test"))] = e;
  }

  // 10,000 rows; domains in mixed case, some empty, some rows with quoted fields.
  std::mt19937 rng(42);
  std::string input = "row,domain,comment\n";
  std::vector<std::string> row_domain;
  for (int r = 0; r < 10000; ++r) {
    std::string d = r % 500 == 499 ? "" : absl::StrCat("host", rng() % kDomains, ".example.TEST");
    if (r % 3 == 0) d = absl::AsciiStrToUpper(d);
    row_domain.push_back(d);
    absl::StrAppend(&input, r, ",", d, ",", r % 10 == 0 ? "\"note, with \"\"quotes\"\"\"" : "x",
                    "\n");
  }

  testing::EnrichOptions options;
  options.column = {"domain", "domain"};
  options.chunk_size = 64 << 10;
  testing::InputFile in(input);
  testing::OutputFile out;
  auto summary = testing::EnrichCsv(in.get(), out.get(), options, *client_);
  ASSERT_TRUE(summary.ok()) << summary.status();
  EXPECT_EQ(summary->counter(engine::RunCounter::kRowsRead), 10000u);

  // Check every output row.
  std::string output = out.str();
  testing::InputFile back(output);
  engine::CsvReader reader(back.get());
  const engine::CsvRecord* header = reader.Next();
  ASSERT_NE(header, nullptr);
  ASSERT_EQ(header->field_count(), 8u);
  EXPECT_EQ(header->field(7), "ctia_status");
  int r = 0;
  absl::flat_hash_map<std::string, int> seen;
  while (const engine::CsvRecord* rec = reader.Next()) {
    ASSERT_LT(r, 10000);
    ASSERT_EQ(rec->field_count(), 8u) << "row " << r;
    EXPECT_EQ(rec->field(0), absl::StrCat(r)) << "rows out of order";
    EXPECT_EQ(rec->field(1), row_domain[static_cast<size_t>(r)]);
    if (row_domain[static_cast<size_t>(r)].empty()) {
      EXPECT_EQ(rec->field(7), "skipped");
    } else {
      const std::string key = absl::AsciiStrToLower(row_domain[static_cast<size_t>(r)]);
      ++seen[key];
      const Expected& e = expected.at(key);
      ASSERT_EQ(rec->field(7), e.status) << "row " << r << " " << key;
      if (e.status == "ok") {
        EXPECT_EQ(rec->field(3), absl::StrCat(e.disposition)) << key;
        EXPECT_EQ(rec->field(4), schema::DispositionName(static_cast<Disposition>(e.disposition)));
        EXPECT_EQ(rec->field(5), e.judgement_id) << key;
        EXPECT_EQ(rec->field(6), "2525-01-01T00:00:00.000Z");
      } else {
        EXPECT_EQ(rec->field(3), "");
      }
    }
    ++r;
  }
  EXPECT_EQ(r, 10000);
  // One lookup per distinct value, whatever its case, and exactly that many verdict requests.
  EXPECT_EQ(summary->counter(engine::RunCounter::kUniqueObservables), seen.size());
  EXPECT_EQ(summary->counter(engine::RunCounter::kLookupsSent), seen.size());
  EXPECT_EQ(sim_.Counters().verdict_requests, seen.size());
}

}  // namespace
}  // namespace enrich
