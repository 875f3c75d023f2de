// POST /ctia/graphql: the subset parser, then the route (reference §9.4, V18 of §2.6).

#include "tools/sim/graphql_subset.h"

#include <string>

#include "absl/strings/str_cat.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "rapidjson/document.h"
#include "tests/sim/router_fixture.h"

namespace enrich::sim {
namespace {

using test_support::Judgement;
using test_support::Parse;
using test_support::RouterTest;
using test_support::Str;
using ::testing::HasSubstr;

TEST(GraphqlSubsetTest, ParsesAliasesArgumentsAndNestedSelections) {
  auto parsed = ParseGraphqlObservables(R"(
    query Verdicts {  # a comment
      a: observable(type: "ip", value: "1.2.3.4") {
        verdict { disposition judgement_id valid_time { end_time } }
      }
      b: observable(type:"domain",value:"Evil.COM") { type value verdict { observable { value } } }
    })",
                                        nullptr);
  ASSERT_TRUE(parsed.ok()) << parsed.status();
  ASSERT_EQ(parsed->size(), 2u);
  EXPECT_EQ((*parsed)[0].response_key, "a");
  EXPECT_EQ((*parsed)[0].type, "ip");
  EXPECT_EQ((*parsed)[0].value, "1.2.3.4");
  ASSERT_EQ((*parsed)[0].selection.size(), 1u);
  const GraphqlField& verdict = (*parsed)[0].selection[0];
  EXPECT_EQ(verdict.name, "verdict");
  ASSERT_EQ(verdict.selection.size(), 3u);
  EXPECT_EQ(verdict.selection[2].name, "valid_time");
  EXPECT_EQ(verdict.selection[2].selection[0].name, "end_time");
  EXPECT_EQ((*parsed)[1].value, "Evil.COM");
  EXPECT_EQ((*parsed)[1].selection.size(), 3u);
}

TEST(GraphqlSubsetTest, AnonymousQueryAndVariables) {
  rapidjson::Document vars;
  vars.Parse(R"({"t":"ip","v":"10.0.0.1"})");
  auto parsed = ParseGraphqlObservables(
      R"(query Q($t: String!, $v: String!) { observable(type: $t, value: $v) { verdict { type } } })",
      &vars);
  ASSERT_TRUE(parsed.ok()) << parsed.status();
  EXPECT_EQ((*parsed)[0].response_key, "observable");
  EXPECT_EQ((*parsed)[0].value, "10.0.0.1");
  EXPECT_TRUE(ParseGraphqlObservables(R"({ observable(type:"ip", value:"a\"b\u0041") { value } })",
                                      nullptr)
                  .ok());
}

TEST(GraphqlSubsetTest, ErrorsSayWhereAndWhat) {
  auto expect_error = [](const std::string& query, const std::string& needle) {
    auto parsed = ParseGraphqlObservables(query, nullptr);
    ASSERT_FALSE(parsed.ok()) << query;
    EXPECT_THAT(std::string(parsed.status().message()), HasSubstr(needle)) << query;
  };
  expect_error("{ observable(type:\"ip\", value:\"x\") { verdict { colour } } }",
               "Cannot query field \"colour\" on type \"Verdict\"");
  expect_error("{ a: observable(type:\"ip\", value:\"x\") { verdict { type } }",
               "line 1");
  expect_error("mutation { x }", "Only query operations");
  expect_error("{ observable(type:\"ip\") { verdict { type } } }", "\"type\" and \"value\"");
  expect_error("{ observable(type: $t, value:\"x\") { value } }", "Variable \"$t\"");
  expect_error("{ observable(type:\"ip\", value:\"x\") { verdict } }", "Expected \"{\"");
  expect_error("{ a: observable(type:\"ip\", value:\"x\") { value } "
               "a: observable(type:\"ip\", value:\"y\") { value } }",
               "conflict");
  expect_error("{ observable(type:\"ip\", value:\"x) { value } }", "Unterminated string");
}

