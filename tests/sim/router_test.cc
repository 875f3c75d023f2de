#include "tools/sim/router.h"

#include <memory>
#include <string>

#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "rapidjson/document.h"
#include "schema/clock.h"
#include "schema/path_encoding.h"
#include "schema/time_format.h"
#include "tests/sim/router_fixture.h"
#include "tools/sim/judgement_store.h"

namespace enrich::sim {
namespace {

using test_support::At;
using test_support::Judgement;
using test_support::kT0;
using test_support::Parse;
using test_support::RouterTest;
using test_support::Str;
using ::testing::HasSubstr;
using ::testing::MatchesRegex;

// ---- token endpoint ----

TEST_F(RouterTest, TokenEndpointIssuesOpaqueBearerToken) {
  SimResponse r = Call("POST", "/iroh/oauth2/token", "grant_type=client_credentials",
                       "Basic " + absl::Base64Escape("client:secret"));
  ASSERT_EQ(r.status, 200);
  EXPECT_EQ(r.content_type, "application/json;charset=utf-8");
  rapidjson::Document doc = Parse(r.body);
  EXPECT_THAT(Str(doc, "access_token"), MatchesRegex("[0-9a-f]{64}"));
  EXPECT_EQ(Str(doc, "token_type"), "bearer");
  EXPECT_EQ(doc["expires_in"].GetInt(), 600);
  EXPECT_EQ(Str(doc, "scope"), "private-intel");
  EXPECT_NE(Token(), Token());
}

TEST_F(RouterTest, TokenEndpointRejectsWrongSecretWith401InvalidClient) {
  SimResponse r = Call("POST", "/iroh/oauth2/token", "grant_type=client_credentials",
                       "Basic " + absl::Base64Escape("client:wrong"));
  EXPECT_EQ(r.status, 401);
  EXPECT_EQ(Str(Parse(r.body), "error"), "invalid_client");
  EXPECT_NE(Str(Parse(r.body), "error_description"), "<missing>");
}

TEST_F(RouterTest, TokenEndpointRejectsMissingBasicWith401InvalidClient) {
  SimResponse r = Call("POST", "/iroh/oauth2/token", "grant_type=client_credentials");
  EXPECT_EQ(r.status, 401);
  EXPECT_EQ(Str(Parse(r.body), "error"), "invalid_client");
  r = Call("POST", "/iroh/oauth2/token", "grant_type=client_credentials", "Bearer abc");
  EXPECT_EQ(r.status, 401);
}

TEST_F(RouterTest, TokenEndpointRejectsOtherGrantWith400) {
  SimResponse r = Call("POST", "/iroh/oauth2/token", "grant_type=password",
                       "Basic " + absl::Base64Escape("client:secret"));
  EXPECT_EQ(r.status, 400);
  EXPECT_EQ(Str(Parse(r.body), "error"), "unsupported_grant_type");
  EXPECT_EQ(router_->Counters().token_requests, 1u);
}

// ---- authentication (reference §8.2, §12.4) ----

TEST_F(RouterTest, MissingAuthorizationIs401NotAuthenticated) {
  SimResponse r = Get("/ctia/ip/10.0.0.1/verdict", "");
  EXPECT_EQ(r.status, 401);
  EXPECT_EQ(r.body,
            R"({"error":"not_authenticated","message":"Only authenticated users allowed"})");
  EXPECT_EQ(r.Header("WWW-Authenticate"), "");
  EXPECT_EQ(router_->Counters().unauthorized, 1u);
}

TEST_F(RouterTest, NonBearerSchemeIs401NotAuthenticated) {
  const std::string token = Token();
  for (const std::string& auth : {"Basic " + absl::Base64Escape("client:secret"),
                                  "bearer " + token, "Token " + token, std::string("Bearer")}) {
    SimResponse r = Get("/ctia/status", auth);
    EXPECT_EQ(r.status, 401) << auth;
    EXPECT_EQ(Str(Parse(r.body), "error"), "not_authenticated") << auth;
  }
}

TEST_F(RouterTest, UnknownTokenIs401JwtDecodeFailed) {
  SimResponse r = Get("/ctia/status", "Bearer not-a-token");
  EXPECT_EQ(r.status, 401);
  EXPECT_EQ(r.body,
            R"({"error":"jwt_decode_failed_exception","error_description":"JWT decode failed",)"
            R"("level":"warn"})");
}

TEST_F(RouterTest, ExpiredTokenIs401JwtExpiredWithAge) {
  const std::string auth = Bearer();
  clock_.Advance(absl::Seconds(599));
  EXPECT_EQ(Get("/ctia/status", auth).status, 200);
  clock_.Advance(absl::Seconds(1));  // now == exp: expired
  EXPECT_EQ(Get("/ctia/status", auth).status, 401);
  clock_.Advance(absl::Seconds(125));
  SimResponse r = Get("/ctia/status", auth);
  EXPECT_EQ(r.status, 401);
  EXPECT_EQ(Str(Parse(r.body), "error"), "jwt_expired");
  EXPECT_EQ(Str(Parse(r.body), "error_description"),
            "This JWT max lifetime has expired 2min 5s ago");
}

TEST_F(RouterTest, ExpireAllTokensRevokesIssuedTokens) {
  const std::string auth = Bearer();
  router_->tokens().ExpireAll();
  EXPECT_EQ(Str(Parse(Get("/ctia/status", auth).body), "error"), "jwt_expired");
}

TEST_F(RouterTest, VersionNeedsNoTokenAndStatusDoes) {
  SimResponse r = Get("/ctia/version", "");
  ASSERT_EQ(r.status, 200);
  EXPECT_EQ(Str(Parse(r.body), "base"), "/ctia");
  EXPECT_EQ(Get("/ctia/status", "").status, 401);
  r = Get("/ctia/status", Bearer());
  EXPECT_EQ(r.status, 200);
  EXPECT_EQ(r.body, R"({"status":"ok"})");
}

TEST_F(RouterTest, EveryResponseCarriesNosniffAndVersionHeaders) {
  for (const SimResponse& r : {Get("/ctia/version", ""), Get("/ctia/status", ""),
                               Get("/nowhere", ""), Get("/ctia/ip/1.2.3.4/verdict", Bearer())}) {
    EXPECT_EQ(r.Header("X-Content-Type-Options"), "nosniff");
    EXPECT_NE(r.Header("X-Ctia-Version"), "");
    EXPECT_EQ(r.Header("X-Ctim-Version"), "1.3.29");
  }
}

TEST_F(RouterTest, UnknownCtiaRouteIs401UnauthenticatedAndHtml404Authenticated) {
  EXPECT_EQ(Get("/ctia/nothing/here", "").status, 401);
  SimResponse r = Get("/ctia/nothing/here", Bearer());
  EXPECT_EQ(r.status, 404);
  EXPECT_EQ(r.content_type, "text/html;charset=utf-8");
  EXPECT_THAT(r.body, HasSubstr("<html>"));
}

TEST_F(RouterTest, TokenWithoutPrivateIntelScopeIs403MissingCapability) {
  SimResponse r = Get("/ctia/ip/10.0.0.1/verdict", Bearer("other", "otherpass"));
  EXPECT_EQ(r.status, 403);
  EXPECT_EQ(r.body, R"({"message":"Missing capability","error":"missing_capability",)"
                    R"("capabilities":"read-verdict","owner":"other"})");
}

TEST_F(RouterTest, ReadScopeReadsButCannotCreate) {
  const std::string auth = Bearer("reader", "readpass");
  EXPECT_EQ(Get("/ctia/ip/10.0.0.1/verdict", auth).status, 404);
  SimResponse r = Call("POST", "/ctia/judgement", Judgement("ip", "10.0.0.1", 2, 90), auth);
  EXPECT_EQ(r.status, 403);
  EXPECT_EQ(Str(Parse(r.body), "capabilities"), "create-judgement");
}

// ---- verdict path (reference §1.3, §1.4, §2) ----

TEST_F(RouterTest, VerdictEchoesStoredObservableWithCaseInsensitiveMatch) {
  const std::string auth = Bearer();
  const std::string id = Post(Judgement("domain", "Phish.EXAMPLE.net", 2, 90), auth);
  SimResponse r = Get("/ctia/domain/phish.example.NET/verdict", auth);
  ASSERT_EQ(r.status, 200) << r.body;
  rapidjson::Document doc = Parse(r.body);
  EXPECT_EQ(doc.MemberCount(), 6u);
  EXPECT_EQ(Str(doc, "type"), "verdict");
  EXPECT_EQ(doc["disposition"].GetInt(), 2);
  EXPECT_EQ(Str(doc, "disposition_name"), "Malicious");
  EXPECT_EQ(Str(doc["observable"], "value"), "Phish.EXAMPLE.net");
  EXPECT_EQ(Str(doc, "judgement_id"), id);
  EXPECT_EQ(Str(doc["valid_time"], "end_time"), "2525-01-01T00:00:00.000Z");
  EXPECT_EQ(router_->Counters().verdict_requests, 1u);
}

TEST_F(RouterTest, EncodedSlashAndLiteralPlusAreDecodedOnce) {
  const std::string auth = Bearer();
  const std::string value = "http://x.example/a b?q=1+2";
  const std::string id = Post(Judgement("url", value, 2, 90), auth);
  const std::string encoded = schema::PercentEncodePathSegment(value);
  EXPECT_THAT(encoded, HasSubstr("%2F"));
  EXPECT_EQ(VerdictId(absl::StrCat("/ctia/url/", encoded, "/verdict"), auth), id);
  // `+` is a literal plus in the path, not a space (reference §1.3).
  const std::string plus_id = Post(Judgement("domain", "a+b.example", 3, 90), auth);
  EXPECT_EQ(VerdictId("/ctia/domain/a+b.example/verdict", auth), plus_id);
  EXPECT_EQ(Get("/ctia/domain/a%20b.example/verdict", auth).status, 404);
  EXPECT_EQ(VerdictId("/ctia/domain/a%2Bb.example/verdict", auth), plus_id);
}

TEST_F(RouterTest, UnencodedSeparatorsDoNotMatchTheRoute) {
  const std::string auth = Bearer();
  Post(Judgement("url", "http://x.example/a", 2, 90), auth);
  for (const char* target : {"/ctia/url/http://x.example/a/verdict", "/ctia/ip/1,2/verdict",
                             "/ctia/ip/1;2/verdict", "/ctia/ip//verdict"}) {
    SimResponse r = Get(target, auth);
    EXPECT_EQ(r.status, 404) << target;
    EXPECT_EQ(r.content_type, "text/html;charset=utf-8") << target;
  }
}

TEST_F(RouterTest, UnknownObservableTypeIs400WithEnumExplanation) {
  const std::string auth = Bearer();
  SimResponse r = Get("/ctia/foo/bar/verdict", auth);
  EXPECT_EQ(r.status, 400);
  const std::string explanation = Str(Parse(r.body)["errors"], "observable_type");
  EXPECT_THAT(explanation, MatchesRegex(R"(\(not \(#\{"acudid" .*"user_agent"\} "foo"\)\))"));
  // The enum is case-sensitive (reference §1.1).
  EXPECT_EQ(Get("/ctia/IP/10.0.0.1/verdict", auth).status, 400);
}

TEST_F(RouterTest, QuerySchemaIsClosed) {
  const std::string auth = Bearer();
  SimResponse r = Get("/ctia/ip/10.0.0.1/verdict?limit=10", auth);
  EXPECT_EQ(r.status, 400);
  EXPECT_EQ(r.body, R"({"errors":{"limit":"disallowed-key"}})");
  r = Get("/ctia/ip/10.0.0.1/verdict?from=yesterday", auth);
  EXPECT_EQ(r.status, 400);
  EXPECT_NE(Str(Parse(r.body)["errors"], "from"), "<missing>");
  EXPECT_EQ(Get("/ctia/ip/10.0.0.1/verdict?from=2016-01-01T00:00:00.000Z", auth).status, 404);
}

TEST_F(RouterTest, NoVerdictIs404JsonMessage) {
  SimResponse r = Get("/ctia/ip/10.0.0.42/verdict", Bearer());
  EXPECT_EQ(r.status, 404);
  EXPECT_EQ(r.content_type, "application/json;charset=utf-8");
  EXPECT_EQ(r.body,
            R"({"message":"no verdict currently available for the supplied observable"})");
}

TEST_F(RouterTest, VerdictOrderIsPriorityThenDispositionThenStart) {  // V1, V2
  const std::string auth = Bearer();
  Post(Judgement("ip", "127.0.0.1", 1, 100,
                 R"(,"valid_time":{"start_time":"2016-02-12T00:00:00.000Z"})"),
       auth);
  Post(Judgement("ip", "10.0.0.1", 1, 90, R"(,"valid_time":{"start_time":"2016-02-12T00:00:00.000Z"})"),
       auth);
  const std::string b = Post(
      Judgement("ip", "10.0.0.1", 3, 99, R"(,"valid_time":{"start_time":"2016-02-12T00:00:00.000Z"})"),
      auth);
  EXPECT_EQ(VerdictId("/ctia/ip/10.0.0.1/verdict", auth), b);
  Post(Judgement("ip", "10.0.0.1", 2, 99, R"(,"valid_time":{"start_time":"2016-02-12T00:01:00.000Z"})"),
       auth);
  const std::string d = Post(
      Judgement("ip", "10.0.0.1", 2, 99, R"(,"valid_time":{"start_time":"2016-02-12T00:00:00.000Z"})"),
      auth);
  SimResponse r = Get("/ctia/ip/10.0.0.1/verdict", auth);
  rapidjson::Document doc = Parse(r.body);
  EXPECT_EQ(Str(doc, "judgement_id"), d);
  EXPECT_EQ(Str(doc, "disposition_name"), "Malicious");
  EXPECT_EQ(Str(doc["valid_time"], "start_time"), "2016-02-12T00:00:00.000Z");
}

TEST_F(RouterTest, ValidTimeIsStartInclusiveEndExclusive) {  // V7, V8, V9
  const std::string auth = Bearer();
  const std::string now = schema::FormatIsoTime(clock_.Now());
  Post(Judgement("ip", "10.0.0.1", 2, 90,
                 absl::StrCat(R"(,"valid_time":{"start_time":")", now, R"(","end_time":")", now,
                              R"("})")),
       auth);
  EXPECT_EQ(Get("/ctia/ip/10.0.0.1/verdict", auth).status, 404);
  Post(Judgement("ip", "10.0.0.3", 2, 90,
                 absl::StrCat(R"(,"valid_time":{"start_time":")",
                              schema::FormatIsoTime(clock_.Now() + absl::Minutes(1)), R"("})")),
       auth);
  EXPECT_EQ(Get("/ctia/ip/10.0.0.3/verdict", auth).status, 404);
  clock_.Advance(absl::Minutes(1));
  EXPECT_EQ(Get("/ctia/ip/10.0.0.3/verdict", auth).status, 200);
}

