#include "engine/csv.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "tests/engine/mem_file.h"

namespace enrich::engine {
namespace {

using enrich::testing::InputFile;

struct Parsed {
  std::vector<std::vector<std::string>> fields;
  std::vector<std::string> raw;
  std::vector<std::string> terminators;
  std::vector<uint64_t> lines;
  std::vector<bool> malformed;
};

Parsed ParseAll(const std::string& text, size_t block_size) {
  InputFile in(text);
  CsvReader reader(in.get(), ',', block_size);
  Parsed p;
  while (const CsvRecord* r = reader.Next()) {
    std::vector<std::string> f;
    for (size_t i = 0; i < r->field_count(); ++i) f.emplace_back(r->field(i));
    p.fields.push_back(f);
    p.raw.push_back(r->raw);
    p.terminators.emplace_back(r->terminator);
    p.lines.push_back(r->line);
    p.malformed.push_back(r->malformed);
  }
  EXPECT_TRUE(reader.status().ok());
  return p;
}

class CsvReaderTest : public ::testing::TestWithParam<size_t> {};

// The nasty cases of the foundation issue, read with every block size from 1 byte up, so records
// and escapes straddle block boundaries.
const char kNasty[] =
    "\xEF\xBB\xBF" "name,domain,note\r\n"
    "plain,a.com,hello\r\n"
    "\"quoted, comma\",b.com,\"say \"\"hi\"\"\"\r\n"
    "multi,c.com,\"line one\nline two\r\nline three\"\r\n"
    "empty,,\r\n"
    "\"\",\"\",\"\"\n"
    "last,d.com,no newline at end";

TEST_P(CsvReaderTest, ReadsNastyCases) {
  Parsed p = ParseAll(kNasty, GetParam());
  ASSERT_EQ(p.fields.size(), 7u);
  EXPECT_EQ(p.fields[0], (std::vector<std::string>{"name", "domain", "note"}));  // BOM removed
  EXPECT_EQ(p.raw[0], "\xEF\xBB\xBF" "name,domain,note");                     // kept in raw
  EXPECT_EQ(p.fields[2], (std::vector<std::string>{"quoted, comma", "b.com", "say \"hi\""}));
  EXPECT_EQ(p.fields[3],
            (std::vector<std::string>{"multi", "c.com", "line one\nline two\r\nline three"}));
  EXPECT_EQ(p.fields[4], (std::vector<std::string>{"empty", "", ""}));
  EXPECT_EQ(p.fields[5], (std::vector<std::string>{"", "", ""}));
  EXPECT_EQ(p.fields[6], (std::vector<std::string>{"last", "d.com", "no newline at end"}));
  EXPECT_EQ(p.terminators[1], "\r\n");
  EXPECT_EQ(p.terminators[5], "\n");
  EXPECT_EQ(p.terminators[6], "");
  EXPECT_EQ(p.lines[3], 4u);
  EXPECT_EQ(p.lines[4], 7u);  // the quoted field spanned lines 4-6
  for (bool m : p.malformed) EXPECT_FALSE(m);
}

TEST_P(CsvReaderTest, RawPlusTerminatorReproducesInputExactly) {
  Parsed p = ParseAll(kNasty, GetParam());
  std::string joined;
  for (size_t i = 0; i < p.raw.size(); ++i) joined += p.raw[i] + p.terminators[i];
  EXPECT_EQ(joined, kNasty);
}

INSTANTIATE_TEST_SUITE_P(BlockSizes, CsvReaderTest, ::testing::Values(1, 2, 3, 7, 64, 1 << 20));

TEST(CsvReaderMalformedTest, FlagsTextAfterClosingQuoteAndKeepsRecord) {
  Parsed p = ParseAll("a,b\n\"x\"y,z\nok,1\n", 4);
  ASSERT_EQ(p.fields.size(), 3u);
  EXPECT_TRUE(p.malformed[1]);
  EXPECT_FALSE(p.malformed[2]);
  EXPECT_EQ(p.raw[1], "\"x\"y,z");
}

TEST(CsvReaderMalformedTest, FlagsUnterminatedQuoteAtEof) {
  InputFile in("a,b\n1,\"open\n2,3\n");
  CsvReader reader(in.get());
  ASSERT_NE(reader.Next(), nullptr);
  const CsvRecord* r = reader.Next();
  ASSERT_NE(r, nullptr);
  EXPECT_TRUE(r->malformed);
  EXPECT_NE(r->problem.find("line 2"), std::string::npos) << r->problem;
  EXPECT_EQ(reader.Next(), nullptr);
}

TEST(CsvWriterTest, QuotesOnlyWhenNeeded) {
  std::string out;
  AppendCsvField(out, "plain");
  out += ',';
  AppendCsvField(out, "with, comma");
  out += ',';
  AppendCsvField(out, "say \"hi\"");
  out += ',';
  AppendCsvField(out, "two\nlines");
  EXPECT_EQ(out, "plain,\"with, comma\",\"say \"\"hi\"\"\",\"two\nlines\"");
}

// Long fields are checked 16 bytes at a time: a byte that needs quotes is found in every
// position of a block and of the tail, with each delimiter.
TEST(CsvWriterTest, QuotesLongFieldsWhateverTheBytePosition) {
  for (char delim : {',', '\t', ';', '|'}) {
    for (size_t length : {size_t{15}, size_t{16}, size_t{17}, size_t{40}, size_t{83}}) {
      const std::string plain(length, 'x');
      std::string out;
      AppendCsvField(out, plain, delim);
      EXPECT_EQ(out, plain);
      for (size_t at = 0; at < length; ++at) {
        for (char special : {delim, '"', '\r', '\n'}) {
          std::string value = plain;
          value[at] = special;
          std::string expected = "\"" + value.substr(0, at) + special;
          if (special == '"') expected += '"';
          expected += value.substr(at + 1) + "\"";
          out.clear();
          AppendCsvField(out, value, delim);
          ASSERT_EQ(out, expected)
              << "delimiter " << delim << ", length " << length << ", at " << at;
        }
      }
      // Another delimiter is data.
      std::string other = plain;
      other[length / 2] = delim == ',' ? ';' : ',';
      out.clear();
      AppendCsvField(out, other, delim);
      EXPECT_EQ(out, other);
    }
  }
}

TEST(CsvWriterTest, WrittenFieldsReadBackIdentically) {
  const std::vector<std::string> values = {"", "a", "a,b", "\"", "x\r\ny", " lead", "\xC3\xA9"};
  std::string line;
  for (size_t i = 0; i < values.size(); ++i) {
    if (i > 0) line += ',';
    AppendCsvField(line, values[i]);
  }
  Parsed p = ParseAll(line + "\n", 3);
  ASSERT_EQ(p.fields.size(), 1u);
  EXPECT_EQ(p.fields[0], values);
}

}  // namespace
}  // namespace enrich::engine