TEST(GraphqlSubsetTest, LimitsOnAliasesAndSize) {
  std::string query = "{";
  for (size_t i = 0; i <= kGraphqlMaxObservables; ++i) {
    absl::StrAppend(&query, " o", i, ": observable(type:\"ip\", value:\"10.0.0.1\") { value }");
  }
  query += "}";
  auto parsed = ParseGraphqlObservables(query, nullptr);
  ASSERT_FALSE(parsed.ok());
  EXPECT_THAT(std::string(parsed.status().message()), HasSubstr("at most 1000"));
  EXPECT_FALSE(ParseGraphqlObservables(std::string(kGraphqlMaxQueryBytes + 1, ' '), nullptr).ok());
}

class GraphqlRouteTest : public RouterTest {
 protected:
  SimResponse Graphql(const std::string& query, const std::string& auth,
                      const std::string& variables = "null") {
    return Call("POST", "/ctia/graphql",
                absl::StrCat(R"({"query":)", Quote(query), R"(,"variables":)", variables, "}"),
                auth);
  }
  static std::string Quote(const std::string& s) {
    std::string out = "\"";
    for (char c : s) {
      if (c == '"' || c == '\\') out.push_back('\\');
      if (c == '\n') {
        out += "\\n";
        continue;
      }
      out.push_back(c);
    }
    return out + "\"";
  }
};

// V18 (ctia: test/ctia/http/routes/graphql_test.clj).
TEST_F(GraphqlRouteTest, V18VerdictByTheSameRuleWithAliases) {
  const std::string auth = Bearer();
  const std::string j1 = Post(Judgement("ip", "1.2.3.4", 2, 100), auth);
  Post(Judgement("ip", "1.2.3.4", 2, 90), auth);
  SimResponse r = Graphql(R"(query {
      a: observable(type: "ip", value: "1.2.3.4") {
        verdict { type disposition disposition_name judgement_id
                  observable { type value } valid_time { start_time end_time } }
      }
      b: observable(type: "ip", value: "10.9.9.9") { verdict { disposition } }
      c: observable(type: "nonsense", value: "x") { type verdict { disposition } }
    })",
                          auth);
  ASSERT_EQ(r.status, 200) << r.body;
  rapidjson::Document doc = Parse(r.body);
  const rapidjson::Value& a = doc["data"]["a"]["verdict"];
  EXPECT_EQ(Str(a, "type"), "verdict");
  EXPECT_EQ(a["disposition"].GetInt(), 2);
  EXPECT_EQ(Str(a, "disposition_name"), "Malicious");
  EXPECT_EQ(Str(a, "judgement_id"), j1);
  EXPECT_EQ(Str(a["observable"], "value"), "1.2.3.4");
  EXPECT_EQ(Str(a["valid_time"], "end_time"), "2525-01-01T00:00:00.000Z");
  EXPECT_TRUE(doc["data"]["b"]["verdict"].IsNull());
  EXPECT_EQ(Str(doc["data"]["c"], "type"), "nonsense");  // type is a plain string
  EXPECT_TRUE(doc["data"]["c"]["verdict"].IsNull());
  // Keys come back in the order selected.
  EXPECT_THAT(r.body, HasSubstr(R"({"type":"verdict","disposition":2,"disposition_name")"));
}

TEST_F(GraphqlRouteTest, VariablesAndCaseInsensitiveMatch) {
  const std::string auth = Bearer();
  Post(Judgement("domain", "Evil.Example", 3, 95), auth);
  SimResponse r = Graphql("query Q($v: String!) { observable(type: \"domain\", value: $v) "
                          "{ verdict { disposition_name observable { value } } } }",
                          auth, R"({"v":"EVIL.example"})");
  ASSERT_EQ(r.status, 200) << r.body;
  EXPECT_EQ(r.body, R"({"data":{"observable":{"verdict":{"disposition_name":"Suspicious",)"
                    R"("observable":{"value":"Evil.Example"}}}}})");
}

TEST_F(GraphqlRouteTest, ErrorsAre400GraphqlStyle) {
  const std::string auth = Bearer();
  SimResponse r = Graphql("{ observable(type:\"ip\", value:\"x\") { verdict { colour } } }", auth);
  EXPECT_EQ(r.status, 400);
  rapidjson::Document doc = Parse(r.body);
  EXPECT_TRUE(doc["data"].IsNull());
  EXPECT_THAT(Str(doc["errors"][0], "message"), HasSubstr("colour"));
  SimResponse bad_json = Call("POST", "/ctia/graphql", "{not json", auth);
  EXPECT_EQ(bad_json.status, 400);
  EXPECT_THAT(bad_json.body, HasSubstr(R"("errors":[{"message":)"));
  EXPECT_EQ(Call("POST", "/ctia/graphql", R"({"queryx":1})", auth).status, 400);
}

