// The client's request budget and credential rotation against a scripted server that limits
// per org (the org is the token's prefix) like CTIA's sliding log (reference §9.1).
#include "tests/fakes/await.h"
#include "tests/fakes/scripted_http_server.h"
#include "transport/ctia_client.h"
#include "transport/io_threads.h"

#include <map>
#include <memory>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/synchronization/mutex.h"
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

using VerdictOr = absl::StatusOr<schema::VerdictResult>;

constexpr char kNoVerdictBody[] =
    R"({"message":"no verdict currently available for the supplied observable"})";

// Hands out "<org>-token", or a fixed error.
class OrgTokenSource final : public TokenSource {
 public:
  explicit OrgTokenSource(std::string org, absl::Status error = absl::OkStatus())
      : org_(std::move(org)), error_(std::move(error)) {}
  void GetToken(Callback done) override {
    if (!error_.ok()) return done(error_);
    done(org_ + "-token");
  }
  void Invalidate(absl::string_view) override {}

 private:
  const std::string org_;
  const absl::Status error_;
};

// `limit` requests per org per hour; 429 with Retry-After 3600 beyond; the limit header on
// every success.
class OrgLimitedServer {
 public:
  explicit OrgLimitedServer(int limit)
      : limit_(limit), server_([this](const ScriptedRequest& r) { return Handle(r); }) {}
  std::string url() const { return server_.url(); }
  size_t requests() const { return server_.requests(); }
  int allowed(const std::string& org) {
    absl::MutexLock lock(&mu_);
    return allowed_[org];
  }

 private:
  ScriptedReply Handle(const ScriptedRequest& r) {
    const std::string auth = r.Header("authorization");
    const std::string org = std::vector<std::string>(absl::StrSplit(auth, absl::ByAnyChar(" -")))[1];
    absl::MutexLock lock(&mu_);
    if (allowed_[org] >= limit_) {
      return Reply(429, R"({"error": "Too Many Requests"})", {"Retry-After: 3600"});
    }
    ++allowed_[org];
    return Reply(404, kNoVerdictBody, {absl::StrCat("X-RateLimit-GROUP-Limit: ", limit_)});
  }

  const int limit_;
  absl::Mutex mu_;
  std::map<std::string, int> allowed_ ABSL_GUARDED_BY(mu_);
  ScriptedHttpServer server_;
};

class BudgetRotationTest : public ::testing::Test {
 protected:
  std::unique_ptr<BeastCtiaClient> MakeClient(const std::string& url,
                                              std::vector<CredentialLane> lanes) {
    pool_ = std::make_unique<ConnectionPool>(io_.executor(), *ParseUrl(url), PoolOptions{});
    CtiaClientOptions options;
    options.rate_limit.max_wait = absl::Seconds(60);
    options.notice = [this](absl::string_view text) {
      absl::MutexLock lock(&mu_);
      notices_.emplace_back(text);
    };
    return std::make_unique<BeastCtiaClient>(*pool_, std::move(lanes), options);
  }

  // Looks up distinct observables one after the other until the first non-OK result.
  int LookupsUntilCheckpoint(BeastCtiaClient& client, absl::Status* stop) {
    for (int i = 0; i < 100; ++i) {
      VerdictOr r = Await<VerdictOr>([&](VerdictSource::Callback done) {
        client.LookupVerdict({"ip", absl::StrCat("10.0.0.", i)}, done);
      });
      if (!r.ok()) {
        *stop = r.status();
        return i;
      }
    }
    return 100;
  }

  IoThreads io_{1};
  std::unique_ptr<ConnectionPool> pool_;
  absl::Mutex mu_;
  std::vector<std::string> notices_ ABSL_GUARDED_BY(mu_);
};

TEST_F(BudgetRotationTest, OneOrgSpendsItsQuotaThenCheckpointsWithout429) {
  OrgLimitedServer server(3);
  OrgTokenSource a("orga");
  auto client = MakeClient(server.url(), {{&a, "orga", "client-a"}});
  absl::Status stop;
  EXPECT_EQ(LookupsUntilCheckpoint(*client, &stop), 3);
  ASSERT_TRUE(CheckpointWait(stop).has_value()) << stop;
  EXPECT_GT(*CheckpointWait(stop), absl::Seconds(3500));
  EXPECT_EQ(server.requests(), 3u);  // the learned limit kept the 4th request at home
  EXPECT_EQ(client->Snapshot().rate_limited, 0u);
  EXPECT_EQ(client->GroupLimit("orga"), 3);
}

TEST_F(BudgetRotationTest, TwoOrgsDoubleTheUsableQuota) {
  OrgLimitedServer server(3);
  OrgTokenSource a("orga");
  OrgTokenSource b("orgb");
  auto client = MakeClient(server.url(), {{&a, "orga", "client-a"}, {&b, "orgb", "client-b"}});
  absl::Status stop;
  EXPECT_EQ(LookupsUntilCheckpoint(*client, &stop), 6);
  EXPECT_TRUE(CheckpointWait(stop).has_value()) << stop;
  EXPECT_EQ(server.allowed("orga"), 3);
  EXPECT_EQ(server.allowed("orgb"), 3);
  EXPECT_EQ(server.requests(), 6u);
  EXPECT_EQ(client->Snapshot().rate_limited, 0u);
}

TEST_F(BudgetRotationTest, TwoCredentialsOfOneOrgShareOneQuota) {
  OrgLimitedServer server(3);
  OrgTokenSource a("orga");
  OrgTokenSource a2("orga");
  auto client = MakeClient(server.url(), {{&a, "orga", "client-a"}, {&a2, "orga", "client-a2"}});
  absl::Status stop;
  EXPECT_EQ(LookupsUntilCheckpoint(*client, &stop), 3);
  EXPECT_EQ(server.requests(), 3u);
}

TEST_F(BudgetRotationTest, RejectedCredentialIsRetiredAndTheRunGoesOn) {
  OrgLimitedServer server(100);
  OrgTokenSource bad("orga", absl::UnauthenticatedError(
                                 "token endpoint rejected client id 'client-a': invalid_client"));
  OrgTokenSource good("orgb");
  auto client =
      MakeClient(server.url(), {{&bad, "orga", "client-a"}, {&good, "orgb", "client-b"}});
  for (int i = 0; i < 5; ++i) {
    VerdictOr r = Await<VerdictOr>([&](VerdictSource::Callback done) {
      client->LookupVerdict({"ip", absl::StrCat("10.1.0.", i)}, done);
    });
    EXPECT_TRUE(r.ok()) << r.status();
  }
  EXPECT_EQ(server.allowed("orgb"), 5);
  EXPECT_EQ(client->Snapshot().retired_credentials, 1u);
  absl::MutexLock lock(&mu_);
  ASSERT_EQ(notices_.size(), 1u);
  EXPECT_THAT(notices_[0], HasSubstr("credential 'client-a' retired"));
  EXPECT_THAT(notices_[0], HasSubstr("invalid_client"));
}

TEST_F(BudgetRotationTest, WhenEveryCredentialIsRetiredTheErrorIsFinal) {
  OrgLimitedServer server(100);
  OrgTokenSource bad("orga", absl::UnauthenticatedError("invalid_client"));
  auto client = MakeClient(server.url(), {{&bad, "orga", "client-a"}});
  VerdictOr r = Await<VerdictOr>(
      [&](VerdictSource::Callback done) { client->LookupVerdict({"ip", "10.2.0.1"}, done); });
  EXPECT_TRUE(absl::IsUnauthenticated(r.status())) << r.status();
  EXPECT_EQ(server.requests(), 0u);
}

}  // namespace
}  // namespace enrich::transport