TEST_F(RouterTest, FromToFilterOnCreatedInsteadOfValidTime) {  // V15-V17 style
  const std::string auth = Bearer();
  const std::string before = schema::FormatIsoTime(clock_.Now());
  const std::string old = Post(
      Judgement("ip", "10.0.0.1", 3, 99,
                R"(,"valid_time":{"start_time":"2015-01-01T00:00:00.000Z","end_time":"2015-02-01T00:00:00.000Z"})"),
      auth);
  clock_.Advance(absl::Minutes(1));
  const std::string midway = schema::FormatIsoTime(clock_.Now());
  clock_.Advance(absl::Minutes(1));
  Post(Judgement("ip", "10.0.0.1", 2, 99), auth);
  EXPECT_EQ(VerdictId(absl::StrCat("/ctia/ip/10.0.0.1/verdict?from=", before, "&to=", midway),
                      auth),
            old);
  EXPECT_EQ(Get(absl::StrCat("/ctia/ip/10.0.0.1/verdict?from=",
                             schema::FormatIsoTime(clock_.Now() + absl::Seconds(1))),
                auth)
                .status,
            404);
  EXPECT_EQ(Str(Parse(Get("/ctia/ip/10.0.0.1/verdict", auth).body), "disposition_name"),
            "Malicious");
}

