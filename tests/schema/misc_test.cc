#include <gtest/gtest.h>

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
