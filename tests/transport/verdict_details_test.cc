// The details of a verdict in GraphQL (CtiaClientOptions::details): the selections the batch
// request carries, and the answer reader filling Verdict::judgement and Verdict::judgements,
// with a clear per-alias error for a malformed judgement or judgements value.

#include "transport/internal/graphql_verdicts.h"
#include "transport/internal/verdict_details.h"

#include <string>
#include <variant>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace enrich::transport::internal {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;

constexpr absl::string_view kVerdict =
    R"("type":"verdict","disposition":2,"disposition_name":"Malicious",)"
    R"("judgement_id":"https://h:443/ctia/judgement/judgement-1",)"
    R"("observable":{"type":"ip","value":"1.2.3.4"},)"
    R"("valid_time":{"start_time":"2026-01-01T00:00:00.000Z",)"
    R"("end_time":"2525-01-01T00:00:00.000Z"})";

VerdictDetailsOptions Both(int n) {
  VerdictDetailsOptions d;
  d.judgement = true;
  d.judgements = n;
  return d;
}

const schema::Verdict& VerdictOf(const absl::StatusOr<schema::VerdictResult>& r) {
  EXPECT_TRUE(r.ok()) << r.status();
  EXPECT_TRUE(std::holds_alternative<schema::Verdict>(*r));
  return std::get<schema::Verdict>(*r);
}

TEST(VerdictDetailsTest, RequestSelectsTheDetailsOnlyWhenAsked) {
  const std::vector<schema::Observable> batch = {{"ip", "1.2.3.4"}, {"domain", "a.example"}};
  const std::string plain = BuildVerdictsRequest(batch);
  EXPECT_THAT(plain, Not(HasSubstr("judgement{")));
  EXPECT_THAT(plain, Not(HasSubstr("judgements(")));
  const std::string both = BuildVerdictsRequest(batch, Both(3));
  EXPECT_THAT(both, HasSubstr("valid_time{start_time end_time} judgement{source source_uri "
                              "reason severity confidence priority tlp}}"));
  EXPECT_THAT(both, HasSubstr("judgements(first:3 orderBy:[{field:DISPOSITION direction:asc} "
                              "{field:VALID_TIME_START_TIME direction:desc}]){nodes{id source "
                              "disposition}}"));
  // Both observables carry the selections; the cached prefix follows the details asked.
  EXPECT_EQ(both.find("judgements(") != both.rfind("judgements("), true);
  VerdictDetailsOptions only_judgement;
  only_judgement.judgement = true;
  const std::string one = BuildVerdictsRequest(batch, only_judgement);
  EXPECT_THAT(one, HasSubstr("judgement{"));
  EXPECT_THAT(one, Not(HasSubstr("judgements(")));
  EXPECT_EQ(BuildVerdictsRequest(batch), plain);
}

TEST(VerdictDetailsTest, AnswerFillsJudgementAndJudgements) {
  const std::string body = absl::StrCat(
      R"({"data":{"o0":{"judgements":{"nodes":[)",
      R"({"id":"https://h/ctia/judgement/judgement-1","source":"feed a","disposition":2},)",
      R"({"id":"https://h/ctia/judgement/judgement-2","source":"feed b","disposition":5}]},)",
      R"("verdict":{)", kVerdict,
      R"(,"judgement":{"source":"feed a","source_uri":"https://feed.example/1",)",
      R"("reason":"C2 \"beacon\"","severity":"High","confidence":"Medium","priority":95,)",
      R"("tlp":"green"}}},)",
      R"("o1":{"verdict":null,"judgements":{"nodes":[]}},)",
      R"("o2":{"verdict":{)", kVerdict, R"(,"judgement":null},)",
      R"("judgements":{"edges":[{"cursor":"MA==",)",
      R"("node":{"id":"j3","source":"s","disposition":1}}]}}}})");
  auto results = DecodeVerdictsAnswer(body, 3, Both(2));
  ASSERT_TRUE(results.ok()) << results.status();
  const schema::Verdict& v0 = VerdictOf((*results)[0]);
  ASSERT_TRUE(v0.judgement.has_value());
  EXPECT_EQ(v0.judgement->source, "feed a");
  EXPECT_EQ(v0.judgement->source_uri, "https://feed.example/1");
  EXPECT_EQ(v0.judgement->reason, "C2 \"beacon\"");
  EXPECT_EQ(v0.judgement->severity, "High");
  EXPECT_EQ(v0.judgement->confidence, "Medium");
  EXPECT_EQ(v0.judgement->priority, 95);
  EXPECT_EQ(v0.judgement->tlp, "green");
  ASSERT_EQ(v0.judgements.size(), 2u);
  EXPECT_EQ(v0.judgements[0].source, "feed a");
  EXPECT_EQ(v0.judgements[0].disposition, schema::Disposition::kMalicious);
  EXPECT_EQ(v0.judgements[1].id, "https://h/ctia/judgement/judgement-2");
  EXPECT_EQ(v0.judgements[1].disposition, schema::Disposition::kUnknown);
  EXPECT_EQ(v0.disposition, schema::Disposition::kMalicious);  // the verdict is untouched
  EXPECT_EQ(v0.judgement_id, "https://h:443/ctia/judgement/judgement-1");

  ASSERT_TRUE((*results)[1].ok());
  EXPECT_TRUE(std::holds_alternative<schema::NoVerdict>(*(*results)[1]));

  const schema::Verdict& v2 = VerdictOf((*results)[2]);
  EXPECT_FALSE(v2.judgement.has_value());  // null: CTIA could not resolve it
  ASSERT_EQ(v2.judgements.size(), 1u);     // the edges shape
  EXPECT_EQ(v2.judgements[0].id, "j3");
  EXPECT_EQ(v2.judgements[0].disposition, schema::Disposition::kClean);
}

