#include "schema/verdict_rule.h"

#include <gtest/gtest.h>

#include <vector>

#include "schema/clock.h"
#include "schema/time_format.h"

namespace enrich::schema {
namespace {

// Conformance cases V1, V2, V5, V7, V8, V9 of reference/ctia-api.md §2.6, with a fixed clock.
class VerdictRuleTest : public ::testing::Test {
 protected:
  const absl::Time t0_ = *ParseIsoTime("2016-02-12T00:00:00.000Z");
  FakeClock clock_{*ParseIsoTime("2026-11-25T12:00:00.000Z")};

  Judgement Make(std::string id, std::string ip, Disposition d, int64_t prio, absl::Time start,
                 absl::Time end = EndOfTime()) {
    Judgement j;
    j.id = std::move(id);
    j.observable = {"ip", std::move(ip)};
    j.disposition = d;
    j.priority = prio;
    j.valid_time = {start, end};
    j.created = start;
    return j;
  }

  // What the store does before the rule: same type and value, case-insensitively.
  static std::vector<Judgement> CandidatesFor(const std::vector<Judgement>& all,
                                              const Observable& o) {
    std::vector<Judgement> out;
    for (const auto& j : all) {
      if (MatchKey(j.observable) == MatchKey(o)) out.push_back(j);
    }
    return out;
  }

  VerdictResult Query(const std::vector<Judgement>& all, std::string ip) {
    return ComputeVerdict(CandidatesFor(all, {"ip", std::move(ip)}), clock_.Now());
  }

