// Conformance cases of reference/ctia-api.md replayed against the router with a fake clock:
// §2.6 V3, V6, V8, V15-V17 with exact bodies, §3 dispositions, §4 paging headers as ctia's
// pagination offset-test pins them, §5 defaults and 400 bodies, §6.1/§6.2 bulk, §12.4 auth.
#include <string>
#include <vector>

#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "rapidjson/document.h"
#include "schema/path_encoding.h"
#include "schema/time_format.h"
#include "tests/sim/router_fixture.h"
#include "tools/sim/router.h"

namespace enrich::sim {
namespace {

using test_support::At;
using test_support::Judgement;
using test_support::Parse;
using test_support::RouterTest;
using test_support::Str;
using ::testing::HasSubstr;

constexpr absl::string_view kEnd = "2525-01-01T00:00:00.000Z";

// The six-key verdict body of §2.2, in the order ctia-sim writes it.
std::string VerdictBody(int disposition, absl::string_view name, absl::string_view type,
                        absl::string_view value, absl::string_view judgement_id,
                        absl::string_view start, absl::string_view end = kEnd) {
  return absl::StrCat(R"({"type":"verdict","disposition":)", disposition,
                      R"(,"disposition_name":")", name, R"(","observable":{"type":")", type,
                      R"(","value":")", value, R"("},"judgement_id":")", judgement_id,
                      R"(","valid_time":{"start_time":")", start, R"(","end_time":")", end,
                      R"("}})");
}

std::string ValidTime(absl::string_view start, absl::string_view end = "") {
  if (end.empty()) return absl::StrCat(R"(,"valid_time":{"start_time":")", start, R"("})");
  return absl::StrCat(R"(,"valid_time":{"start_time":")", start, R"(","end_time":")", end,
                      R"("})");
}

std::string ShortId(const std::string& long_id) { return long_id.substr(long_id.rfind('/') + 1); }

class ConformanceTest : public RouterTest {};

// ---- §2.6 verdict cases ----

TEST_F(ConformanceTest, V3ExpiredDeviceJudgementDoesNotAffectTheIpVerdict) {
  clock_.Set(At("2016-02-12T15:42:58.232Z"));  // the test pins the clock here
  const std::string auth = Bearer();
  Post(Judgement("device", "string", 1, 99,
                 ValidTime("2016-02-12T14:56:26.719Z", "2016-02-12T14:56:26.814Z")),
       auth);
  const std::string id =
      Post(Judgement("ip", "10.0.0.1", 2, 99, ValidTime("2016-02-12T14:56:26.814Z")), auth);
  SimResponse r = Get("/ctia/ip/10.0.0.1/verdict", auth);
  ASSERT_EQ(r.status, 200);
  EXPECT_EQ(r.body, VerdictBody(2, "Malicious", "ip", "10.0.0.1", id,
                                "2016-02-12T14:56:26.814Z"));
  EXPECT_EQ(Get("/ctia/device/string/verdict", auth).status, 404);
}

TEST_F(ConformanceTest, V6Sha256GreenPriorityZeroForTwoWeeks) {
  const std::string auth = Bearer();
  const std::string sha = "39091a6e0d00472273c3d644a47611bac95554d8d48899ec74d1b3127542f89b";
  const std::string start = schema::FormatIsoTime(clock_.Now());
  const std::string end = schema::FormatIsoTime(clock_.Now() + absl::Hours(24 * 14));
  const std::string id =
      Post(Judgement("sha256", sha, 2, 0, absl::StrCat(R"(,"tlp":"green")", ValidTime(start, end))),
           auth);
  SimResponse r = Get(absl::StrCat("/ctia/sha256/", sha, "/verdict"), auth);
  ASSERT_EQ(r.status, 200);
  EXPECT_EQ(r.body, VerdictBody(2, "Malicious", "sha256", sha, id, start, end));
  clock_.Advance(absl::Hours(24 * 14));  // end is exclusive
  EXPECT_EQ(Get(absl::StrCat("/ctia/sha256/", sha, "/verdict"), Bearer()).status, 404);
}

