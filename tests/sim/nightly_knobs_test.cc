// The ctia-sim knobs a nightly run's tests need (issue 14 part 1), each against a real
// SimServer on 127.0.0.1:0: the token checked when the answer is sent, GraphQL switched off,
// hung and slow lookups from --fault-seed, every lookup an HTML 404 (a base URL that is not
// CTIA's), a limiter without X-RateLimit-* headers counted per client, and one rejected
// credential among working ones. Also their flags and TOML keys.

#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/time/time.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/sim/sim_test_client.h"
#include "tools/sim/sim_config.h"
#include "tools/sim/sim_server.h"

namespace enrich::sim {
namespace {

using test_support::Response;
using test_support::TestClient;
using ::testing::HasSubstr;
using ::testing::Not;
namespace http = boost::beast::http;

constexpr char kGraphqlBody[] =
    R"({"query":"{ a: observable(type: \"ip\", value: \"192.0.2.1\") )"
    R"({ verdict { disposition } } }"})";

class NightlyKnobsTest : public test_support::SimServerFixture {
 protected:
  Response Verdict(const std::string& auth, const std::string& value = "192.0.2.1") {
    return Send(http::verb::get, "/ctia/ip/" + value + "/verdict", auth);
  }
  Response Control(http::verb verb, const std::string& what, const std::string& body = "") {
    return Send(verb, "/__test__/" + what, "", body);
  }
  // Whether a verdict lookup on a fresh connection is answered within `wait` (the answer
  // closes the connection: Connection: close).
  bool LookupAnswered(const std::string& auth, std::chrono::milliseconds wait) {
    TestClient c(port_);
    c.WriteRaw(absl::StrCat("GET /ctia/ip/192.0.2.1/verdict HTTP/1.1\r\nHost: x\r\n",
                            "Authorization: ", auth, "\r\nConnection: close\r\n\r\n"));
    return absl::StartsWith(c.ReadRawFor(wait).bytes, "HTTP/1.1 ");
  }
};

// ---- token checked when the answer is sent --------------------------------------------------

TEST_F(NightlyKnobsTest, TokenExpiringDuringTheLatencyIs401JwtExpiredWhenCheckedAtSend) {
  SimOptions options;
  options.test_api = true;
  options.token_ttl = absl::Seconds(600);
  options.latency = absl::Milliseconds(200);
  options.token_check_at_send = true;
  StartServer(options);
  server_->SetClockFixed(absl::FromUnixSeconds(1'700'000'000));
  const std::string auth = Bearer();
  // 0.1 s of life left: valid when the request arrives, expired when the answer leaves.
  server_->AdvanceClock(absl::Seconds(600) - absl::Milliseconds(100));
  Response r = Verdict(auth);
  EXPECT_EQ(r.result_int(), 401u);
  EXPECT_THAT(r.body(), HasSubstr(R"("error":"jwt_expired")"));
  EXPECT_THAT(r.body(), HasSubstr("This JWT max lifetime has expired"));
  // The same request with the check on arrival (the default) still passes the token check.
  ASSERT_EQ(Control(http::verb::post, "knobs", R"({"token_check_at_send":false})").result_int(),
            200u);
  EXPECT_EQ(Verdict(auth).result_int(), 404u);  // no verdict: authenticated
}

TEST_F(NightlyKnobsTest, SlowLookupsCountInTheTokenCheckAtSend) {
  SimOptions options;
  options.token_check_at_send = true;
  options.slow_percent = 100;
  options.slow = absl::Milliseconds(300);
  StartServer(options);
  server_->SetClockFixed(absl::FromUnixSeconds(1'700'000'000));
  const std::string auth = Bearer();
  server_->AdvanceClock(absl::Seconds(600) - absl::Milliseconds(200));
  // /ctia/status is not a lookup: no slow answer, the token is still valid.
  EXPECT_EQ(Send(http::verb::get, "/ctia/status", auth).result_int(), 200u);
  Response r = Verdict(auth);
  EXPECT_EQ(r.result_int(), 401u);
  EXPECT_THAT(r.body(), HasSubstr("jwt_expired"));
}

TEST_F(NightlyKnobsTest, KnobsRouteSwitchesTheTokenCheckAndRefusesUnknownKeys) {
  SimOptions options;
  options.test_api = true;
  StartServer(options);
  Response r = Control(http::verb::get, "knobs");
  EXPECT_EQ(r.body(), R"({"graphql":true,"token_check_at_send":false})");
  r = Control(http::verb::post, "knobs", R"({"token_check_at_send":true})");
  EXPECT_EQ(r.body(), R"({"graphql":true,"token_check_at_send":true})");
  r = Control(http::verb::post, "knobs", R"({"graphq":false})");
  EXPECT_EQ(r.result_int(), 400u);
  EXPECT_THAT(r.body(), HasSubstr("graphq: unknown key"));
  r = Control(http::verb::post, "knobs", R"({"graphql":"no"})");
  EXPECT_EQ(r.result_int(), 400u);
  // Reset returns the switches to the configured state.
  ASSERT_EQ(Control(http::verb::post, "reset").result_int(), 200u);
  EXPECT_EQ(Control(http::verb::get, "knobs").body(),
            R"({"graphql":true,"token_check_at_send":false})");
}

// ---- GraphQL switched off --------------------------------------------------------------------

TEST_F(NightlyKnobsTest, WithoutGraphqlTheRouteIsCtiasHtml404AndRestIsUnchanged) {
  SimOptions options;
  options.graphql = false;
  options.test_api = true;
  StartServer(options);
  server_->AddJudgements({[] {
    schema::Judgement j;
    j.observable = {"ip", "192.0.2.1"};
    j.disposition = schema::Disposition::kMalicious;
    return j;
  }()});
  const std::string auth = Bearer();
  Response r = Send(http::verb::post, "/ctia/graphql", auth, kGraphqlBody);
  EXPECT_EQ(r.result_int(), 404u);
  EXPECT_THAT(r.body(), HasSubstr("404 Not Found"));
  EXPECT_THAT(std::string(r[http::field::content_type]), HasSubstr("text/html"));
  // Without a token it is refused first, as every /ctia route.
  EXPECT_EQ(Send(http::verb::post, "/ctia/graphql", "", kGraphqlBody).result_int(), 401u);
  r = Verdict(auth);
  EXPECT_EQ(r.result_int(), 200u);
  EXPECT_THAT(r.body(), HasSubstr(R"("disposition_name":"Malicious")"));
  // Switched on at run time, GraphQL answers again.
  ASSERT_EQ(Control(http::verb::post, "knobs", R"({"graphql":true})").result_int(), 200u);
  r = Send(http::verb::post, "/ctia/graphql", auth, kGraphqlBody);
  EXPECT_EQ(r.result_int(), 200u);
  EXPECT_THAT(r.body(), HasSubstr(R"("disposition":2)"));
  server_->SetGraphqlEnabled(false);
  EXPECT_EQ(Send(http::verb::post, "/ctia/graphql", auth, kGraphqlBody).result_int(), 404u);
}

// ---- a base URL that is not CTIA's ----------------------------------------------------------

// --html-404: every lookup gets the HTML 404 of an unknown route (no CTIA headers, not the
// JSON "no verdict" message); the token endpoint and the other routes still work.
TEST_F(NightlyKnobsTest, Html404AnswersEveryLookupWithAnHtmlPageAndSparesTheRest) {
  SimOptions options;
  options.html_404 = true;
  StartServer(options);
  server_->AddJudgements({[] {
    schema::Judgement j;
    j.observable = {"ip", "192.0.2.1"};
    j.disposition = schema::Disposition::kMalicious;
    return j;
  }()});
  const std::string auth = Bearer();  // the token endpoint is not a lookup
  for (Response r : {Verdict(auth), Send(http::verb::post, "/ctia/graphql", auth, kGraphqlBody)}) {
    EXPECT_EQ(r.result_int(), 404u);
    EXPECT_THAT(std::string(r[http::field::content_type]), HasSubstr("text/html"));
    EXPECT_THAT(r.body(), HasSubstr("404 Not Found"));
    EXPECT_THAT(r.body(), Not(HasSubstr("no verdict")));
    EXPECT_EQ(r.count("X-Ctia-Version"), 0u);
  }
  EXPECT_EQ(Send(http::verb::get, "/ctia/status", auth).result_int(), 200u);
}

TEST_F(NightlyKnobsTest, Html404FaultRuleFromTheTestApi) {
  SimOptions options;
  options.test_api = true;
  StartServer(options);
  const std::string auth = Bearer();
  EXPECT_EQ(Verdict(auth).result_int(), 404u);
  EXPECT_THAT(Verdict(auth).body(), HasSubstr("no verdict"));  // CTIA's JSON 404
  ASSERT_EQ(Control(http::verb::post, "faults",
                    R"({"kind":"html404","path":"/ctia/","lookups_only":true})")
                .result_int(),
            200u);
  Response r = Verdict(auth);
  EXPECT_EQ(r.result_int(), 404u);
  EXPECT_THAT(std::string(r[http::field::content_type]), HasSubstr("text/html"));
  EXPECT_EQ(Send(http::verb::get, "/ctia/status", auth).result_int(), 200u);
}

// ---- hung and slow lookups -------------------------------------------------------------------

TEST_F(NightlyKnobsTest, HungLookupsAreNeverAnsweredWhileOtherRoutesAre) {
  SimOptions options;
  options.hang_percent = 100;
  StartServer(options);
  const std::string auth = Bearer();  // the token endpoint is not a lookup
  EXPECT_EQ(Send(http::verb::get, "/ctia/status", auth).result_int(), 200u);
  TestClient c(port_);
  c.WriteRaw(absl::StrCat("GET /ctia/ip/192.0.2.1/verdict HTTP/1.1\r\nHost: x\r\n",
                          "Authorization: ", auth, "\r\n\r\n"));
  TestClient::RawRead read = c.ReadRawFor(std::chrono::milliseconds(500));
  EXPECT_EQ(read.bytes, "");
  EXPECT_FALSE(read.closed);  // open and silent until the client gives up
  EXPECT_EQ(server_->CountsByEndpoint()["verdict"][0], 1u);
}

TEST_F(NightlyKnobsTest, HungSharesFollowTheFaultSeed) {
  auto pattern = [&](uint64_t seed) {
    SimOptions options;
    options.hang_percent = 40;
    options.fault_seed = seed;
    StartServer(options);
    const std::string auth = Bearer();
    std::string out;
    for (int i = 0; i < 16; ++i) {
      out += LookupAnswered(auth, std::chrono::milliseconds(150)) ? '.' : 'H';
    }
    return out;
  };
  const std::string first = pattern(7);
  EXPECT_EQ(pattern(7), first);  // the same seed, the same answers hung
  EXPECT_THAT(first, HasSubstr("H"));
  EXPECT_THAT(first, HasSubstr("."));
}

TEST_F(NightlyKnobsTest, SlowShareOfLookupsWaitsSlowMs) {
  SimOptions options;
  options.slow_percent = 100;
  options.slow = absl::Milliseconds(300);
  StartServer(options);
  const std::string auth = Bearer();
  const auto start = std::chrono::steady_clock::now();
  EXPECT_EQ(Verdict(auth).result_int(), 404u);
  EXPECT_GE(std::chrono::steady_clock::now() - start, std::chrono::milliseconds(300));
}

TEST_F(NightlyKnobsTest, LookupsOnlyFaultRuleFromTheTestApiSparesOtherRoutes) {
  SimOptions options;
  options.test_api = true;
  StartServer(options);
  const std::string auth = Bearer();
  ASSERT_EQ(Control(http::verb::post, "faults",
                    R"({"kind":"status500","path":"/ctia/","lookups_only":true})")
                .result_int(),
            200u);
  EXPECT_EQ(Verdict(auth).result_int(), 500u);
  EXPECT_EQ(Send(http::verb::post, "/ctia/graphql", auth, kGraphqlBody).result_int(), 500u);
  EXPECT_EQ(Send(http::verb::get, "/ctia/status", auth).result_int(), 200u);
  EXPECT_EQ(Send(http::verb::get, "/ctia/ip/192.0.2.1/judgements", auth).result_int(), 200u);
  Response r = Control(http::verb::post, "faults", R"({"kind":"hang","lookups_only":1})");
  EXPECT_EQ(r.result_int(), 400u);
  EXPECT_THAT(r.body(), HasSubstr("lookups_only"));
}

// ---- a gateway's limiter -----------------------------------------------------------------------

TEST_F(NightlyKnobsTest, PerClientLimiterWithoutHeadersSendsOnlyShortRetryAfter) {
  SimOptions options;
  options.clients = {SimClient{"a", "sa"}, SimClient{"b", "sb"}};  // one org, two clients
  options.rate_limit = 3;
  options.rate_limit_window = absl::Seconds(2);
  options.rate_limit_header_group = "NONE";
  options.rate_limit_per_client = true;
  StartServer(options);
  server_->SetClockFixed(absl::FromUnixSeconds(1'700'000'000));
  const std::string a = Bearer("a", "sa");
  const std::string b = Bearer("b", "sb");
  for (int i = 0; i < 3; ++i) {
    Response r = Verdict(a);
    EXPECT_EQ(r.result_int(), 404u);
    for (const auto& field : r) {
      EXPECT_THAT(std::string(field.name_string()), Not(HasSubstr("RateLimit")));
    }
  }
  Response refused = Verdict(a);
  EXPECT_EQ(refused.result_int(), 429u);
  EXPECT_EQ(refused.body(), R"({"error": "Too Many Requests"})");
  EXPECT_EQ(std::string(refused[http::field::retry_after]), "2");
  EXPECT_EQ(Verdict(b).result_int(), 404u);  // counted apart from client a
  server_->AdvanceClock(absl::Seconds(2));
  EXPECT_EQ(Verdict(a).result_int(), 404u);
}

// ---- a rejected credential among working ones -------------------------------------------------

TEST_F(NightlyKnobsTest, RejectedCredentialIsInvalidClientWhileOthersGetTokens) {
  SimOptions options;
  options.clients = {SimClient{"good", "s1"}, SimClient{"other", "s2"}};
  StartServer(options);
  Response r = Token("other", "wrong");
  EXPECT_EQ(r.result_int(), 401u);
  EXPECT_THAT(r.body(), HasSubstr(R"("error":"invalid_client")"));
  EXPECT_EQ(Token("good", "s1").result_int(), 200u);
  EXPECT_EQ(Token("other", "s2").result_int(), 200u);
}

// ---- flags and TOML keys -----------------------------------------------------------------------

TEST(NightlyKnobsConfigTest, TomlKeysSetEveryKnobAndPrintBack) {
  const std::filesystem::path path =
      std::filesystem::temp_directory_path() / "nightly_knobs_test.toml";
  {
    std::ofstream out(path);
    out << "[server]\ngraphql = false\n"
           "[auth]\ntoken_check_at_send = true\n"
           "[rate_limit]\nlimit = \"100/2s\"\nheader = \"NONE\"\nper = \"client\"\n"
           "[test]\nfault_seed = 9\nhang_percent = 0.05\nslow_percent = 5\nslow_ms = 4000\n"
           "html_404 = true\n";
  }
  SimSettings s;
  ASSERT_TRUE(LoadSimConfig(path.string(), s).ok());
  absl::StatusOr<SimOptions> o = FinishSimOptions(s);
  ASSERT_TRUE(o.ok()) << o.status();
  EXPECT_FALSE(o->graphql);
  EXPECT_TRUE(o->token_check_at_send);
  EXPECT_EQ(o->rate_limit, 100);
  EXPECT_EQ(o->rate_limit_window, absl::Seconds(2));
  EXPECT_EQ(o->rate_limit_header_group, "NONE");
  EXPECT_TRUE(o->rate_limit_per_client);
  EXPECT_DOUBLE_EQ(o->hang_percent, 0.05);
  EXPECT_DOUBLE_EQ(o->slow_percent, 5);
  EXPECT_EQ(o->slow, absl::Milliseconds(4000));
  EXPECT_TRUE(o->html_404);
  // The printed settings read back to the same settings.
  const std::string printed = FormatSimSettings(s);
  EXPECT_THAT(printed, HasSubstr("hang_percent = 0.05"));
  EXPECT_THAT(printed, HasSubstr("html_404 = true"));
  EXPECT_THAT(printed, HasSubstr("per = 'client'"));
  {
    std::ofstream out(path);
    out << printed;
  }
  SimSettings back;
  ASSERT_TRUE(LoadSimConfig(path.string(), back).ok());
  EXPECT_EQ(FormatSimSettings(back), printed);
  {
    std::ofstream out(path);
    out << "[test]\nhang_percent = 101\n";
  }
  absl::Status bad = LoadSimConfig(path.string(), back);
  EXPECT_THAT(std::string(bad.message()), HasSubstr(":2: key 'test.hang_percent'"));
  std::filesystem::remove(path);
}

TEST(NightlyKnobsConfigTest, HelpDocumentsEveryKnob) {
  FILE* pipe = popen(absl::StrCat(CTIA_SIM_BINARY, " --help 2>&1").c_str(), "r");
  ASSERT_NE(pipe, nullptr);
  std::string help;
  char chunk[4096];
  size_t n = 0;
  while ((n = fread(chunk, 1, sizeof(chunk), pipe)) > 0) help.append(chunk, n);
  pclose(pipe);
  for (const char* flag : {"--token-check-at-send", "--no-graphql", "--hang-percent",
                           "--slow-percent", "--slow-ms", "--rate-limit-per", "NONE", "--html-404",
                           "/__test__/knobs", "lookups_only"}) {
    EXPECT_THAT(help, HasSubstr(flag));
  }
}

}  // namespace
}  // namespace enrich::sim
