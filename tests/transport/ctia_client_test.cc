#include "transport/ctia_client.h"

#include "schema/json_codec.h"
#include "schema/time_format.h"
#include "tests/fakes/await.h"
#include "tests/fakes/pool_client_rig.h"
#include "tests/fakes/scripted_http_server.h"
#include "transport/io_threads.h"

#include <atomic>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "absl/synchronization/notification.h"
#include "absl/time/clock.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "rapidjson/document.h"

namespace enrich::transport {
namespace {

using ::enrich::testing::Await;
using ::enrich::testing::Reply;
using ::enrich::testing::ScriptedAction;
using ::enrich::testing::ScriptedHttpServer;
using ::enrich::testing::ScriptedReply;
using ::enrich::testing::ScriptedRequest;
using ::testing::HasSubstr;
using ::testing::StartsWith;

using VerdictOr = absl::StatusOr<schema::VerdictResult>;
using BulkOr = absl::StatusOr<std::vector<absl::StatusOr<std::string>>>;
using JudgementOr = absl::StatusOr<schema::Judgement>;

// Hands out "tok-1", then "tok-2" after each Invalidate of the current token.
class FakeTokenSource final : public TokenSource {
 public:
  void GetToken(Callback done) override {
    absl::StatusOr<std::string> token;
    {
      absl::MutexLock lock(&mu_);
      token = error_.ok() ? absl::StatusOr<std::string>(absl::StrCat("tok-", generation_))
                          : absl::StatusOr<std::string>(error_);
    }
    done(std::move(token));
  }
  void Invalidate(absl::string_view token) override {
    absl::MutexLock lock(&mu_);
    ++invalidations_;
    if (token == absl::StrCat("tok-", generation_)) ++generation_;
  }
  void set_error(absl::Status e) {
    absl::MutexLock lock(&mu_);
    error_ = std::move(e);
  }
  int invalidations() const {
    absl::MutexLock lock(&mu_);
    return invalidations_;
  }

 private:
  mutable absl::Mutex mu_;
  int generation_ ABSL_GUARDED_BY(mu_) = 1;
  int invalidations_ ABSL_GUARDED_BY(mu_) = 0;
  absl::Status error_ ABSL_GUARDED_BY(mu_);
};

schema::Verdict SampleVerdict() {
  schema::Verdict v;
  v.disposition = schema::Disposition::kMalicious;
  v.disposition_name = "Malicious";
  v.observable = {"ip", "1.2.3.4"};
  v.judgement_id = "https://ctia.example/ctia/judgement/judgement-1";
  v.valid_time = {absl::FromUnixSeconds(1455235200), schema::EndOfTime()};
  return v;
}

schema::Judgement SampleJudgement(std::string value) {
  schema::Judgement j;
  j.observable = {"ip", std::move(value)};
  j.disposition = schema::Disposition::kMalicious;
  j.priority = 90;
  j.confidence = "High";
  j.severity = "High";
  j.source = "ctia-enrich test";
  return j;
}

constexpr char kNoVerdictBody[] =
    R"({"message":"no verdict currently available for the supplied observable"})";

// The server runs `script(request)`; the client talks to it through a real pool.
class CtiaClientTest : public ::testing::Test {
 protected:
  using Script = std::function<ScriptedReply(const ScriptedRequest&)>;

  static CtiaClientOptions FastRetries() {
    CtiaClientOptions options;
    options.retry_backoff = absl::Milliseconds(1);
    options.max_backoff = absl::Milliseconds(5);
    return options;
  }

  void Start(Script script, std::string base_path = "",
             CtiaClientOptions options = FastRetries()) {
    script_ = std::move(script);
    server_ = std::make_unique<ScriptedHttpServer>(
        [this](const ScriptedRequest& r) { return script_(r); });
    client_ = &rig_.Start(server_->url() + base_path, tokens_, options);
  }