TEST_F(GraphqlRouteTest, NeedsTokenAndReadScope) {
  EXPECT_EQ(Graphql("{ observable(type:\"ip\", value:\"x\") { value } }", "").status, 401);
  SimResponse r =
      Graphql("{ observable(type:\"ip\", value:\"x\") { value } }", Bearer("other", "otherpass"));
  EXPECT_EQ(r.status, 403);
  EXPECT_THAT(r.body, HasSubstr("missing_capability"));
}

TEST_F(GraphqlRouteTest, OnePostIsOneRateLimitUnit) {
  options_.rate_limit = 2;
  Rebuild();
  const std::string auth = Bearer();
  std::string many = "{";
  for (int i = 0; i < 50; ++i) {
    absl::StrAppend(&many, " o", i, ": observable(type:\"ip\", value:\"10.0.0.", i,
                    "\") { verdict { disposition } }");
  }
  many += "}";
  EXPECT_EQ(Graphql(many, auth).status, 200);
  EXPECT_EQ(Graphql(many, auth).status, 200);
  EXPECT_EQ(Graphql(many, auth).status, 429);
}

// ---- the details of a verdict: Verdict.judgement, Observable.judgements ----------------

TEST(GraphqlSubsetTest, JudgementsConnectionArguments) {
  auto parsed = ParseGraphqlObservables(
      R"({ o0: observable(type:"ip", value:"x") {
            verdict { judgement { source priority observable { value } } }
            judgements(first: 2, orderBy: [{field: DISPOSITION, direction: asc},
                                           {field: VALID_TIME_START_TIME, direction: desc}]) {
              totalCount nodes { id disposition } edges { cursor node { id } }
              pageInfo { hasNextPage } } } })",
      nullptr);
  ASSERT_TRUE(parsed.ok()) << parsed.status();
  const GraphqlField& judgements = (*parsed)[0].selection[1];
  EXPECT_EQ(judgements.name, "judgements");
  EXPECT_EQ(judgements.first, 2);
  ASSERT_EQ(judgements.order_by.size(), 2u);
  EXPECT_EQ(judgements.order_by[0], std::make_pair(std::string("disposition"), false));
  EXPECT_EQ(judgements.order_by[1], std::make_pair(std::string("valid_time.start_time"), true));
  EXPECT_EQ((*parsed)[0].selection[0].selection[0].name, "judgement");

  rapidjson::Document vars;
  vars.Parse(R"({"n":3,"order":{"field":"PRIORITY","direction":"desc"}})");
  auto with_vars = ParseGraphqlObservables(
      R"(query Q($n: Int, $order: [JudgementOrder!]) { observable(type:"ip", value:"x") {
           judgements(first: $n, orderBy: $order) { nodes { id } } } })",
      &vars);
  ASSERT_TRUE(with_vars.ok()) << with_vars.status();
  EXPECT_EQ((*with_vars)[0].selection[0].first, 3);
  EXPECT_EQ((*with_vars)[0].selection[0].order_by[0],
            std::make_pair(std::string("priority"), true));
  auto defaults = ParseGraphqlObservables(
      R"({ observable(type:"ip", value:"x") { judgements { totalCount } } })", nullptr);
  ASSERT_TRUE(defaults.ok()) << defaults.status();
  EXPECT_EQ((*defaults)[0].selection[0].first, 50);  // CTIA's default
}

