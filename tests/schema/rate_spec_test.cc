#include "schema/rate_spec.h"

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "gtest/gtest.h"

namespace enrich::schema {
namespace {

TEST(RateSpecTest, ParsesCountAndWindow) {
  EXPECT_EQ(ParseRateSpec("5/10s")->window, absl::Seconds(10));
  EXPECT_EQ(ParseRateSpec("5/10s")->limit, 5);
  EXPECT_EQ(ParseRateSpec("18000/3600")->window, absl::Hours(1));
  EXPECT_EQ(ParseRateSpec("8000/1h")->window, absl::Hours(1));
  EXPECT_EQ(ParseRateSpec("100/1m30s")->window, absl::Seconds(90));
}

TEST(RateSpecTest, CountAloneMeansCtiasHourWindow) {
  EXPECT_EQ(ParseRateSpec("7")->limit, 7);
  EXPECT_EQ(ParseRateSpec("7")->window, absl::Hours(1));
}

TEST(RateSpecTest, RefusesWhatIsNotNPerWindowSayingWhy) {
  for (const char* bad : {"x/10s", "0/10s", "-3/10s", "5/soon", "5/0", "5/500ms", "5/", "/10s",
                          "", "5/10s/2"}) {
    absl::StatusOr<RateSpec> spec = ParseRateSpec(bad);
    ASSERT_FALSE(spec.ok()) << bad;
    EXPECT_TRUE(absl::StrContains(spec.status().message(), "is not N/WINDOW")) << bad;
    EXPECT_TRUE(absl::StrContains(spec.status().message(), absl::StrCat("\"", bad, "\""))) << bad;
  }
  EXPECT_TRUE(absl::StrContains(ParseRateSpec("5/0").status().message(), "at least 1s"));
  EXPECT_TRUE(absl::StrContains(ParseRateSpec("0/1h").status().message(), "positive integer"));
}

}  // namespace
}  // namespace enrich::schema