  std::vector<Judgement> V1Setup() {
    return {Make("j-local", "127.0.0.1", Disposition::kClean, 100, t0_),
            Make("A", "10.0.0.1", Disposition::kClean, 90, t0_),
            Make("B", "10.0.0.1", Disposition::kSuspicious, 99, t0_)};
  }
};

TEST_F(VerdictRuleTest, V1UnknownObservableHasNoVerdict) {
  EXPECT_TRUE(std::holds_alternative<NoVerdict>(Query(V1Setup(), "10.0.0.42")));
}

TEST_F(VerdictRuleTest, V1bHigherPriorityWins) {
  VerdictResult r = Query(V1Setup(), "10.0.0.1");
  ASSERT_TRUE(std::holds_alternative<Verdict>(r));
  const auto& v = std::get<Verdict>(r);
  EXPECT_EQ(v.judgement_id, "B");
  EXPECT_EQ(v.disposition, Disposition::kSuspicious);
  EXPECT_EQ(v.disposition_name, "Suspicious");
}

TEST_F(VerdictRuleTest, V2LowerDispositionThenEarlierStartWins) {
  auto all = V1Setup();
  all.push_back(Make("C", "10.0.0.1", Disposition::kMalicious, 99, t0_ + absl::Minutes(1)));
  all.push_back(Make("D", "10.0.0.1", Disposition::kMalicious, 99, t0_));
  VerdictResult r = Query(all, "10.0.0.1");
  ASSERT_TRUE(std::holds_alternative<Verdict>(r));
  const auto& v = std::get<Verdict>(r);
  EXPECT_EQ(v.judgement_id, "D");
  EXPECT_EQ(v.disposition_name, "Malicious");
  EXPECT_EQ(v.valid_time.start_time, t0_);
  EXPECT_EQ(v.valid_time.end_time, EndOfTime());
}

TEST_F(VerdictRuleTest, V5RemainingOfTwoIdenticalJudgementsWins) {
  // J1 and J3 were deleted; J2 is what is left.
  std::vector<Judgement> all = {Make("J2", "10.0.0.1", Disposition::kClean, 100, t0_)};
  VerdictResult r = Query(all, "10.0.0.1");
  ASSERT_TRUE(std::holds_alternative<Verdict>(r));
  EXPECT_EQ(std::get<Verdict>(r).judgement_id, "J2");
  EXPECT_EQ(std::get<Verdict>(r).disposition_name, "Clean");
}

TEST_F(VerdictRuleTest, FullTieIsBrokenDeterministically) {
  auto j2 = Make("J2", "10.0.0.1", Disposition::kClean, 100, t0_);
  auto j3 = Make("J3", "10.0.0.1", Disposition::kClean, 100, t0_);
  j3.created = j2.created + absl::Seconds(1);
  EXPECT_EQ(std::get<Verdict>(Query({j3, j2}, "10.0.0.1")).judgement_id, "J2");
  EXPECT_EQ(std::get<Verdict>(Query({j2, j3}, "10.0.0.1")).judgement_id, "J2");
}

TEST_F(VerdictRuleTest, V7EndEqualToNowNeverCounts) {
  const absl::Time now = clock_.Now();
  EXPECT_TRUE(std::holds_alternative<NoVerdict>(
      Query({Make("J", "10.0.0.1", Disposition::kMalicious, 100, now, now)}, "10.0.0.1")));
}

TEST_F(VerdictRuleTest, V8StillValidForTenSeconds) {
  const absl::Time now = clock_.Now();
  auto all = {Make("J", "10.0.0.2", Disposition::kMalicious, 100, now - absl::Minutes(10),
                   now + absl::Seconds(10))};
  EXPECT_TRUE(std::holds_alternative<Verdict>(Query(all, "10.0.0.2")));
  clock_.Advance(absl::Seconds(10));  // end is exclusive
  EXPECT_TRUE(std::holds_alternative<NoVerdict>(Query(all, "10.0.0.2")));
}

TEST_F(VerdictRuleTest, V9NotYetValid) {
  const absl::Time now = clock_.Now();
  auto all = {Make("J", "10.0.0.3", Disposition::kMalicious, 100, now + absl::Minutes(1),
                   now + absl::Minutes(2))};
  EXPECT_TRUE(std::holds_alternative<NoVerdict>(Query(all, "10.0.0.3")));
  clock_.Advance(absl::Minutes(1));  // start is inclusive
  EXPECT_TRUE(std::holds_alternative<Verdict>(Query(all, "10.0.0.3")));
}

TEST_F(VerdictRuleTest, PriorityBeatsDisposition) {
  auto all = {Make("unknown", "1.1.1.1", Disposition::kUnknown, 100, t0_),
              Make("clean", "1.1.1.1", Disposition::kClean, 99, t0_)};
  EXPECT_EQ(std::get<Verdict>(Query(all, "1.1.1.1")).judgement_id, "unknown");
}

TEST_F(VerdictRuleTest, UpperCaseQueryMatchesAndEchoesStoredCase) {
  Judgement j = Make("J", "x", Disposition::kMalicious, 100, t0_);
  j.observable = {"domain", "Example.COM"};
  auto r = ComputeVerdict(CandidatesFor({j}, {"domain", "EXAMPLE.com"}), clock_.Now());
  ASSERT_TRUE(std::holds_alternative<Verdict>(r));
  EXPECT_EQ(std::get<Verdict>(r).observable.value, "Example.COM");
}

TEST_F(VerdictRuleTest, DateRangeFiltersOnCreatedAndIgnoresValidity) {
  // V15–V17 shape: with from/to, an expired judgement can win.
  auto expired = Make("old", "10.0.0.1", Disposition::kSuspicious, 99, t0_, t0_ + absl::Hours(1));
  expired.created = t0_;
  auto current = Make("new", "10.0.0.1", Disposition::kMalicious, 99, t0_ + absl::Hours(48));
  current.created = t0_ + absl::Hours(48);
  std::vector<Judgement> all = {expired, current};
  VerdictQuery q;
  q.from = t0_ - absl::Hours(1);
  q.to = t0_ + absl::Hours(24);
  EXPECT_EQ(std::get<Verdict>(ComputeVerdict(all, clock_.Now(), q)).judgement_id, "old");
  q = VerdictQuery{};
  q.from = t0_ + absl::Hours(72);
  EXPECT_TRUE(std::holds_alternative<NoVerdict>(ComputeVerdict(all, clock_.Now(), q)));
  EXPECT_EQ(std::get<Verdict>(ComputeVerdict(all, clock_.Now())).judgement_id, "new");
}

}  // namespace
}  // namespace enrich::schema