  // Starts a lookup; its result is put in `out` (which must outlive the lookup) and `done`
  // notified.
  void StartLookup(const std::string& value, VerdictOr* out, absl::Notification* done) {
    client_->LookupVerdict({"ip", value}, [out, done](VerdictOr r) {
      *out = std::move(r);
      done->Notify();
    });
  }

  VerdictOr Lookup(std::string type, std::string value) {
    return Await<VerdictOr>([&](VerdictSource::Callback done) {
      client_->LookupVerdict({std::move(type), std::move(value)}, done);
    });
  }

  FakeTokenSource tokens_;
  Script script_;
  std::unique_ptr<ScriptedHttpServer> server_;
  ::enrich::testing::PoolClientRig rig_{2};
  BeastCtiaClient* client_ = nullptr;
};

TEST_F(CtiaClientTest, EncodesValueAsOnePathSegmentOnTheWire) {
  Start([](const ScriptedRequest&) { return Reply(404, kNoVerdictBody); });
  ASSERT_TRUE(Lookup("url", "http://x.com/a?b c+d").ok());
  std::vector<ScriptedRequest> seen = server_->recorded();
  ASSERT_EQ(seen.size(), 1u);
  EXPECT_EQ(seen[0].method, "GET");
  EXPECT_EQ(seen[0].target, "/ctia/url/http%3A%2F%2Fx.com%2Fa%3Fb%20c%2Bd/verdict");
  EXPECT_EQ(seen[0].Header("authorization"), "Bearer tok-1");
  EXPECT_EQ(seen[0].Header("accept"), "application/json");
}

TEST_F(CtiaClientTest, OriginPathIsTheBasePrefix) {
  Start([](const ScriptedRequest&) { return Reply(404, kNoVerdictBody); }, "/api/");
  ASSERT_TRUE(Lookup("ip", "1.2.3.4").ok());
  EXPECT_EQ(server_->recorded().at(0).target, "/api/ctia/ip/1.2.3.4/verdict");
}

TEST_F(CtiaClientTest, OkAnswerIsVerdict) {
  Start([](const ScriptedRequest&) { return Reply(200, schema::EncodeVerdict(SampleVerdict())); });
  VerdictOr r = Lookup("ip", "1.2.3.4");
  ASSERT_TRUE(r.ok()) << r.status();
  ASSERT_TRUE(std::holds_alternative<schema::Verdict>(*r));
  const schema::Verdict& v = std::get<schema::Verdict>(*r);
  EXPECT_EQ(v.disposition, schema::Disposition::kMalicious);
  EXPECT_EQ(v.judgement_id, "https://ctia.example/ctia/judgement/judgement-1");
  EXPECT_EQ(v.valid_time.end_time, schema::EndOfTime());
  EXPECT_EQ(client_->Snapshot().verdict_requests, 1u);
}

TEST_F(CtiaClientTest, NotFoundWithJsonMessageIsNoVerdict) {
  Start([](const ScriptedRequest&) { return Reply(404, kNoVerdictBody); });
  VerdictOr r = Lookup("domain", "example.com");
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_TRUE(std::holds_alternative<schema::NoVerdict>(*r));
}

TEST_F(CtiaClientTest, NotFoundHtmlIsFinalNotFound) {
  Start([](const ScriptedRequest&) {
    return ScriptedReply{
        ::enrich::testing::HttpAnswer(404, "<html>Not Found</html>", {}, "text/html")};
  });
  VerdictOr r = Lookup("ip", "1.2.3.4");
  ASSERT_FALSE(r.ok());
  EXPECT_TRUE(absl::IsNotFound(r.status())) << r.status();
  EXPECT_THAT(std::string(r.status().message()), StartsWith("http 404"));
  EXPECT_EQ(server_->requests(), 1u);
}

TEST_F(CtiaClientTest, UnauthorizedRefreshesTokenOnceAndSucceeds) {
  Start([](const ScriptedRequest& req) {
    if (req.Header("authorization") == "Bearer tok-1") {
      return Reply(401, R"({"error":"jwt_expired","error_description":"expired"})");
    }
    return Reply(200, schema::EncodeVerdict(SampleVerdict()));
  });
  VerdictOr r = Lookup("ip", "1.2.3.4");
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_TRUE(std::holds_alternative<schema::Verdict>(*r));
  EXPECT_EQ(tokens_.invalidations(), 1);
  EXPECT_EQ(server_->requests(), 2u);
  CtiaClientCounters c = client_->Snapshot();
  EXPECT_EQ(c.unauthorized, 1u);
  EXPECT_EQ(c.verdict_requests, 2u);
}

TEST_F(CtiaClientTest, SecondUnauthorizedIsFinal) {
  Start([](const ScriptedRequest&) {
    return Reply(401,
                 R"({"error":"not_authenticated","message":"Only authenticated users allowed"})");
  });
  VerdictOr r = Lookup("ip", "1.2.3.4");
  ASSERT_FALSE(r.ok());
  EXPECT_TRUE(absl::IsUnauthenticated(r.status())) << r.status();
  EXPECT_EQ(r.status().message(), "http 401: not_authenticated: Only authenticated users allowed");
  EXPECT_EQ(server_->requests(), 2u);
  EXPECT_EQ(tokens_.invalidations(), 2);
}

TEST_F(CtiaClientTest, ServerErrorsAreRetriedWithBackoff) {
  std::atomic<int> calls{0};
  Start([&](const ScriptedRequest&) {
    if (++calls <= 2) return Reply(503, "<html>busy</html>");
    return Reply(200, schema::EncodeVerdict(SampleVerdict()));
  });
  VerdictOr r = Lookup("ip", "1.2.3.4");
  ASSERT_TRUE(r.ok()) << r.status();
  CtiaClientCounters c = client_->Snapshot();
  EXPECT_EQ(c.retries, 2u);
  EXPECT_EQ(c.verdict_requests, 3u);
  EXPECT_EQ(server_->requests(), 3u);
}

TEST_F(CtiaClientTest, PersistentServerErrorFailsAfterMaxAttempts) {
  Start([](const ScriptedRequest&) {
    return Reply(500, R"({"type":"unknown-exception","class":"java.lang.Exception"})");
  });
  VerdictOr r = Lookup("ip", "1.2.3.4");
  ASSERT_FALSE(r.ok());
  EXPECT_TRUE(absl::IsUnavailable(r.status())) << r.status();
  EXPECT_THAT(std::string(r.status().message()), StartsWith("http 500"));
  EXPECT_EQ(server_->requests(), 3u);
}

TEST_F(CtiaClientTest, MalformedVerdictBodyIsRetried) {
  std::atomic<int> calls{0};
  Start([&](const ScriptedRequest&) {
    if (++calls == 1) return Reply(200, R"({"type":"verdict")");
    return Reply(200, schema::EncodeVerdict(SampleVerdict()));
  });
  VerdictOr r = Lookup("ip", "1.2.3.4");
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(server_->requests(), 2u);
}

TEST_F(CtiaClientTest, BadRequestIsFinalInvalidArgumentWithCtiaErrors) {
  Start([](const ScriptedRequest&) {
    return Reply(400, R"js({"errors":{"observable_type":"(not (#{\"ip\"} \"foo\"))"}})js");
  });
  VerdictOr r = Lookup("foo", "x");
  ASSERT_FALSE(r.ok());
  EXPECT_TRUE(absl::IsInvalidArgument(r.status())) << r.status();
  EXPECT_THAT(std::string(r.status().message()), StartsWith("http 400: "));
  EXPECT_THAT(std::string(r.status().message()), HasSubstr("observable_type"));
  EXPECT_EQ(server_->requests(), 1u);
}

TEST_F(CtiaClientTest, ForbiddenIsFinalPermissionDenied) {
  Start([](const ScriptedRequest&) {
    return Reply(403, R"({"message":"Missing capability","error":"missing_capability"})");
  });
  VerdictOr r = Lookup("ip", "1.2.3.4");
  EXPECT_TRUE(absl::IsPermissionDenied(r.status())) << r.status();
  EXPECT_EQ(r.status().message(), "http 403: missing_capability: Missing capability");
  EXPECT_EQ(server_->requests(), 1u);
}

TEST_F(CtiaClientTest, ShortRetryAfterIsWaitedOut) {
  std::atomic<int> calls{0};
  Start([&](const ScriptedRequest&) {
    if (++calls == 1) {
      return Reply(429, R"({"error": "Too Many Requests"})", {"Retry-After: 0"});
    }
    return Reply(404, kNoVerdictBody);
  });
  VerdictOr r = Lookup("ip", "1.2.3.4");
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(client_->Snapshot().rate_limited, 1u);
  EXPECT_EQ(server_->requests(), 2u);
}

TEST_F(CtiaClientTest, LongRetryAfterIsACheckpointSignal) {
  Start([](const ScriptedRequest&) {
    return Reply(429, R"({"error": "Too Many Requests"})", {"Retry-After: 3595"});
  });
  VerdictOr r = Lookup("ip", "1.2.3.4");
  ASSERT_FALSE(r.ok());
  EXPECT_TRUE(absl::IsResourceExhausted(r.status())) << r.status();
  EXPECT_EQ(CheckpointWait(r.status()), absl::Seconds(3595));
  EXPECT_THAT(std::string(r.status().message()),
              HasSubstr("http 429: Too Many Requests (retry after 59m55s)"));
  EXPECT_EQ(server_->requests(), 1u);
  // The group stays paused: the next lookup checkpoints without a request.
  VerdictOr again = Lookup("ip", "5.6.7.8");
  EXPECT_TRUE(CheckpointWait(again.status()).has_value()) << again.status();
  EXPECT_EQ(server_->requests(), 1u);
  EXPECT_EQ(client_->Snapshot().checkpoints, 2u);
}

TEST_F(CtiaClientTest, TokenFailureIsReportedWithoutRequest) {
  Start([](const ScriptedRequest&) { return Reply(404, kNoVerdictBody); });
  tokens_.set_error(absl::UnauthenticatedError("token endpoint rejected client id 'c'"));
  VerdictOr r = Lookup("ip", "1.2.3.4");
  EXPECT_TRUE(absl::IsUnauthenticated(r.status())) << r.status();
  EXPECT_EQ(server_->requests(), 0u);
}

// StopSending: lookups the concurrency gate holds back end Cancelled at once, and so does every
// later one; the lookup on the wire is not touched.
TEST_F(CtiaClientTest, StopSendingCancelsTheLookupsNotYetOnTheWire) {
  CtiaClientOptions options = FastRetries();
  options.max_concurrency = 1;
  Start([](const ScriptedRequest&) { return ScriptedReply{"", ScriptedAction::kHang}; }, "",
        options);
  VerdictOr results[3];
  absl::Notification done[3];
  for (int i = 0; i < 3; ++i) StartLookup(absl::StrCat("10.0.0.", i), &results[i], &done[i]);
  // The first is on the wire (hung); the other two wait for its slot.
  const absl::Time deadline = absl::Now() + absl::Seconds(10);
  while (server_->requests() < 1 && absl::Now() < deadline) absl::SleepFor(absl::Milliseconds(1));
  ASSERT_EQ(server_->requests(), 1u);
  client_->StopSending();
  for (int i = 1; i < 3; ++i) {
    ASSERT_TRUE(done[i].WaitForNotificationWithTimeout(absl::Seconds(5))) << i;
    EXPECT_TRUE(absl::IsCancelled(results[i].status())) << results[i].status();
  }
  EXPECT_FALSE(done[0].HasBeenNotified());  // on the wire: it may still answer
  EXPECT_TRUE(absl::IsCancelled(Lookup("ip", "10.0.0.9").status()));
  EXPECT_EQ(server_->requests(), 1u);
  // Only the one sent counts as a request.
  EXPECT_EQ(client_->Snapshot().verdict_requests, 1u);
  rig_.pool().Shutdown();  // ends the hung one
  ASSERT_TRUE(done[0].WaitForNotificationWithTimeout(absl::Seconds(5)));
}

// A lookup waiting out a retry backoff ends at once rather than when the backoff is over.
TEST_F(CtiaClientTest, StopSendingEndsARetryBackoffAtOnce) {
  CtiaClientOptions options;
  options.retry_backoff = absl::Seconds(30);  // the first backoff draws in [0, 30 s]
  options.max_backoff = absl::Seconds(30);
  Start([](const ScriptedRequest&) { return Reply(503, "<html>busy</html>"); }, "", options);
  VerdictOr result;
  absl::Notification done;
  StartLookup("10.0.0.1", &result, &done);
  const absl::Time deadline = absl::Now() + absl::Seconds(10);
  while (client_->Snapshot().retries < 1 && absl::Now() < deadline) {
    absl::SleepFor(absl::Milliseconds(1));
  }
  ASSERT_EQ(client_->Snapshot().retries, 1u);
  ASSERT_FALSE(done.HasBeenNotified());
  const absl::Time stopped = absl::Now();
  client_->StopSending();
  ASSERT_TRUE(done.WaitForNotificationWithTimeout(absl::Seconds(5)));
  EXPECT_LT(absl::Now() - stopped, absl::Seconds(2));
  EXPECT_TRUE(absl::IsCancelled(result.status())) << result.status();
  EXPECT_EQ(server_->requests(), 1u);
}

TEST_F(CtiaClientTest, BulkCreateReturnsPerItemResultsInOrder) {
  Start([](const ScriptedRequest&) {
    return Reply(201, R"({"judgements":["https://c/ctia/judgement/judgement-a",)"
                      R"({"error":"Spec Validation Client Error","type":"Invalid Entity Error",)"
                      R"("msg":"bad priority","entity":{}},)"
                      R"("https://c/ctia/judgement/judgement-c"]})");
  });
  std::vector<schema::Judgement> batch = {SampleJudgement("1.1.1.1"), SampleJudgement("2.2.2.2"),
                                          SampleJudgement("3.3.3.3")};
  BulkOr r = Await<BulkOr>(
      [&](BeastCtiaClient::BulkCallback done) { client_->BulkCreateJudgements(batch, done); });
  ASSERT_TRUE(r.ok()) << r.status();
  ASSERT_EQ(r->size(), 3u);
  EXPECT_EQ(*(*r)[0], "https://c/ctia/judgement/judgement-a");
  ASSERT_FALSE((*r)[1].ok());
  EXPECT_TRUE(absl::IsInvalidArgument((*r)[1].status()));
  EXPECT_THAT(std::string((*r)[1].status().message()), HasSubstr("bad priority"));
  EXPECT_EQ(*(*r)[2], "https://c/ctia/judgement/judgement-c");

  std::vector<ScriptedRequest> seen = server_->recorded();
  ASSERT_EQ(seen.size(), 1u);
  EXPECT_EQ(seen[0].method, "POST");
  EXPECT_EQ(seen[0].target, "/ctia/bulk");
  EXPECT_EQ(seen[0].Header("content-type"), "application/json");
  EXPECT_EQ(seen[0].Header("authorization"), "Bearer tok-1");
  rapidjson::Document doc;
  doc.Parse(seen[0].body.c_str());
  ASSERT_FALSE(doc.HasParseError());
  ASSERT_TRUE(doc.HasMember("judgements"));
  ASSERT_EQ(doc["judgements"].Size(), 3u);
  EXPECT_STREQ(doc["judgements"][1]["observable"]["value"].GetString(), "2.2.2.2");
}

TEST_F(CtiaClientTest, BulkServerErrorIsNotRetried) {
  Start([](const ScriptedRequest&) { return Reply(500, R"({"type":"unknown-exception"})"); });
  BulkOr r = Await<BulkOr>([&](BeastCtiaClient::BulkCallback done) {
    client_->BulkCreateJudgements({SampleJudgement("1.1.1.1")}, done);
  });
  EXPECT_TRUE(absl::IsUnavailable(r.status())) << r.status();
  EXPECT_EQ(server_->requests(), 1u);
}

TEST_F(CtiaClientTest, BulkOverLimitFailsWithoutRequest) {
  Start([](const ScriptedRequest&) { return Reply(201, "{}"); });
  std::vector<schema::Judgement> batch(2001, SampleJudgement("1.1.1.1"));
  BulkOr r = Await<BulkOr>(
      [&](BeastCtiaClient::BulkCallback done) { client_->BulkCreateJudgements(batch, done); });
  EXPECT_TRUE(absl::IsInvalidArgument(r.status())) << r.status();
  EXPECT_EQ(server_->requests(), 0u);
}

TEST_F(CtiaClientTest, CreateJudgementReturnsStoredJudgement) {
  schema::Judgement stored = SampleJudgement("9.9.9.9");
  stored.id = "https://c/ctia/judgement/judgement-9";
  stored.valid_time = {absl::FromUnixSeconds(1700000000), schema::EndOfTime()};
  stored.timestamp = absl::FromUnixSeconds(1700000000);
  stored.created = absl::FromUnixSeconds(1700000001);
  stored.owner = "someone";
  stored.tlp = "green";
  const std::string stored_body = schema::EncodeJudgement(stored, /*stored=*/true);
  Start([&](const ScriptedRequest&) { return Reply(201, stored_body); });
  JudgementOr r = Await<JudgementOr>([&](BeastCtiaClient::JudgementCallback done) {
    client_->CreateJudgement(SampleJudgement("9.9.9.9"), done);
  });
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->id, "https://c/ctia/judgement/judgement-9");
  EXPECT_EQ(r->observable.value, "9.9.9.9");
  EXPECT_EQ(r->created, absl::FromUnixSeconds(1700000001));
  std::vector<ScriptedRequest> seen = server_->recorded();
  ASSERT_EQ(seen.size(), 1u);
  EXPECT_EQ(seen[0].target, "/ctia/judgement");
  EXPECT_THAT(seen[0].body, HasSubstr(R"("value":"9.9.9.9")"));
}

TEST(StatusFromHttpTest, MapsCodesAndQuotesCtiaErrors) {
  auto make = [](int status, std::string body) {
    HttpResponse r;
    r.status = status;
    r.body = std::move(body);
    return r;
  };
  EXPECT_EQ(StatusFromHttp(make(400, R"("Bulk max number of entities: 2000")")),
            absl::InvalidArgumentError("http 400: Bulk max number of entities: 2000"));
  EXPECT_EQ(StatusFromHttp(make(401, R"({"error":"jwt_expired","error_description":"old"})")),
            absl::UnauthenticatedError("http 401: jwt_expired: old"));
  EXPECT_EQ(StatusFromHttp(make(404, "<html>x</html>")), absl::NotFoundError("http 404"));
  EXPECT_EQ(StatusFromHttp(make(502, "")), absl::UnavailableError("http 502"));
  EXPECT_EQ(StatusFromHttp(make(504, "Gateway Timeout")),
            absl::UnavailableError("http 504: Gateway Timeout"));
  EXPECT_EQ(StatusFromHttp(make(413, "")).code(), absl::StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace enrich::transport
