#include "transport/rate_limiter.h"

#include "schema/clock.h"

#include <algorithm>
#include <iterator>
#include <limits>
#include <optional>
#include <random>
#include <set>
#include <vector>

#include "gtest/gtest.h"

namespace enrich::transport {
namespace {

using Kind = RatePermit::Kind;

HttpResponse Answer(int status, std::vector<std::pair<std::string, std::string>> headers = {}) {
  HttpResponse r;
  r.status = status;
  r.headers = std::move(headers);
  return r;
}

class RateLimiterTest : public ::testing::Test {
 protected:
  schema::FakeClock clock_{absl::FromUnixSeconds(1700000000)};
  absl::Time Now() const { return clock_.Now(); }
};

TEST_F(RateLimiterTest, UnlimitedUntilLearned) {
  RateLimiter limiter({});
  for (int i = 0; i < 1000; ++i) ASSERT_EQ(limiter.Acquire(Now()).kind, Kind::kGo);
  EXPECT_EQ(limiter.limit(), 0);
  EXPECT_FALSE(limiter.learned());
}

TEST_F(RateLimiterTest, ConfiguredLimitSlidesOverTheWindow) {
  RateLimiter limiter({.limit = 5, .window = absl::Seconds(10)});
  for (int i = 0; i < 5; ++i) {
    ASSERT_EQ(limiter.Acquire(Now()).kind, Kind::kGo);
    clock_.Advance(absl::Seconds(1));
  }
  // Sent at t=0..4; now t=5: the first leaves the window at t=10.
  RatePermit p = limiter.Acquire(Now());
  EXPECT_EQ(p.kind, Kind::kWait);
  EXPECT_EQ(p.wait, absl::Seconds(5));
  EXPECT_EQ(limiter.Available(Now()), 0);
  clock_.Advance(absl::Seconds(5));
  EXPECT_EQ(limiter.Available(Now()), 1);
  EXPECT_EQ(limiter.Acquire(Now()).kind, Kind::kGo);
  EXPECT_EQ(limiter.Acquire(Now()).kind, Kind::kWait);
}

TEST_F(RateLimiterTest, LearnsLimitFromHeaderAnyGroupNameAnyCase) {
  for (const char* name : {"x-ratelimit-group-limit", "X-RateLimit-ORG-Limit",
                           "x-ratelimit-custom-limit"}) {
    RateLimiter limiter({.window = absl::Seconds(10)});
    const absl::Time t0 = Now();
    ASSERT_EQ(limiter.Acquire(t0).kind, Kind::kGo);
    ASSERT_EQ(limiter.Acquire(t0).kind, Kind::kGo);
    limiter.OnResponse(t0, t0, Answer(200, {{name, "3"}}));
    EXPECT_EQ(limiter.limit(), 3) << name;
    EXPECT_TRUE(limiter.learned());
    // Both earlier requests count against the learned limit.
    EXPECT_EQ(limiter.Acquire(t0).kind, Kind::kGo);
    EXPECT_EQ(limiter.Acquire(t0).kind, Kind::kWait) << name;
  }
}

TEST_F(RateLimiterTest, LearnedLimitReplacesConfiguredOne) {
  RateLimiter limiter({.limit = 100, .window = absl::Seconds(10)});
  const absl::Time sent = Now();
  ASSERT_EQ(limiter.Acquire(sent).kind, Kind::kGo);
  limiter.OnResponse(Now(), sent, Answer(200, {{"x-ratelimit-group-limit", "1"}}));
  EXPECT_EQ(limiter.limit(), 1);
  RatePermit p = limiter.Acquire(Now());
  EXPECT_EQ(p.kind, Kind::kWait);
  EXPECT_EQ(p.wait, absl::Seconds(10));
}

TEST_F(RateLimiterTest, IgnoresOtherAndMalformedHeaders) {
  EXPECT_FALSE(RateLimitFromHeaders(Answer(200, {{"x-ratelimit-group-remaining", "3"}})));
  EXPECT_FALSE(RateLimitFromHeaders(Answer(200, {{"x-ratelimit-group-limit", "lots"}})));
  EXPECT_FALSE(RateLimitFromHeaders(Answer(200, {{"x-ratelimit-limit", "5"}})));
  EXPECT_EQ(RateLimitFromHeaders(Answer(200, {{"x-ratelimit-org-limit", " 8000 "}})), 8000);
}

TEST_F(RateLimiterTest, TooManyRequestsPausesUntilRetryAfter) {
  RateLimiter limiter({.window = absl::Hours(1)});
  const absl::Time sent = Now();
  ASSERT_EQ(limiter.Acquire(sent).kind, Kind::kGo);
  limiter.OnResponse(Now(), sent, Answer(429, {{"retry-after", "7"}}));
  RatePermit p = limiter.Acquire(Now());
  EXPECT_EQ(p.kind, Kind::kWait);
  EXPECT_EQ(p.wait, absl::Seconds(7));
  clock_.Advance(absl::Seconds(3));
  EXPECT_EQ(limiter.Acquire(Now()).wait, absl::Seconds(4));
  clock_.Advance(absl::Seconds(4));
  EXPECT_EQ(limiter.Acquire(Now()).kind, Kind::kGo);
}

TEST_F(RateLimiterTest, RefusedRequestIsNotCounted) {
  RateLimiter limiter({.limit = 2, .window = absl::Seconds(10)});
  const absl::Time sent = Now();
  ASSERT_EQ(limiter.Acquire(sent).kind, Kind::kGo);
  limiter.OnResponse(Now(), sent, Answer(429, {{"retry-after", "0"}}));
  EXPECT_EQ(limiter.Available(Now()), 2);
  const absl::Time again = Now();
  ASSERT_EQ(limiter.Acquire(again).kind, Kind::kGo);
  limiter.OnNotCounted(again);  // e.g. a reset before any answer
  EXPECT_EQ(limiter.Available(Now()), 2);
}

TEST_F(RateLimiterTest, WaitLongerThanMaxWaitIsACheckpoint) {
  RateLimiter limiter({.window = absl::Hours(1), .max_wait = absl::Seconds(900)});
  const absl::Time sent = Now();
  ASSERT_EQ(limiter.Acquire(sent).kind, Kind::kGo);
  limiter.OnResponse(Now(), sent, Answer(429, {{"retry-after", "3557"}}));
  RatePermit p = limiter.Acquire(Now());
  EXPECT_EQ(p.kind, Kind::kCheckpoint);
  EXPECT_EQ(p.wait, absl::Seconds(3557));
  // Quota exhausted by the sliding log: same rule.
  RateLimiter full({.limit = 1, .window = absl::Hours(1), .max_wait = absl::Seconds(60)});
  ASSERT_EQ(full.Acquire(Now()).kind, Kind::kGo);
  EXPECT_EQ(full.Acquire(Now()).kind, Kind::kCheckpoint);
}

TEST_F(RateLimiterTest, AnswerTimeIsLoggedSoTheClientNeverRunsAhead) {
  RateLimiter limiter({.limit = 1, .window = absl::Seconds(10)});
  const absl::Time sent = Now();
  ASSERT_EQ(limiter.Acquire(sent).kind, Kind::kGo);
  clock_.Advance(absl::Seconds(2));  // answer 2 s later
  limiter.OnResponse(Now(), sent, Answer(200));
  EXPECT_EQ(limiter.Acquire(Now()).wait, absl::Seconds(10));
}

// A limiter without limit headers: the first 429 sets the pace to half the rate sent over the
// last max(1 s, Retry-After); sends are then spaced evenly, after the pause.
TEST_F(RateLimiterTest, First429SetsAPaceOfHalfTheRateSent) {
  RateLimiter limiter({.window = absl::Hours(1)});
  std::vector<absl::Time> sent;
  for (int i = 0; i < 100; ++i) {  // 100 requests in 0.5 s, each answered at once
    ASSERT_EQ(limiter.Acquire(Now()).kind, Kind::kGo);
    limiter.OnResponse(Now(), Now(), Answer(200));
    clock_.Advance(absl::Milliseconds(5));
  }
  EXPECT_EQ(limiter.pace(), 0);
  const absl::Time refused = Now();
  ASSERT_EQ(limiter.Acquire(refused).kind, Kind::kGo);
  limiter.OnResponse(Now(), refused, Answer(429, {{"retry-after", "2"}}));
  EXPECT_DOUBLE_EQ(limiter.pace(), 25.25);  // 100 + 1 sent in the last 2 s: 50.5/s, halved
  EXPECT_EQ(limiter.Acquire(Now()).wait, absl::Seconds(2));
  clock_.Advance(absl::Seconds(2));
  EXPECT_EQ(limiter.Acquire(Now()).kind, Kind::kGo);
  EXPECT_EQ(limiter.Available(Now()), 0);
  RatePermit p = limiter.Acquire(Now());
  EXPECT_EQ(p.kind, Kind::kWait);
  EXPECT_EQ(p.wait, absl::Seconds(1 / 25.25));
  // A second caller asking meanwhile is given the send after: waiters spread out.
  EXPECT_EQ(limiter.Acquire(Now()).wait, 2 * absl::Seconds(1 / 25.25));
  clock_.Advance(absl::Seconds(1 / 25.25));
  EXPECT_EQ(limiter.Acquire(Now()).kind, Kind::kGo);
}

// The requests in flight when the first 429 came are refused too: they are the same overload
// (one cut), though each extends the pause. A 429 of a request sent under the pace cuts again.
TEST_F(RateLimiterTest, OnlyA429SentUnderThePaceCutsItAgain) {
  RateLimiter limiter({.window = absl::Hours(1)});
  std::vector<absl::Time> in_flight;
  for (int i = 0; i < 40; ++i) {
    ASSERT_EQ(limiter.Acquire(Now()).kind, Kind::kGo);
    in_flight.push_back(Now());
    clock_.Advance(absl::Milliseconds(25));  // 40 per second
  }
  for (const absl::Time sent : in_flight) {
    limiter.OnResponse(Now(), sent, Answer(429, {{"retry-after", "1"}}));
    clock_.Advance(absl::Milliseconds(1));
  }
  const double after_burst = limiter.pace();
  EXPECT_GT(after_burst, 0);
  EXPECT_LE(after_burst, 20.5);
  EXPECT_EQ(limiter.paused_until(), Now() - absl::Milliseconds(1) + absl::Seconds(1));
  clock_.Advance(absl::Seconds(1));
  const absl::Time paced = Now();
  ASSERT_EQ(limiter.Acquire(paced).kind, Kind::kGo);
  limiter.OnResponse(Now(), paced, Answer(429, {{"retry-after", "1"}}));
  EXPECT_DOUBLE_EQ(limiter.pace(), after_burst / 2);
}

// Between 429s the pace grows slowly: about one request per second more per second of
// answers (at least 5% per second), so it takes many seconds to double.
TEST_F(RateLimiterTest, PaceGrowsSlowlyOnAnswers) {
  RateLimiter limiter({.window = absl::Hours(1)});
  for (int i = 0; i < 40; ++i) {
    ASSERT_EQ(limiter.Acquire(Now()).kind, Kind::kGo);
    limiter.OnResponse(Now(), Now(), Answer(200));
  }
  const absl::Time refused = Now();
  ASSERT_EQ(limiter.Acquire(refused).kind, Kind::kGo);
  limiter.OnResponse(Now(), refused, Answer(429, {{"retry-after", "0"}}));
  EXPECT_DOUBLE_EQ(limiter.pace(), 20.5);  // 40 + 1 in the last second, halved
  // Ten seconds at the pace: every send waits for its turn and is answered at once.
  const absl::Time end = Now() + absl::Seconds(10);
  int sent = 0;
  while (Now() < end) {
    RatePermit p = limiter.Acquire(Now());
    if (p.kind == Kind::kWait) {
      clock_.Advance(p.wait);
      continue;
    }
    ASSERT_EQ(p.kind, Kind::kGo);
    ++sent;
    limiter.OnResponse(Now(), Now(), Answer(200));
  }
  EXPECT_GT(limiter.pace(), 27.0);
  EXPECT_LT(limiter.pace(), 34.0);
  EXPECT_GT(sent, 200);  // never faster than the pace: 20/s growing to ~30/s
  EXPECT_LT(sent, 300);
}

// A request counted before it waited for a concurrency slot does not go out into a pause
// that began meanwhile; it is uncounted. Otherwise it is logged at its real send time.
TEST_F(RateLimiterTest, ReconfirmRefusesASendIntoAPause) {
  RateLimiter limiter({.limit = 10, .window = absl::Seconds(10)});
  const absl::Time early = Now();
  ASSERT_EQ(limiter.Acquire(early).kind, Kind::kGo);
  const absl::Time waited = Now();
  ASSERT_EQ(limiter.Acquire(waited).kind, Kind::kGo);
  limiter.OnResponse(Now(), early, Answer(429, {{"retry-after", "3"}}));
  clock_.Advance(absl::Seconds(1));
  EXPECT_FALSE(limiter.Reconfirm(waited, Now()));
  clock_.Advance(absl::Seconds(2));
  EXPECT_EQ(limiter.Available(Now()), 10);  // neither request is counted
  const absl::Time taken = Now();
  ASSERT_EQ(limiter.Acquire(taken).kind, Kind::kGo);
  clock_.Advance(absl::Seconds(4));
  EXPECT_TRUE(limiter.Reconfirm(taken, Now()));
  clock_.Advance(absl::Seconds(7));  // 11 s after the Acquire, 7 s after the real send
  EXPECT_EQ(limiter.Available(Now()), 9);
}

// The limiter's log as one sorted multiset of send times (the model the limiter implements).
class ModelLimiter {
 public:
  explicit ModelLimiter(RateLimitOptions options) : options_(options), limit_(options.limit) {}
  RatePermit Acquire(absl::Time now) {
    auto wait_for = [&](absl::Duration wait) {
      return RatePermit{wait > options_.max_wait ? Kind::kCheckpoint : Kind::kWait, wait};
    };
    if (now < paused_until_) return wait_for(paused_until_ - now);
    Prune(now);
    const auto count = static_cast<int64_t>(log_.size());
    if (limit_ > 0 && count >= limit_) {
      return wait_for(*std::next(log_.begin(), count - limit_) + options_.window - now);
    }
    log_.insert(now);
    if (limit_ == 0 && log_.size() > options_.max_log) log_.erase(log_.begin());
    return RatePermit{Kind::kGo, absl::ZeroDuration()};
  }
  void OnResponse(absl::Time now, absl::Time sent_at, const HttpResponse& response) {
    if (std::optional<int64_t> limit = RateLimitFromHeaders(response)) limit_ = *limit;
    Forget(sent_at);
    if (response.status == 429) {
      absl::Duration pause = options_.window / std::max<int64_t>(limit_, 1);
      if (std::optional<absl::Duration> after = RetryAfterFromHeaders(response)) pause = *after;
      paused_until_ = std::max(paused_until_, now + pause);
      return;
    }
    log_.insert(now);
    if (limit_ == 0 && log_.size() > options_.max_log) log_.erase(log_.begin());
  }
  void OnNotCounted(absl::Time sent_at) { Forget(sent_at); }
  int64_t Available(absl::Time now) {
    if (now < paused_until_) return 0;
    if (limit_ == 0) return std::numeric_limits<int32_t>::max();
    Prune(now);
    return std::max<int64_t>(limit_ - static_cast<int64_t>(log_.size()), 0);
  }