TEST_F(ConformanceTest, V8ValidForTenMoreSecondsThenGone) {
  const std::string auth = Bearer();
  const std::string start = schema::FormatIsoTime(clock_.Now() - absl::Minutes(10));
  const std::string end = schema::FormatIsoTime(clock_.Now() + absl::Seconds(10));
  const std::string id = Post(Judgement("ip", "10.0.0.2", 2, 90, ValidTime(start, end)), auth);
  SimResponse r = Get("/ctia/ip/10.0.0.2/verdict", auth);
  ASSERT_EQ(r.status, 200);
  EXPECT_EQ(r.body, VerdictBody(2, "Malicious", "ip", "10.0.0.2", id, start, end));
  clock_.Advance(absl::Seconds(9) + absl::Milliseconds(999));
  EXPECT_EQ(Get("/ctia/ip/10.0.0.2/verdict", auth).status, 200);
  clock_.Advance(absl::Milliseconds(1));
  EXPECT_EQ(Get("/ctia/ip/10.0.0.2/verdict", auth).body,
            R"({"message":"no verdict currently available for the supplied observable"})");
}

// ctia verdict_test.clj `with-date-range`: from/to select on `created`, not valid_time.
TEST_F(ConformanceTest, V15ToV17DateRangeSelectsOnCreated) {
  clock_.Set(At("2021-06-01T12:00:00.000Z"));
  const std::string auth = Bearer();
  const std::string before = schema::FormatIsoTime(clock_.Now());
  clock_.Advance(absl::Seconds(1));
  Post(Judgement("ip", "127.0.0.1", 1, 100,
                 ValidTime("2016-02-12T00:00:00.000Z", "2016-12-12T00:00:00.000Z")),
       auth);
  Post(Judgement("ip", "10.0.0.1", 1, 90, ValidTime("2017-02-12T00:00:00.000Z")), auth);
  const std::string j3 =
      Post(Judgement("ip", "10.0.0.1", 3, 99, ValidTime("2018-02-12T00:00:00.000Z")), auth);
  clock_.Advance(absl::Seconds(1));
  const std::string midway = schema::FormatIsoTime(clock_.Now());
  clock_.Advance(absl::Seconds(1));
  const std::string j4 =
      Post(Judgement("ip", "10.0.0.1", 2, 99, ValidTime("2020-02-12T00:00:00.000Z")), auth);
  clock_.Advance(absl::Seconds(1));
  const std::string after = schema::FormatIsoTime(clock_.Now());

  SimResponse v15 = Get(absl::StrCat("/ctia/ip/10.0.0.1/verdict?from=", before, "&to=", midway),
                        auth);
  EXPECT_EQ(v15.status, 200);
  EXPECT_EQ(v15.body, VerdictBody(3, "Suspicious", "ip", "10.0.0.1", j3,
                                  "2018-02-12T00:00:00.000Z"));
  SimResponse v16 = Get(absl::StrCat("/ctia/ip/10.0.0.1/verdict?from=", after), auth);
  EXPECT_EQ(v16.status, 404);
  EXPECT_EQ(v16.body,
            R"({"message":"no verdict currently available for the supplied observable"})");
  SimResponse v17 = Get("/ctia/ip/10.0.0.1/verdict", auth);
  EXPECT_EQ(v17.status, 200);
  EXPECT_EQ(v17.body, VerdictBody(2, "Malicious", "ip", "10.0.0.1", j4,
                                  "2020-02-12T00:00:00.000Z"));
}

TEST_F(ConformanceTest, PriorityBeatsDispositionAndEndEqualNowIsIgnored) {
  const std::string auth = Bearer();
  const std::string unknown = Post(Judgement("ip", "10.9.9.9", 5, 100), auth);
  Post(Judgement("ip", "10.9.9.9", 1, 99), auth);
  EXPECT_EQ(VerdictId("/ctia/ip/10.9.9.9/verdict", auth), unknown);
  EXPECT_EQ(Str(Parse(Get("/ctia/ip/10.9.9.9/verdict", auth).body), "disposition_name"),
            "Unknown");
}

