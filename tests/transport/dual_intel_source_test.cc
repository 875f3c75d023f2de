// DualIntelSource and MergeIntelResults (run --intel both, --merge): every rule against both
// verdicts, one side's verdict, neither, one side failing; CTIA's verdict order and its
// tie-breaks over the two deciding judgements; which failure wins; both sources asked once
// each, at once, and both stopped.

#include "transport/dual_intel_source.h"

#include "tests/fakes/fake_verdict_source.h"

#include <atomic>
#include <optional>
#include <string>
#include <vector>

#include "absl/synchronization/mutex.h"
#include "absl/synchronization/notification.h"
#include <gmock/gmock.h>
#include <gtest/gtest.h>

namespace enrich::transport {
namespace {

using schema::Disposition;
using schema::NoVerdict;
using schema::Verdict;
using schema::VerdictResult;
using ::testing::EndsWith;
using ::testing::HasSubstr;
using ::testing::StartsWith;
using Result = absl::StatusOr<VerdictResult>;

const absl::Time kT0 = absl::FromUnixSeconds(1700000000);

// A verdict of `disposition` whose judgement `id` started at kT0 + `start`; with `priority`,
// it carries its judgement's details.
Verdict MakeVerdict(Disposition disposition, std::string id, absl::Duration start = {},
                    std::optional<int64_t> priority = std::nullopt) {
  Verdict v;
  v.disposition = disposition;
  v.disposition_name = std::string(schema::DispositionName(disposition));
  v.observable = {"domain", "example.com"};
  v.judgement_id = std::move(id);
  v.valid_time = {kT0 + start, kT0 + absl::Hours(24 * 30)};
  if (priority.has_value()) {
    v.judgement.emplace();
    v.judgement->priority = *priority;
    v.judgement->source = "feed";
  }
  return v;
}

const Verdict kPrivateMalicious = MakeVerdict(Disposition::kMalicious, "private-1");
const Verdict kGlobalClean = MakeVerdict(Disposition::kClean, "global-1");

const Verdict& VerdictIn(const Result& r) {
  static const Verdict kNone;
  if (!r.ok() || !std::holds_alternative<Verdict>(*r)) {
    ADD_FAILURE() << "not a verdict: "
                  << (r.ok() ? std::string("NoVerdict") : r.status().ToString());
    return kNone;
  }
  return std::get<Verdict>(*r);
}

bool IsNoVerdict(const Result& r) { return r.ok() && std::holds_alternative<NoVerdict>(*r); }

constexpr MergeRule kRules[] = {MergeRule::kCtia, MergeRule::kPrivateFirst, MergeRule::kBoth};

// ---- every rule × {both, only private, only global, neither, one side failing} ----

TEST(MergeIntelResultsTest, BothVerdictsEachRule) {
  // Clean beats Malicious at equal (unknown) priority: CTIA's order picks the global verdict;
  // private-first keeps the private one.
  Result ctia = MergeIntelResults(MergeRule::kCtia, kPrivateMalicious, kGlobalClean);
  EXPECT_EQ(VerdictIn(ctia).judgement_id, "global-1");
  EXPECT_EQ(VerdictIn(ctia).intel, "global");
  EXPECT_EQ(VerdictIn(ctia).other, nullptr);

  Result first = MergeIntelResults(MergeRule::kPrivateFirst, kPrivateMalicious, kGlobalClean);
  EXPECT_EQ(VerdictIn(first).judgement_id, "private-1");
  EXPECT_EQ(VerdictIn(first).intel, "private");
  EXPECT_EQ(VerdictIn(first).other, nullptr);

  Result both = MergeIntelResults(MergeRule::kBoth, kPrivateMalicious, kGlobalClean);
  const Verdict& chosen = VerdictIn(both);
  EXPECT_EQ(chosen.judgement_id, "global-1");
  EXPECT_EQ(chosen.intel, "global");
  ASSERT_NE(chosen.other, nullptr);
  EXPECT_EQ(chosen.other->judgement_id, "private-1");
  EXPECT_EQ(chosen.other->intel, "private");
  EXPECT_EQ(chosen.other->disposition, Disposition::kMalicious);
  EXPECT_EQ(chosen.other->other, nullptr);
}

TEST(MergeIntelResultsTest, OnlyPrivateHasAVerdictEachRule) {
  for (MergeRule rule : kRules) {
    SCOPED_TRACE(MergeRuleName(rule));
    Result r = MergeIntelResults(rule, kPrivateMalicious, NoVerdict{});
    EXPECT_EQ(VerdictIn(r).judgement_id, "private-1");
    EXPECT_EQ(VerdictIn(r).intel, "private");
    EXPECT_EQ(VerdictIn(r).other, nullptr);  // --merge both: the other intel had none
  }
}

TEST(MergeIntelResultsTest, OnlyGlobalHasAVerdictEachRule) {
  for (MergeRule rule : kRules) {
    SCOPED_TRACE(MergeRuleName(rule));
    Result r = MergeIntelResults(rule, NoVerdict{}, kGlobalClean);
    EXPECT_EQ(VerdictIn(r).judgement_id, "global-1");
    EXPECT_EQ(VerdictIn(r).intel, "global");
    EXPECT_EQ(VerdictIn(r).other, nullptr);
  }
}

TEST(MergeIntelResultsTest, NeitherHasAVerdictIsNoVerdictEachRule) {
  for (MergeRule rule : kRules) {
    SCOPED_TRACE(MergeRuleName(rule));
    EXPECT_TRUE(IsNoVerdict(MergeIntelResults(rule, NoVerdict{}, NoVerdict{})));
  }
}

TEST(MergeIntelResultsTest, PrivateFailingFailsTheLookupEachRule) {
  for (MergeRule rule : kRules) {
    SCOPED_TRACE(MergeRuleName(rule));
    for (Result global : {Result(kGlobalClean), Result(NoVerdict{})}) {
      Result r =
          MergeIntelResults(rule, absl::UnavailableError("http 503 from the server"), global);
      ASSERT_FALSE(r.ok());
      EXPECT_EQ(r.status().code(), absl::StatusCode::kUnavailable);
      // The engine's error:<code> is read from the message's start: kept.
      EXPECT_THAT(std::string(r.status().message()), StartsWith("http 503"));
      EXPECT_THAT(std::string(r.status().message()), EndsWith("(private intel)"));
    }
  }
}

TEST(MergeIntelResultsTest, GlobalFailingFailsTheLookupUnlessPrivateFirstHasAPrivateVerdict) {
  const absl::Status failure = absl::InternalError("http 500 internal");
  for (MergeRule rule : kRules) {
    SCOPED_TRACE(MergeRuleName(rule));
    Result none = MergeIntelResults(rule, NoVerdict{}, failure);
    ASSERT_FALSE(none.ok());
    EXPECT_THAT(std::string(none.status().message()), StartsWith("http 500"));
    EXPECT_THAT(std::string(none.status().message()), EndsWith("(global intel)"));

    Result with_private = MergeIntelResults(rule, kPrivateMalicious, failure);
    if (rule == MergeRule::kPrivateFirst) {
      // The global answer could not have changed the result.
      EXPECT_EQ(VerdictIn(with_private).judgement_id, "private-1");
      EXPECT_EQ(VerdictIn(with_private).intel, "private");
    } else {
      ASSERT_FALSE(with_private.ok());
      EXPECT_EQ(with_private.status().code(), absl::StatusCode::kInternal);
    }
  }
}

TEST(MergeIntelResultsTest, BothFailingReportsThePrivateError) {
  Result r = MergeIntelResults(MergeRule::kCtia, absl::UnavailableError("http 503 a"),
                               absl::InternalError("http 500 b"));
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), absl::StatusCode::kUnavailable);
  EXPECT_THAT(std::string(r.status().message()), HasSubstr("private intel"));
}