TEST(VerdictDetailsTest, PlainShapedAnswerWithJudgementIsReadTheSame) {
  // No escapes, no arrays: the one-pass plain reader takes it (judgement nests 5 deep).
  const std::string body = absl::StrCat(R"({"data":{"o0":{"verdict":{)", kVerdict,
                                        R"(,"judgement":{"source":"s","priority":7}}}}})");
  VerdictDetailsOptions d;
  d.judgement = true;
  auto results = DecodeVerdictsAnswer(body, 1, d);
  ASSERT_TRUE(results.ok());
  const schema::Verdict& v = VerdictOf((*results)[0]);
  ASSERT_TRUE(v.judgement.has_value());
  EXPECT_EQ(v.judgement->source, "s");
  EXPECT_EQ(v.judgement->priority, 7);
  EXPECT_EQ(v.judgement->reason, "");
}

TEST(VerdictDetailsTest, DetailsNotAskedAreIgnored) {
  const std::string body = absl::StrCat(
      R"({"data":{"o0":{"verdict":{)", kVerdict, R"(,"judgement":{"priority":"bad"}},)",
      R"("judgements":{"nodes":[{"disposition":"bad"}]}}}})");
  auto results = DecodeVerdictsAnswer(body, 1);
  ASSERT_TRUE(results.ok());
  const schema::Verdict& v = VerdictOf((*results)[0]);
  EXPECT_FALSE(v.judgement.has_value());
  EXPECT_TRUE(v.judgements.empty());
}

TEST(VerdictDetailsTest, MalformedDetailsFailTheirAliasOnlyWithAClearError) {
  const std::string body = absl::StrCat(
      R"({"data":{"o0":{"verdict":{)", kVerdict, R"(,"judgement":{"priority":"high"}}},)",
      R"("o1":{"verdict":{)", kVerdict,
      R"(},"judgements":{"nodes":[{"id":"x","disposition":9}]}},)",
      R"("o2":{"verdict":{)", kVerdict, R"(,"judgement":[1,2]},"judgements":{"nodes":"x"}},)",
      R"("o3":{"verdict":{)", kVerdict,
      R"(},"judgements":{"nodes":[{"id":"y","source":1,"disposition":2}]}},)",
      R"("o4":{"verdict":{)", kVerdict, R"(,"judgement":{"source":"ok"}},"judgements":null}}})");
  auto results = DecodeVerdictsAnswer(body, 5, Both(5));
  ASSERT_TRUE(results.ok()) << results.status();
  auto message = [&](size_t i) {
    EXPECT_FALSE((*results)[i].ok()) << i;
    EXPECT_TRUE(absl::IsUnavailable((*results)[i].status())) << i;
    return std::string((*results)[i].status().message());
  };
  EXPECT_EQ(message(0),
            "graphql answer for o0: malformed judgement: \"priority\" is not an integer");
  EXPECT_EQ(message(1),
            "graphql answer for o1: malformed judgements[0]: \"disposition\" 9 is outside 1..5");
  EXPECT_EQ(message(2), "graphql answer for o2: malformed judgement: not a JSON object");
  EXPECT_EQ(message(3),
            "graphql answer for o3: malformed judgements[0]: \"source\" is not a string");
  const schema::Verdict& v4 = VerdictOf((*results)[4]);
  ASSERT_TRUE(v4.judgement.has_value());
  EXPECT_EQ(v4.judgement->source, "ok");
  EXPECT_TRUE(v4.judgements.empty());
}

TEST(VerdictDetailsTest, GarbledAnswerWithDetailsIsMalformedNotACrash) {
  const std::string cut = absl::StrCat(R"({"data":{"o0":{"verdict":{)", kVerdict,
                                       R"(,"judgement":{"source":"s","prio)");
  auto results = DecodeVerdictsAnswer(cut, 1, Both(2));
  ASSERT_FALSE(results.ok());
  EXPECT_TRUE(absl::IsInvalidArgument(results.status()));
  EXPECT_THAT(results.status().message(), HasSubstr("malformed graphql answer"));
}

TEST(VerdictDetailsTest, DecodersNameTheField) {
  EXPECT_THAT(DecodeGraphqlJudgement("{").status().message(),
              HasSubstr("malformed judgement: not JSON"));
  EXPECT_THAT(DecodeGraphqlJudgement(R"({"tlp":3})").status().message(),
              HasSubstr("\"tlp\" is not a string"));
  EXPECT_THAT(DecodeGraphqlJudgements(R"({"edges":[{"node":null}]})").status().message(),
              HasSubstr("malformed judgements[0]: not a JSON object"));
  EXPECT_THAT(DecodeGraphqlJudgements(R"({"nodes":[{"id":"a"}]})").status().message(),
              HasSubstr("\"disposition\" is not an integer"));
  auto none = DecodeGraphqlJudgements("null");
  ASSERT_TRUE(none.ok());
  EXPECT_TRUE(none->empty());
}

TEST(VerdictDetailsTest, ShortIdIsTheLastPathSegment) {
  EXPECT_EQ(ShortJudgementId("https://private.intel.amp.cisco.com:443/ctia/judgement/"
                             "judgement-0a1b"),
            "judgement-0a1b");
  EXPECT_EQ(ShortJudgementId("judgement-0a1b"), "judgement-0a1b");
}

}  // namespace
}  // namespace enrich::transport::internal