TEST_F(RouterTest, TlpVisibilityFollowsCtiaRules) {  // V10-V13
  const std::string foo = Bearer("foouser", "foopass");
  const std::string bar = Bearer("baruser", "barpass");
  const std::string foobar = Bearer("foobaruser", "foobarpass");
  Post(Judgement("domain", "green.com", 2, 90, R"(,"tlp":"green")"), foo);
  Post(Judgement("domain", "amber.com", 2, 90, R"(,"tlp":"amber")"), bar);
  Post(Judgement("domain", "red.com", 2, 90, R"(,"tlp":"red")"), foobar);
  Post(Judgement("domain", "auth.com", 2, 90, R"(,"tlp":"red","authorized_groups":["bargroup"])"),
       bar);
  auto status = [&](absl::string_view domain, const std::string& auth) {
    return Get(absl::StrCat("/ctia/domain/", domain, "/verdict"), auth).status;
  };
  EXPECT_EQ(status("green.com", foo), 200);
  EXPECT_EQ(status("green.com", bar), 200);
  EXPECT_EQ(status("green.com", foobar), 200);
  EXPECT_EQ(status("amber.com", foo), 404);
  EXPECT_EQ(status("amber.com", bar), 200);
  EXPECT_EQ(status("amber.com", foobar), 200);
  EXPECT_EQ(status("red.com", foo), 404);
  EXPECT_EQ(status("red.com", bar), 404);
  EXPECT_EQ(status("red.com", foobar), 200);
  EXPECT_EQ(status("auth.com", foo), 404);
  EXPECT_EQ(status("auth.com", bar), 200);
  EXPECT_EQ(status("auth.com", foobar), 200);
}