// ---- which failure wins ----

TEST(MergeIntelResultsTest, ACheckpointOfEitherSideIsTheLookupsCheckpoint) {
  for (MergeRule rule : kRules) {
    SCOPED_TRACE(MergeRuleName(rule));
    // Even beside a verdict, and before another side's error.
    Result r = MergeIntelResults(rule, kPrivateMalicious,
                                 CheckpointSignal(absl::Seconds(3557), "global 429"));
    ASSERT_FALSE(r.ok());
    EXPECT_EQ(CheckpointWait(r.status()), absl::Seconds(3557));
    Result p = MergeIntelResults(rule, CheckpointSignal(absl::Seconds(60), "private budget"),
                                 absl::UnavailableError("http 503"));
    ASSERT_FALSE(p.ok());
    EXPECT_EQ(CheckpointWait(p.status()), absl::Seconds(60));
  }
  // Both: the longer wait, so that a resume finds both budgets back.
  Result both = MergeIntelResults(MergeRule::kCtia, CheckpointSignal(absl::Seconds(60), "a"),
                                  CheckpointSignal(absl::Seconds(900), "b"));
  EXPECT_EQ(CheckpointWait(both.status()), absl::Seconds(900));
}

TEST(MergeIntelResultsTest, ARejectedTokenOnOneSideStopsTheRunEachRule) {
  for (MergeRule rule : kRules) {
    SCOPED_TRACE(MergeRuleName(rule));
    Result r = MergeIntelResults(rule, kPrivateMalicious,
                                 absl::UnauthenticatedError("token rejected by the server"));
    ASSERT_FALSE(r.ok());
    EXPECT_TRUE(absl::IsUnauthenticated(r.status()));
    EXPECT_THAT(std::string(r.status().message()), HasSubstr("(global intel)"));
    // Before another side's error too.
    Result s = MergeIntelResults(rule, absl::UnavailableError("http 503"),
                                 absl::UnauthenticatedError("token rejected"));
    EXPECT_TRUE(absl::IsUnauthenticated(s.status()));
  }
}

