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

}  // namespace
}  // namespace enrich::sim