 private:
  void Prune(absl::Time now) {
    while (!log_.empty() && *log_.begin() <= now - options_.window) log_.erase(log_.begin());
  }
  void Forget(absl::Time at) {
    if (auto it = log_.find(at); it != log_.end()) log_.erase(it);
  }
  RateLimitOptions options_;
  int64_t limit_;
  absl::Time paused_until_ = absl::InfinitePast();
  std::multiset<absl::Time> log_;
};

// Random sends, answers (200, 429, a limit learned on the way), uncounted failures and clock
// steps (several sends in one instant, answers out of order, requests outliving the window):
// the limiter decides exactly as the model does, every step.
TEST_F(RateLimiterTest, DecidesLikeOneSortedLogOfSendTimes) {
  for (uint64_t seed = 1; seed <= 40; ++seed) {
    SCOPED_TRACE(seed);
    std::mt19937_64 rng(seed);
    const RateLimitOptions options{.limit = static_cast<int64_t>(rng() % 3 == 0 ? 0 : rng() % 20),
                                   .window = absl::Seconds(10),
                                   .max_wait = absl::Seconds(6),
                                   .max_log = 30,
                                   .learn_pace = false};
    RateLimiter limiter(options);
    ModelLimiter model(options);
    std::vector<absl::Time> in_flight;
    std::vector<absl::Time> hung;  // answered 12 s after their send: they outlive the window
    auto answer = [&](absl::Time sent, HttpResponse response) {
      limiter.OnResponse(Now(), sent, response);
      model.OnResponse(Now(), sent, response);
    };
    for (int step = 0; step < 3000; ++step) {
      while (!hung.empty() && Now() - hung.front() >= absl::Seconds(12)) {
        answer(hung.front(), Answer(200));
        hung.erase(hung.begin());
      }
      const uint64_t r = rng() % 100;
      if (r < 40) {
        const RatePermit got = limiter.Acquire(Now());
        const RatePermit want = model.Acquire(Now());
        ASSERT_EQ(got.kind, want.kind) << "step " << step;
        ASSERT_EQ(got.wait, want.wait) << "step " << step;
        if (got.kind == Kind::kGo) (rng() % 10 == 0 ? hung : in_flight).push_back(Now());
      } else if (r < 75 && !in_flight.empty()) {
        const size_t i = rng() % in_flight.size();
        const absl::Time sent = in_flight[i];
        in_flight.erase(in_flight.begin() + static_cast<long>(i));
        HttpResponse response = Answer(rng() % 10 == 0 ? 429 : 200);
        if (rng() % 50 == 0) response.headers.emplace_back("x-ratelimit-org-limit", "12");
        answer(sent, response);
      } else if (r < 80 && !in_flight.empty()) {
        const absl::Time sent = in_flight.front();
        in_flight.erase(in_flight.begin());
        limiter.OnNotCounted(sent);
        model.OnNotCounted(sent);
      } else {
        clock_.Advance(absl::Milliseconds(static_cast<int64_t>(rng() % 3 == 0 ? 0 : rng() % 900)));
      }
      ASSERT_EQ(limiter.Available(Now()), model.Available(Now())) << "step " << step;
    }
  }
}

TEST(ConcurrencyLimitTest, HalvesOnOverloadAndRecoversSlowly) {
  ConcurrencyLimit c(16, 16);
  c.OnOverload();
  EXPECT_EQ(c.limit(), 8);
  c.OnOverload();  // same round: no second decrease
  EXPECT_EQ(c.limit(), 8);
  for (int i = 0; i < 9; ++i) c.OnSuccess(absl::Milliseconds(10));
  EXPECT_EQ(c.limit(), 9);
  for (int i = 0; i < 1000; ++i) c.OnSuccess(absl::Milliseconds(10));
  EXPECT_EQ(c.limit(), 16);  // capped at max
}

TEST(ConcurrencyLimitTest, OneLateAnswerIsNotARiseButARunOfThemIs) {
  ConcurrencyLimit c(16, 16);
  for (int i = 0; i < 20; ++i) c.OnSuccess(absl::Milliseconds(10));
  c.OnSuccess(absl::Milliseconds(100));
  EXPECT_EQ(c.limit(), 16);
  for (int i = 0; i < ConcurrencyLimit::kWindow; ++i) c.OnSuccess(absl::Milliseconds(100));
  EXPECT_LE(c.limit(), 9);  // halved once the median rose, then a step back up
}

}  // namespace
}  // namespace enrich::transport