TEST(MergeIntelResultsTest, ACancelledSideIsCancelledAndPayloadsAreKept) {
  Result c =
      MergeIntelResults(MergeRule::kCtia, kPrivateMalicious, absl::CancelledError("stopped"));
  EXPECT_TRUE(absl::IsCancelled(c.status()));
  absl::Status marked = absl::UnavailableError("connection refused");
  marked.SetPayload("test/setup-failure", absl::Cord("refused"));
  Result r = MergeIntelResults(MergeRule::kCtia, NoVerdict{}, marked);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().GetPayload("test/setup-failure"), absl::Cord("refused"));
}

TEST(MergeIntelResultsTest, AFailureNamesItsIntelsUrlAndFlagWhenKnown) {
  IntelEndpoints where;
  where.private_url = "https://private.example";
  where.global_url = "https://global.example";
  Result r = MergeIntelResults(MergeRule::kCtia, NoVerdict{},
                               absl::UnavailableError("http 503 busy"), where);
  ASSERT_FALSE(r.ok());
  EXPECT_THAT(std::string(r.status().message()), StartsWith("http 503 busy"));
  EXPECT_THAT(std::string(r.status().message()),
              EndsWith("(global intel at https://global.example)"));
  std::optional<FailedIntelEndpoint> at = IntelEndpointOf(r.status());
  ASSERT_TRUE(at.has_value());
  EXPECT_EQ(at->url, "https://global.example");
  EXPECT_EQ(at->flag, "--global-endpoint");
  Result p =
      MergeIntelResults(MergeRule::kCtia, absl::UnavailableError("refused"), NoVerdict{}, where);
  EXPECT_EQ(IntelEndpointOf(p.status())->flag, "--endpoint");
  // Unnamed: no payload.
  EXPECT_FALSE(
      IntelEndpointOf(
          MergeIntelResults(MergeRule::kCtia, NoVerdict{}, absl::UnavailableError("x")).status())
          .has_value());
}

// ---- CTIA's verdict order over the two deciding judgements, and its tie-breaks ----

TEST(MergeIntelResultsTest, PriorityDecidesWhenBothVerdictsCarryTheirJudgement) {
  // A human's 100 over a feed's 95, whatever the dispositions.
  Verdict priv = MakeVerdict(Disposition::kMalicious, "p", {}, 100);
  Verdict glob = MakeVerdict(Disposition::kClean, "g", {}, 95);
  EXPECT_EQ(VerdictIn(MergeIntelResults(MergeRule::kCtia, priv, glob)).intel, "private");
  priv.judgement->priority = 90;
  EXPECT_EQ(VerdictIn(MergeIntelResults(MergeRule::kCtia, priv, glob)).intel, "global");
  // The judgement's details travel with the chosen verdict.
  const Result merged = MergeIntelResults(MergeRule::kCtia, priv, glob);
  const Verdict& chosen = VerdictIn(merged);
  ASSERT_TRUE(chosen.judgement.has_value());
  EXPECT_EQ(chosen.judgement->priority, 95);
}

TEST(MergeIntelResultsTest, PriorityIsLeftOutWhenOneVerdictLacksItsJudgement) {
  Verdict priv = MakeVerdict(Disposition::kMalicious, "p", {}, 100);
  Verdict glob = MakeVerdict(Disposition::kClean, "g");  // no details: priority unknown
  // Disposition decides: Clean beats Malicious.
  EXPECT_EQ(VerdictIn(MergeIntelResults(MergeRule::kCtia, priv, glob)).intel, "global");
}