// ---- §3 dispositions ----

TEST_F(ConformanceTest, DispositionNumberAndNameDeriveEachOther) {
  const std::string auth = Bearer();
  const char* kNames[] = {"Clean", "Malicious", "Suspicious", "Common", "Unknown"};
  for (int n = 1; n <= 5; ++n) {
    const std::string value = absl::StrCat("10.1.0.", n);
    // Only the number: the name is derived.
    SimResponse r = Call("POST", "/ctia/judgement", Judgement("ip", value, n, 90), auth);
    ASSERT_EQ(r.status, 201) << r.body;
    EXPECT_EQ(Str(Parse(r.body), "disposition_name"), kNames[n - 1]);
    // Only the name: the number is derived.
    r = Call("POST", "/ctia/judgement",
             absl::StrCat(R"({"observable":{"type":"ip","value":")", value,
                          R"("},"source":"s","priority":90,"confidence":"High",)",
                          R"("severity":"High","disposition_name":")", kNames[n - 1], R"("})"),
             auth);
    ASSERT_EQ(r.status, 201) << r.body;
    EXPECT_EQ(Parse(r.body)["disposition"].GetInt(), n);
    // The verdict's name is always the map's name for the number.
    SimResponse v = Get(absl::StrCat("/ctia/ip/", value, "/verdict"), auth);
    EXPECT_EQ(Parse(v.body)["disposition"].GetInt(), n);
    EXPECT_EQ(Str(Parse(v.body), "disposition_name"), kNames[n - 1]);
  }
}

TEST_F(ConformanceTest, NeitherDispositionNorNameIsUnknown) {
  SimResponse r = Call("POST", "/ctia/judgement",
                       R"({"observable":{"type":"ip","value":"10.2.0.1"},"source":"s",)"
                       R"("priority":90,"confidence":"High","severity":"High"})",
                       Bearer());
  ASSERT_EQ(r.status, 201);
  EXPECT_EQ(Parse(r.body)["disposition"].GetInt(), 5);
  EXPECT_EQ(Str(Parse(r.body), "disposition_name"), "Unknown");
}

