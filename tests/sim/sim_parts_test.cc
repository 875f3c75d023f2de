// Unit tests of ctia-sim's parts below the router: store, access control, tokens, demo data,
// NDJSON seed files.

#include <cstdio>
#include <fstream>
#include <set>
#include <string>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "schema/clock.h"
#include "schema/time_format.h"
#include "schema/verdict_rule.h"
#include "tools/sim/access_control.h"
#include "tools/sim/judgement_store.h"
#include "tools/sim/sim_server.h"
#include "tools/sim/token_registry.h"

namespace enrich::sim {
namespace {

using ::testing::HasSubstr;

const absl::Time kNow = absl::FromUnixSeconds(1700000000);

schema::Judgement Make(absl::string_view id, absl::string_view type, absl::string_view value,
                       int priority) {
  schema::Judgement j;
  j.id = std::string(id);
  j.observable = {std::string(type), std::string(value)};
  j.priority = priority;
  j.disposition = schema::Disposition::kMalicious;
  j.valid_time = {kNow - absl::Hours(1), schema::EndOfTime()};
  j.created = kNow - absl::Hours(1);
  return j;
}

bool All(const schema::Judgement&) { return true; }

TEST(JudgementStoreTest, MatchesCaseInsensitivelyAndRejectsDuplicateIds) {
  JudgementStore store;
  EXPECT_TRUE(store.Insert(Make("judgement-1", "domain", "Mixed.Example", 90)));
  EXPECT_FALSE(store.Insert(Make("judgement-1", "domain", "other.example", 90)));
  EXPECT_EQ(store.size(), 1u);
  auto v = store.SelectVerdict({"domain", "mixed.EXAMPLE"}, kNow, {}, All);
  ASSERT_TRUE(v.has_value());
  EXPECT_EQ(v->observable.value, "Mixed.Example");
  EXPECT_FALSE(store.SelectVerdict({"ip", "mixed.example"}, kNow, {}, All).has_value());
}

TEST(JudgementStoreTest, VisibilityFilterRunsBeforeTheVerdictRule) {
  JudgementStore store;
  store.Insert(Make("judgement-hidden", "ip", "10.0.0.1", 100));
  store.Insert(Make("judgement-seen", "ip", "10.0.0.1", 10));
  auto v = store.SelectVerdict({"ip", "10.0.0.1"}, kNow, {},
                               [](const schema::Judgement& j) { return j.id != "judgement-hidden"; });
  ASSERT_TRUE(v.has_value());
  EXPECT_EQ(v->id, "judgement-seen");
  EXPECT_EQ(store.ListByObservable({"ip", "10.0.0.1"}, All).size(), 2u);
}

TEST(JudgementStoreTest, EraseAndExpireUpdateBothIndexes) {
  JudgementStore store;
  store.InsertAll({Make("judgement-a", "ip", "10.0.0.1", 90), Make("judgement-b", "ip", "10.0.0.1", 80)});
  EXPECT_TRUE(store.Erase("judgement-a"));
  EXPECT_FALSE(store.Erase("judgement-a"));
  EXPECT_FALSE(store.Find("judgement-a").has_value());
  EXPECT_EQ(store.SelectVerdict({"ip", "10.0.0.1"}, kNow, {}, All)->id, "judgement-b");
  auto expired = store.Expire("judgement-b", kNow, "done");
  ASSERT_TRUE(expired.has_value());
  EXPECT_EQ(expired->valid_time.end_time, kNow);
  EXPECT_EQ(store.Find("judgement-b")->reason, "done");
  EXPECT_FALSE(store.SelectVerdict({"ip", "10.0.0.1"}, kNow, {}, All).has_value());
  EXPECT_EQ(store.size(), 1u);
}

TEST(JudgementStoreTest, HoldsManyObservables) {
  JudgementStore store;
  std::vector<schema::Judgement> many;
  for (int i = 0; i < 100000; ++i) {
    many.push_back(Make("judgement-" + std::to_string(i), "ip", "10.1." + std::to_string(i), 90));
  }
  EXPECT_EQ(store.InsertAll(std::move(many)), 100000u);
  EXPECT_EQ(store.SelectVerdict({"ip", "10.1.99999"}, kNow, {}, All)->id, "judgement-99999");
}

// Every field comes back as stored, for a uuid id (packed) and a free-form id (side table).
TEST(JudgementStoreTest, EveryFieldRoundTrips) {
  JudgementStore store;
  schema::Judgement full = Make("judgement-0a1b2c3d-4e5f-4a6b-8c7d-9e0f1a2b3c4d", "domain",
                                "Mixed.Case.Example", -7);
  full.disposition = schema::Disposition::kCommon;
  full.confidence = "Low";
  full.severity = "Critical";
  full.source = "feed";
  full.source_uri = "https://feed.example/x";
  full.reason = "because";
  full.tlp = "amber";
  full.valid_time = {kNow + absl::Microseconds(123456), kNow + absl::Hours(2)};
  full.timestamp = kNow - absl::Microseconds(1);
  full.created = kNow;
  full.owner = "alice";
  full.groups = {"g1", "", "g2"};
  full.authorized_users = {"bob"};
  full.authorized_groups = {"g3"};
  full.external_ids = {"x-1", "x-2"};
  schema::Judgement plain = full;
  plain.id = "seed-7";
  plain.observable.value = "lower.example";
  plain.groups = {};
  for (const schema::Judgement& j : {full, plain}) {
    ASSERT_TRUE(store.Insert(j));
    std::optional<schema::Judgement> back = store.Find(j.id);
    ASSERT_TRUE(back.has_value()) << j.id;
    EXPECT_EQ(back->id, j.id);
    EXPECT_EQ(back->observable.type, j.observable.type);
    EXPECT_EQ(back->observable.value, j.observable.value);
    EXPECT_EQ(back->disposition, j.disposition);
    EXPECT_EQ(back->priority, j.priority);
    EXPECT_EQ(back->confidence, j.confidence);
    EXPECT_EQ(back->severity, j.severity);
    EXPECT_EQ(back->source, j.source);
    EXPECT_EQ(back->source_uri, j.source_uri);
    EXPECT_EQ(back->reason, j.reason);
    EXPECT_EQ(back->tlp, j.tlp);
    EXPECT_EQ(back->valid_time.start_time, j.valid_time.start_time);
    EXPECT_EQ(back->valid_time.end_time, j.valid_time.end_time);
    EXPECT_EQ(back->timestamp, j.timestamp);
    EXPECT_EQ(back->created, j.created);
    EXPECT_EQ(back->owner, j.owner);
    EXPECT_EQ(back->groups, j.groups);
    EXPECT_EQ(back->authorized_users, j.authorized_users);
    EXPECT_EQ(back->authorized_groups, j.authorized_groups);
    EXPECT_EQ(back->external_ids, j.external_ids);
  }
  // Spellings of one observable: the first other-case one and a third one both come back.
  schema::Judgement third = plain;
  third.id = "seed-8";
  third.observable.value = "MIXED.case.example";
  ASSERT_TRUE(store.Insert(third));
  EXPECT_EQ(store.Find("seed-8")->observable.value, "MIXED.case.example");
  EXPECT_EQ(store.Find(full.id)->observable.value, "Mixed.Case.Example");
  // An upper-case uuid is another id (it would not print back the same).
  EXPECT_FALSE(store.Find("judgement-0A1B2C3D-4E5F-4A6B-8C7D-9E0F1A2B3C4D").has_value());
  EXPECT_EQ(store.SelectVerdict({"DOMAIN", "mixed.case.EXAMPLE"}, kNow + absl::Seconds(1), {},
                                All)
                ->id,
            full.id);
}

TEST(JudgementStoreTest, EraseKeepsInsertionOrderOfTheRestAndIdsCanComeBack) {
  JudgementStore store;
  for (const char* id : {"judgement-1", "judgement-2", "judgement-3", "judgement-4"}) {
    store.Insert(Make(id, "ip", "10.0.0.9", 90));
  }
  auto ids = [&] {
    std::vector<std::string> out;
    for (const auto& j : store.ListByObservable({"ip", "10.0.0.9"}, All)) out.push_back(j.id);
    return out;
  };
  EXPECT_TRUE(store.Erase("judgement-2"));  // middle
  EXPECT_TRUE(store.Erase("judgement-4"));  // tail
  EXPECT_EQ(ids(), (std::vector<std::string>{"judgement-1", "judgement-3"}));
  EXPECT_TRUE(store.Insert(Make("judgement-4", "ip", "10.0.0.9", 90)));  // appended at the tail
  EXPECT_TRUE(store.Erase("judgement-1"));  // head
  EXPECT_EQ(ids(), (std::vector<std::string>{"judgement-3", "judgement-4"}));
  EXPECT_EQ(store.size(), 2u);
  store.Clear();
  EXPECT_EQ(store.size(), 0u);
  EXPECT_TRUE(ids().empty());
  EXPECT_TRUE(store.Insert(Make("judgement-3", "ip", "10.0.0.9", 90)));
  EXPECT_EQ(ids(), (std::vector<std::string>{"judgement-3"}));
}

TEST(AccessControlTest, ScopesExpandLikeCtia) {
  EXPECT_TRUE(HasCapability({"private-intel"}, "verdict", Access::kRead));
  EXPECT_TRUE(HasCapability({"private-intel"}, "judgement", Access::kWrite));
  EXPECT_TRUE(HasCapability({"private-intel:read"}, "verdict", Access::kRead));
  EXPECT_FALSE(HasCapability({"private-intel:read"}, "judgement", Access::kWrite));
  EXPECT_TRUE(HasCapability({"private-intel/verdict:read"}, "verdict", Access::kRead));
  EXPECT_FALSE(HasCapability({"private-intel/verdict:read"}, "judgement", Access::kRead));
  EXPECT_FALSE(HasCapability({"casebook", "private-intelligence"}, "verdict", Access::kRead));
}

TEST(AccessControlTest, AmberNeedsSharedGroupAndComparesCaseInsensitively) {
  schema::Judgement j;
  j.tlp = "amber";
  j.owner = "Alice";
  j.groups = {"Org-A"};
  EXPECT_TRUE(IsVisible(j, Identity{"c", "bob", {"org-a"}, {}}, true));
  EXPECT_FALSE(IsVisible(j, Identity{"c", "alice", {"org-b"}, {}}, true));
  j.tlp = "red";
  EXPECT_TRUE(IsVisible(j, Identity{"c", "alice", {"org-a"}, {}}, true));
  EXPECT_FALSE(IsVisible(j, Identity{"c", "bob", {"org-a"}, {}}, true));
  j.authorized_users = {"BOB"};
  EXPECT_TRUE(IsVisible(j, Identity{"c", "bob", {"org-z"}, {}}, true));
}

TEST(TokenRegistryTest, TokensAreUniqueAndExpireOnTheClock) {
  schema::FakeClock clock(kNow);
  TokenRegistry tokens(clock, absl::Seconds(5));
  std::set<std::string> seen;
  for (int i = 0; i < 100; ++i) seen.insert(tokens.Issue(Identity{"c", "c", {"o"}, {}}).access_token);
  EXPECT_EQ(seen.size(), 100u);
  const std::string t = *seen.begin();
  EXPECT_EQ(tokens.Find(t).state, TokenRegistry::Lookup::State::kValid);
  EXPECT_EQ(tokens.Find(t).identity->groups, std::vector<std::string>{"o"});
  clock.Advance(absl::Seconds(5));
  EXPECT_EQ(tokens.Find(t).state, TokenRegistry::Lookup::State::kExpired);
  EXPECT_EQ(tokens.Find("nope").state, TokenRegistry::Lookup::State::kUnknown);
}

TEST(TokenRegistryTest, HumanDurationMatchesRjwt) {
  EXPECT_EQ(HumanDuration(absl::Seconds(125)), "2min 5s");
  EXPECT_EQ(HumanDuration(absl::Hours(26) + absl::Seconds(1)), "1 day 2h 1s");
  EXPECT_EQ(HumanDuration(absl::Hours(24 * 800)), "2 years 70 days");
  EXPECT_EQ(HumanDuration(absl::ZeroDuration()), "0s");
}

TEST(DemoDataTest, CoversEveryDispositionWithSomeExpired) {
  const std::vector<schema::Judgement> demo = DemoJudgements(kNow);
  EXPECT_GE(demo.size(), 35u);
  std::set<int> dispositions;
  std::set<std::string> types;
  int expired = 0;
  for (const auto& j : demo) {
    dispositions.insert(static_cast<int>(j.disposition));
    types.insert(j.observable.type);
    EXPECT_TRUE(schema::IsKnownObservableType(j.observable.type)) << j.observable.type;
    if (j.valid_time.end_time <= kNow) ++expired;
  }
  EXPECT_EQ(dispositions, (std::set<int>{1, 2, 3, 4, 5}));
  for (const char* t : {"domain", "ip", "url", "sha256"}) EXPECT_TRUE(types.contains(t)) << t;
  EXPECT_GE(expired, 2);
}

class NdjsonSeedTest : public ::testing::Test {
 protected:
  std::string Write(const std::string& text) {
    path_ = ::testing::TempDir() + "/ctia_sim_seed_" +
            ::testing::UnitTest::GetInstance()->current_test_info()->name() + ".ndjson";
    std::ofstream(path_) << text;
    return path_;
  }
  ~NdjsonSeedTest() override { std::remove(path_.c_str()); }
  std::string path_;
};

TEST_F(NdjsonSeedTest, LoadsOneJudgementPerLineSkippingBlanksAndComments) {
  const std::string path = Write(
      "# seed\n"
      R"({"observable":{"type":"ip","value":"198.51.100.1"},"source":"s","priority":90,)"
      R"("confidence":"High","severity":"High","disposition":2})"
      "\n\n"
      R"({"observable":{"type":"domain","value":"x.example"},"source":"s","priority":90,)"
      R"("confidence":"High","severity":"High"})"
      "\n");
  auto loaded = LoadJudgementsNdjson(path, kNow);
  ASSERT_TRUE(loaded.ok()) << loaded.status();
  ASSERT_EQ(loaded->size(), 2u);
  EXPECT_EQ((*loaded)[0].disposition, schema::Disposition::kMalicious);
  EXPECT_EQ((*loaded)[1].disposition, schema::Disposition::kUnknown);
  EXPECT_EQ((*loaded)[1].valid_time.start_time, kNow);
}

TEST_F(NdjsonSeedTest, ErrorsNameFileAndLine) {
  const std::string path = Write(
      R"({"observable":{"type":"ip","value":"1"},"source":"s","priority":1,"confidence":"High","severity":"High"})"
      "\n{\"observable\": oops}\n");
  auto loaded = LoadJudgementsNdjson(path, kNow);
  ASSERT_FALSE(loaded.ok());
  EXPECT_THAT(std::string(loaded.status().message()), HasSubstr(path + ":2: invalid JSON"));
  Write(R"({"observable":{"type":"ip","value":"1"},"priority":1,"confidence":"High","severity":"High"})");
  loaded = LoadJudgementsNdjson(path_, kNow);
  ASSERT_FALSE(loaded.ok());
  EXPECT_THAT(std::string(loaded.status().message()), HasSubstr(":1: field \"source\""));
  EXPECT_EQ(LoadJudgementsNdjson("/nonexistent/seed.ndjson", kNow).status().code(),
            absl::StatusCode::kNotFound);
}

}  // namespace
}  // namespace enrich::sim
