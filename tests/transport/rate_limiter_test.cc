#include "transport/rate_limiter.h"

#include "schema/clock.h"

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

TEST(ConcurrencyLimitTest, RisingLatencyBacksOff) {
  ConcurrencyLimit c(16, 16);
  for (int i = 0; i < 20; ++i) c.OnSuccess(absl::Milliseconds(10));
  c.OnSuccess(absl::Milliseconds(100));
  EXPECT_EQ(c.limit(), 8);
}

}  // namespace
}  // namespace enrich::transport
