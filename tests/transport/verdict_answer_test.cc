#include "transport/internal/verdict_answer.h"

#include "transport/ctia_status.h"

#include <random>
#include <string>
#include <variant>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_replace.h"
#include "gtest/gtest.h"
#include "schema/json_codec.h"
#include "schema/time_format.h"
#include "tests/fakes/differential.h"

namespace enrich::transport::internal {
namespace {

constexpr absl::string_view kVerdict =
    R"({"type":"verdict","disposition":2,"disposition_name":"Malicious",)"
    R"("observable":{"type":"ip","value":"10.0.0.1"},)"
    R"("judgement_id":"https://ctia.example/ctia/judgement/judgement-1",)"
    R"("valid_time":{"start_time":"2016-02-12T00:00:00.000Z","end_time":"2525-01-01T00:00:00.000Z"}})";

constexpr absl::string_view kNoVerdict =
    R"({"message":"no verdict currently available for the supplied observable"})";

// The one-pass decoder must answer exactly what the DOM decoder answers.
void ExpectSameAsDom(int status, absl::string_view body) {
  SCOPED_TRACE(absl::StrCat("status ", status, " body: ", body));
  const absl::StatusOr<schema::VerdictResult> dom = schema::DecodeVerdictResponse(status, body);
  const absl::StatusOr<schema::VerdictResult> ours = DecodeVerdictAnswer(status, body);
  enrich::testing::ExpectSameVerdictResult(dom, ours);
}

std::string Replace(absl::string_view body, absl::string_view from, absl::string_view to) {
  return absl::StrReplaceAll(body, {{from, to}});
}

TEST(VerdictAnswerTest, DecodesCtiasVerdictBody) {
  const auto result = DecodeVerdictAnswer(200, kVerdict);
  ASSERT_TRUE(result.ok()) << result.status();
  const auto& v = std::get<schema::Verdict>(*result);
  EXPECT_EQ(v.disposition, schema::Disposition::kMalicious);
  EXPECT_EQ(v.disposition_name, "Malicious");
  EXPECT_EQ(v.observable.type, "ip");
  EXPECT_EQ(v.observable.value, "10.0.0.1");
  EXPECT_EQ(v.judgement_id, "https://ctia.example/ctia/judgement/judgement-1");
  EXPECT_EQ(v.valid_time.start_time, *schema::ParseIsoTime("2016-02-12T00:00:00.000Z"));
  EXPECT_EQ(v.valid_time.end_time, schema::EndOfTime());
  ExpectSameAsDom(200, kVerdict);
}

TEST(VerdictAnswerTest, NoVerdictAndUnroutedAndOtherStatuses) {
  const auto none = DecodeVerdictAnswer(404, kNoVerdict);
  ASSERT_TRUE(none.ok()) << none.status();
  EXPECT_TRUE(std::holds_alternative<schema::NoVerdict>(*none));
  EXPECT_TRUE(absl::IsNotFound(DecodeVerdictAnswer(404, "<html>Not Found</html>").status()));
  // Not CTIA's "no verdict": a base URL that is not CTIA's (the circuit breaker's mark).
  EXPECT_EQ(SetupFailureOf(DecodeVerdictAnswer(404, "<html>Not Found</html>").status()),
            SetupFailure::kNotCtia);
  EXPECT_EQ(SetupFailureOf(DecodeVerdictAnswer(500, kVerdict).status()), SetupFailure::kNone);
  EXPECT_TRUE(absl::IsInternal(DecodeVerdictAnswer(500, kVerdict).status()));
  for (absl::string_view body :
       {kNoVerdict, absl::string_view(R"({"message":1})"), absl::string_view(R"(["message"])"),
        absl::string_view(R"({"message":"a","message":2})"),
        absl::string_view(R"({"message":2,"message":"a"})"),
        absl::string_view(R"({"x":{"message":"a"}})"), absl::string_view(R"({"message":"a"} x)"),
        absl::string_view(""), absl::string_view("<html>Not Found</html>"), kVerdict}) {
    ExpectSameAsDom(404, body);
  }
  ExpectSameAsDom(500, kVerdict);
  ExpectSameAsDom(429, "");
}

// Hand-picked shapes: every check of the DOM decoder, first-member-wins for duplicate names,
// escapes, numbers at the edges of int, nesting where the names recur.
TEST(VerdictAnswerTest, AgreesWithTheDomDecoderOnEdgeCases) {
  const std::string v(kVerdict);
  std::vector<std::string> bodies = {
      v,
      "",
      " ",
      "null",
      "[]",
      "\"verdict\"",
      "{}",
      "{",
      v + " ",
      v + "x",
      v + "{}",
      v.substr(0, v.size() - 1),
      Replace(v, "\"disposition\":2", "\"disposition\":0"),
      Replace(v, "\"disposition\":2", "\"disposition\":6"),
      Replace(v, "\"disposition\":2", "\"disposition\":-1"),
      Replace(v, "\"disposition\":2", "\"disposition\":-0"),
      Replace(v, "\"disposition\":2", "\"disposition\":2.0"),
      Replace(v, "\"disposition\":2", "\"disposition\":2e0"),
      Replace(v, "\"disposition\":2", "\"disposition\":02"),
      Replace(v, "\"disposition\":2", "\"disposition\":\"2\""),
      Replace(v, "\"disposition\":2", "\"disposition\":null"),
      Replace(v, "\"disposition\":2", "\"disposition\":true"),
      Replace(v, "\"disposition\":2", "\"disposition\":[2]"),
      Replace(v, "\"disposition\":2", "\"disposition\":{\"n\":2}"),
      Replace(v, "\"disposition\":2", "\"disposition\":2147483647"),
      Replace(v, "\"disposition\":2", "\"disposition\":2147483648"),
      Replace(v, "\"disposition\":2", "\"disposition\":-2147483648"),
      Replace(v, "\"disposition\":2", "\"disposition\":-2147483649"),
      Replace(v, "\"disposition\":2", "\"disposition\":4294967297"),
      Replace(v, "\"disposition\":2", "\"disposition\":18446744073709551617"),
      Replace(v, "\"disposition\":2", "\"disposition\":3,\"disposition\":2"),
      Replace(v, "\"disposition\":2", "\"disposition\":\"x\",\"disposition\":2"),
      Replace(v, "\"disposition\":2", "\"disposit\\u0069on\":4"),
      Replace(v, "\"disposition\":2", "\"disposition\\u0000\":4"),
      Replace(v, "\"disposition\":2,", ""),
      Replace(v, "\"observable\":{", "\"observable\":{\"type\":\"domain\","),
      Replace(v, "\"observable\":{\"type\":\"ip\",", "\"observable\":{"),
      Replace(v, "\"value\":\"10.0.0.1\"", "\"value\":10"),
      Replace(v, "\"value\":\"10.0.0.1\"", "\"value\":\"10.0.0.1\",\"value\":\"x\""),
      Replace(v, "\"value\":\"10.0.0.1\"", "\"value\":{\"value\":\"x\"}"),
      Replace(v, "\"value\":\"10.0.0.1\"", "\"value\":\"a\\\"b\\\\c\\u00e9\\ud83d\\ude00\""),
      Replace(v, "\"value\":\"10.0.0.1\"", "\"value\":\"\\u0000x\""),
      Replace(v, "\"value\":\"10.0.0.1\"", "\"value\":\"\\x\""),
      Replace(v, "\"value\":\"10.0.0.1\"", "\"value\":\"\\ud800\""),
      Replace(v, "\"value\":\"10.0.0.1\"", "\"value\":\"tab\there\""),
      Replace(v, "\"observable\":{\"type\":\"ip\",\"value\":\"10.0.0.1\"}", "\"observable\":[]"),
      Replace(v, "\"observable\":{\"type\":\"ip\",\"value\":\"10.0.0.1\"}", "\"observable\":\"ip\""),
      Replace(v, "\"observable\":{\"type\":\"ip\",\"value\":\"10.0.0.1\"}",
              "\"observable\":{\"o\":{\"type\":\"ip\",\"value\":\"1\"}}"),
      Replace(v, "\"observable\":", "\"observable\":{\"type\":\"x\",\"value\":\"y\"},\"observable\":"),
      Replace(v, "\"observable\":{\"type\":\"ip\",\"value\":\"10.0.0.1\"},", ""),
      Replace(v, "\"judgement_id\":\"https", "\"judgement_id\":7,\"x\":\"https"),
      Replace(v, "\"judgement_id\":", "\"judgement_id\":null,\"judgement_id\":"),
      Replace(v, "\"judgement_id\":\"https://ctia.example/ctia/judgement/judgement-1\",", ""),
      Replace(v, "\"valid_time\":{", "\"valid_time\":{\"start_time\":\"2020-01-01T00:00:00Z\","),
      Replace(v, "\"valid_time\":{", "\"valid_time\":{\"start_time\":1,"),
      Replace(v, "\"valid_time\":{", "\"valid_time\":{\"x\":{\"start_time\":\"bad\"},"),
      Replace(v, ",\"end_time\":\"2525-01-01T00:00:00.000Z\"", ""),
      Replace(v, "\"end_time\":\"2525-01-01T00:00:00.000Z\"", "\"end_time\":null"),
      Replace(v, "\"end_time\":\"2525-01-01T00:00:00.000Z\"", "\"end_time\":\"soon\""),
      Replace(v, "\"end_time\":\"2525-01-01T00:00:00.000Z\"", "\"end_time\":\"2030-06-01\""),
      Replace(v, "\"end_time\":\"2525-01-01T00:00:00.000Z\"",
              "\"end_time\":\"2030-06-01T12:00:00+02:00\""),
      Replace(v, "\"start_time\":\"2016-02-12T00:00:00.000Z\",", ""),
      Replace(v, "\"start_time\":\"2016-02-12T00:00:00.000Z\"", "\"start_time\":\"\""),
      Replace(v, "\"start_time\":\"2016-02-12T00:00:00.000Z\"",
              "\"start_time\":\"2016-02-30T00:00:00.000Z\""),
      Replace(v, "\"start_time\":\"2016-02-12T00:00:00.000Z\"",
              "\"start_time\":\"2016-02-12T00:00:00.123456789Z\""),
      Replace(v, "\"valid_time\":{", "\"valid_time\":[{"),
      Replace(v, "\"valid_time\":{\"start_time\":\"2016-02-12T00:00:00.000Z\",\"end_time\":"
                 "\"2525-01-01T00:00:00.000Z\"}",
              "\"valid_time\":\"always\""),
      Replace(v, "\"valid_time\":", "\"valid_time\":1,\"valid_time\":"),
      Replace(v, "\"type\":\"verdict\",", "\"type\":\"verdict\",\"nested\":{\"disposition\":9,"
                                            "\"observable\":1,\"valid_time\":2},"),
      Replace(v, "\"type\":\"verdict\",", "\"list\":[{\"disposition\":9},[\"observable\"]],"),
      Replace(v, ":", " : "),
      Replace(v, ",", "\n,\t"),
      Replace(v, "{", "{ "),
      Replace(v, "\"", "'"),
      Replace(v, "2525", "25\x00" "25"),
      "[" + v + "]",
      "{\"verdict\":" + v + "}",
      // Edges of the plain shape the decoder reads without RapidJSON (it hands anything else
      // over): 9 and 10 digits, zeros, nesting depth, trailing bytes, a NUL after the root.
      Replace(v, "\"disposition\":2", "\"disposition\":999999999"),
      Replace(v, "\"disposition\":2", "\"disposition\":1000000000"),
      Replace(v, "\"disposition\":2", "\"disposition\":00"),
      Replace(v, "\"disposition\":2", "\"disposition\":0"),
      Replace(v, "\"disposition\":2", "\"disposition\":2x"),
      Replace(v, "\"disposition\":2", "\"disposition\":2 "),
      Replace(v, "\"type\":\"verdict\",", "\"a\":{\"b\":{\"c\":{\"d\":{\"e\":1}}}},"),
      Replace(v, "\"type\":\"verdict\",", "\"a\":{\"b\":{\"c\":{}}},"),
      Replace(v, "\"type\":\"verdict\",", "\"a\":{},\"b\":1,"),
      " \t\r\n" + v + " \t\r\n",
      v + std::string(1, '\0'),
      v + std::string(1, '\0') + "garbage",
      Replace(v, "Malicious", std::string("Mali\0cious", 10)),
      Replace(v, "Malicious", "Mal\x7f\xff\xfeicious"),
      Replace(v, "\"observable\":{", "\"observable\" : { "),
      Replace(v, "}}", "} }"),
  };
  for (const std::string& body : bodies) ExpectSameAsDom(200, body);
}

// Random damage to a verdict body (byte flips, cuts, insertions, deletions, swaps of JSON
// punctuation): whatever the DOM decoder answers, the one-pass decoder answers too.
TEST(VerdictAnswerTest, AgreesWithTheDomDecoderOnDamagedBodies) {
  std::mt19937 rng(20261129);
  const std::string base(kVerdict);
  const std::string alphabet = "{}[]:,\"\\ 0123456789.-+eEtrufalsn\x01\x7f\xc3\xa9u";
  int decoded = 0;
  for (int i = 0; i < 20000; ++i) {
    std::string body = (i % 5 == 4) ? std::string(kNoVerdict) : base;
    enrich::testing::Damage(body, rng, alphabet);
    const int status = (i % 5 == 4) ? 404 : 200;
    ExpectSameAsDom(status, body);
    if (DecodeVerdictAnswer(status, body).ok()) ++decoded;
    if (HasFailure()) return;
  }
  // Both outcomes were exercised.
  EXPECT_GT(decoded, 100);
  EXPECT_LT(decoded, 20000 - 100);
}

}  // namespace
}  // namespace enrich::transport::internal