TEST(MergeIntelResultsTest, DispositionOrderAtEqualPriority) {
  // 1 Clean < 2 Malicious < 3 Suspicious < 4 Common < 5 Unknown.
  const Disposition order[] = {Disposition::kClean, Disposition::kMalicious,
                               Disposition::kSuspicious, Disposition::kCommon,
                               Disposition::kUnknown};
  for (size_t a = 0; a < 5; ++a) {
    for (size_t b = 0; b < 5; ++b) {
      if (a == b) continue;
      Verdict priv = MakeVerdict(order[a], "p", {}, 95);
      Verdict glob = MakeVerdict(order[b], "g", {}, 95);
      EXPECT_EQ(VerdictIn(MergeIntelResults(MergeRule::kCtia, priv, glob)).intel,
                a < b ? "private" : "global")
          << a << " vs " << b;
    }
  }
}

TEST(MergeIntelResultsTest, EarlierStartBreaksADispositionTie) {
  Verdict priv = MakeVerdict(Disposition::kMalicious, "p", absl::Hours(2));
  Verdict glob = MakeVerdict(Disposition::kMalicious, "g", absl::Hours(1));
  EXPECT_EQ(VerdictIn(MergeIntelResults(MergeRule::kCtia, priv, glob)).intel, "global");
  EXPECT_EQ(VerdictIn(MergeIntelResults(MergeRule::kCtia, glob, priv)).intel, "private");
}

TEST(MergeIntelResultsTest, AFullTieGoesToPrivateIntelWhateverTheIds) {
  // Ids compare the other way round; they do not count.
  Verdict priv = MakeVerdict(Disposition::kSuspicious, "zzz", {}, 95);
  Verdict glob = MakeVerdict(Disposition::kSuspicious, "aaa", {}, 95);
  Result r = MergeIntelResults(MergeRule::kBoth, priv, glob);
  EXPECT_EQ(VerdictIn(r).intel, "private");
  ASSERT_NE(VerdictIn(r).other, nullptr);
  EXPECT_EQ(VerdictIn(r).other->judgement_id, "aaa");
  EXPECT_TRUE(PrivateVerdictFirst(priv, glob));
  EXPECT_TRUE(PrivateVerdictFirst(glob, priv));  // the first argument wins a full tie
}

TEST(MergeRuleTest, ParsesItsThreeNames) {
  for (MergeRule rule : kRules) {
    EXPECT_EQ(ParseMergeRule(MergeRuleName(rule)).value(), rule);
  }
  absl::StatusOr<MergeRule> bad = ParseMergeRule("global-first");
  ASSERT_FALSE(bad.ok());
  EXPECT_TRUE(absl::IsInvalidArgument(bad.status()));
  EXPECT_THAT(std::string(bad.status().message()), HasSubstr("--merge \"global-first\""));
}

// ---- the source ----

class StoppableFake : public testing::FakeVerdictSource {
 public:
  using FakeVerdictSource::FakeVerdictSource;
  void StopSending() override { ++stops; }
  std::atomic<int> stops{0};
};

TEST(DualIntelSourceTest, AsksEachSideOnceAndMergesTheirAnswersFromAnyThread) {
  StoppableFake priv(
      [](const schema::Observable& o) -> Result {
        if (o.value == "both.example" || o.value == "private.example") return kPrivateMalicious;
        return NoVerdict{};
      },
      /*async=*/true);
  StoppableFake glob(
      [](const schema::Observable& o) -> Result {
        if (o.value == "both.example" || o.value == "global.example") return kGlobalClean;
        return NoVerdict{};
      },
      /*async=*/true);
  DualIntelSource source(priv, glob, MergeRule::kBoth);
  struct Case {
    std::string value;
    std::string intel;  // "" = NoVerdict
    bool other;
  };
  const std::vector<Case> cases = {{"both.example", "global", true},
                                   {"private.example", "private", false},
                                   {"global.example", "global", false},
                                   {"none.example", "", false}};
  for (const Case& c : cases) {
    absl::Notification settled;
    Result got = absl::UnknownError("not settled");
    source.LookupVerdict({"domain", c.value}, [&](Result r) {
      got = std::move(r);
      settled.Notify();
    });
    ASSERT_TRUE(settled.WaitForNotificationWithTimeout(absl::Seconds(30))) << c.value;
    if (c.intel.empty()) {
      EXPECT_TRUE(IsNoVerdict(got)) << c.value;
    } else {
      EXPECT_EQ(VerdictIn(got).intel, c.intel) << c.value;
      EXPECT_EQ(VerdictIn(got).other != nullptr, c.other) << c.value;
    }
    EXPECT_EQ(priv.calls(c.value), 1) << c.value;
    EXPECT_EQ(glob.calls(c.value), 1) << c.value;
  }
  EXPECT_EQ(priv.total(), 4);
  EXPECT_EQ(glob.total(), 4);
}

