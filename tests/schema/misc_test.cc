#include <gtest/gtest.h>

#include <cstdio>
#include <random>
#include <string>
#include <vector>

#include "schema/disposition.h"
#include "schema/observable.h"
#include "schema/status_macros.h"
#include "schema/time_format.h"

namespace enrich::schema {
namespace {

TEST(DispositionTest, NamesAndNumbersMatchCtim) {
  EXPECT_EQ(DispositionName(Disposition::kClean), "Clean");
  EXPECT_EQ(DispositionName(Disposition::kUnknown), "Unknown");
  EXPECT_EQ(DispositionFromNumber(3), Disposition::kSuspicious);
  EXPECT_EQ(DispositionFromNumber(0), std::nullopt);
  EXPECT_EQ(DispositionFromNumber(6), std::nullopt);
  EXPECT_EQ(DispositionFromName("Common"), Disposition::kCommon);
  EXPECT_EQ(DispositionFromName("common"), std::nullopt);  // case-sensitive enum
}

TEST(ObservableTypeTest, KnowsCtiaTypesCaseSensitively) {
  EXPECT_EQ(KnownObservableTypes().size(), 63u);
  EXPECT_TRUE(std::is_sorted(KnownObservableTypes().begin(), KnownObservableTypes().end()));
  EXPECT_TRUE(ObservableType("ip").known());
  EXPECT_TRUE(ObservableType("google_chromebook_id").known());
  EXPECT_FALSE(ObservableType("IP").known());
  ObservableType future("quantum_id");
  EXPECT_FALSE(future.known());
  EXPECT_EQ(future.name(), "quantum_id");  // still usable, passed as given
}

TEST(TimeFormatTest, ParsesCtiaShapesAndFormatsWithMillis) {
  auto t = ParseIsoTime("2016-02-12T14:56:26.719Z");
  ASSERT_TRUE(t.ok());
  EXPECT_EQ(FormatIsoTime(*t), "2016-02-12T14:56:26.719Z");
  EXPECT_EQ(FormatIsoTime(*ParseIsoTime("2016-02-12T00:00:00Z")), "2016-02-12T00:00:00.000Z");
  EXPECT_EQ(FormatIsoTime(*ParseIsoTime("2016-02-12T02:00:00+02:00")),
            "2016-02-12T00:00:00.000Z");
  EXPECT_EQ(FormatIsoTime(*ParseIsoTime("2016-02-12")), "2016-02-12T00:00:00.000Z");
  EXPECT_EQ(FormatIsoTime(EndOfTime()), "2525-01-01T00:00:00.000Z");
  EXPECT_FALSE(ParseIsoTime("yesterday").ok());
}

// AppendIsoTimeMillis and FormatIsoTime write what absl::FormatTime writes with CTIA's format:
// at the epoch, around it, at the 4-digit years' edges and beyond them, at random instants
// (with digits below the millisecond, which are cut), and at the infinite instants.
TEST(TimeFormatTest, AppendIsoTimeMillisAndFormatIsoTimeMatchAbsl) {
  auto absl_format = [](absl::Time t) {
    return absl::FormatTime("%Y-%m-%d%ET%H:%M:%E3SZ", t, absl::UTCTimeZone());
  };
  std::mt19937_64 rng(7);
  std::vector<int64_t> values = {0,
                                 -1,
                                 1,
                                 absl::ToUnixMillis(EndOfTime()),
                                 951'782'400'000,
                                 -62'135'596'800'000,
                                 -30'610'224'000'001,
                                 -30'610'224'000'000,
                                 253'402'300'799'999,
                                 253'402'300'800'000,
                                 INT64_MAX / 2,
                                 INT64_MIN / 2};
  for (int i = 0; i < 2000; ++i) values.push_back(static_cast<int64_t>(rng() % 20'000'000'000'000));
  for (int64_t ms : values) {
    std::string s;
    AppendIsoTimeMillis(s, ms);
    EXPECT_EQ(s, absl_format(absl::FromUnixMillis(ms))) << ms;
    EXPECT_EQ(FormatIsoTime(absl::FromUnixMillis(ms)), s) << ms;
  }
  for (int i = 0; i < 2000; ++i) {
    const absl::Time t = absl::FromUnixNanos(static_cast<int64_t>(rng() % 20'000'000'000'000'000) -
                                             10'000'000'000'000'000);
    EXPECT_EQ(FormatIsoTime(t), absl_format(t)) << t;
  }
  EXPECT_EQ(FormatIsoTime(absl::InfiniteFuture()), absl_format(absl::InfiniteFuture()));
  EXPECT_EQ(FormatIsoTime(absl::InfinitePast()), absl_format(absl::InfinitePast()));
  std::string appended = "valid_until=";
  AppendIsoTimeMillis(appended, 0);
  EXPECT_EQ(appended, "valid_until=1970-01-01T00:00:00.000Z");
}

// The same answer as absl::ParseTime with the formats ParseIsoTime documents, for the common
// "...Z" shape it parses by hand and for the edges it leaves to absl (out-of-range fields, leap
// seconds, 29 February, 0 or 10 fraction digits, signs, spaces).
absl::StatusOr<absl::Time> AbslReference(const std::string& s) {
  absl::Time t;
  std::string err;
  for (const char* fmt : {"%Y-%m-%d%ET%H:%M:%E*SZ", "%Y-%m-%d%ET%H:%M:%E*S%Ez",
                          "%Y-%m-%d%ET%H:%MZ", "%Y-%m-%d"}) {
    if (absl::ParseTime(fmt, s, absl::UTCTimeZone(), &t, &err)) return t;
  }
  return absl::InvalidArgumentError("no");
}

TEST(TimeFormatTest, ParsesEveryShapeExactlyAsAbslDoes) {
  std::vector<std::string> cases = {
      "2016-02-12T14:56:26.719Z", "2016-02-29T00:00:00Z",    "2015-02-29T00:00:00Z",
      "2000-02-29T23:59:59.999999999Z", "1900-02-29T00:00:00Z", "2016-12-31T23:59:60Z",
      "2016-13-01T00:00:00Z",     "2016-04-31T00:00:00Z",    "2016-01-01T24:00:00Z",
      "2016-01-01T00:60:00Z",     "2016-01-01T00:00:00.Z",   "2016-01-01T00:00:00.1234567891Z",
      "2016-01-01T00:00:00.1Z",   "0001-01-01T00:00:00Z",    "9999-12-31T23:59:59.5Z",
      "1969-12-31T23:59:59.001Z", "2016-01-01t00:00:00Z",    "2016-01-01T00:00:00z",
      "+016-01-01T00:00:00Z",     "2016-01-01T0a:00:00Z",    "2525-01-01T00:00:00.000Z",
      "2016-01-01 00:00:00Z",     "2016-01-01T00:00:00+00:00", "2016-02-12",
  };
  std::mt19937 rng(7);
  auto draw = [&rng](unsigned n) { return static_cast<unsigned>(rng() % n); };
  for (int i = 0; i < 20000; ++i) {
    char buf[64];
    const int digits = static_cast<int>(rng() % 11);
    std::snprintf(buf, sizeof buf, "%04u-%02u-%02uT%02u:%02u:%02u", 1 + draw(9999),
                  draw(14), draw(33), draw(26), draw(62), draw(62));
    std::string s = buf;
    if (digits > 0) {
      s += '.';
      for (int d = 0; d < digits; ++d) s += static_cast<char>('0' + rng() % 10);
    }
    s += 'Z';
    cases.push_back(s);
  }
  for (const std::string& s : cases) {
    absl::StatusOr<absl::Time> ours = ParseIsoTime(s);
    absl::StatusOr<absl::Time> want = AbslReference(s);
    ASSERT_EQ(ours.ok(), want.ok()) << s;
    if (want.ok()) {
      ASSERT_EQ(*ours, *want) << s;
    }
  }
}

absl::StatusOr<int> Half(int x) {
  if (x % 2 != 0) return absl::InvalidArgumentError("odd");
  return x / 2;
}

absl::StatusOr<int> Quarter(int x) {
  ENRICH_ASSIGN_OR_RETURN(int h, Half(x));
  ENRICH_ASSIGN_OR_RETURN(h, Half(h));
  return h;
}

absl::Status CheckEven(int x) {
  ENRICH_RETURN_IF_ERROR(Half(x).status());
  return absl::OkStatus();
}

TEST(StatusMacrosTest, PropagateErrorsAndValues) {
  EXPECT_EQ(*Quarter(8), 2);
  EXPECT_EQ(Quarter(6).status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_TRUE(CheckEven(2).ok());
  EXPECT_FALSE(CheckEven(3).ok());
}

}  // namespace
}  // namespace enrich::schema
