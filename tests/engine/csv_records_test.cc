#include "engine/csv_records.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <string>

#include "engine/ndjson.h"
#include "engine/utf8.h"

namespace enrich::engine {
namespace {

TEST(Utf8Test, AcceptsWellFormedAndFindsTheFirstBadByte) {
  constexpr size_t npos = absl::string_view::npos;
  EXPECT_EQ(FindInvalidUtf8(""), npos);
  EXPECT_EQ(FindInvalidUtf8("plain ascii, longer than eight bytes"), npos);
  EXPECT_EQ(FindInvalidUtf8("caf\xC3\xA9 \xE2\x82\xAC \xF0\x9F\x98\x80 \xEF\xBB\xBF"), npos);
  EXPECT_EQ(FindInvalidUtf8("\xF4\x8F\xBF\xBF"), npos);  // U+10FFFF
  struct Bad {
    std::string text;
    size_t at;
  };
  for (const Bad& b : std::vector<Bad>{
           {"caf\xE9", 3},                    // Latin-1 é
           {"abcdefgh\xFF", 8},               // after an 8-byte ASCII run
           {"\xC0\xAF", 0},                   // overlong '/'
           {"\xE0\x80\xAF", 0},               // overlong, 3 bytes
           {"\xED\xA0\x80", 0},               // surrogate U+D800
           {"\xF4\x90\x80\x80", 0},           // above U+10FFFF
           {"ok \xE2\x82", 3},                // cut short at the end
           {"\xC3\xA9\x80", 2},               // stray continuation byte
           {"\xE2\x28\xA1", 0},               // bad second byte
       }) {
    EXPECT_EQ(FindInvalidUtf8(b.text), b.at) << b.text;
  }
}

TEST(AppendJsonStringTest, ReplacesBytesThatAreNotUtf8) {
  std::string out;
  AppendJsonString(out, "caf\xC3\xA9 caf\xE9 \"q\" \x01");
  EXPECT_EQ(out, "\"caf\xC3\xA9 caf\\ufffd \\\"q\\\" \\u0001\"");
}

class CsvRecordsTest : public ::testing::Test {
 protected:
  const CsvRecordView& Only(absl::string_view text) {
    records_.Parse(text, 1, true, ',');
    EXPECT_EQ(records_.records().size(), 1u);
    return records_.records().front();
  }
  CsvRecords records_;
};

TEST_F(CsvRecordsTest, InvalidUtf8NamesItsField) {
  const CsvRecordView& r = Only("1,caf\xC3\xA9,\"x\xE9y\",z\n");
  EXPECT_TRUE(r.malformed);
  EXPECT_EQ(r.problem, CsvProblem::kInvalidUtf8);
  EXPECT_EQ(CsvRecords::Problem(r), "invalid UTF-8 in field 3");
  EXPECT_EQ(r.raw, "1,caf\xC3\xA9,\"x\xE9y\",z");
  EXPECT_EQ(r.field_count, 4u);
}

TEST_F(CsvRecordsTest, Utf8AndBomAreWellFormed) {
  const CsvRecordView& r = Only("\xEF\xBB\xBFid,\"b\xC3\xBC\"\"cher\"\r\n");
  EXPECT_FALSE(r.malformed);
  EXPECT_EQ(records_.field(r, 1), "b\xC3\xBC\"cher");
}

TEST_F(CsvRecordsTest, OpenQuoteAtEndKeepsItsLineEndAsTerminator) {
  records_.Parse("a,b\n1,\"open,x\r\n", 1, true, ',');
  ASSERT_EQ(records_.records().size(), 2u);
  const CsvRecordView& r = records_.records()[1];
  EXPECT_TRUE(r.malformed);
  EXPECT_EQ(CsvRecords::Problem(r), "end of input inside quoted field 2");
  EXPECT_EQ(r.raw, "1,\"open,x");
  EXPECT_EQ(r.terminator, "\r\n");
  EXPECT_EQ(r.line, 2u);
}

TEST_F(CsvRecordsTest, TextAfterClosingQuoteNamesItsField) {
  const CsvRecordView& r = Only("1,\"a\"b,c\n");
  EXPECT_EQ(r.problem, CsvProblem::kTextAfterQuote);
  EXPECT_EQ(CsvRecords::Problem(r), "text after a closing quote in field 2");
}

}  // namespace
}  // namespace enrich::engine