TEST(GraphqlSubsetTest, JudgementsArgumentErrorsSayWhat) {
  auto expect_error = [](const std::string& args, const std::string& needle) {
    const std::string query = absl::StrCat("{ observable(type:\"ip\", value:\"x\") { judgements",
                                           args, " { nodes { id } } } }");
    auto parsed = ParseGraphqlObservables(query, nullptr);
    ASSERT_FALSE(parsed.ok()) << query;
    EXPECT_THAT(std::string(parsed.status().message()), HasSubstr(needle)) << query;
  };
  expect_error("(first: -1)", "non-negative integer");
  expect_error("(first: \"2\")", "non-negative integer");
  expect_error("(orderBy: [{field: COLOUR, direction: asc}])", "JudgementOrderField");
  expect_error("(orderBy: [{field: DISPOSITION, direction: up}])", "asc|desc");
  expect_error("(after: \"MA==\")", "Unknown argument \"after\"");
  expect_error("(orderBy: [{field: DISPOSITION", "line 1");
  auto on_verdict = ParseGraphqlObservables(
      "{ observable(type:\"ip\", value:\"x\") { verdict(first: 1) { type } } }", nullptr);
  ASSERT_FALSE(on_verdict.ok());
  EXPECT_THAT(std::string(on_verdict.status().message()), HasSubstr("takes no arguments"));
}

TEST_F(GraphqlRouteTest, VerdictJudgementAndFirstJudgementsInListOrder) {
  const std::string auth = Bearer();
  // j1 decides (priority 100); the list order is disposition asc, then the newest start.
  const std::string j1 = Post(
      Judgement("ip", "1.2.3.4", 3, 100,
                R"(,"reason":"seen in C2","source_uri":"https://feed/1","tlp":"white")"),
      auth);
  auto starting = [](absl::string_view day) {
    return absl::StrCat(R"(,"valid_time":{"start_time":"2016-02-)", day, R"(T00:00:00.000Z"})");
  };
  const std::string j2 = Post(Judgement("ip", "1.2.3.4", 2, 10, starting("01")), auth);
  const std::string j3 = Post(Judgement("ip", "1.2.3.4", 2, 10, starting("05")), auth);
  SimResponse r = Graphql(R"({
      o0: observable(type: "ip", value: "1.2.3.4") {
        verdict { judgement_id judgement { id source source_uri reason severity confidence
                                           priority tlp disposition } }
        judgements(first: 2, orderBy: [{field: DISPOSITION, direction: asc},
                                       {field: VALID_TIME_START_TIME, direction: desc}]) {
          totalCount nodes { id disposition } edges { cursor node { id } }
          pageInfo { hasNextPage hasPreviousPage } } }
      o1: observable(type: "ip", value: "10.9.9.9") {
        verdict { judgement { source } } judgements(first: 2) { totalCount nodes { id } } } })",
                          auth);
  ASSERT_EQ(r.status, 200) << r.body;
  rapidjson::Document doc = Parse(r.body);
  const rapidjson::Value& o0 = doc["data"]["o0"];
  EXPECT_EQ(Str(o0["verdict"], "judgement_id"), j1);
  const rapidjson::Value& j = o0["verdict"]["judgement"];
  EXPECT_EQ(Str(j, "id"), j1);
  EXPECT_EQ(Str(j, "source"), "test");
  EXPECT_EQ(Str(j, "source_uri"), "https://feed/1");
  EXPECT_EQ(Str(j, "reason"), "seen in C2");
  EXPECT_EQ(Str(j, "severity"), "High");
  EXPECT_EQ(Str(j, "confidence"), "High");
  EXPECT_EQ(j["priority"].GetInt(), 100);
  EXPECT_EQ(Str(j, "tlp"), "white");
  EXPECT_EQ(j["disposition"].GetInt(), 3);
  const rapidjson::Value& list = o0["judgements"];
  EXPECT_EQ(list["totalCount"].GetInt(), 3);
  ASSERT_EQ(list["nodes"].Size(), 2u);
  EXPECT_EQ(Str(list["nodes"][0], "id"), j3);  // disposition 2, newer start
  EXPECT_EQ(Str(list["nodes"][1], "id"), j2);
  EXPECT_EQ(Str(list["edges"][1]["node"], "id"), j2);
  EXPECT_EQ(Str(list["edges"][1], "cursor"), "MQ==");  // base64 of the offset
  EXPECT_TRUE(list["pageInfo"]["hasNextPage"].GetBool());
  EXPECT_FALSE(list["pageInfo"]["hasPreviousPage"].GetBool());
  const rapidjson::Value& o1 = doc["data"]["o1"];
  EXPECT_TRUE(o1["verdict"].IsNull());
  EXPECT_EQ(o1["judgements"]["totalCount"].GetInt(), 0);
  EXPECT_EQ(o1["judgements"]["nodes"].Size(), 0u);
}

}  // namespace
}  // namespace enrich::sim