TEST(DualIntelSourceTest, SendsBothLookupsBeforeEitherAnswers) {
  // The private side holds its answer until the global side has been asked: the two lookups
  // are in flight together, not one after the other.
  absl::Notification global_asked;
  StoppableFake priv(
      [&](const schema::Observable&) -> Result {
        EXPECT_TRUE(global_asked.WaitForNotificationWithTimeout(absl::Seconds(30)));
        return kPrivateMalicious;
      },
      /*async=*/true);
  StoppableFake glob([&](const schema::Observable&) -> Result {
    global_asked.Notify();
    return NoVerdict{};
  });
  DualIntelSource source(priv, glob, MergeRule::kCtia);
  absl::Notification settled;
  Result got = absl::UnknownError("not settled");
  source.LookupVerdict({"ip", "192.0.2.1"}, [&](Result r) {
    got = std::move(r);
    settled.Notify();
  });
  ASSERT_TRUE(settled.WaitForNotificationWithTimeout(absl::Seconds(30)));
  EXPECT_EQ(VerdictIn(got).intel, "private");
}

TEST(DualIntelSourceTest, StopSendingStopsBoth) {
  StoppableFake priv([](const schema::Observable&) -> Result { return NoVerdict{}; });
  StoppableFake glob([](const schema::Observable&) -> Result { return NoVerdict{}; });
  DualIntelSource source(priv, glob, MergeRule::kCtia);
  source.StopSending();
  EXPECT_EQ(priv.stops.load(), 1);
  EXPECT_EQ(glob.stops.load(), 1);
}

// A source that holds every lookup in a batch until FlushBatch, then answers them all
// (NoVerdict); `on_wire` lookups are answered only by AnswerWire().
class BatchingFake : public VerdictSource {
 public:
  void LookupVerdict(const schema::Observable&, Callback done) override {
    absl::MutexLock lock(&mu_);
    held_.push_back(std::move(done));
  }
  void FlushBatch() override {
    std::vector<Callback> sent;
    {
      absl::MutexLock lock(&mu_);
      sent.swap(held_);
      ++flushes;
    }
    for (Callback& done : sent) done(NoVerdict{});
  }
  size_t Collecting() const override {
    absl::MutexLock lock(&mu_);
    return held_.size();
  }
  int flushes = 0;

 private:
  mutable absl::Mutex mu_;
  std::vector<Callback> held_;
};

TEST(DualIntelSourceTest, CollectsWhileBothSidesHoldEveryLookupAndFlushesBoth) {
  BatchingFake priv;
  BatchingFake glob;
  DualIntelSource source(priv, glob, MergeRule::kCtia);
  EXPECT_EQ(source.Collecting(), 0u);
  std::atomic<int> settled{0};
  for (const char* v : {"192.0.2.1", "192.0.2.2", "192.0.2.3"}) {
    source.LookupVerdict({"ip", v}, [&](Result r) {
      EXPECT_TRUE(r.ok());
      ++settled;
    });
  }
  // Both sides hold all three unsent: the run waits for the batches alone.
  EXPECT_EQ(source.Collecting(), 3u);
  priv.FlushBatch();  // the private answers come; the global side still holds its batch
  EXPECT_EQ(settled.load(), 0);
  EXPECT_EQ(source.Collecting(), 3u);
  source.FlushBatch();
  EXPECT_EQ(settled.load(), 3);
  EXPECT_EQ(glob.flushes, 1);
  EXPECT_EQ(priv.flushes, 2);
  EXPECT_EQ(source.Collecting(), 0u);
}

TEST(DualIntelSourceTest, NotCollectingWhileOneSideHasALookupOnTheWire) {
  BatchingFake priv;
  // The global side holds its answer until told: the lookup is on its wire, not in a batch.
  struct WireFake : VerdictSource {
    void LookupVerdict(const schema::Observable&, Callback done) override {
      out = std::move(done);
    }
    Callback out;
  } glob;
  DualIntelSource source(priv, glob, MergeRule::kCtia);
  bool settled = false;
  source.LookupVerdict({"ip", "192.0.2.1"}, [&](Result) { settled = true; });
  EXPECT_EQ(source.Collecting(), 0u);  // the global answer may still come: not stuck
  glob.out(NoVerdict{});
  EXPECT_EQ(source.Collecting(), 1u);  // only the private batch holds it now
  source.FlushBatch();
  EXPECT_TRUE(settled);
  EXPECT_EQ(source.Collecting(), 0u);
}

}  // namespace
}  // namespace enrich::transport
