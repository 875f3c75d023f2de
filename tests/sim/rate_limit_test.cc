// Rate limiting of ctia-sim (reference/ctia-api.md §9.1, §12.5): the sliding log on its own,
// then through the router with a FakeClock.

#include "tools/sim/rate_limiter.h"

#include <string>

#include "absl/strings/str_cat.h"
#include "gtest/gtest.h"
#include "tests/sim/router_fixture.h"

namespace enrich::sim {
namespace {

using test_support::kT0;
using test_support::RouterTest;

TEST(RateLimiterTest, SixthCallInWindowIsRefusedWithRetryAfterOfOldest) {
  RateLimiter limiter(5, absl::Seconds(3600));
  absl::Time now = kT0;
  for (int i = 0; i < 5; ++i) {
    RateLimiter::Decision d = limiter.Admit({"org"}, now);
    EXPECT_TRUE(d.allowed) << i;
    EXPECT_EQ(d.limit, 5);
    EXPECT_EQ(d.remaining, 4 - i);
    now += absl::Seconds(1);
  }
  // Oldest at kT0, now kT0+5s: it leaves the window in 3595 s.
  RateLimiter::Decision refused = limiter.Admit({"org"}, now);
  EXPECT_FALSE(refused.allowed);
  EXPECT_EQ(refused.retry_after_seconds, 3595);
  // Refusals are not recorded: when the oldest leaves, exactly one slot opens.
  EXPECT_TRUE(limiter.Admit({"org"}, kT0 + absl::Seconds(3600)).allowed);
  EXPECT_FALSE(limiter.Admit({"org"}, kT0 + absl::Seconds(3600)).allowed);
}

TEST(RateLimiterTest, RetryAfterRoundsUp) {
  RateLimiter limiter(1, absl::Seconds(10));
  EXPECT_TRUE(limiter.Admit({"org"}, kT0).allowed);
  EXPECT_EQ(limiter.Admit({"org"}, kT0 + absl::Milliseconds(1500)).retry_after_seconds, 9);
}

TEST(RateLimiterTest, GroupsAreIndependentAndCustomLimitsApply) {
  RateLimiter limiter(1, absl::Seconds(60), {{"big", 3}});
  EXPECT_TRUE(limiter.Admit({"a"}, kT0).allowed);
  EXPECT_FALSE(limiter.Admit({"a"}, kT0).allowed);
  EXPECT_TRUE(limiter.Admit({"b"}, kT0).allowed);
  for (int i = 0; i < 3; ++i) EXPECT_TRUE(limiter.Admit({"big"}, kT0).allowed);
  EXPECT_FALSE(limiter.Admit({"big"}, kT0).allowed);
  // Several groups: the one with the highest limit decides.
  EXPECT_EQ(limiter.Admit({"c", "big"}, kT0).limit, 3);
}

TEST(RateLimiterTest, DisabledAndAnonymousAlwaysPass) {
  RateLimiter off(0, absl::Seconds(60));
  EXPECT_FALSE(off.enabled());
  for (int i = 0; i < 100; ++i) EXPECT_TRUE(off.Admit({"org"}, kT0).allowed);
  RateLimiter on(1, absl::Seconds(60));
  for (int i = 0; i < 3; ++i) EXPECT_TRUE(on.Admit({}, kT0).allowed);
}

TEST(RateLimiterTest, ResetForgetsTheLog) {
  RateLimiter limiter(1, absl::Seconds(60));
  EXPECT_TRUE(limiter.Admit({"org"}, kT0).allowed);
  limiter.Reset();
  EXPECT_TRUE(limiter.Admit({"org"}, kT0).allowed);
}

class RateLimitRouterTest : public RouterTest {
 protected:
  RateLimitRouterTest() {
    options_.rate_limit = 5;
    options_.rate_limit_window = absl::Seconds(3600);
    options_.rate_limit_customs = {{"bargroup", 4}};
    options_.unlimited_client_ids = {"reader"};
    Rebuild();
  }
};

// ctia: test/ctia/http/middleware/ratelimit_test.clj: limit 5, the sixth call is 429 with
// Retry-After in 3590..3600 and the limit header "5".
TEST_F(RateLimitRouterTest, LimitFiveSixthCallIs429WithRetryAfterAboutTheWindow) {
  const std::string auth = Bearer();
  for (int i = 0; i < 5; ++i) {
    SimResponse r = Get("/ctia/status", auth);
    ASSERT_EQ(r.status, 200) << i;
    EXPECT_EQ(r.Header("X-RateLimit-GROUP-Limit"), "5");
    EXPECT_EQ(r.Header("X-RateLimit-GROUP-Remaining"), "");  // off unless asked for
    clock_.Advance(absl::Seconds(2));
  }
  SimResponse refused = Get("/ctia/ip/10.0.0.1/verdict", auth);
  EXPECT_EQ(refused.status, 429);
  EXPECT_EQ(refused.body, R"({"error": "Too Many Requests"})");
  EXPECT_EQ(refused.content_type, "application/json");
  int retry_after = 0;
  ASSERT_TRUE(absl::SimpleAtoi(refused.Header("Retry-After"), &retry_after));
  EXPECT_GE(retry_after, 3590);
  EXPECT_LE(retry_after, 3600);
  EXPECT_EQ(retry_after, 3590);  // oldest at +0 s, now +10 s
  // The window slides: once the oldest is an hour old, one more request passes.
  clock_.Advance(absl::Seconds(3590));
  const std::string fresh = Bearer();  // the first token's 600 s are over
  EXPECT_EQ(Get("/ctia/status", fresh).status, 200);
  EXPECT_EQ(Get("/ctia/status", fresh).status, 429);
}

TEST_F(RateLimitRouterTest, CountsPerOrgAcrossClients) {
  // baruser and foobaruser share bargroup, whose custom limit is 4.
  const std::string bar = Bearer("baruser", "barpass");
  const std::string foobar = Bearer("foobaruser", "foobarpass");
  for (int i = 0; i < 2; ++i) {
    SimResponse r = Get("/ctia/status", bar);
    EXPECT_EQ(r.Header("X-RateLimit-GROUP-Limit"), "4");
    EXPECT_EQ(Get("/ctia/status", foobar).status, 200);
  }
  EXPECT_EQ(Get("/ctia/status", bar).status, 429);
  EXPECT_EQ(Get("/ctia/status", foobar).status, 429);
  // Another org is not affected.
  EXPECT_EQ(Get("/ctia/status", Bearer("foouser", "foopass")).status, 200);
}

TEST_F(RateLimitRouterTest, UnlimitedClientHasNoLimitAndNoHeader) {
  const std::string auth = Bearer("reader", "readpass");
  for (int i = 0; i < 20; ++i) {
    SimResponse r = Get("/ctia/status", auth);
    ASSERT_EQ(r.status, 200);
    EXPECT_EQ(r.Header("X-RateLimit-GROUP-Limit"), "");
  }
}

TEST_F(RateLimitRouterTest, RejectedTokensAndTokenRequestsDoNotConsumeQuota) {
  for (int i = 0; i < 10; ++i) {
    EXPECT_EQ(Get("/ctia/status", "Bearer garbage").status, 401);
    EXPECT_EQ(Get("/ctia/status", "").status, 401);
  }
  const std::string auth = Bearer();
  for (int i = 0; i < 5; ++i) Bearer();  // token requests are not /ctia requests
  for (int i = 0; i < 5; ++i) EXPECT_EQ(Get("/ctia/status", auth).status, 200) << i;
  EXPECT_EQ(Get("/ctia/status", auth).status, 429);
  EXPECT_EQ(Get("/ctia/version", "").status, 200);  // unauthenticated route: never limited
}

TEST_F(RateLimitRouterTest, OrgHeaderNameAndRemainingWhenConfigured) {
  options_.rate_limit_header_group = "ORG";
  options_.rate_limit_remaining = true;
  Rebuild();
  const std::string auth = Bearer();
  SimResponse first = Get("/ctia/status", auth);
  EXPECT_EQ(first.Header("X-RateLimit-ORG-Limit"), "5");
  EXPECT_EQ(first.Header("X-RateLimit-ORG-Remaining"), "4");
  EXPECT_EQ(first.Header("X-RateLimit-GROUP-Limit"), "");
  EXPECT_EQ(Get("/ctia/status", auth).Header("X-RateLimit-ORG-Remaining"), "3");
}

TEST_F(RateLimitRouterTest, ShortWindowForTests) {
  options_.rate_limit = 2;
  options_.rate_limit_window = absl::Seconds(10);
  Rebuild();
  const std::string auth = Bearer();
  EXPECT_EQ(Get("/ctia/status", auth).status, 200);
  EXPECT_EQ(Get("/ctia/status", auth).status, 200);
  SimResponse refused = Get("/ctia/status", auth);
  EXPECT_EQ(refused.status, 429);
  EXPECT_EQ(refused.Header("Retry-After"), "10");
  clock_.Advance(absl::Seconds(10));
  EXPECT_EQ(Get("/ctia/status", auth).status, 200);
}

}  // namespace
}  // namespace enrich::sim
