// ctia-sim --synthetic: the documented formula, then the verdict route in synthetic mode.

#include <cstdio>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "gtest/gtest.h"
#include "schema/json_codec.h"
#include "schema/time_format.h"
#include "tests/sim/router_fixture.h"
#include "tools/sim/router.h"
#include "tools/sim/sim_server.h"

namespace enrich::sim {
namespace {

using test_support::Judgement;
using test_support::Parse;
using test_support::RouterTest;
using test_support::Str;

TEST(SyntheticTest, HashIsFnv1aOfTypeNulLowercaseValue) {
  // FNV-1a 64 of "ip\0""1.2.3.4", computed independently here.
  uint64_t h = 0xcbf29ce484222325ULL;
  for (char c : std::string("ip\0" "1.2.3.4", 10)) {
    h ^= static_cast<unsigned char>(c);
    h *= 0x100000001b3ULL;
  }
  EXPECT_EQ(SyntheticHash("ip", "1.2.3.4"), h);
  EXPECT_EQ(SyntheticHash("domain", "EVIL.com"), SyntheticHash("domain", "evil.com"));
  EXPECT_NE(SyntheticHash("domain", "evil.com"), SyntheticHash("ip", "evil.com"));
}

TEST(SyntheticTest, VerdictFollowsTheDocumentedFormula) {
  int with_verdict = 0;
  for (int i = 0; i < 1000; ++i) {
    const std::string value = absl::StrCat("host-", i, ".Example");
    const uint64_t h = SyntheticHash("domain", value);
    std::optional<schema::Verdict> v = SyntheticVerdict("domain", value, 30, "http://sim:1");
    ASSERT_EQ(v.has_value(), h % 100 < 30) << value;
    if (!v.has_value()) continue;
    ++with_verdict;
    EXPECT_EQ(static_cast<int>(v->disposition), 1 + static_cast<int>((h >> 8) % 5));
    EXPECT_EQ(v->observable.value, absl::AsciiStrToLower(value));
    const uint64_t g = h * 0x9e3779b97f4a7c15ULL;
    char uuid[40];
    std::snprintf(uuid, sizeof(uuid), "%08x-%04x-4%03x-a%03x-%012llx",
                  static_cast<unsigned>(h >> 32), static_cast<unsigned>((h >> 16) & 0xffff),
                  static_cast<unsigned>(h & 0xfff), static_cast<unsigned>(g >> 52),
                  static_cast<unsigned long long>(g & 0xffffffffffffULL));
    EXPECT_EQ(v->judgement_id, absl::StrCat("http://sim:1/ctia/judgement/judgement-", uuid));
    EXPECT_EQ(schema::FormatIsoTime(v->valid_time.start_time), "2020-01-01T00:00:00.000Z");
    EXPECT_EQ(schema::FormatIsoTime(v->valid_time.end_time), "2525-01-01T00:00:00.000Z");
  }
  EXPECT_GT(with_verdict, 200);
  EXPECT_LT(with_verdict, 400);
  EXPECT_FALSE(SyntheticVerdict("ip", "1.2.3.4", 0, "").has_value());
  EXPECT_TRUE(SyntheticVerdict("ip", "1.2.3.4", 100, "").has_value());
  EXPECT_FALSE(SyntheticVerdict("nonsense", "x", 100, "").has_value());
}

class SyntheticRouteTest : public RouterTest {
 protected:
  SyntheticRouteTest() {
    options_.synthetic_percent = 100;
    Rebuild();
  }
};

TEST_F(SyntheticRouteTest, AnswersAnyObservableWithoutStoringIt) {
  const std::string auth = Bearer();
  SimResponse r = Get("/ctia/ip/203.0.113.77/verdict", auth);
  ASSERT_EQ(r.status, 200) << r.body;
  EXPECT_EQ(r.body, schema::EncodeVerdict(
                        *SyntheticVerdict("ip", "203.0.113.77", 100, "https://ctia.test:443")));
  EXPECT_EQ(store_.size(), 0u);
  // Case-insensitive: the same answer.
  EXPECT_EQ(Get("/ctia/domain/EXAMPLE.org/verdict", auth).body,
            Get("/ctia/domain/example.org/verdict", auth).body);
  // Unknown types are still CTIA's 400; from/to ask about stored judgements only.
  EXPECT_EQ(Get("/ctia/nonsense/x/verdict", auth).status, 400);
  EXPECT_EQ(Get("/ctia/ip/203.0.113.77/verdict?from=2016-01-01T00:00:00.000Z", auth).status, 404);
}

TEST_F(SyntheticRouteTest, StoredJudgementsTakePrecedence) {
  const std::string auth = Bearer();
  const std::string id = Post(Judgement("ip", "203.0.113.78", 1, 100), auth);
  EXPECT_EQ(Str(Parse(Get("/ctia/ip/203.0.113.78/verdict", auth).body), "judgement_id"), id);
}

TEST_F(SyntheticRouteTest, ZeroPercentMeansNoVerdicts) {
  options_.synthetic_percent = 0;
  Rebuild();
  EXPECT_EQ(Get("/ctia/ip/203.0.113.77/verdict", Bearer()).status, 404);
}

TEST(SyntheticTest, ShortLivedAreTheHashesBelowThePercent) {
  int short_lived = 0;
  for (int i = 0; i < 2000; ++i) {
    const std::string value = absl::StrCat("host-", i, ".Example");
    const bool expected = SyntheticHash("domain", value) % 100 < 10;
    EXPECT_EQ(SyntheticShortLived("domain", value, 10), expected) << value;
    EXPECT_FALSE(SyntheticShortLived("domain", value, 0));
    EXPECT_TRUE(SyntheticShortLived("domain", value, 100));
    short_lived += expected ? 1 : 0;
  }
  EXPECT_GT(short_lived, 140);
  EXPECT_LT(short_lived, 260);
}

// --synthetic 50 --synthetic-short-valid 10:30: the tenth of all observables with h % 100 < 10
// (each with a verdict) end 30 s after the router was made, at a whole second; the others keep
// 2525. Once the end has passed, every answer is the plain synthetic one (renewed to 2525).
TEST_F(SyntheticRouteTest, ShortValidEndsTheChosenShareThenRenewsIt) {
  options_.synthetic_percent = 50;
  options_.synthetic_short_percent = 10;
  options_.synthetic_short_valid = absl::Seconds(30);
  clock_.Set(clock_.Now() + absl::Milliseconds(400));  // not on a whole second
  Rebuild();
  const absl::Time end =
      absl::FromUnixSeconds(absl::ToUnixSeconds(clock_.Now())) + absl::Seconds(30);
  const std::string auth = Bearer();
  int short_lived = 0;
  int verdicts = 0;
  for (int i = 0; i < 400; ++i) {
    const std::string value = absl::StrCat("host-", i, ".example");
    const uint64_t h = SyntheticHash("domain", value);
    SimResponse r = Get(absl::StrCat("/ctia/domain/", value, "/verdict"), auth);
    if (h % 100 >= 50) {
      EXPECT_EQ(r.status, 404) << value;
      continue;
    }
    ASSERT_EQ(r.status, 200) << value << " " << r.body;
    ++verdicts;
    schema::Verdict want = *SyntheticVerdict("domain", value, 50, "https://ctia.test:443");
    if (h % 100 < 10) {
      ++short_lived;
      want.valid_time.end_time = end;
    }
    EXPECT_EQ(r.body, schema::EncodeVerdict(want)) << value;
  }
  EXPECT_GT(short_lived, 20);
  EXPECT_GT(verdicts, short_lived * 3);
  // A millisecond before the end: still the short end. At it: renewed, as every other.
  clock_.Set(end - absl::Milliseconds(1));
  const std::string later = Bearer();  // the first token has expired by now
  std::string value = "host-0.example";
  for (int i = 0; SyntheticHash("domain", value) % 100 >= 10; ++i) {
    value = absl::StrCat("host-", i, ".example");
  }
  const std::string path = absl::StrCat("/ctia/domain/", value, "/verdict");
  EXPECT_EQ(Str(Parse(Get(path, later).body)["valid_time"], "end_time"),
            schema::FormatIsoTime(end));
  clock_.Set(end);
  EXPECT_EQ(Get(path, later).body,
            schema::EncodeVerdict(*SyntheticVerdict("domain", value, 50, "https://ctia.test:443")));
  EXPECT_EQ(Get(path, later).body, EncodeVerdictFast(*SyntheticVerdict("domain", value, 50,
                                                                          "https://ctia.test:443")));
}

TEST(SyntheticTest, FastVerdictEncodingIsByteForByteTheSchemaOne) {
  for (int i = 0; i < 500; ++i) {
    const std::string value = absl::StrCat("Host-", i, ".example");
    std::optional<schema::Verdict> v = SyntheticVerdict("domain", value, 100, "http://sim:1");
    ASSERT_TRUE(v.has_value());
    EXPECT_EQ(EncodeVerdictFast(*v), schema::EncodeVerdict(*v)) << value;
  }
  // Strings that need escaping and other valid times take the general encoder.
  for (const std::string& value : {std::string("a\"b"), std::string("back\\slash"),
                                  std::string("tab\there"), std::string("caf\xc3\xa9"),
                                  std::string("nul\0x", 5)}) {
    std::optional<schema::Verdict> v = SyntheticVerdict("domain", value, 100, "");
    ASSERT_TRUE(v.has_value());
    EXPECT_EQ(EncodeVerdictFast(*v), schema::EncodeVerdict(*v));
  }
  std::optional<schema::Verdict> v = SyntheticVerdict("ip", "1.2.3.4", 100, "http://sim:1");
  ASSERT_TRUE(v.has_value());
  v->valid_time.start_time = absl::FromUnixSeconds(1700000000);
  EXPECT_EQ(EncodeVerdictFast(*v), schema::EncodeVerdict(*v));
  v->valid_time.end_time = absl::FromUnixSeconds(1800000000);
  EXPECT_EQ(EncodeVerdictFast(*v), schema::EncodeVerdict(*v));
  EXPECT_NE(EncodeVerdictFast(*v).find("\"end_time\":\"2027-01-15"), std::string::npos);
}

}  // namespace
}  // namespace enrich::sim
