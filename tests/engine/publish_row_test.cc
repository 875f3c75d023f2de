// engine/publish_row.h: each field's local check against CTIA's judgement schema, the
// judgement built from a valid row, and the derived external id (stable, content-sensitive).

#include "engine/publish_row.h"

#include "schema/time_format.h"

#include <string>
#include <utility>
#include <vector>

#include "absl/strings/match.h"
#include "absl/time/time.h"
#include <gmock/gmock.h>
#include <gtest/gtest.h>

namespace enrich::engine {
namespace {

using ::testing::HasSubstr;
using ::testing::StartsWith;

const absl::Time kNow = absl::FromUnixSeconds(1765000000);

PublishValues Values(std::vector<std::pair<PublishField, std::string>> fields) {
  PublishValues v;
  for (auto& [f, value] : fields) v[static_cast<size_t>(f)] = std::move(value);
  return v;
}

PublishValues Minimal() {
  return Values({{PublishField::kValue, "Evil[.]Example.COM"},
                 {PublishField::kType, "domain"},
                 {PublishField::kSource, "my-soc"}});
}

PublishRowError ErrorOf(PublishValues v) {
  CheckedRow c = CheckPublishRow(v, kNow);
  EXPECT_FALSE(c.ok());
  return c.error;
}

PublishValues With(PublishField f, std::string value) {
  PublishValues v = Minimal();
  v[static_cast<size_t>(f)] = std::move(value);
  return v;
}

TEST(PublishRowTest, MinimalRowGetsNormalizedObservableAndDefaults) {
  CheckedRow c = CheckPublishRow(Minimal(), kNow);
  ASSERT_TRUE(c.ok()) << c.error.field << ": " << c.error.why;
  const schema::Judgement& j = c.row->judgement;
  EXPECT_EQ(j.observable.type, "domain");
  EXPECT_EQ(j.observable.value, "evil.example.com");
  EXPECT_EQ(j.disposition, schema::Disposition::kUnknown);
  EXPECT_EQ(j.priority, kDefaultPriority);
  EXPECT_EQ(j.confidence, "High");
  EXPECT_EQ(j.severity, "Medium");
  EXPECT_EQ(j.tlp, "");                                      // CTIA's default
  EXPECT_EQ(j.valid_time.start_time, absl::InfinitePast());  // left to CTIA
  EXPECT_THAT(c.row->external_id, StartsWith("ctia-enrich:my-soc:"));
  EXPECT_EQ(c.row->external_id.size(), std::string("ctia-enrich:my-soc:").size() + 64);
  EXPECT_EQ(j.external_ids, std::vector<std::string>{c.row->external_id});
}

TEST(PublishRowTest, FullRowIsRead) {
  PublishValues v = Values({{PublishField::kValue, "1.2.3.4"},
                            {PublishField::kType, "ip"},
                            {PublishField::kDisposition, "2"},
                            {PublishField::kDispositionName, "malicious"},
                            {PublishField::kSource, "feed"},
                            {PublishField::kSourceUri, "https://feed.example/1"},
                            {PublishField::kPriority, "90"},
                            {PublishField::kSeverity, "critical"},
                            {PublishField::kConfidence, "low"},
                            {PublishField::kReason, "C2"},
                            {PublishField::kTlp, "AMBER"},
                            {PublishField::kStartTime, "2026-01-01T00:00:00Z"},
                            {PublishField::kEndTime, "2026-02-01T00:00:00.000+01:00"},
                            {PublishField::kExternalId, "feed-1"}});
  CheckedRow c = CheckPublishRow(v, kNow);
  ASSERT_TRUE(c.ok()) << c.error.field << ": " << c.error.why;
  const schema::Judgement& j = c.row->judgement;
  EXPECT_EQ(j.disposition, schema::Disposition::kMalicious);
  EXPECT_EQ(j.priority, 90);
  EXPECT_EQ(j.severity, "Critical");
  EXPECT_EQ(j.confidence, "Low");
  EXPECT_EQ(j.tlp, "amber");
  EXPECT_EQ(j.reason, "C2");
  EXPECT_EQ(schema::FormatIsoTime(j.valid_time.start_time), "2026-01-01T00:00:00.000Z");
  EXPECT_EQ(schema::FormatIsoTime(j.valid_time.end_time), "2026-01-31T23:00:00.000Z");
  EXPECT_EQ(c.row->external_id, "feed-1");
}

TEST(PublishRowTest, EachFieldsErrorNamesIt) {
  struct Case {
    PublishValues values;
    std::string field;
    std::string why;
  };
  const std::string long_source(2049, 's');
  const std::string long_reason(1025, 'r');
  std::vector<Case> cases = {
      {Values({{PublishField::kValue, "x.com"}, {PublishField::kSource, "s"}}), "type", "missing"},
      {Values({{PublishField::kType, "domain"}, {PublishField::kSource, "s"}}), "value", "missing"},
      {With(PublishField::kType, "Domain"), "type", "not a CTIA observable type"},
      {With(PublishField::kType, "ip"), "value", ""},
      {With(PublishField::kDisposition, "7"), "disposition", "not 1..5"},
      {With(PublishField::kDispositionName, "Evil"), "disposition_name", "is not Clean"},
      {[] {
         PublishValues v = With(PublishField::kDisposition, "1");
         v[static_cast<size_t>(PublishField::kDispositionName)] = "Malicious";
         return v;
       }(),
       "disposition_name", "disagrees with disposition 1 (Clean)"},
      {Values({{PublishField::kValue, "x.com"}, {PublishField::kType, "domain"}}), "source",
       "missing"},
      {With(PublishField::kSource, long_source), "source", "longer than 2048"},
      {With(PublishField::kSourceUri, long_source), "source_uri", "longer than 2048"},
      {With(PublishField::kReason, long_reason), "reason", "longer than 1024"},
      {With(PublishField::kPriority, "9.5"), "priority", "not an integer"},
      {With(PublishField::kConfidence, "Sure"), "confidence", "not one of Info"},
      {With(PublishField::kSeverity, "Huge"), "severity", "Critical"},
      {With(PublishField::kTlp, "blue"), "tlp", "not one of red, amber, green, white"},
      {With(PublishField::kStartTime, "yesterday"), "start_time", "not an RFC 3339 time"},
      {With(PublishField::kEndTime, "2026-13-01"), "end_time", "not an RFC 3339 time"},
      {[] {
         PublishValues v = With(PublishField::kStartTime, "2026-02-01T00:00:00Z");
         v[static_cast<size_t>(PublishField::kEndTime)] = "2026-01-01T00:00:00Z";
         return v;
       }(),
       "end_time", "is not after start_time"},
  };
  for (const Case& c : cases) {
    PublishRowError e = ErrorOf(c.values);
    EXPECT_EQ(e.field, c.field) << e.why;
    EXPECT_THAT(e.why, HasSubstr(c.why)) << c.field;
  }
}

TEST(PublishRowTest, SourceLimitCountsCharactersNotBytes) {
  std::string source;
  for (int i = 0; i < 2048; ++i) source += "\xC3\xA9";  // é: 2 bytes, one character
  EXPECT_TRUE(CheckPublishRow(With(PublishField::kSource, source), kNow).ok());
}

TEST(PublishRowTest, OnlyEndTimeStartsNowAndKeepsTheIdStable) {
  PublishValues v = With(PublishField::kEndTime, "2030-01-01T00:00:00Z");
  CheckedRow a = CheckPublishRow(v, kNow);
  CheckedRow b = CheckPublishRow(v, kNow + absl::Hours(5));
  ASSERT_TRUE(a.ok() && b.ok());
  EXPECT_EQ(a.row->judgement.valid_time.start_time, kNow);
  EXPECT_EQ(a.row->external_id, b.row->external_id);
}

TEST(PublishRowTest, DerivedIdIsStableAndFollowsTheContent) {
  const std::string base = CheckPublishRow(Minimal(), kNow).row->external_id;
  // The same judgement spelled differently (defanged, upper case, name vs number): same id.
  PublishValues same = Values({{PublishField::kValue, " evil.example.com "},
                               {PublishField::kType, "domain"},
                               {PublishField::kSource, "my-soc"},
                               {PublishField::kDisposition, "5"},
                               {PublishField::kConfidence, "high"}});
  EXPECT_EQ(CheckPublishRow(same, kNow + absl::Hours(1)).row->external_id, base);
  // Any field of the judgement changes it.
  const std::vector<std::pair<PublishField, std::string>> changes = {
      {PublishField::kValue, "other.example.com"},
      {PublishField::kDisposition, "2"},
      {PublishField::kSource, "other-soc"},
      {PublishField::kSourceUri, "https://x.example"},
      {PublishField::kPriority, "10"},
      {PublishField::kSeverity, "Low"},
      {PublishField::kConfidence, "Low"},
      {PublishField::kReason, "why"},
      {PublishField::kTlp, "red"},
      {PublishField::kStartTime, "2026-01-01"},
      {PublishField::kEndTime, "2030-01-01"}};
  for (const auto& [field, value] : changes) {
    CheckedRow c = CheckPublishRow(With(field, value), kNow);
    ASSERT_TRUE(c.ok()) << PublishFieldName(field) << ": " << c.error.why;
    EXPECT_NE(c.row->external_id, base) << PublishFieldName(field);
  }
}

TEST(PublishRowTest, FieldNamesRoundTrip) {
  for (size_t i = 0; i < kPublishFieldCount; ++i) {
    const auto f = static_cast<PublishField>(i);
    EXPECT_EQ(PublishFieldFromName(PublishFieldName(f)), f);
  }
  EXPECT_FALSE(PublishFieldFromName("observable").has_value());
}

}  // namespace
}  // namespace enrich::engine
