#include "transport/oauth_token_source.h"

#include "tests/fakes/await.h"
#include "tests/fakes/scripted_http_server.h"
#include "transport/io_threads.h"

#include <atomic>
#include <chrono>
#include <memory>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "absl/synchronization/notification.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace enrich::transport {
namespace {

using ::enrich::testing::Await;
using ::enrich::testing::Reply;
using ::enrich::testing::ScriptedHttpServer;
using ::enrich::testing::ScriptedReply;
using ::enrich::testing::ScriptedRequest;
using ::testing::HasSubstr;
using ::testing::Not;

using TokenResult = absl::StatusOr<std::string>;

constexpr char kTokenPath[] = "/iroh/oauth2/token";

// Token endpoint that mints "tok-1", "tok-2", ... unless `status` says otherwise.
class TokenEndpoint {
 public:
  TokenEndpoint()
      : server_([this](const ScriptedRequest&) {
          std::this_thread::sleep_for(std::chrono::milliseconds(delay_ms.load()));
          if (fail_next.fetch_sub(1) > 0) return Reply(503, "<html>busy</html>");
          const int s = status.load();
          if (s != 200) return Reply(s, error_body);
          return Reply(200, absl::StrCat(R"({"access_token":"tok-)", ++minted,
                                         R"(","token_type":"bearer","expires_in":600})"));
        }) {}
  ScriptedHttpServer& server() { return server_; }

  std::atomic<int> status{200};
  std::atomic<int> delay_ms{0};
  std::atomic<int> minted{0};
  std::atomic<int> fail_next{0};  // answer this many requests with 503 first
  std::string error_body;  // set before requests are made

 private:
  ScriptedHttpServer server_;
};

class OAuthTokenSourceTest : public ::testing::Test {
 protected:
  OAuthTokenSourceTest()
      : pool_(io_.executor(), *ParseUrl(endpoint_.server().url()), PoolOptions{}),
        source_(pool_, kTokenPath, ClientCredentials{"client-id", "s3cr3t:x"}, clock_,
                FastRetries()) {}

  ~OAuthTokenSourceTest() override {
    // A renewal may still be in flight: let it finish (Cancelled) while the source exists.
    pool_.Shutdown();
    io_.Stop();
  }

  // Polls until GetToken hands out something other than `old` (at most 10 s).
  std::string WaitForNewToken(const std::string& old) {
    const absl::Time deadline = absl::Now() + absl::Seconds(10);
    for (;;) {
      TokenResult t = Get();
      if (!t.ok()) return t.status().ToString();
      if (*t != old || absl::Now() > deadline) return *t;
      absl::SleepFor(absl::Milliseconds(10));
    }
  }

  static TokenSourceOptions FastRetries() {
    TokenSourceOptions options;
    options.base_backoff = absl::Milliseconds(1);
    options.max_backoff = absl::Milliseconds(5);
    return options;
  }

  // `callers` GetToken calls from 4 threads at once; returns their results.
  std::vector<TokenResult> ManyCallers(int callers) {
    absl::Mutex mu;
    std::vector<TokenResult> results;
    absl::Notification all_done;
    std::vector<std::thread> threads;
    for (int t = 0; t < 4; ++t) {
      threads.emplace_back([&] {
        for (int i = 0; i < callers / 4; ++i) {
          source_.GetToken([&](TokenResult r) {
            absl::MutexLock lock(&mu);
            results.push_back(std::move(r));
            if (static_cast<int>(results.size()) == callers) all_done.Notify();
          });
        }
      });
    }
    for (std::thread& t : threads) t.join();
    EXPECT_TRUE(all_done.WaitForNotificationWithTimeout(absl::Seconds(10)));
    absl::MutexLock lock(&mu);
    return results;
  }

  TokenResult Get() {
    return Await<TokenResult>([&](TokenSource::Callback done) { source_.GetToken(done); });
  }

