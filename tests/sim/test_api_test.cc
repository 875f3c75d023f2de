// The /__test__/ control API and every fault knob, seen from a client socket (reference
// §12.6): a real SimServer on 127.0.0.1:0 with --test-api on.

#include <chrono>
#include <cstdio>
#include <fstream>
#include <memory>
#include <string>

#include "absl/strings/escaping.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "rapidjson/document.h"
#include "tests/sim/sim_test_client.h"
#include "tools/sim/sim_server.h"

namespace enrich::sim {
namespace {

using test_support::Response;
using test_support::TestClient;
using ::testing::HasSubstr;
namespace http = boost::beast::http;

class TestApiTest : public test_support::SimServerFixture {
 protected:
  void SetUp() override { Start(SimOptions{}); }

  void Start(SimOptions options, bool test_api = true) {
    options.test_api = test_api;
    StartServer(std::move(options));
  }

  Response Control(http::verb verb, const std::string& what, const std::string& body = "") {
    return Send(verb, "/__test__/" + what, "", body);
  }

  Response Verdict(const std::string& auth, const std::string& value = "192.0.2.1") {
    return Send(http::verb::get, "/ctia/ip/" + value + "/verdict", auth);
  }

  void AddFault(const std::string& json) {
    Response r = Control(http::verb::post, "faults", json);
    ASSERT_EQ(r.result_int(), 200u) << r.body();
  }

};

TEST_F(TestApiTest, OffByDefault) {
  Start(SimOptions{}, /*test_api=*/false);
  Response r = Control(http::verb::post, "faults", R"({"kind":"status500"})");
  EXPECT_EQ(r.result_int(), 404u);
  EXPECT_THAT(r.body(), HasSubstr("<html>"));
  EXPECT_EQ(Verdict(Bearer()).result_int(), 404u);  // no fault was installed
}

TEST_F(TestApiTest, BadRuleIs400NamingTheField) {
  Response r = Control(http::verb::post, "faults", R"({"kind":"status500","percent":5})");
  EXPECT_EQ(r.result_int(), 400u);
  EXPECT_THAT(r.body(), HasSubstr("percent: unknown key"));
  r = Control(http::verb::post, "faults", R"({"kind":"meltdown"})");
  EXPECT_THAT(r.body(), HasSubstr("unknown fault kind"));
  r = Control(http::verb::post, "faults", "{not json");
  EXPECT_EQ(r.result_int(), 400u);
}

TEST_F(TestApiTest, Status500OnAPathPrefixOnly) {
  const std::string auth = Bearer();
  AddFault(R"({"kind":"status500","path":"/ctia/ip/"})");
  Response r = Verdict(auth);
  EXPECT_EQ(r.result_int(), 500u);
  EXPECT_THAT(r.body(), HasSubstr(R"("type":"unknown-exception")"));
  EXPECT_EQ(Send(http::verb::get, "/ctia/domain/example.com/verdict", auth).result_int(), 404u);
  EXPECT_EQ(Control(http::verb::delete_, "faults").result_int(), 200u);
  EXPECT_EQ(Verdict(auth).result_int(), 404u);
}

TEST_F(TestApiTest, ProxyErrorsAreHtmlWithoutCtiaHeaders) {
  const std::string auth = Bearer();
  const std::pair<const char*, unsigned> cases[] = {
      {"html502", 502}, {"html503", 503}, {"html504", 504}, {"status413", 413},
      {"status414", 414}};
  for (const auto& [kind, status] : cases) {
    AddFault(absl::StrCat(R"({"kind":")", kind, R"(","next":1})"));
    Response r = Verdict(auth);
    EXPECT_EQ(r.result_int(), status) << kind;
    EXPECT_EQ(r[http::field::content_type], "text/html") << kind;
    EXPECT_THAT(r.body(), HasSubstr(absl::StrCat("<title>", status))) << kind;
    EXPECT_EQ(r["X-Ctia-Version"], "") << kind;
  }
  EXPECT_EQ(Verdict(auth).result_int(), 404u);  // each rule was "next 1"
}

TEST_F(TestApiTest, Burst429ForTheNextNRequestsWithChosenRetryAfter) {
  const std::string auth = Bearer();
  AddFault(R"({"kind":"burst429","next":3,"retry_after":7})");
  for (int i = 0; i < 3; ++i) {
    Response r = Verdict(auth);
    EXPECT_EQ(r.result_int(), 429u) << i;
    EXPECT_EQ(r[http::field::retry_after], "7");
    EXPECT_EQ(r.body(), R"({"error": "Too Many Requests"})");
  }
  EXPECT_EQ(Verdict(auth).result_int(), 404u);
}

TEST_F(TestApiTest, TokenFailureThenRecoveryAndCounters) {
  AddFault(R"({"kind":"token_fail","status":503,"next":2})");
  EXPECT_EQ(Token().result_int(), 503u);
  EXPECT_EQ(Token().result_int(), 503u);
  EXPECT_EQ(Token().result_int(), 200u);
  Response counters = Control(http::verb::get, "counters");
  ASSERT_EQ(counters.result_int(), 200u);
  rapidjson::Document doc;
  doc.Parse(counters.body().c_str());
  ASSERT_TRUE(doc.IsObject()) << counters.body();
  EXPECT_EQ(doc["endpoints"]["token"]["503"].GetUint64(), 2u) << counters.body();
  EXPECT_EQ(doc["endpoints"]["token"]["200"].GetUint64(), 1u);
  EXPECT_EQ(server_->Counters().token_requests, 3u);
  EXPECT_EQ(server_->CountsByEndpoint()["token"][503], 2u);
}

TEST_F(TestApiTest, FixedLatencyDelaysTheAnswer) {
  const std::string auth = Bearer();
  AddFault(R"({"kind":"latency","ms":250,"path":"/ctia/ip/"})");
  const auto start = std::chrono::steady_clock::now();
  Response r = Verdict(auth);
  const auto took = std::chrono::steady_clock::now() - start;
  EXPECT_EQ(r.result_int(), 404u);  // the normal answer, late
  EXPECT_GE(took, std::chrono::milliseconds(250));
}

// --latency-ms: every answer waits, the token endpoint's too, with the test API off.
TEST_F(TestApiTest, ConfiguredLatencyDelaysEveryAnswer) {
  SimOptions options;
  options.latency = absl::Milliseconds(250);
  Start(std::move(options), /*test_api=*/false);
  auto start = std::chrono::steady_clock::now();
  const std::string auth = Bearer();
  EXPECT_GE(std::chrono::steady_clock::now() - start, std::chrono::milliseconds(250));
  start = std::chrono::steady_clock::now();
  EXPECT_EQ(Verdict(auth).result_int(), 404u);  // the normal answer, late
  EXPECT_GE(std::chrono::steady_clock::now() - start, std::chrono::milliseconds(250));
}

// An injected latency fault replaces the configured latency (here: none for /ctia/ip/).
TEST_F(TestApiTest, LatencyFaultReplacesConfiguredLatency) {
  SimOptions options;
  options.latency = absl::Seconds(20);
  Start(std::move(options));
  AddFault(R"({"kind":"latency","ms":0,"path":"/ctia/"})");
  AddFault(R"({"kind":"latency","ms":0,"path":"/iroh/"})");
  const auto start = std::chrono::steady_clock::now();
  EXPECT_EQ(Verdict(Bearer()).result_int(), 404u);
  EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::seconds(15));
}

TEST_F(TestApiTest, LongTailLatencyAddsTheTail) {
  const std::string auth = Bearer();
  AddFault(R"({"kind":"latency","ms":10,"tail_ms":300,"tail_percentage":100})");
  const auto start = std::chrono::steady_clock::now();
  EXPECT_EQ(Verdict(auth).result_int(), 404u);
  EXPECT_GE(std::chrono::steady_clock::now() - start, std::chrono::milliseconds(310));
}

TEST_F(TestApiTest, HangAnswersNothingThenCloses) {
  const std::string auth = Bearer();
  AddFault(R"({"kind":"hang","hang_ms":600,"next":1})");
  TestClient c(port_);
  c.WriteRaw(absl::StrCat("GET /ctia/ip/192.0.2.1/verdict HTTP/1.1\r\nHost: x\r\n"
                          "Authorization: ", auth, "\r\n\r\n"));
  TestClient::RawRead early = c.ReadRawFor(std::chrono::milliseconds(200));
  EXPECT_EQ(early.bytes, "");
  EXPECT_FALSE(early.closed);
  TestClient::RawRead later = c.ReadRawFor(std::chrono::seconds(10));
  EXPECT_EQ(later.bytes, "");
  EXPECT_TRUE(later.closed);
  EXPECT_EQ(server_->CountsByEndpoint()["verdict"][0], 1u);  // counted as "no status"
}

TEST_F(TestApiTest, CloseMidResponseSendsPartOfTheHeaders) {
  const std::string auth = Bearer();
  AddFault(R"({"kind":"close_mid_response","next":1})");
  TestClient c(port_);
  c.WriteRaw(absl::StrCat("GET /ctia/ip/192.0.2.1/verdict HTTP/1.1\r\nHost: x\r\n"
                          "Authorization: ", auth, "\r\n\r\n"));
  TestClient::RawRead got = c.ReadRawFor(std::chrono::seconds(10));
  EXPECT_TRUE(got.closed);
  EXPECT_TRUE(absl::StartsWith(got.bytes, "HTTP/1.1 404")) << got.bytes;
  EXPECT_FALSE(absl::StrContains(got.bytes, "\r\n\r\n")) << got.bytes;
}

TEST_F(TestApiTest, TruncatedBodyIsShorterThanContentLength) {
  const std::string auth = Bearer();
  AddFault(R"({"kind":"truncated_body","next":1})");
  TestClient c(port_);
  c.WriteRaw(absl::StrCat("GET /ctia/ip/192.0.2.1/verdict HTTP/1.1\r\nHost: x\r\n"
                          "Authorization: ", auth, "\r\n\r\n"));
  TestClient::RawRead got = c.ReadRawFor(std::chrono::seconds(10));
  EXPECT_TRUE(got.closed);
  const size_t header_end = got.bytes.find("\r\n\r\n");
  ASSERT_NE(header_end, std::string::npos) << got.bytes;
  const size_t cl = got.bytes.find("Content-Length: ");
  ASSERT_NE(cl, std::string::npos);
  size_t length = 0;
  ASSERT_TRUE(absl::SimpleAtoi(
      got.bytes.substr(cl + 16, got.bytes.find("\r\n", cl) - cl - 16), &length));
  const size_t body = got.bytes.size() - header_end - 4;
  EXPECT_GT(body, 0u);
  EXPECT_LT(body, length);
  // A Beast client sees a partial message.
  AddFault(R"({"kind":"truncated_body","next":1})");
  TestClient beast_client(port_);
  beast_client.Send(http::verb::get, "/ctia/ip/192.0.2.1/verdict", auth);
  EXPECT_EQ(beast_client.ec(), http::error::partial_message);
}

TEST_F(TestApiTest, PercentageIsSeededAndDeterministic) {
  auto faulted_pattern = [&](uint64_t seed) {
    SimOptions options;
    options.fault_seed = seed;
    Start(options);
    const std::string auth = Bearer();
    AddFault(R"({"kind":"status500","percentage":30,"path":"/ctia/"})");
    std::string pattern;
    TestClient c(port_);
    for (int i = 0; i < 200; ++i) {
      Response r = c.Send(http::verb::get, "/ctia/ip/192.0.2.1/verdict", auth);
      pattern.push_back(r.result_int() == 500 ? 'x' : '.');
    }
    return pattern;
  };
  const std::string a = faulted_pattern(42);
  const std::string b = faulted_pattern(42);
  EXPECT_EQ(a, b);
  const auto hits = std::count(a.begin(), a.end(), 'x');
  EXPECT_GT(hits, 30);  // 30 % of 200 = 60; generous bounds
  EXPECT_LT(hits, 95);
  EXPECT_NE(faulted_pattern(7), a);
}

TEST_F(TestApiTest, FixedClockExpiresTokensAndControlsValidity) {
  Response set = Control(http::verb::post, "clock", R"({"fixed":"2016-02-12T00:00:00.000Z"})");
  ASSERT_EQ(set.result_int(), 200u) << set.body();
  EXPECT_THAT(set.body(), HasSubstr("2016-02-12T00:00:00.000Z"));
  const std::string auth = Bearer();
  Response posted = Send(http::verb::post, "/ctia/judgement", auth,
                         R"({"observable":{"type":"ip","value":"10.0.0.2"},"source":"s",)"
                         R"("confidence":"High","severity":"High","disposition":2,"priority":90,)"
                         R"("valid_time":{"end_time":"2016-02-12T00:00:10.000Z"}})");
  ASSERT_EQ(posted.result_int(), 201u) << posted.body();
  EXPECT_EQ(Verdict(auth, "10.0.0.2").result_int(), 200u);
  Control(http::verb::post, "clock", R"({"advance_ms":10000})");  // end is exclusive
  EXPECT_EQ(Verdict(auth, "10.0.0.2").result_int(), 404u);
  Control(http::verb::post, "clock", R"({"advance_ms":600000})");
  Response expired = Verdict(auth, "10.0.0.2");
  EXPECT_EQ(expired.result_int(), 401u);
  EXPECT_THAT(expired.body(), HasSubstr("jwt_expired"));
  Control(http::verb::post, "clock", R"({"release":true})");
  EXPECT_GT(server_->Now(), absl::FromUnixSeconds(1700000000));
}

TEST_F(TestApiTest, ResetClearsJudgementsFaultsAndCounters) {
  server_->AddJudgements(DemoJudgements(absl::Now()));
  ASSERT_GT(server_->JudgementCount(), 0u);
  const std::string auth = Bearer();
  AddFault(R"({"kind":"status500"})");
  ASSERT_EQ(Verdict(auth).result_int(), 500u);
  EXPECT_EQ(Control(http::verb::post, "reset").result_int(), 200u);
  EXPECT_EQ(server_->JudgementCount(), 0u);
  EXPECT_TRUE(server_->CountsByEndpoint().empty());
  EXPECT_EQ(Verdict(auth).result_int(), 404u);  // the token survives a reset
}

TEST_F(TestApiTest, LoadsAnNdjsonFile) {
  const std::string path = ::testing::TempDir() + "/ctia_sim_test_api_load.ndjson";
  std::ofstream(path) << R"({"observable":{"type":"ip","value":"198.51.100.7"},"source":"s",)"
                         R"("confidence":"High","severity":"High","disposition":2,"priority":90})"
                      << "\n";
  Response r = Control(http::verb::post, "load", absl::StrCat(R"({"path":")", path, R"("})"));
  EXPECT_EQ(r.result_int(), 200u) << r.body();
  EXPECT_THAT(r.body(), HasSubstr(R"("loaded":1)"));
  EXPECT_EQ(Verdict(Bearer(), "198.51.100.7").result_int(), 200u);
  Response missing = Control(http::verb::post, "load", R"({"path":"/nonexistent/x.ndjson"})");
  EXPECT_EQ(missing.result_int(), 400u);
  EXPECT_THAT(missing.body(), HasSubstr("/nonexistent/x.ndjson"));
  std::remove(path.c_str());
}

TEST_F(TestApiTest, VisibilitySwitchHidesGreenRecordsOfOtherGroups) {  // V14
  SimOptions options;
  options.clients = {SimClient{"client", "secret", "foogroup"},
                     SimClient{"baruser", "barpass", "bargroup"}};
  Start(options);
  schema::Judgement j;
  j.observable = {"domain", "green.com"};
  j.disposition = schema::Disposition::kMalicious;
  j.priority = 90;
  j.tlp = "green";
  server_->AddJudgements({j});
  TestClient c(port_);
  Response tok = c.Send(http::verb::post, "/iroh/oauth2/token",
                        "Basic " + absl::Base64Escape("baruser:barpass"),
                        "grant_type=client_credentials");
  rapidjson::Document doc;
  doc.Parse(tok.body().c_str());
  const std::string bar = absl::StrCat("Bearer ", doc["access_token"].GetString());
  EXPECT_EQ(Send(http::verb::get, "/ctia/domain/green.com/verdict", bar).result_int(), 200u);
  Response sw = Control(http::verb::post, "visibility", R"({"max_record_visibility":"group"})");
  EXPECT_EQ(sw.result_int(), 200u);
  EXPECT_EQ(Send(http::verb::get, "/ctia/domain/green.com/verdict", bar).result_int(), 404u);
  EXPECT_EQ(Send(http::verb::get, "/ctia/domain/green.com/verdict", Bearer()).result_int(), 200u);
}

TEST_F(TestApiTest, ExpireAllTokensAndOneToken) {
  const std::string a = Bearer();
  const std::string b = Bearer();
  EXPECT_EQ(Control(http::verb::post, "tokens",
                    absl::StrCat(R"({"expire":")", a.substr(7), R"("})"))
                .result_int(),
            200u);
  EXPECT_EQ(Verdict(a).result_int(), 401u);
  EXPECT_EQ(Verdict(b).result_int(), 404u);
  EXPECT_EQ(Control(http::verb::post, "tokens", R"({"expire_all":true})").result_int(), 200u);
  EXPECT_EQ(Verdict(b).result_int(), 401u);
}

TEST_F(TestApiTest, LookupsAreTalliedPerClientForRestAndGraphqlAliases) {
  SimOptions options;
  options.clients = {SimClient{"client", "secret"}, SimClient{"second", "pw2"}};
  Start(options);
  const std::string first = Bearer();
  const std::string second = Bearer("second", "pw2");
  EXPECT_EQ(Verdict(first, "192.0.2.1").result_int(), 404u);
  EXPECT_EQ(Verdict(first, "192.0.2.1").result_int(), 404u);
  // Three aliases, two of them for the same observable.
  Response g = Send(http::verb::post, "/ctia/graphql", second,
                    R"({"query":"{ a: observable(type:\"ip\", value:\"192.0.2.1\") )"
                    R"({ verdict { disposition } } b: observable(type:\"domain\", )"
                    R"(value:\"x.example\") { verdict { disposition } } c: observable()"
                    R"(type:\"domain\", value:\"x.example\") { verdict { disposition } } }"})");
  ASSERT_EQ(g.result_int(), 200u) << g.body();

  const LookupTally tally = server_->Lookups();
  EXPECT_EQ(tally, (LookupTally{{"client", {{"ip:192.0.2.1", 2}}},
                                {"second", {{"domain:x.example", 2}, {"ip:192.0.2.1", 1}}}}));
  Response lookups = Control(http::verb::get, "lookups");
  ASSERT_EQ(lookups.result_int(), 200u);
  EXPECT_EQ(lookups.body(), R"({"client":{"ip:192.0.2.1":2},)"
                            R"("second":{"domain:x.example":2,"ip:192.0.2.1":1}})");
  const SimCounters counters = server_->Counters();
  EXPECT_EQ(counters.graphql_requests, 1u);
  EXPECT_EQ(counters.graphql_observables, 3u);
  EXPECT_EQ(counters.verdict_requests, 2u);
  EXPECT_THAT(Control(http::verb::get, "counters").body(), HasSubstr(R"("graphql_observables":3})"));

  // A GraphQL request that does not parse asks for nothing.
  EXPECT_EQ(Send(http::verb::post, "/ctia/graphql", second, R"({"query":"{ nope"})").result_int(),
            400u);
  EXPECT_EQ(server_->Counters().graphql_requests, 2u);
  EXPECT_EQ(server_->Counters().graphql_observables, 3u);

  EXPECT_EQ(Control(http::verb::post, "reset").result_int(), 200u);
  EXPECT_TRUE(server_->Lookups().empty());
  EXPECT_EQ(server_->Counters().graphql_observables, 0u);
}

TEST_F(TestApiTest, NoLookupTallyWithoutTheTestApi) {
  Start(SimOptions{}, /*test_api=*/false);
  EXPECT_EQ(Verdict(Bearer()).result_int(), 404u);
  EXPECT_TRUE(server_->Lookups().empty());
  EXPECT_EQ(server_->Counters().verdict_requests, 1u);
}

TEST_F(TestApiTest, InProcessControlsWorkWithoutTheHttpApi) {
  Start(SimOptions{}, /*test_api=*/false);
  const std::string auth = Bearer();
  FaultRule rule;
  rule.kind = FaultKind::kHtml503;
  rule.next = 1;
  server_->AddFault(rule);
  EXPECT_EQ(Verdict(auth).result_int(), 503u);
  EXPECT_EQ(Verdict(auth).result_int(), 404u);
  server_->SetClockFixed(absl::FromUnixSeconds(0));
  EXPECT_EQ(server_->Now(), absl::FromUnixSeconds(0));
  server_->AdvanceClock(absl::Seconds(5));
  EXPECT_EQ(server_->Now(), absl::FromUnixSeconds(5));
  server_->ReleaseClock();
  server_->ExpireAllTokens();
  EXPECT_EQ(Verdict(auth).result_int(), 401u);
}

}  // namespace
}  // namespace enrich::sim
