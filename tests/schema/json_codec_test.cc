#include "schema/json_codec.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "schema/time_format.h"

namespace enrich::schema {
namespace {

constexpr char kVerdictBody[] = R"({
  "type": "verdict",
  "disposition": 2,
  "disposition_name": "Malicious",
  "observable": {"type": "domain", "value": "EXAMPLE.com"},
  "judgement_id": "https://private.intel.amp.cisco.com:443/ctia/judgement/judgement-1",
  "valid_time": {"start_time": "2016-02-12T00:00:00.000Z", "end_time": "2525-01-01T00:00:00.000Z"}
})";

TEST(JsonCodecTest, DecodesVerdictBody) {
  auto v = DecodeVerdict(kVerdictBody);
  ASSERT_TRUE(v.ok()) << v.status();
  EXPECT_EQ(v->disposition, Disposition::kMalicious);
  EXPECT_EQ(v->disposition_name, "Malicious");
  EXPECT_EQ(v->observable.value, "EXAMPLE.com");  // stored case echoed (reference §1.2)
  EXPECT_EQ(v->judgement_id,
            "https://private.intel.amp.cisco.com:443/ctia/judgement/judgement-1");
  EXPECT_EQ(FormatIsoTime(v->valid_time.start_time), "2016-02-12T00:00:00.000Z");
  EXPECT_EQ(v->valid_time.end_time, EndOfTime());
}

TEST(JsonCodecTest, DispositionNameIsDerivedFromNumber) {
  std::string body = kVerdictBody;
  body.replace(body.find("\"Malicious\""), 11, "\"Clean\"");
  auto v = DecodeVerdict(body);
  ASSERT_TRUE(v.ok());
  EXPECT_EQ(v->disposition_name, "Malicious");
}

TEST(JsonCodecTest, NoVerdict404BodyIsAValue) {
  auto r = DecodeVerdictResponse(
      404, R"({"message":"no verdict currently available for the supplied observable"})");
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_TRUE(std::holds_alternative<NoVerdict>(*r));
}

TEST(JsonCodecTest, Html404IsRouteNotFound) {
  auto r = DecodeVerdictResponse(404, "<html><body>Not Found</body></html>");
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), absl::StatusCode::kNotFound);
}

TEST(JsonCodecTest, Ok200GivesVerdict) {
  auto r = DecodeVerdictResponse(200, kVerdictBody);
  ASSERT_TRUE(r.ok());
  ASSERT_TRUE(std::holds_alternative<Verdict>(*r));
  EXPECT_EQ(std::get<Verdict>(*r).disposition, Disposition::kMalicious);
}

TEST(JsonCodecTest, MalformedBodiesAreInvalidArgument) {
  for (const char* body : {"", "{", "[]", "null", R"({"disposition":"2"})",
                           R"({"disposition":9,"observable":{"type":"ip","value":"x"}})",
                           R"({"disposition":2,"observable":{"type":"ip"}})",
                           R"({"disposition":2,"observable":{"type":"ip","value":"x"}})",
                           R"({"disposition":2,"observable":{"type":"ip","value":"x"},
                               "valid_time":{"start_time":"yesterday"}})"}) {
    auto v = DecodeVerdict(body);
    ASSERT_FALSE(v.ok()) << body;
    EXPECT_EQ(v.status().code(), absl::StatusCode::kInvalidArgument) << body;
    EXPECT_NE(v.status().message().find("malformed verdict body"), absl::string_view::npos);
  }
}

TEST(JsonCodecTest, VerdictRoundTrips) {
  auto v = DecodeVerdict(kVerdictBody);
  ASSERT_TRUE(v.ok());
  auto again = DecodeVerdict(EncodeVerdict(*v));
  ASSERT_TRUE(again.ok());
  EXPECT_EQ(again->judgement_id, v->judgement_id);
  EXPECT_EQ(again->observable, v->observable);
  EXPECT_EQ(again->valid_time.start_time, v->valid_time.start_time);
}

TEST(JsonCodecTest, NewJudgementGetsCtiaDefaults) {
  const absl::Time now = *ParseIsoTime("2026-01-01T00:00:00.000Z");
  rapidjson::Document doc;
  doc.Parse(R"({"observable":{"type":"ip","value":"1.2.3.4"},"source":"s","priority":90,
                "confidence":"High","severity":"Low"})");
  NewJudgementDecode d = DecodeNewJudgement(doc, now);
  ASSERT_TRUE(d.ok());
  EXPECT_EQ(d.judgement.disposition, Disposition::kUnknown);
  EXPECT_EQ(d.judgement.valid_time.start_time, now);
  EXPECT_EQ(d.judgement.valid_time.end_time, EndOfTime());
}

TEST(JsonCodecTest, NewJudgementReportsMissingAndBadFields) {
  rapidjson::Document doc;
  doc.Parse(R"({"observable":{"type":"ip","value":"1.2.3.4"},"priority":"high",
                "confidence":"Sure","severity":"Low","bogus":1})");
  NewJudgementDecode d = DecodeNewJudgement(doc, absl::UnixEpoch());
  ASSERT_FALSE(d.ok());
  std::vector<std::string> fields;
  for (const auto& e : d.errors) fields.push_back(e.field);
  EXPECT_THAT(fields, ::testing::UnorderedElementsAre("bogus", "source", "priority",
                                                      "confidence"));
}

TEST(JsonCodecTest, DispositionMismatchIsAnError) {
  rapidjson::Document doc;
  doc.Parse(R"({"observable":{"type":"ip","value":"1.2.3.4"},"source":"s","priority":90,
                "confidence":"High","severity":"Low","disposition":1,
                "disposition_name":"Malicious"})");
  EXPECT_FALSE(DecodeNewJudgement(doc, absl::UnixEpoch()).ok());
}

TEST(JsonCodecTest, JudgementEncodeDecodeRoundTrip) {
  Judgement j;
  j.id = "http://127.0.0.1:1/ctia/judgement/judgement-1";
  j.observable = {"domain", "a.com"};
  j.disposition = Disposition::kSuspicious;
  j.priority = 95;
  j.confidence = "High";
  j.severity = "Medium";
  j.source = "feed";
  j.tlp = "amber";
  j.valid_time = {*ParseIsoTime("2020-01-01T00:00:00Z"), EndOfTime()};
  j.created = *ParseIsoTime("2020-01-02T00:00:00Z");
  j.owner = "me";
  j.groups = {"org-1"};
  auto back = DecodeStoredJudgement(EncodeJudgement(j, /*stored=*/true));
  ASSERT_TRUE(back.ok()) << back.status();
  EXPECT_EQ(back->id, j.id);
  EXPECT_EQ(back->observable, j.observable);
  EXPECT_EQ(back->disposition, j.disposition);
  EXPECT_EQ(back->priority, 95);
  EXPECT_EQ(back->tlp, "amber");
  EXPECT_EQ(back->created, j.created);
  EXPECT_EQ(back->owner, "me");
  EXPECT_EQ(back->groups, j.groups);
  EXPECT_EQ(back->valid_time.start_time, j.valid_time.start_time);
}

}  // namespace
}  // namespace enrich::schema