  IoThreads io_{2};
  TokenEndpoint endpoint_;
  schema::FakeClock clock_{absl::FromUnixSeconds(1700000000)};
  ConnectionPool pool_;
  OAuthTokenSource source_;
};

TEST_F(OAuthTokenSourceTest, PostsClientCredentialsWithBasicAuthAndFormBody) {
  TokenResult t = Get();
  ASSERT_TRUE(t.ok()) << t.status();
  EXPECT_EQ(*t, "tok-1");
  std::vector<ScriptedRequest> seen = endpoint_.server().recorded();
  ASSERT_EQ(seen.size(), 1u);
  EXPECT_EQ(seen[0].method, "POST");
  EXPECT_EQ(seen[0].target, "/iroh/oauth2/token");
  // base64("client-id:s3cr3t:x")
  EXPECT_EQ(seen[0].Header("authorization"), "Basic Y2xpZW50LWlkOnMzY3IzdDp4");
  EXPECT_EQ(seen[0].Header("content-type"), "application/x-www-form-urlencoded");
  EXPECT_EQ(seen[0].Header("accept"), "application/json");
  EXPECT_EQ(seen[0].body, "grant_type=client_credentials");
  EXPECT_EQ(source_.token_requests(), 1u);
}

TEST_F(OAuthTokenSourceTest, CachedTokenIsReturnedInlineWithoutRequest) {
  ASSERT_TRUE(Get().ok());
  bool ran_inline = false;
  source_.GetToken([&](TokenResult t) {
    ran_inline = true;
    EXPECT_EQ(*t, "tok-1");
  });
  EXPECT_TRUE(ran_inline);
  EXPECT_EQ(endpoint_.server().requests(), 1u);
}

TEST_F(OAuthTokenSourceTest, ThousandConcurrentCallersShareOneFetch) {
  endpoint_.delay_ms = 50;
  std::vector<TokenResult> results = ManyCallers(1000);
  ASSERT_EQ(results.size(), 1000u);
  for (const TokenResult& r : results) {
    ASSERT_TRUE(r.ok()) << r.status();
    EXPECT_EQ(*r, "tok-1");
  }
  EXPECT_EQ(endpoint_.server().requests(), 1u);
  EXPECT_EQ(source_.token_requests(), 1u);
}

TEST_F(OAuthTokenSourceTest, RefreshesAfterEightyPercentOfLifetime) {
  ASSERT_EQ(*Get(), "tok-1");
  clock_.Advance(absl::Seconds(479));
  EXPECT_EQ(*Get(), "tok-1");
  EXPECT_EQ(source_.token_requests(), 1u);
  clock_.Advance(absl::Seconds(2));  // 481 s > 0.8 × 600 s
  // The renewal starts now; until it lands the current token is still handed out.
  EXPECT_EQ(*Get(), "tok-1");
  EXPECT_EQ(source_.token_requests(), 2u);
  EXPECT_EQ(WaitForNewToken("tok-1"), "tok-2");
  EXPECT_EQ(*Get(), "tok-2");
  EXPECT_EQ(source_.token_requests(), 2u);
  EXPECT_EQ(endpoint_.server().requests(), 2u);
}

TEST_F(OAuthTokenSourceTest, RejectedCredentialsAreUnauthenticatedWithoutSecret) {
  endpoint_.error_body = R"({"error":"invalid_client","error_description":"bad secret s3cr3t:x"})";
  endpoint_.status = 401;
  TokenResult t = Get();
  ASSERT_FALSE(t.ok());
  EXPECT_TRUE(absl::IsUnauthenticated(t.status())) << t.status();
  EXPECT_THAT(std::string(t.status().message()), HasSubstr("rejected API client 'client-id'"));
  EXPECT_THAT(std::string(t.status().message()), HasSubstr("invalid_client"));
  EXPECT_THAT(std::string(t.status().message()), HasSubstr("wrong, or the client was revoked"));
  EXPECT_THAT(std::string(t.status().message()), Not(HasSubstr("s3cr3t")));
  // Fatal: not asked again within the fetch.
  EXPECT_EQ(source_.token_requests(), 1u);
  EXPECT_EQ(endpoint_.server().requests(), 1u);
}