TEST_F(RouterTest, GroupVisibilityHidesGreenRecordsFromOtherGroups) {  // V14
  options_.green_visible_to_everyone = false;
  router_ = std::make_unique<Router>(options_, store_);
  const std::string foo = Bearer("foouser", "foopass");
  Post(Judgement("domain", "green.com", 2, 90), foo);
  EXPECT_EQ(Get("/ctia/domain/green.com/verdict", foo).status, 200);
  EXPECT_EQ(Get("/ctia/domain/green.com/verdict", Bearer("baruser", "barpass")).status, 404);
}

// ---- POST /ctia/judgement (reference §5) ----

TEST_F(RouterTest, PostFillsCtiaDefaults) {
  const std::string auth = Bearer();
  SimResponse r = Call("POST", "/ctia/judgement",
                       R"({"observable":{"type":"ip","value":"10.0.0.1"},"source":"s",)"
                       R"("priority":95,"confidence":"Low","severity":"Info",)"
                       R"("disposition_name":"Suspicious","schema_version":"0.0.1"})",
                       auth);
  ASSERT_EQ(r.status, 201) << r.body;
  rapidjson::Document doc = Parse(r.body);
  const std::string id = Str(doc, "id");
  EXPECT_THAT(id, MatchesRegex("https://ctia\\.test:443/ctia/judgement/judgement-"
                               "[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-"
                               "[0-9a-f]{12}"));
  EXPECT_EQ(r.Header("Location"), id);
  EXPECT_EQ(Str(doc, "type"), "judgement");
  EXPECT_EQ(Str(doc, "schema_version"), "1.3.29");
  EXPECT_EQ(doc["disposition"].GetInt(), 3);
  EXPECT_EQ(Str(doc, "tlp"), "green");
  EXPECT_EQ(Str(doc, "owner"), "client");
  ASSERT_TRUE(doc["groups"].IsArray());
  EXPECT_EQ(std::string(doc["groups"][0].GetString()), "org-1");
  const std::string now = schema::FormatIsoTime(clock_.Now());
  EXPECT_EQ(Str(doc, "created"), now);
  EXPECT_EQ(Str(doc["valid_time"], "start_time"), now);
  EXPECT_EQ(Str(doc["valid_time"], "end_time"), "2525-01-01T00:00:00.000Z");
  EXPECT_EQ(store_.size(), 1u);
  EXPECT_EQ(router_->Counters().judgement_posts, 1u);
}

