// The one-pass GraphQL verdicts codec against the DOM codec it replaced: the answer reader must
// give the same results (values, error codes, messages) on every answer, and the request writer
// the same bytes as RapidJSON's Writer.

#include "transport/internal/graphql_verdicts.h"

#include <optional>
#include <random>
#include <string>
#include <variant>
#include <vector>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_replace.h"
#include "gtest/gtest.h"
#include "rapidjson/document.h"
#include "rapidjson/stringbuffer.h"
#include "rapidjson/writer.h"
#include "schema/json_codec.h"
#include "tests/fakes/differential.h"

namespace enrich::transport::internal {
namespace {

using Results = std::vector<absl::StatusOr<schema::VerdictResult>>;

// ---- the reference: the DOM codec, as it was before the one-pass reader ------------------

std::optional<size_t> DomAliasIndex(absl::string_view key, size_t size) {
  if (key.size() < 2 || key[0] != 'o') return std::nullopt;
  size_t index = 0;
  if (!absl::SimpleAtoi(key.substr(1), &index) || index >= size) return std::nullopt;
  if (VerdictAlias(index) != key) return std::nullopt;
  return index;
}

std::string Serialize(const rapidjson::Value& v) {
  rapidjson::StringBuffer buf;
  rapidjson::Writer<rapidjson::StringBuffer> w(buf);
  v.Accept(w);
  return std::string(buf.GetString(), buf.GetSize());
}

absl::StatusOr<Results> DomDecode(absl::string_view body, size_t size) {
  const absl::string_view text = absl::StripLeadingAsciiWhitespace(body);
  if (text.empty() || text.front() != '{') {
    return absl::FailedPreconditionError("the answer to /ctia/graphql is not a JSON object");
  }
  rapidjson::Document doc;
  doc.Parse(body.data(), body.size());
  if (doc.HasParseError()) {
    return absl::InvalidArgumentError(
        absl::StrCat("malformed graphql answer: JSON error at offset ", doc.GetErrorOffset()));
  }
  auto data_it = doc.FindMember("data");
  auto errors_it = doc.FindMember("errors");
  const bool has_data = data_it != doc.MemberEnd() && data_it->value.IsObject();
  const bool has_errors = errors_it != doc.MemberEnd() && errors_it->value.IsArray();
  if (!has_data && !has_errors) {
    return absl::FailedPreconditionError(
        "the answer to /ctia/graphql has neither \"data\" nor \"errors\"");
  }
  std::vector<std::optional<absl::StatusOr<schema::VerdictResult>>> slots(size);
  std::string general_error;
  if (has_errors) {
    for (const rapidjson::Value& e : errors_it->value.GetArray()) {
      std::string message = "unknown error";
      if (e.IsObject()) {
        if (auto m = e.FindMember("message"); m != e.MemberEnd() && m->value.IsString()) {
          message.assign(m->value.GetString(), m->value.GetStringLength());
        }
      }
      std::optional<size_t> index;
      if (e.IsObject()) {
        auto p = e.FindMember("path");
        if (p != e.MemberEnd() && p->value.IsArray() && !p->value.Empty() &&
            p->value[0].IsString()) {
          index = DomAliasIndex(
              absl::string_view(p->value[0].GetString(), p->value[0].GetStringLength()), size);
        }
      }
      if (index.has_value()) {
        if (!slots[*index].has_value()) {
          slots[*index] = absl::UnavailableError(
              absl::StrCat("graphql error for ", VerdictAlias(*index), ": ", message));
        }
      } else if (general_error.empty()) {
        general_error = message;
      }
    }
  }
  if (has_data) {
    for (const auto& member : data_it->value.GetObject()) {
      std::optional<size_t> index = DomAliasIndex(
          absl::string_view(member.name.GetString(), member.name.GetStringLength()), size);
      if (!index.has_value() || slots[*index].has_value()) continue;
      const rapidjson::Value& observable = member.value;
      if (!observable.IsObject()) continue;
      auto verdict = observable.FindMember("verdict");
      if (verdict == observable.MemberEnd()) continue;
      if (verdict->value.IsNull()) {
        slots[*index] = schema::VerdictResult(schema::NoVerdict{});
        continue;
      }
      absl::StatusOr<schema::VerdictResult> v =
          schema::DecodeVerdictResponse(200, Serialize(verdict->value));
      if (v.ok()) {
        slots[*index] = *std::move(v);
      } else {
        slots[*index] = absl::UnavailableError(
            absl::StrCat("graphql answer for ", VerdictAlias(*index), ": ", v.status().message()));
      }
    }
  }
  Results out;
  for (size_t i = 0; i < size; ++i) {
    if (slots[i].has_value()) {
      out.push_back(*std::move(slots[i]));
    } else {
      out.push_back(
          absl::UnavailableError(absl::StrCat("graphql answer has no verdict for ", VerdictAlias(i),
                                              general_error.empty() ? "" : ": ", general_error)));
    }
  }
  return out;
}

std::string DomBuildRequest(const std::vector<schema::Observable>& batch) {
  std::string query = "query Verdicts(";
  for (size_t i = 0; i < batch.size(); ++i) {
    absl::StrAppend(&query, i == 0 ? "" : ",", "$t", i, ":String!,$v", i, ":String!");
  }
  query += "){";
  for (size_t i = 0; i < batch.size(); ++i) {
    absl::StrAppend(&query, i == 0 ? "" : " ", VerdictAlias(i), ":observable(type:$t", i,
                    ",value:$v", i, ")",
                    "{verdict{type disposition disposition_name judgement_id observable{type "
                    "value} valid_time{start_time end_time}}}");
  }
  query += "}";
  rapidjson::StringBuffer buf;
  rapidjson::Writer<rapidjson::StringBuffer> w(buf);
  w.StartObject();
  w.Key("query");
  w.String(query.data(), static_cast<rapidjson::SizeType>(query.size()));
  w.Key("variables");
  w.StartObject();
  for (size_t i = 0; i < batch.size(); ++i) {
    const std::string t = absl::StrCat("t", i);
    const std::string v = absl::StrCat("v", i);
    w.Key(t.data(), static_cast<rapidjson::SizeType>(t.size()));
    w.String(batch[i].type.data(), static_cast<rapidjson::SizeType>(batch[i].type.size()));
    w.Key(v.data(), static_cast<rapidjson::SizeType>(v.size()));
    w.String(batch[i].value.data(), static_cast<rapidjson::SizeType>(batch[i].value.size()));
  }
  w.EndObject();
  w.EndObject();
  return std::string(buf.GetString(), buf.GetSize());
}

// ---- comparison ----------------------------------------------------------------------

void ExpectSameAsDom(absl::string_view body, size_t size) {
  SCOPED_TRACE(absl::StrCat("size ", size, " answer: ", body));
  const absl::StatusOr<Results> dom = DomDecode(body, size);
  const absl::StatusOr<Results> ours = DecodeVerdictsAnswer(body, size);
  ASSERT_EQ(dom.ok(), ours.ok()) << "dom: " << dom.status() << " ours: " << ours.status();
  if (!dom.ok()) {
    EXPECT_EQ(dom.status(), ours.status());
    return;
  }
  ASSERT_EQ(dom->size(), ours->size());
  for (size_t i = 0; i < dom->size(); ++i) {
    SCOPED_TRACE(absl::StrCat("alias o", i));
    enrich::testing::ExpectSameVerdictResult((*dom)[i], (*ours)[i]);
  }
}

std::string Replace(absl::string_view text, absl::string_view from, absl::string_view to) {
  return absl::StrReplaceAll(text, {{from, to}});
}

// A verdict as CTIA writes it (§2.2), for alias i.
std::string VerdictBody(int i) {
  return absl::StrCat(
      R"({"type":"verdict","disposition":)", 1 + i % 5, R"(,"disposition_name":"Unknown",)",
      R"("judgement_id":"http://ctia.example/ctia/judgement/judgement-)", i, R"(",)",
      R"("observable":{"type":"domain","value":"host)", i, R"(.example.org"},)",
      R"("valid_time":{"start_time":"2020-01-01T00:00:00.000Z",)",
      R"("end_time":"2525-01-01T00:00:00.000Z"}})");
}

// ctia-sim's answer shape: every other alias without a verdict.
std::string PlainAnswer(size_t size) {
  std::string body = R"({"data":{)";
  for (size_t i = 0; i < size; ++i) {
    absl::StrAppend(&body, i == 0 ? "" : ",", "\"o", i, "\":{\"verdict\":",
                    i % 2 == 0 ? VerdictBody(static_cast<int>(i)) : "null", "}");
  }
  return body + "}}";
}

// Partial data with errors, as CTIA sends when one alias fails (§9.4).
std::string AnswerWithErrors() {
  return absl::StrCat(R"({"data":{"o0":{"verdict":)", VerdictBody(0),
                      R"(},"o1":null,"o2":{"verdict":null},"o3":{"verdict":)", VerdictBody(3),
                      R"(}},"errors":[{"message":"ES timeout","path":["o1","verdict"]},)",
                      R"({"message":"over quota","path":["o3"]},{"message":"general"}]})");
}

// ---- tests ---------------------------------------------------------------------------

TEST(GraphqlVerdictsDiffTest, AgreesWithTheDomDecoderOnCtiaAnswers) {
  for (size_t size : {1u, 2u, 7u, 100u}) ExpectSameAsDom(PlainAnswer(size), size);
  ExpectSameAsDom(AnswerWithErrors(), 4);
  ExpectSameAsDom(AnswerWithErrors(), 5);
  // The plain answer is read in full: o0 a verdict, o1 no verdict.
  const auto results = DecodeVerdictsAnswer(PlainAnswer(2), 2);
  ASSERT_TRUE(results.ok()) << results.status();
  ASSERT_TRUE((*results)[0].ok());
  EXPECT_EQ(std::get<schema::Verdict>(*(*results)[0]).observable.value, "host0.example.org");
  ASSERT_TRUE((*results)[1].ok());
  EXPECT_TRUE(std::holds_alternative<schema::NoVerdict>(*(*results)[1]));
}

// Hand-picked answers: each rule of the contract (first member of a name, errors over data,
// first error of an alias, aliases outside the batch, non-canonical aliases, values of every
// type where objects are expected), escapes and whitespace, and broken JSON.
TEST(GraphqlVerdictsDiffTest, AgreesWithTheDomDecoderOnEdgeCases) {
  const std::string v = VerdictBody(1);
  const std::string a = PlainAnswer(3);
  const std::string e = AnswerWithErrors();
  const std::vector<std::string> answers = {
      "",
      " ",
      "null",
      "[]",
      "<html>Not Found</html>",
      "{",
      "{}",
      " \t\r\n{}",
      "\f{}",
      "\v{\"data\":{}}",
      R"({"data":null})",
      R"({"data":[]})",
      R"({"data":{}})",
      R"({"errors":[]})",
      R"({"errors":{}})",
      R"({"errors":null,"data":{}})",
      R"({"data":null,"data":{"o0":{"verdict":null}}})",
      R"({"data":{"o0":{"verdict":null}},"data":{"o1":{"verdict":null}}})",
      R"({"errors":[],"errors":[{"message":"late","path":["o0"]}],"data":{}})",
      R"({"errors":1,"errors":[{"message":"late"}]})",
      R"({"message":"no verdict"})",
      v,
      a,
      e,
      a + " ",
      a + "x",
      a + "{}",
      a + std::string(1, '\0') + "garbage",
      a.substr(0, a.size() - 1),
      a.substr(0, a.size() / 2),
      " \n" + a + "\t ",
      Replace(a, ":", " : "),
      Replace(a, ",", "\n,\t"),
      Replace(a, "{", "{ "),
      Replace(a, "\"o1\"", "\"o01\""),
      Replace(a, "\"o1\"", "\"o+1\""),
      Replace(a, "\"o1\"", "\"o 1\""),
      Replace(a, "\"o1\"", "\"o1 \""),
      Replace(a, "\"o1\"", "\"o3\""),
      Replace(a, "\"o1\"", "\"o99999999999999999999999\""),
      Replace(a, "\"o1\"", "\"o18446744073709551617\""),
      Replace(a, "\"o1\"", "\"o\""),
      Replace(a, "\"o1\"", "\"O1\""),
      Replace(a, "\"o1\"", "\"\\u006f1\""),
      Replace(a, "\"o1\"", "\"o0\""),
      Replace(a, "\"o0\"", "\"o2\""),
      Replace(a, "\"o1\":{\"verdict\":null}", "\"o1\":null"),
      Replace(a, "\"o1\":{\"verdict\":null}", "\"o1\":{}"),
      Replace(a, "\"o1\":{\"verdict\":null}", "\"o1\":[{\"verdict\":null}]"),
      Replace(a, "\"o1\":{\"verdict\":null}", "\"o1\":{\"verdict\":null,\"verdict\":" + v + "}"),
      Replace(a, "\"o1\":{\"verdict\":null}", "\"o1\":{\"verdict\":" + v + ",\"verdict\":null}"),
      Replace(a, "\"o1\":{\"verdict\":null}", "\"o1\":{\"x\":1},\"o1\":{\"verdict\":null}"),
      Replace(a, "\"o1\":{\"verdict\":null}", "\"o1\":null,\"o1\":{\"verdict\":" + v + "}"),
      Replace(a, "\"o1\":{\"verdict\":null}", "\"o1\":{\"verdict\":null},\"o1\":{\"verdict\":" + v + "}"),
      Replace(a, "\"o1\":{\"verdict\":null}", "\"o1\":{\"verdict\":1}"),
      Replace(a, "\"o1\":{\"verdict\":null}", "\"o1\":{\"verdict\":\"x\"}"),
      Replace(a, "\"o1\":{\"verdict\":null}", "\"o1\":{\"verdict\":true}"),
      Replace(a, "\"o1\":{\"verdict\":null}", "\"o1\":{\"verdict\":2.5}"),
      Replace(a, "\"o1\":{\"verdict\":null}", "\"o1\":{\"verdict\":[" + v + "]}"),
      Replace(a, "\"o1\":{\"verdict\":null}", "\"o1\":{\"verdict\":{}}"),
      Replace(a, "\"o1\":{\"verdict\":null}", "\"o1\":{\"v\":{\"verdict\":null}}"),
      Replace(a, "\"o1\":{\"verdict\":null}", "\"o1\":{\"verdict\":{\"verdict\":null}}"),
      Replace(a, "\"o1\":{\"verdict\":null}", "\"x\":{\"verdict\":null}"),
      Replace(a, "\"disposition\":1", "\"disposition\":1.0"),
      Replace(a, "\"disposition\":1", "\"disposition\":1e0"),
      Replace(a, "\"disposition\":1", "\"disposition\":-1"),
      Replace(a, "\"disposition\":1", "\"disposition\":-0"),
      Replace(a, "\"disposition\":1", "\"disposition\":9"),
      Replace(a, "\"disposition\":1", "\"disposition\":2147483648"),
      Replace(a, "\"disposition\":1", "\"disposition\":1,\"disposition\":2"),
      Replace(a, "\"disposition\":1", "\"disposit\\u0069on\":1"),
      Replace(a, "\"disposition\":1", "\"disposition\":null"),
      Replace(a, "\"disposition\":1", "\"disposition\":1234567890"),
      Replace(a, "\"disposition\":1", "\"disposition\":01"),
      Replace(a, "\"disposition\":1", "\"disposition\":0"),
      Replace(a, "\"verdict\":null", "\"verdict\":nul"),
      Replace(a, "\"verdict\":null", "\"verdict\":nulll"),
      Replace(a, "\"verdict\":null", "\"verdict\":Null"),
      Replace(a, "\"verdict\":null", "\"verdict\":null "),
      Replace(a, "host0", "h\\\"o\\\\s\\u00e9\\ud83d\\ude00t"),
      Replace(a, "host0", "h\\u0000st"),
      Replace(a, "host0", "h\xc3\xa9\xff\x7fst"),
      Replace(a, "host0", "h\tst"),
      Replace(a, "host0", "h\\/st"),
      Replace(a, "2525-01-01T00:00:00.000Z", "soon"),
      Replace(a, ",\"end_time\":\"2525-01-01T00:00:00.000Z\"", ""),
      Replace(a, "\"valid_time\":{", "\"valid_time\":[{"),
      Replace(a, "\"observable\":{", "\"observable\":{\"deep\":{\"a\":{\"b\":{\"c\":[1,{}]}}},"),
      Replace(a, "\"type\":\"verdict\",", "\"list\":[{\"disposition\":9},[\"observable\"]],"),
      Replace(a, "{\"data\":", "{\"extensions\":{\"data\":{\"o1\":null}},\"data\":"),
      Replace(a, "{\"data\":", "{\"errors\":[{\"message\":\"first\",\"path\":[\"o1\"]}],\"data\":"),
      a.substr(0, a.size() - 1) + ",\"errors\":[{\"message\":\"after\",\"path\":[\"o0\"]}]}",
      a.substr(0, a.size() - 1) + ",\"errors\":[{\"message\":\"x\",\"path\":[\"o2\"]},"
                                   "{\"message\":\"y\",\"path\":[\"o2\"]}]}",
      Replace(e, "\"path\":[\"o1\",\"verdict\"]", "\"path\":[]"),
      Replace(e, "\"path\":[\"o1\",\"verdict\"]", "\"path\":[1,\"o1\"]"),
      Replace(e, "\"path\":[\"o1\",\"verdict\"]", "\"path\":[[\"o1\"]]"),
      Replace(e, "\"path\":[\"o1\",\"verdict\"]", "\"path\":\"o1\""),
      Replace(e, "\"path\":[\"o1\",\"verdict\"]", "\"path\":null,\"path\":[\"o1\"]"),
      Replace(e, "\"path\":[\"o1\",\"verdict\"]", "\"path\":[\"o1\"],\"path\":[\"o2\"]"),
      Replace(e, "\"path\":[\"o1\",\"verdict\"]", "\"path\":[\"o9\"]"),
      Replace(e, "\"path\":[\"o1\",\"verdict\"]", "\"path\":[\"o01\"]"),
      Replace(e, "\"message\":\"ES timeout\"", "\"message\":7"),
      Replace(e, "\"message\":\"ES timeout\"", "\"message\":null,\"message\":\"second\""),
      Replace(e, "\"message\":\"ES timeout\"", "\"message\":\"a\",\"message\":\"b\""),
      Replace(e, "\"message\":\"ES timeout\"", "\"message\":\"\""),
      Replace(e, "\"message\":\"ES timeout\"", "\"message\":\"t\\u00e9\\n\""),
      Replace(e, "\"message\":\"ES timeout\"", "\"message\":{\"text\":\"x\"}"),
      Replace(e, "{\"message\":\"general\"}", "{\"message\":\"\"},{\"message\":\"later\"}"),
      Replace(e, "{\"message\":\"general\"}", "7,null,[\"o2\"],\"o2\""),
      Replace(e, "{\"message\":\"general\"}", "{\"path\":[\"o2\"]}"),
      Replace(e, "{\"message\":\"general\"}", "{}"),
      Replace(e, "\"data\":{", "\"data\":null,\"d\":{"),
      Replace(e, "\"errors\":[", "\"errors\":[{\"message\":\"m\",\"path\":[\"o0\"],"
                                 "\"extensions\":{\"path\":[\"o3\"],\"message\":\"n\"}},"),
  };
  for (const std::string& answer : answers) {
    for (size_t size : {1u, 3u, 4u}) ExpectSameAsDom(answer, size);
    if (HasFailure()) return;
  }
}

// Random damage to answers (byte flips, cuts, insertions, deletions, JSON punctuation and
// alias characters): whatever the DOM decoder answers, the one-pass decoder answers too.
TEST(GraphqlVerdictsDiffTest, AgreesWithTheDomDecoderOnDamagedAnswers) {
  std::mt19937 rng(20261129);
  const std::vector<std::string> bases = {PlainAnswer(4), AnswerWithErrors(),
                                          Replace(PlainAnswer(3), "host", "h\\u00e9\\\"t")};
  const std::string alphabet = "{}[]:,\"\\ 0123456789.-+eEtrufalsnov\x01\x7f\xc3\xa9u";
  int whole = 0;       // answers decoded
  int settled = 0;     // verdicts among their results
  for (int i = 0; i < 20000; ++i) {
    std::string body = bases[static_cast<size_t>(i) % bases.size()];
    enrich::testing::Damage(body, rng, alphabet);
    const size_t size = 2 + static_cast<size_t>(rng() % 3);
    ExpectSameAsDom(body, size);
    if (HasFailure()) return;
    if (auto results = DecodeVerdictsAnswer(body, size); results.ok()) {
      ++whole;
      for (const auto& r : *results) settled += r.ok() && std::holds_alternative<schema::Verdict>(*r);
    }
  }
  // Both outcomes were exercised, and verdicts were read from damaged answers.
  EXPECT_GT(whole, 100);
  EXPECT_LT(whole, 20000 - 100);
  EXPECT_GT(settled, 100);
}

TEST(GraphqlVerdictsDiffTest, RequestIsByteForByteTheWritersOutput) {
  std::mt19937 rng(7);
  const std::string bytes = std::string("\"\\/\b\f\n\r\t\x01\x1f\x7f\xc3\xa9\xff aZ09.:-_", 23) +
                            std::string(1, '\0');
  // Sizes repeat and change: the query part is written once per size and thread.
  for (size_t n : {1u, 2u, 9u, 10u, 11u, 100u, 100u, 101u, 1000u, 2u, 2u, 100u}) {
    std::vector<schema::Observable> batch;
    for (size_t i = 0; i < n; ++i) {
      std::string value;
      const size_t length = rng() % 40;
      for (size_t j = 0; j < length; ++j) value += bytes[rng() % bytes.size()];
      batch.push_back({i % 3 == 0 ? "ip" : "domain", value});
    }
    EXPECT_EQ(BuildVerdictsRequest(batch), DomBuildRequest(batch)) << "batch of " << n;
  }
  EXPECT_EQ(BuildVerdictsRequest({{"url", "http://x.com/a?b=\"c\"\\d"}}),
            DomBuildRequest({{"url", "http://x.com/a?b=\"c\"\\d"}}));
}

}  // namespace
}  // namespace enrich::transport::internal
