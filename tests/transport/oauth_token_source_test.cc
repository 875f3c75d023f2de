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
          const int s = status.load();
          if (s != 200) return Reply(s, error_body);
          return Reply(200, absl::StrCat(R"({"access_token":"tok-)", ++minted,
                                         R"(","token_type":"bearer","expires_in":600})"));
        }) {}
  ScriptedHttpServer& server() { return server_; }

  std::atomic<int> status{200};
  std::atomic<int> delay_ms{0};
  std::atomic<int> minted{0};
  std::string error_body;  // set before requests are made

 private:
  ScriptedHttpServer server_;
};

class OAuthTokenSourceTest : public ::testing::Test {
 protected:
  OAuthTokenSourceTest()
      : pool_(io_.executor(), *ParseUrl(endpoint_.server().url()), PoolOptions{}),
        source_(pool_, kTokenPath, ClientCredentials{"client-id", "s3cr3t:x"}, clock_) {}

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
  constexpr int kCallers = 1000;
  absl::Mutex mu;
  std::vector<TokenResult> results;
  absl::Notification all_done;
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&] {
      for (int i = 0; i < kCallers / 4; ++i) {
        source_.GetToken([&](TokenResult r) {
          absl::MutexLock lock(&mu);
          results.push_back(std::move(r));
          if (results.size() == kCallers) all_done.Notify();
        });
      }
    });
  }
  for (std::thread& t : threads) t.join();
  ASSERT_TRUE(all_done.WaitForNotificationWithTimeout(absl::Seconds(10)));
  absl::MutexLock lock(&mu);
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
  EXPECT_EQ(endpoint_.server().requests(), 1u);
  clock_.Advance(absl::Seconds(2));  // 481 s > 0.8 × 600 s
  EXPECT_EQ(*Get(), "tok-2");
  EXPECT_EQ(endpoint_.server().requests(), 2u);
  EXPECT_EQ(*Get(), "tok-2");
  EXPECT_EQ(source_.token_requests(), 2u);
}

TEST_F(OAuthTokenSourceTest, RejectedCredentialsAreUnauthenticatedWithoutSecret) {
  endpoint_.error_body = R"({"error":"invalid_client","error_description":"bad secret s3cr3t:x"})";
  endpoint_.status = 401;
  TokenResult t = Get();
  ASSERT_FALSE(t.ok());
  EXPECT_TRUE(absl::IsUnauthenticated(t.status())) << t.status();
  EXPECT_THAT(std::string(t.status().message()), HasSubstr("client id 'client-id'"));
  EXPECT_THAT(std::string(t.status().message()), HasSubstr("invalid_client"));
  EXPECT_THAT(std::string(t.status().message()), Not(HasSubstr("s3cr3t")));
}

TEST_F(OAuthTokenSourceTest, BadRequestIsUnauthenticatedToo) {
  endpoint_.error_body = R"({"error":"unauthorized_client"})";
  endpoint_.status = 400;
  TokenResult t = Get();
  EXPECT_TRUE(absl::IsUnauthenticated(t.status())) << t.status();
  EXPECT_THAT(std::string(t.status().message()), HasSubstr("unauthorized_client"));
}

TEST_F(OAuthTokenSourceTest, TransientFailureIsNotCached) {
  endpoint_.status = 503;
  TokenResult first = Get();
  ASSERT_FALSE(first.ok());
  EXPECT_TRUE(absl::IsUnavailable(first.status())) << first.status();
  EXPECT_THAT(std::string(first.status().message()), HasSubstr("http 503"));
  endpoint_.status = 200;
  TokenResult second = Get();
  ASSERT_TRUE(second.ok()) << second.status();
  EXPECT_EQ(*second, "tok-1");
  EXPECT_EQ(source_.token_requests(), 2u);
}

TEST_F(OAuthTokenSourceTest, FailedEarlyRefreshKeepsStillValidToken) {
  ASSERT_EQ(*Get(), "tok-1");
  clock_.Advance(absl::Seconds(500));  // past refresh point, before expiry
  endpoint_.status = 503;
  TokenResult t = Get();
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

TEST_F(OAuthTokenSourceTest, MalformedTokenAnswerIsUnavailable) {
  // Can't swap the body per request with this endpoint; use a dedicated server.
  ScriptedHttpServer server([](const ScriptedRequest&) { return Reply(200, R"({"token":"x"})"); });
  ConnectionPool pool(io_.executor(), *ParseUrl(server.url()), PoolOptions{});
  OAuthTokenSource source(pool, kTokenPath, ClientCredentials{"id", "secret"}, clock_);
  TokenResult t = Await<TokenResult>([&](TokenSource::Callback done) { source.GetToken(done); });
  EXPECT_TRUE(absl::IsUnavailable(t.status())) << t.status();
  EXPECT_THAT(std::string(t.status().message()), HasSubstr("access_token"));
}

}  // namespace
}  // namespace enrich::transport