TEST_F(RouterTest, PostWithSchemaErrorsIs400Errors) {
  SimResponse r = Call("POST", "/ctia/judgement",
                       R"({"observable":{"type":"ip","value":"1"},"priority":1,)"
                       R"("confidence":"Huge","severity":"High","bogus":1})",
                       Bearer());
  EXPECT_EQ(r.status, 400);
  rapidjson::Document doc = Parse(r.body);
  ASSERT_TRUE(doc.HasMember("errors"));
  EXPECT_EQ(Str(doc["errors"], "source"), "missing-required-key");
  EXPECT_EQ(Str(doc["errors"], "bogus"), "disallowed-key");
  EXPECT_THAT(Str(doc["errors"], "confidence"), HasSubstr("\"Huge\""));
  EXPECT_EQ(store_.size(), 0u);
}

TEST_F(RouterTest, PostWithUnknownObservableTypeIs400NestedError) {
  SimResponse r = Call("POST", "/ctia/judgement", Judgement("ipaddr", "1.2.3.4", 2, 90), Bearer());
  EXPECT_EQ(r.status, 400);
  EXPECT_THAT(Str(Parse(r.body)["errors"]["observable"], "type"), HasSubstr("\"ipaddr\"))"));
}

TEST_F(RouterTest, PostWithMismatchedDispositionIs400WithCtiaMessage) {
  const std::string body = Judgement("ip", "1.2.3.4", 2, 90, R"(,"disposition_name":"Clean")");
  SimResponse r = Call("POST", "/ctia/judgement", body, Bearer());
  EXPECT_EQ(r.status, 400);
  rapidjson::Document doc = Parse(r.body);
  EXPECT_EQ(Str(doc, "error"), "Mismatched disposition and dispositon_name for judgement");
  EXPECT_EQ(Str(doc["judgement"], "disposition_name"), "Clean");
}