TEST_F(ConformanceTest, InconsistentOrUnknownDispositionIs400) {
  const std::string auth = Bearer();
  const std::string mismatch =
      Judgement("ip", "10.2.0.2", 3, 90, R"(,"disposition_name":"Malicious")");
  SimResponse r = Call("POST", "/ctia/judgement", mismatch, auth);
  EXPECT_EQ(r.status, 400);
  EXPECT_EQ(r.body, absl::StrCat(R"({"error":"Mismatched disposition and dispositon_name for )"
                                 R"(judgement","judgement":)",
                                 mismatch, "}"));
  // Names are case-sensitive enum values; numbers are 1..5.
  r = Call("POST", "/ctia/judgement",
           R"({"observable":{"type":"ip","value":"10.2.0.3"},"source":"s","priority":90,)"
           R"("confidence":"High","severity":"High","disposition_name":"malicious"})",
           auth);
  EXPECT_EQ(r.status, 400);
  EXPECT_EQ(r.body, R"x({"errors":{"disposition_name":"(not (#{\"Clean\" \"Malicious\" )x"
                    R"x(\"Suspicious\" \"Common\" \"Unknown\"} a-string))"}})x");
  r = Call("POST", "/ctia/judgement", Judgement("ip", "10.2.0.4", 6, 90), auth);
  EXPECT_EQ(r.status, 400);
  EXPECT_EQ(r.body, R"x({"errors":{"disposition":"(not (#{1 2 3 4 5} a-number))"}})x");
  EXPECT_EQ(store_.size(), 0u);
}

// ---- §4 judgements list: the exact paging headers ----

// ctia test_helpers/pagination.clj `offset-test`: sort_by=id, offset 1, limit
// ceil(total/2) - 1; X-Next carries the last hit's short id as search_after.
TEST_F(ConformanceTest, ListOffsetTestHeadersAreExact) {
  const std::string auth = Bearer();
  std::vector<std::string> ids;
  for (int i = 0; i < 7; ++i) ids.push_back(ShortId(Post(Judgement("ip", "10.0.0.1", 2, 90), auth)));
  std::sort(ids.begin(), ids.end());
  const int total = 7;
  const int offset = 1;
  const int limit = 3;  // ceil(7 / 2) - 1
  SimResponse r = Get(absl::StrCat("/ctia/ip/10.0.0.1/judgements?limit=", limit,
                                   "&offset=", offset, "&sort_by=id"),
                      auth);
  ASSERT_EQ(r.status, 200);
  rapidjson::Document doc = Parse(r.body);
  ASSERT_EQ(doc.Size(), 3u);
  for (int i = 0; i < limit; ++i) EXPECT_EQ(ShortId(Str(doc[i], "id")), ids[offset + i]);
  EXPECT_EQ(r.Header("X-Total-Hits"), absl::StrCat(total));
  EXPECT_EQ(r.Header("X-Previous"), "limit=3&offset=0");
  EXPECT_EQ(r.Header("X-Next"), absl::StrCat("limit=3&offset=4&search_after=", ids[3]));
  EXPECT_EQ(r.Header("X-Sort"), absl::StrCat("[\"", ids[3], "\"]"));

  // Offset 5: X-Previous goes back one page, and no X-Next past the last hit.
  r = Get("/ctia/ip/10.0.0.1/judgements?limit=3&offset=5&sort_by=id", auth);
  EXPECT_EQ(Parse(r.body).Size(), 2u);
  EXPECT_EQ(r.Header("X-Previous"), "limit=3&offset=2");
  EXPECT_EQ(r.Header("X-Next"), "");
  // First page: no X-Previous.
  r = Get("/ctia/ip/10.0.0.1/judgements?limit=3&sort_by=id", auth);
  EXPECT_EQ(r.Header("X-Previous"), "");
  EXPECT_EQ(r.Header("X-Next"), absl::StrCat("limit=3&offset=3&search_after=", ids[2]));
}

// ctia's x-next-test: following X-Next collects the same list as one big page.
TEST_F(ConformanceTest, FollowingXNextWalksTheWholeListInDefaultOrder) {
  const std::string auth = Bearer();
  for (int i = 0; i < 5; ++i) {
    Post(Judgement("domain", "walk.example", 2, 90), auth);
    clock_.Advance(absl::Milliseconds(5));
  }
  Post(Judgement("domain", "other.example", 2, 90), auth);
  SimResponse full = Get("/ctia/domain/walk.example/judgements?limit=10000", auth);
  rapidjson::Document all = Parse(full.body);
  ASSERT_EQ(all.Size(), 5u);
  // Default sort timestamp,created,id: X-Next carries epoch millis then the id.
  SimResponse first = Get("/ctia/domain/walk.example/judgements?limit=2", auth);
  rapidjson::Document page = Parse(first.body);
  const std::string ts = absl::StrCat(absl::ToUnixMillis(*schema::ParseIsoTime(
      Str(page[1], "timestamp"))));
  EXPECT_EQ(first.Header("X-Next"),
            absl::StrCat("limit=2&offset=2&search_after=", ts, "&search_after=", ts,
                         "&search_after=", ShortId(Str(page[1], "id"))));
  EXPECT_EQ(first.Header("X-Sort"),
            absl::StrCat("[", ts, " ", ts, " \"", ShortId(Str(page[1], "id")), "\"]"));
  std::vector<std::string> walked;
  std::string next = "limit=2";
  int pages = 0;
  while (!next.empty() && pages < 10) {
    SimResponse r = Get(absl::StrCat("/ctia/domain/walk.example/judgements?", next), auth);
    ASSERT_EQ(r.status, 200) << next;
    rapidjson::Document d = Parse(r.body);
    for (const rapidjson::Value& j : d.GetArray()) walked.push_back(Str(j, "id"));
    // search_after pages have no X-Previous (ductile `previous?`).
    if (pages > 0) {
      EXPECT_EQ(r.Header("X-Previous"), "");
    }
    next = r.Header("X-Next");
    ++pages;
  }
  ASSERT_EQ(walked.size(), 5u);
  for (size_t i = 0; i < walked.size(); ++i) EXPECT_EQ(walked[i], Str(all[i], "id"));
  // Five hits in pages of two: the third page holds one, so there is no fourth.
  EXPECT_EQ(pages, 3);
}

TEST_F(ConformanceTest, ListIncludesExpiredAndDefaultsToAHundred) {
  const std::string auth = Bearer();
  Post(Judgement("ip", "10.3.0.1", 2, 90,
                 ValidTime("2015-01-01T00:00:00.000Z", "2015-01-02T00:00:00.000Z")),
       auth);
  std::string items;
  for (int i = 0; i < 5; ++i) absl::StrAppend(&items, i ? "," : "", Judgement("ip", "10.3.0.2", 2, 90));
  for (int round = 0; round < 21; ++round) {  // 105 judgements, bulk_max is 5 here
    ASSERT_EQ(Call("POST", "/ctia/bulk", absl::StrCat(R"({"judgements":[)", items, "]}"), auth)
                  .status,
              201);
  }
  EXPECT_EQ(Parse(Get("/ctia/ip/10.3.0.1/judgements", auth).body).Size(), 1u);
  SimResponse r = Get("/ctia/ip/10.3.0.2/judgements", auth);
  EXPECT_EQ(Parse(r.body).Size(), 100u);
  EXPECT_EQ(r.Header("X-Total-Hits"), "105");
  EXPECT_THAT(r.Header("X-Next"), ::testing::StartsWith("limit=100&offset=100&search_after="));
  r = Get("/ctia/ip/10.3.0.2/judgements?limit=1&offset=9999", auth);
  EXPECT_EQ(r.status, 200);
  r = Get("/ctia/ip/10.3.0.2/judgements?limit=2&offset=9999", auth);
  EXPECT_EQ(r.status, 400);
  EXPECT_EQ(Str(Parse(r.body), "type"), "ES Invalid Request");
  EXPECT_THAT(Str(Parse(r.body), "message"), HasSubstr("Result window is too large"));
}

// ---- §5 POST defaults and 400 bodies ----

TEST_F(ConformanceTest, MinimalPostGetsEveryDefault) {
  const std::string auth = Bearer();
  SimResponse r = Call("POST", "/ctia/judgement",
                       R"({"observable":{"type":"domain","value":"Min.Example"},"source":"s",)"
                       R"("priority":90,"confidence":"High","severity":"Medium"})",
                       auth);
  ASSERT_EQ(r.status, 201);
  rapidjson::Document doc = Parse(r.body);
  const std::string now = schema::FormatIsoTime(clock_.Now());
  EXPECT_EQ(r.Header("Location"), Str(doc, "id"));
  EXPECT_EQ(Str(doc, "type"), "judgement");
  EXPECT_EQ(Str(doc, "schema_version"), "1.3.29");
  EXPECT_EQ(doc["disposition"].GetInt(), 5);
  EXPECT_EQ(Str(doc, "disposition_name"), "Unknown");
  EXPECT_EQ(Str(doc, "tlp"), "green");
  EXPECT_EQ(Str(doc, "timestamp"), now);
  EXPECT_EQ(Str(doc, "created"), now);
  EXPECT_EQ(Str(doc, "modified"), now);
  EXPECT_EQ(Str(doc["valid_time"], "start_time"), now);
  EXPECT_EQ(Str(doc["valid_time"], "end_time"), kEnd);
  EXPECT_EQ(Str(doc["observable"], "value"), "Min.Example");  // stored as given
  // GET returns what POST answered.
  SimResponse got = Get(absl::StrCat("/ctia/judgement/", ShortId(Str(doc, "id"))), auth);
  EXPECT_EQ(got.body, r.body);
}

TEST_F(ConformanceTest, MissingRequiredKeysAre400WithExactBody) {
  SimResponse r = Call("POST", "/ctia/judgement", R"({"observable":{"type":"ip","value":"1"}})",
                       Bearer());
  EXPECT_EQ(r.status, 400);
  EXPECT_EQ(r.body, R"({"errors":{"source":"missing-required-key",)"
                    R"("priority":"missing-required-key",)"
                    R"("confidence":"missing-required-key",)"
                    R"("severity":"missing-required-key"}})");
  r = Call("POST", "/ctia/judgement",
           Judgement("ip", "1.2.3.4", 2, 90, R"(,"tlp":"purple")"), Bearer());
  EXPECT_EQ(r.status, 400);
  EXPECT_EQ(r.body,
            R"x({"errors":{"tlp":"(not (#{\"red\" \"amber\" \"green\" \"white\"} \"purple\"))"}})x");
  r = Call("POST", "/ctia/judgement", "[1,2]", Bearer());
  EXPECT_EQ(r.status, 400);
  EXPECT_EQ(r.body, R"x({"errors":"(not (map? a-judgement))"})x");
  EXPECT_EQ(store_.size(), 0u);
}

// ---- §6.1 bulk size, §6.2 GET /ctia/bulk ----

TEST_F(ConformanceTest, BulkAtTheLimitPassesAndOneMoreIsRefused) {
  const std::string auth = Bearer();
  std::string items;
  for (int i = 0; i < 5; ++i) {
    absl::StrAppend(&items, i ? "," : "", Judgement("ip", absl::StrCat("10.4.0.", i), 2, 90));
  }
  SimResponse r = Call("POST", "/ctia/bulk", absl::StrCat(R"({"judgements":[)", items, "]}"), auth);
  EXPECT_EQ(r.status, 201);
  EXPECT_EQ(Parse(r.body)["judgements"].Size(), 5u);
  r = Call("POST", "/ctia/bulk",
           absl::StrCat(R"({"judgements":[)", items, ",", Judgement("ip", "10.4.0.9", 2, 90),
                        "]}"),
           auth);
  EXPECT_EQ(r.status, 400);
  EXPECT_EQ(r.content_type, "application/json;charset=utf-8");
  EXPECT_EQ(r.body, "\"Bulk max number of entities: 5\"");
  EXPECT_EQ(store_.size(), 5u);
}

TEST_F(ConformanceTest, BulkDefaultLimitIs2000Entities) {
  options_ = SimOptions{};
  options_.clock = &clock_;
  options_.clients = {SimClient{"client", "secret"}};
  Rebuild();
  const std::string auth = Bearer();
  std::string items;
  for (int i = 0; i < 2001; ++i) {
    absl::StrAppend(&items, i ? "," : "",
                    Judgement("ip", absl::StrCat("10.", i / 256, ".", i % 256, ".1"), 2, 90));
  }
  SimResponse r = Call("POST", "/ctia/bulk", absl::StrCat(R"({"judgements":[)", items, "]}"), auth);
  EXPECT_EQ(r.status, 400);
  EXPECT_EQ(r.body, "\"Bulk max number of entities: 2000\"");
  items.resize(items.rfind(",{"));  // 2000 entities
  r = Call("POST", "/ctia/bulk", absl::StrCat(R"({"judgements":[)", items, "]}"), auth);
  EXPECT_EQ(r.status, 201);
  EXPECT_EQ(store_.size(), 2000u);
}

TEST_F(ConformanceTest, BulkGetReturnsJudgementsByShortOrLongId) {
  const std::string foo = Bearer("foouser", "foopass");
  const std::string a = Post(Judgement("ip", "10.5.0.1", 2, 90), foo);
  const std::string b = Post(Judgement("ip", "10.5.0.2", 3, 90), foo);
  const std::string red = Post(Judgement("ip", "10.5.0.3", 3, 90, R"(,"tlp":"red")"), foo);
  SimResponse r = Get(absl::StrCat("/ctia/bulk?judgements=", ShortId(b), "&judgements=",
                                   schema::FormEncode(a),
                                   "&judgements=judgement-00000000-0000-4000-8000-000000000000",
                                   "&judgements=", ShortId(red)),
                      Bearer("baruser", "barpass"));
  ASSERT_EQ(r.status, 200) << r.body;
  rapidjson::Document doc = Parse(r.body);
  ASSERT_TRUE(doc.HasMember("judgements"));
  const rapidjson::Value& list = doc["judgements"];
  // Request order; the missing id is left out; the red one baruser may not read is null.
  ASSERT_EQ(list.Size(), 3u);
  EXPECT_EQ(Str(list[0], "id"), b);
  EXPECT_EQ(list[0]["disposition"].GetInt(), 3);
  EXPECT_EQ(Str(list[1], "id"), a);
  EXPECT_TRUE(list[2].IsNull());
  EXPECT_EQ(router_->CountsByEndpoint()["bulk_get"][200], 1u);

  std::string many = "/ctia/bulk?";
  for (int i = 0; i < 6; ++i) absl::StrAppend(&many, i ? "&" : "", "judgements=", ShortId(a));
  r = Get(many, foo);
  EXPECT_EQ(r.status, 400);
  EXPECT_EQ(r.body, "\"Bulk max number of entities: 5\"");
  EXPECT_EQ(Get("/ctia/bulk?indicators=x", foo).body, R"({"errors":{"indicators":"disallowed-key"}})");
  EXPECT_EQ(Get(absl::StrCat("/ctia/bulk?judgements=", ShortId(a)), "").status, 401);
}

// ---- §12.4 auth ----

TEST_F(ConformanceTest, WellFormedJwtNotSignedHereIs401InvalidSignature) {
  const std::string header = absl::WebSafeBase64Escape(R"({"alg":"RS256","typ":"JWT"})");
  const std::string payload =
      absl::WebSafeBase64Escape(R"({"sub":"client","exp":4102444800,"iat":1700000000})");
  SimResponse r =
      Get("/ctia/ip/10.0.0.1/verdict", absl::StrCat("Bearer ", header, ".", payload, ".c2lnbmF0dXJl"));
  EXPECT_EQ(r.status, 401);
  EXPECT_EQ(r.body, R"({"error":"jwt_invalid_signature","error_description":"Invalid Signature",)"
                    R"("level":"warn"})");
  EXPECT_EQ(r.Header("WWW-Authenticate"), "");
  // Three dotted parts that do not decode are garbage, not a bad signature.
  r = Get("/ctia/ip/10.0.0.1/verdict", "Bearer a.b.c");
  EXPECT_EQ(Str(Parse(r.body), "error"), "jwt_decode_failed_exception");
}

TEST_F(ConformanceTest, EveryCtiaPathButVersionNeedsAToken) {
  for (const char* path :
       {"/ctia/ip/1.2.3.4/verdict", "/ctia/ip/1.2.3.4/judgements", "/ctia/judgement/x",
        "/ctia/bulk?judgements=x", "/ctia/status", "/ctia/nothing"}) {
    SimResponse r = Get(path, "");
    EXPECT_EQ(r.status, 401) << path;
    EXPECT_EQ(r.body,
              R"({"error":"not_authenticated","message":"Only authenticated users allowed"})")
        << path;
  }
  for (const char* path : {"/ctia/judgement", "/ctia/bulk", "/ctia/graphql"}) {
    EXPECT_EQ(Call("POST", path, "{}", "").status, 401) << path;
  }
  EXPECT_EQ(Get("/ctia/version", "").status, 200);
}

TEST_F(ConformanceTest, ExpiredTokenNamesHowLongAgoAndDoesNotConsumeQuota) {
  options_.rate_limit = 1;
  Rebuild();
  const std::string auth = Bearer();
  clock_.Advance(absl::Seconds(600 + 3600 + 61));
  SimResponse r = Get("/ctia/status", auth);
  EXPECT_EQ(r.status, 401);
  EXPECT_EQ(r.body, R"({"error":"jwt_expired","error_description":)"
                    R"("This JWT max lifetime has expired 1h 1min 1s ago"})");
  // The refused call did not count: a fresh token still has its one call.
  EXPECT_EQ(Get("/ctia/status", Bearer()).status, 200);
}

}  // namespace
}  // namespace enrich::sim
