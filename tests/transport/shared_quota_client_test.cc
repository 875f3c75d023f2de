// The client's use of a quota shared with other processes (CtiaClientOptions::shared_quota, run
// --redis): asked once per request after the client's own budget, with the group and its
// learned limit; a "wait" holds the request; an answer is reported, a 429 pauses the group and
// gives its grant back, a request never sent gives its grant back.
#include "tests/fakes/await.h"
#include "tests/fakes/scripted_http_server.h"
#include "transport/ctia_client.h"
#include "transport/io_threads.h"
#include "transport/shared_quota.h"

#include <atomic>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/clock.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace enrich::transport {
namespace {

using ::enrich::testing::Await;
using ::enrich::testing::Reply;
using ::enrich::testing::ScriptedHttpServer;
using ::enrich::testing::ScriptedReply;
using ::enrich::testing::ScriptedRequest;
using ::testing::ElementsAre;
using ::testing::Pair;

using VerdictOr = absl::StatusOr<schema::VerdictResult>;

constexpr char kNoVerdictBody[] =
    R"({"message":"no verdict currently available for the supplied observable"})";

class FixedTokens final : public TokenSource {
 public:
  void GetToken(Callback done) override { done(std::string("token")); }
  void Invalidate(absl::string_view) override {}
};

// Grants with tickets t1, t2, ...; answers "wait `wait`" to the first `waits` asks.
class FakeQuota final : public SharedQuota {
 public:
  FakeQuota(int waits, absl::Duration wait) : waits_(waits), wait_(wait) {}
  void Acquire(absl::string_view group, int64_t limit, absl::Duration window,
               Callback done) override {
    Grant grant;
    {
      absl::MutexLock lock(&mu);
      asks.emplace_back(std::string(group), limit);
      windows.push_back(window);
      if (waits_ > 0) {
        --waits_;
        grant.go = false;
        grant.wait = wait_;
      } else {
        grant.ticket = absl::StrCat("t", ++granted);
      }
    }
    done(std::move(grant));
  }
  void Uncount(absl::string_view, const std::string& ticket) override {
    absl::MutexLock lock(&mu);
    uncounted.push_back(ticket);
  }
  void Restamp(absl::string_view, const std::string& ticket) override {
    absl::MutexLock lock(&mu);
    restamped.push_back(ticket);
  }
  void Pause(absl::string_view group, absl::Duration d) override {
    absl::MutexLock lock(&mu);
    pauses.emplace_back(std::string(group), d);
  }

  absl::Mutex mu;
  std::vector<std::pair<std::string, int64_t>> asks;
  std::vector<absl::Duration> windows;
  std::vector<std::string> uncounted, restamped;
  std::vector<std::pair<std::string, absl::Duration>> pauses;
  int granted = 0;

 private:
  int waits_;
  absl::Duration wait_;
};

class SharedQuotaClientTest : public ::testing::Test {
 protected:
  std::unique_ptr<BeastCtiaClient> MakeClient(const std::string& url, SharedQuota& quota) {
    pool_ = std::make_unique<ConnectionPool>(io_.executor(), *ParseUrl(url), PoolOptions{});
    CtiaClientOptions options;
    options.rate_limit.window = absl::Seconds(10);
    options.retry_backoff = absl::Milliseconds(1);
    options.shared_quota = &quota;
    return std::make_unique<BeastCtiaClient>(
        *pool_, std::vector<CredentialLane>{{&tokens_, "orga", "a"}}, options);
  }
  VerdictOr Lookup(BeastCtiaClient& client, const std::string& ip) {
    return Await<VerdictOr>(
        [&](VerdictSource::Callback done) { client.LookupVerdict({"ip", ip}, done); });
  }

  FixedTokens tokens_;
  IoThreads io_{1};
  std::unique_ptr<ConnectionPool> pool_;
};

TEST_F(SharedQuotaClientTest, EveryRequestAsksWithItsGroupAndTheLearnedLimit) {
  ScriptedHttpServer server([](const ScriptedRequest&) {
    return Reply(404, kNoVerdictBody, {"X-RateLimit-GROUP-Limit: 7"});
  });
  FakeQuota quota(0, absl::ZeroDuration());
  auto client = MakeClient(server.url(), quota);
  ASSERT_TRUE(Lookup(*client, "10.0.0.1").ok());
  ASSERT_TRUE(Lookup(*client, "10.0.0.2").ok());
  absl::MutexLock lock(&quota.mu);
  // The first request went before any answer taught the limit; the second carries it.
  EXPECT_THAT(quota.asks, ElementsAre(Pair("orga", 0), Pair("orga", 7)));
  EXPECT_EQ(quota.windows[1], absl::Seconds(10));
  EXPECT_THAT(quota.restamped, ElementsAre("t1", "t2"));
  EXPECT_TRUE(quota.uncounted.empty());
  EXPECT_EQ(server.requests(), 2u);
}

TEST_F(SharedQuotaClientTest, AWaitHoldsTheRequestUntilItEnds) {
  ScriptedHttpServer server([](const ScriptedRequest&) { return Reply(404, kNoVerdictBody); });
  FakeQuota quota(2, absl::Milliseconds(150));
  auto client = MakeClient(server.url(), quota);
  const absl::Time start = absl::Now();
  ASSERT_TRUE(Lookup(*client, "10.0.0.1").ok());
  EXPECT_GE(absl::Now() - start, absl::Milliseconds(300));  // two waits, then the grant
  absl::MutexLock lock(&quota.mu);
  EXPECT_EQ(quota.asks.size(), 3u);
  EXPECT_EQ(server.requests(), 1u);
  EXPECT_EQ(client->Snapshot().budget_waits, 2u);
}

TEST_F(SharedQuotaClientTest, A429PausesTheGroupAndGivesItsGrantBack) {
  std::atomic<int> seen{0};
  ScriptedHttpServer server([&seen](const ScriptedRequest&) -> ScriptedReply {
    if (seen++ == 0) return Reply(429, R"({"error": "Too Many Requests"})", {"Retry-After: 1"});
    return Reply(404, kNoVerdictBody);
  });
  FakeQuota quota(0, absl::ZeroDuration());
  auto client = MakeClient(server.url(), quota);
  ASSERT_TRUE(Lookup(*client, "10.0.0.1").ok());  // after the pause, asked again
  absl::MutexLock lock(&quota.mu);
  EXPECT_THAT(quota.pauses, ElementsAre(Pair("orga", absl::Seconds(1))));
  EXPECT_THAT(quota.uncounted, ElementsAre("t1"));  // CTIA did not count the refused one
  EXPECT_THAT(quota.restamped, ElementsAre("t2"));
  EXPECT_EQ(client->Snapshot().rate_limited, 1u);
}

}  // namespace
}  // namespace enrich::transport