TEST_F(RouterTest, PostWithInvalidJsonIs400ParseException) {
  SimResponse r = Call("POST", "/ctia/judgement", "{\"observable\":", Bearer());
  EXPECT_EQ(r.status, 400);
  EXPECT_EQ(Str(Parse(r.body), "type"), "json-parse-exception");
  EXPECT_NE(Str(Parse(r.body), "message"), "<missing>");
}

TEST_F(RouterTest, DeeplyNestedJsonIs400NotACrash) {
  const std::string auth = Bearer();
  // A million levels: the iterative parser takes them; the depth check refuses them.
  const std::string deep = std::string(1000000, '[') + std::string(1000000, ']');
  SimResponse r = Call("POST", "/ctia/judgement", deep, auth);
  EXPECT_EQ(r.status, 400);
  EXPECT_THAT(r.body, HasSubstr("nested deeper than 64"));
  r = Call("POST", "/ctia/bulk", absl::StrCat(R"({"judgements":)", deep, "}"), auth);
  EXPECT_EQ(r.status, 400);
  EXPECT_EQ(Call("POST", "/ctia/judgement", std::string(100000, '['), auth).status, 400);
}

TEST_F(RouterTest, PostWithOwnIdNeedsSpecifyIdCapability) {
  SimResponse r = Call("POST", "/ctia/judgement",
                       Judgement("ip", "1.2.3.4", 2, 90, R"(,"id":"judgement-mine")"), Bearer());
  EXPECT_EQ(r.status, 403);
  EXPECT_EQ(Str(Parse(r.body), "capabilities"), "specify-id");
}

// ---- POST /ctia/bulk (reference §6.1) ----

TEST_F(RouterTest, BulkOverMaxIs400PlainString) {
  std::string items;
  for (int i = 0; i < 6; ++i) {
    absl::StrAppend(&items, i ? "," : "", Judgement("ip", absl::StrCat("10.0.0.", i), 2, 90));
  }
  SimResponse r = Call("POST", "/ctia/bulk", absl::StrCat(R"({"judgements":[)", items, "]}"),
                       Bearer());
  EXPECT_EQ(r.status, 400);
  EXPECT_EQ(r.body, "\"Bulk max number of entities: 5\"");
  EXPECT_EQ(store_.size(), 0u);
}

TEST_F(RouterTest, BulkDefaultMaxIs2000) {
  EXPECT_EQ(SimOptions{}.bulk_max, 2000u);
}