// A secret that is an ordinary word garbles neither our words nor the server's; where the
// server quotes it as a value, it is redacted.
TEST_F(OAuthTokenSourceTest, PlainWordSecretLeavesTheMessageReadable) {
  endpoint_.error_body =
      R"({"error":"invalid_client","error_description":"the client secret is wrong: )"
      R"(client_secret=secret"})";
  endpoint_.status = 401;
  OAuthTokenSource plain(pool_, kTokenPath, ClientCredentials{"client-id", "secret"}, clock_,
                         FastRetries());
  TokenResult t =
      Await<TokenResult>([&](TokenSource::Callback done) { plain.GetToken(done); });
  ASSERT_FALSE(t.ok());
  EXPECT_EQ(std::string(t.status().message()),
            absl::StrCat("the token endpoint ", endpoint_.server().url(), kTokenPath,
                         " rejected API client 'client-id': invalid_client (the client secret "
                         "is wrong: client_secret=<redacted>) (the client id or secret is "
                         "wrong, or the client was revoked)"));
}

TEST_F(OAuthTokenSourceTest, BadRequestIsUnauthenticatedToo) {
  endpoint_.error_body = R"({"error":"unauthorized_client"})";
  endpoint_.status = 400;
  TokenResult t = Get();
  EXPECT_TRUE(absl::IsUnauthenticated(t.status())) << t.status();
  EXPECT_THAT(std::string(t.status().message()), HasSubstr("unauthorized_client"));
}

TEST_F(OAuthTokenSourceTest, TransientFailureIsRetriedThenReportedAndNotCached) {
  endpoint_.status = 503;
  TokenResult first = Get();
  ASSERT_FALSE(first.ok());
  EXPECT_TRUE(absl::IsUnavailable(first.status())) << first.status();
  EXPECT_THAT(std::string(first.status().message()), HasSubstr("http 503"));
  EXPECT_THAT(std::string(first.status().message()), HasSubstr("after 5 attempts"));
  EXPECT_EQ(source_.token_requests(), 5u);  // max_attempts
  endpoint_.status = 200;
  TokenResult second = Get();
  ASSERT_TRUE(second.ok()) << second.status();
  EXPECT_EQ(*second, "tok-1");
  EXPECT_EQ(source_.token_requests(), 6u);
}

TEST_F(OAuthTokenSourceTest, TokenEndpointFailuresAreRetriedWithBackoff) {
  endpoint_.fail_next = 3;
  const absl::Time wall = absl::Now();
  TokenResult t = Get();
  ASSERT_TRUE(t.ok()) << t.status();
  EXPECT_EQ(*t, "tok-1");
  EXPECT_EQ(endpoint_.server().requests(), 4u);
  EXPECT_EQ(source_.token_requests(), 4u);
  // Three backoffs of at most 1, 2 and 4 ms (capped at 5 ms): nowhere near a second.
  EXPECT_LT(absl::Now() - wall, absl::Seconds(5));
}

TEST_F(OAuthTokenSourceTest, ThousandCallersDuringARefreshCauseOneTokenRequest) {
  ASSERT_EQ(*Get(), "tok-1");
  clock_.Advance(absl::Seconds(481));  // past 80% of 600 s: a renewal is due
  endpoint_.delay_ms = 200;            // the renewal is still in flight for every caller
  std::vector<TokenResult> during = ManyCallers(1000);
  ASSERT_EQ(during.size(), 1000u);
  for (const TokenResult& r : during) {
    ASSERT_TRUE(r.ok()) << r.status();
    EXPECT_EQ(*r, "tok-1");  // still valid: served at once, nobody waits
  }
  EXPECT_EQ(source_.token_requests(), 2u);
  // The renewal lands; later callers get the new token inline.
  EXPECT_EQ(WaitForNewToken("tok-1"), "tok-2");
  EXPECT_EQ(source_.token_requests(), 2u);
  EXPECT_EQ(endpoint_.server().requests(), 2u);
}