TEST_F(RouterTest, BulkAnswersIdsAndErrorsInInputOrder) {
  const std::string auth = Bearer();
  SimResponse r = Call(
      "POST", "/ctia/bulk",
      absl::StrCat(R"({"judgements":[)", Judgement("ip", "10.0.0.1", 2, 90), ",",
                   R"({"observable":{"type":"ip","value":"10.0.0.2"}},)",
                   Judgement("ip", "10.0.0.3", 1, 90, R"(,"id":"transient:t1")"), "]}"),
      auth);
  ASSERT_EQ(r.status, 201) << r.body;
  rapidjson::Document doc = Parse(r.body);
  const rapidjson::Value& list = doc["judgements"];
  ASSERT_EQ(list.Size(), 3u);
  ASSERT_TRUE(list[0].IsString());
  EXPECT_THAT(std::string(list[0].GetString()), HasSubstr("/ctia/judgement/judgement-"));
  ASSERT_TRUE(list[1].IsObject());
  EXPECT_NE(Str(list[1], "error"), "<missing>");
  EXPECT_NE(Str(list[1], "msg"), "<missing>");
  EXPECT_NE(Str(list[1], "type"), "<missing>");
  EXPECT_EQ(Str(list[1]["entity"]["observable"], "value"), "10.0.0.2");
  ASSERT_TRUE(list[2].IsString());
  EXPECT_EQ(Str(doc["tempids"], "transient:t1"), std::string(list[2].GetString()));
  EXPECT_EQ(store_.size(), 2u);
  EXPECT_EQ(VerdictId("/ctia/ip/10.0.0.1/verdict", auth), std::string(list[0].GetString()));
  EXPECT_EQ(router_->Counters().bulk_posts, 1u);
}

TEST_F(RouterTest, BulkWithUnsupportedKeyIs400) {
  SimResponse r = Call("POST", "/ctia/bulk", R"({"indicators":[],"judgements":[]})", Bearer());
  EXPECT_EQ(r.status, 400);
  EXPECT_EQ(Str(Parse(r.body)["errors"], "indicators"), "disallowed-key");
}

// ---- GET / DELETE / expire ----

TEST_F(RouterTest, GetByShortOrLongIdThenDelete) {  // V4
  const std::string auth = Bearer();
  const std::string id = Post(Judgement("ip", "10.0.0.1", 1, 100), auth);
  const std::string short_id = id.substr(id.rfind('/') + 1);
  SimResponse r = Get(absl::StrCat("/ctia/judgement/", short_id), auth);
  ASSERT_EQ(r.status, 200);
  EXPECT_EQ(Str(Parse(r.body), "id"), id);
  EXPECT_EQ(Get(absl::StrCat("/ctia/judgement/", schema::PercentEncodePathSegment(id)), auth).status,
            200);
  EXPECT_EQ(Call("DELETE", absl::StrCat("/ctia/judgement/", short_id), "", auth).status, 204);
  r = Get(absl::StrCat("/ctia/judgement/", short_id), auth);
  EXPECT_EQ(r.status, 404);
  EXPECT_EQ(r.body, "");
  EXPECT_EQ(Call("DELETE", absl::StrCat("/ctia/judgement/", short_id), "", auth).status, 404);
  EXPECT_EQ(Get("/ctia/ip/10.0.0.1/verdict", auth).status, 404);
  EXPECT_EQ(store_.size(), 0u);
}

TEST_F(RouterTest, DeleteLeavesIdenticalTwinAsVerdict) {  // V5
  const std::string auth = Bearer();
  const std::string j2 = Post(Judgement("ip", "10.0.0.1", 1, 100), auth);
  const std::string j3 = Post(Judgement("ip", "10.0.0.1", 1, 100), auth);
  EXPECT_EQ(Call("DELETE", absl::StrCat("/ctia/judgement/", j3.substr(j3.rfind('/') + 1)), "",
                 auth)
                .status,
            204);
  EXPECT_EQ(VerdictId("/ctia/ip/10.0.0.1/verdict", auth), j2);
}

TEST_F(RouterTest, ExpireEndsTheVerdictAndNeedsReason) {
  const std::string auth = Bearer();
  const std::string id = Post(Judgement("ip", "10.0.0.1", 2, 90), auth);
  const std::string path = absl::StrCat("/ctia/judgement/", id.substr(id.rfind('/') + 1), "/expire");
  EXPECT_EQ(Call("POST", path, "", auth).status, 400);
  SimResponse r = Call("POST", path + "?reason=false+positive", "", auth);
  ASSERT_EQ(r.status, 200) << r.body;
  EXPECT_EQ(Str(Parse(r.body), "reason"), "false positive");
  EXPECT_EQ(Get("/ctia/ip/10.0.0.1/verdict", auth).status, 404);
}

// ---- GET /ctia/{type}/{value}/judgements (reference §4) ----

TEST_F(RouterTest, ListJudgementsSortsAndPages) {
  const std::string auth = Bearer();
  const std::string j1 = Post(
      Judgement("ip", "10.0.0.1", 2, 90, R"(,"valid_time":{"start_time":"2017-02-11T00:00:00.000Z"})"),
      auth);
  const std::string j2 = Post(
      Judgement("ip", "10.0.0.1", 5, 90, R"(,"valid_time":{"start_time":"2017-02-11T00:00:00.000Z"})"),
      auth);
  const std::string j3 = Post(
      Judgement("ip", "10.0.0.1", 5, 90, R"(,"valid_time":{"start_time":"2017-02-12T00:00:00.000Z"})"),
      auth);
  Post(Judgement("ip", "192.168.1.1", 2, 90), auth);
  SimResponse r = Get(
      "/ctia/ip/10.0.0.1/judgements?sort_by=disposition%3Aasc%2Cvalid_time.start_time%3Adesc",
      auth);
  ASSERT_EQ(r.status, 200) << r.body;
  rapidjson::Document doc = Parse(r.body);
  ASSERT_EQ(doc.Size(), 3u);
  EXPECT_EQ(Str(doc[0], "id"), j1);
  EXPECT_EQ(Str(doc[1], "id"), j3);
  EXPECT_EQ(Str(doc[2], "id"), j2);
  EXPECT_EQ(r.Header("X-Total-Hits"), "3");
  r = Get("/ctia/ip/10.0.0.1/judgements?limit=2", auth);
  EXPECT_EQ(Parse(r.body).Size(), 2u);
  EXPECT_THAT(r.Header("X-Next"), ::testing::StartsWith("limit=2&offset=2&search_after="));
  r = Get("/ctia/ip/10.0.0.1/judgements?limit=2&offset=2", auth);
  EXPECT_EQ(Parse(r.body).Size(), 1u);
  EXPECT_EQ(r.Header("X-Next"), "");
  EXPECT_EQ(r.Header("X-Previous"), "limit=2&offset=0");
  EXPECT_EQ(Get("/ctia/ip/10.0.0.1/judgements?limit=100&offset=9950", auth).status, 400);
  EXPECT_EQ(Get("/ctia/ip/10.0.0.1/judgements?sort_by=bogus", auth).status, 400);
}

TEST_F(RouterTest, AddJudgementsAppliesDefaultsForFirstClient) {
  schema::Judgement j;
  j.observable = {"domain", "Seeded.Example"};
  j.disposition = schema::Disposition::kSuspicious;
  j.priority = 90;
  std::vector<std::string> ids = router_->AddJudgements({j});
  ASSERT_EQ(ids.size(), 1u);
  EXPECT_THAT(ids[0], HasSubstr("https://ctia.test:443/ctia/judgement/judgement-"));
  std::optional<schema::Judgement> stored = store_.Find(ids[0].substr(ids[0].rfind('/') + 1));
  ASSERT_TRUE(stored.has_value());
  EXPECT_EQ(stored->owner, "client");
  EXPECT_EQ(stored->groups, std::vector<std::string>{"org-1"});
  EXPECT_EQ(stored->tlp, "green");
  EXPECT_EQ(stored->valid_time.start_time, clock_.Now());
  EXPECT_EQ(stored->valid_time.end_time, schema::EndOfTime());
  EXPECT_EQ(VerdictId("/ctia/domain/seeded.example/verdict", Bearer()), ids[0]);
}

TEST_F(RouterTest, CountersCountTotalsAndClientErrors) {
  Get("/ctia/status", "");
  Get("/ctia/status", Bearer());
  const SimCounters c = router_->Counters();
  EXPECT_EQ(c.total, 3u);  // the token request included
  EXPECT_EQ(c.token_requests, 1u);
  EXPECT_EQ(c.unauthorized, 1u);
  EXPECT_EQ(c.client_errors, 1u);
}

}  // namespace
}  // namespace enrich::sim