TEST_F(OAuthTokenSourceTest, ThousandCallersPastTheServeWindowWaitForOneRequest) {
  ASSERT_EQ(*Get(), "tok-1");
  clock_.Advance(absl::Seconds(550));  // past 90%: the old token is not handed out any more
  endpoint_.delay_ms = 100;
  std::vector<TokenResult> results = ManyCallers(1000);
  ASSERT_EQ(results.size(), 1000u);
  for (const TokenResult& r : results) {
    ASSERT_TRUE(r.ok()) << r.status();
    EXPECT_EQ(*r, "tok-2");
  }
  EXPECT_EQ(source_.token_requests(), 2u);
  EXPECT_EQ(endpoint_.server().requests(), 2u);
}

TEST_F(OAuthTokenSourceTest, FailedEarlyRefreshKeepsStillValidToken) {
  ASSERT_EQ(*Get(), "tok-1");
  clock_.Advance(absl::Seconds(560));  // past the refresh point and the serve window
  endpoint_.status = 503;
  TokenResult t = Get();  // waits for the renewal, which fails: the old token is still good
  ASSERT_TRUE(t.ok()) << t.status();
  EXPECT_EQ(*t, "tok-1");
  clock_.Advance(absl::Seconds(200));  // expired now
  EXPECT_TRUE(absl::IsUnavailable(Get().status()));
}

TEST_F(OAuthTokenSourceTest, InvalidateDropsOnlyTheCurrentToken) {
  ASSERT_EQ(*Get(), "tok-1");
  source_.Invalidate("tok-0");  // an older token: ignored
  EXPECT_EQ(*Get(), "tok-1");
  EXPECT_EQ(endpoint_.server().requests(), 1u);
  source_.Invalidate("tok-1");
  EXPECT_EQ(*Get(), "tok-2");
  EXPECT_EQ(endpoint_.server().requests(), 2u);
}

TEST_F(OAuthTokenSourceTest, ExpiresAtKnowsTheCurrentAndThePreviousToken) {
  const absl::Time start = clock_.Now();
  ASSERT_EQ(*Get(), "tok-1");
  EXPECT_EQ(source_.ExpiresAt("tok-1"), start + absl::Seconds(600));
  source_.Invalidate("tok-1");
  EXPECT_EQ(source_.ExpiresAt("tok-1"), start + absl::Seconds(600));  // the one it replaced
  clock_.Advance(absl::Seconds(10));
  EXPECT_EQ(*Get(), "tok-2");
  EXPECT_EQ(source_.ExpiresAt("tok-2"), start + absl::Seconds(610));
  EXPECT_EQ(source_.ExpiresAt("tok-0"), absl::InfinitePast());  // unknown: long gone
}

TEST_F(OAuthTokenSourceTest, MalformedTokenAnswerIsUnavailable) {
  // Can't swap the body per request with this endpoint; use a dedicated server.
  ScriptedHttpServer server([](const ScriptedRequest&) { return Reply(200, R"({"token":"x"})"); });
  ConnectionPool pool(io_.executor(), *ParseUrl(server.url()), PoolOptions{});
  OAuthTokenSource source(pool, kTokenPath, ClientCredentials{"id", "secret"}, clock_,
                          FastRetries());
  TokenResult t = Await<TokenResult>([&](TokenSource::Callback done) { source.GetToken(done); });
  EXPECT_TRUE(absl::IsUnavailable(t.status())) << t.status();
  EXPECT_THAT(std::string(t.status().message()), HasSubstr("access_token"));
}

}  // namespace
}  // namespace enrich::transport
