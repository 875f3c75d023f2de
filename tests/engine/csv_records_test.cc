#include "engine/csv_records.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <random>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"

#include "engine/chunk_reader.h"
#include "engine/internal/byte_count.h"
#include "engine/internal/csv_scan.h"
#include "engine/ndjson.h"
#include "engine/utf8.h"
#include "tests/engine/string_io.h"

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

// Invalid bytes next to escaped ones, a truncated sequence (each of its bytes replaced) and
// RapidJSON's escapes for the control characters that have names.
TEST(AppendJsonStringTest, ReplacesEachInvalidByteAndEscapesLikeRapidJson) {
  std::string out;
  AppendJsonString(out, "\x1f\xE2\x82\\\b\xFF\f");
  EXPECT_EQ(out, "\"\\u001F\\ufffd\\ufffd\\\\\\b\\ufffd\\f\"");
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

// Doubled quotes are made single when a field is read, the same on every read, in records the
// vector scan reads and in those it hands to the field scan after it met a doubled quote (a
// quoted line end further on).
TEST_F(CsvRecordsTest, DoubledQuotesAreUnescapedWhenReadAndTheSameOnEveryRead) {
  for (bool vector_scan : {true, false}) {
    records_.set_vector_scan(vector_scan);
    records_.Parse(
        "\"a\"\"1\",b,\"c\"\"\"\"\"\n"
        "x,\"y\"\"z\",\"two\nlines\"\"\"\n"
        "p,q,r\n"
        "\"\"\"\",,\"\"\n",
        1, true, ',');
    const std::vector<std::vector<std::string>> want = {
        {"a\"1", "b", "c\"\""}, {"x", "y\"z", "two\nlines\""}, {"p", "q", "r"}, {"\"", "", ""}};
    ASSERT_EQ(records_.records().size(), want.size());
    for (int pass = 0; pass < 2; ++pass) {
      // The second pass reads the fields in the other order.
      for (size_t k = 0; k < want.size(); ++k) {
        const size_t i = pass == 0 ? k : want.size() - 1 - k;
        const CsvRecordView& r = records_.records()[i];
        ASSERT_EQ(r.field_count, want[i].size());
        for (uint32_t f = 0; f < r.field_count; ++f) {
          EXPECT_EQ(records_.field(r, f), want[i][f])
              << "record " << i << " field " << f << " pass " << pass << " vector " << vector_scan;
        }
      }
    }
    EXPECT_TRUE(records_.records()[0].escaped);
    EXPECT_FALSE(records_.records()[2].escaped);
  }
}

TEST_F(CsvRecordsTest, TextAfterClosingQuoteNamesItsField) {
  const CsvRecordView& r = Only("1,\"a\"b,c\n");
  EXPECT_EQ(r.problem, CsvProblem::kTextAfterQuote);
  EXPECT_EQ(CsvRecords::Problem(r), "text after a closing quote in field 2");
}

TEST(CsvScanTest, AFieldWhoseEndNeedsTheNextByteHasNoEndYet) {
  using internal::CsvFieldEnd;
  using internal::ScanCsvField;
  // A closing quote or a CR as the last byte: a quote or an LF may follow.
  EXPECT_EQ(ScanCsvField("\"ab\"", 0, 4, ',').end, CsvFieldEnd::kNoEnd);
  EXPECT_EQ(ScanCsvField("ab\r", 0, 3, ',').end, CsvFieldEnd::kNoEnd);
  internal::CsvFieldScan f = ScanCsvField("\"a\"\"b\nc\",x", 0, 10, ',');
  EXPECT_EQ(f.end, CsvFieldEnd::kDelimiter);
  EXPECT_TRUE(f.doubled_quotes);
  EXPECT_EQ(f.newlines, 1u);
  EXPECT_EQ(f.next, 9u);
  f = ScanCsvField("a\"b\r\nz", 0, 7, ',');
  EXPECT_EQ(f.end, CsvFieldEnd::kRecordEnd);
  EXPECT_EQ(f.terminator_size, 2);
  EXPECT_EQ(f.content_end, 3u);
  EXPECT_FALSE(f.quoted);
}

TEST(CsvScanTest, ChunkReaderFindsTheEndOfAHugeQuotedField) {
  // An 8 MiB quoted field from a source that returns 1 KiB per read: the buffer doubles before
  // each new scan, so scanning the field again from its start stays linear (growing by each
  // read would rescan it 8000 times: minutes instead of milliseconds).
  std::string text = "id,note\n1,\"" + std::string(8 << 20, 'x') + "\nend\"\n2,b\n";
  enrich::testing::StringSource source(text, 1024);
  ChunkReader reader(source, RecordFormat::kCsv, ',', 1024);
  Chunk chunk;
  std::vector<uint64_t> first_lines;
  std::string all;
  while (true) {
    absl::StatusOr<bool> more = reader.Next(chunk);
    ASSERT_TRUE(more.ok());
    if (!*more) break;
    first_lines.push_back(chunk.first_line);
    all += chunk.bytes;
  }
  EXPECT_EQ(all, text);
  ASSERT_GE(first_lines.size(), 2u);
  EXPECT_EQ(first_lines[1], 2u);  // the record holding the field starts on line 2
}

// ChunkReader finds record ends with its own quote-to-quote scan (the serial stage must be
// fast); it must cut exactly where CsvRecords, reading the whole input, ends records.
TEST(CsvScanTest, ChunkReaderCutsWhereCsvRecordsEndsRecords) {
  std::mt19937 rng(11);
  const char alphabet[] = {'a', 'b', ',', '"', '"', '\n', '\r'};
  for (int round = 0; round < 1500; ++round) {
    std::string text;
    const size_t length = 1 + rng() % 40;
    for (size_t i = 0; i < length; ++i) text.push_back(alphabet[rng() % sizeof alphabet]);
    CsvRecords whole;
    whole.Parse(text, 1, true, ',');
    std::vector<std::string> expected;
    for (const CsvRecordView& r : whole.records()) {
      expected.push_back(absl::StrCat(r.line, ":", r.raw, r.terminator));
    }
    for (size_t chunk_size : {size_t{1}, size_t{2}, size_t{5}, text.size()}) {
      enrich::testing::StringSource source(text, 1 + rng() % 4);
      ChunkReader reader(source, RecordFormat::kCsv, ',', chunk_size);
      std::vector<std::string> got;
      Chunk chunk;
      CsvRecords part;
      while (true) {
        absl::StatusOr<bool> more = reader.Next(chunk);
        ASSERT_TRUE(more.ok());
        if (!*more) break;
        part.Parse(chunk.bytes, chunk.first_line, chunk.starts_input, ',');
        for (const CsvRecordView& r : part.records()) {
          got.push_back(absl::StrCat(r.line, ":", r.raw, r.terminator));
        }
      }
      ASSERT_EQ(got, expected) << "chunk size " << chunk_size << ", input: " << text;
    }
  }
}

// The pipeline hands chunks back to the reader with their old bytes (their buffers are read
// into without zero-filling): recycled chunks holding other bytes, longer or shorter than the
// next chunk, give the same chunks as fresh ones.
TEST(CsvScanTest, ChunkReaderGivesTheSameChunksIntoRecycledChunks) {
  std::mt19937 rng(29);
  const char alphabet[] = {'a', 'b', ',', '"', '\n', '\r'};
  for (int round = 0; round < 300; ++round) {
    std::string text;
    const size_t length = 1 + rng() % 300;
    for (size_t i = 0; i < length; ++i) text.push_back(alphabet[rng() % sizeof alphabet]);
    for (size_t chunk_size : {size_t{1}, size_t{16}, size_t{64}}) {
      auto read_all = [&](bool recycle) {
        enrich::testing::StringSource source(text, 1 + round % 7);
        ChunkReader reader(source, RecordFormat::kCsv, ',', chunk_size);
        std::vector<Chunk> pool(3);
        if (recycle) {
          for (size_t k = 0; k < pool.size(); ++k) pool[k].bytes.assign(k * 40, 'Z');
        }
        std::vector<std::string> got;
        for (size_t k = 0;; ++k) {
          Chunk fresh;
          Chunk& chunk = recycle ? pool[k % pool.size()] : fresh;
          absl::StatusOr<bool> more = reader.Next(chunk);
          EXPECT_TRUE(more.ok());
          if (!more.ok() || !*more) break;
          got.push_back(absl::StrCat(chunk.index, ":", chunk.first_line, ":", chunk.bytes));
        }
        return got;
      };
      ASSERT_EQ(read_all(true), read_all(false)) << "chunk size " << chunk_size << ": " << text;
    }
  }
}

// The block scan (64 bytes at a time, bit masks) cuts the same chunks, with the same first lines,
// as the exact quote-to-quote scan: random inputs with long runs across blocks, quotes that
// open, close, double or are data (after a letter or a CR), every delimiter, a BOM or none,
// every read size (so scans resume at every alignment) and chunk size.
TEST(CsvScanTest, ChunkReaderBlockScanCutsWhereTheExactScanCuts) {
  std::mt19937 rng(37);
  const std::vector<std::string> pieces = {
      "a", "host.example.org", std::string(70, 'x'), std::string(130, 'y'), ",", ";", "\t", "|",
      "\"", "\"\"", "a\"", "\r\"", "\n", "\n\"", "\r\n", "\r", ",\"", "\"\n"};
  for (int round = 0; round < 2500; ++round) {
    const char delim = ",;\t|"[rng() % 4];
    std::string text = rng() % 8 == 0 ? "\xEF\xBB\xBF" : "";
    const size_t count = 1 + rng() % 120;
    for (size_t i = 0; i < count; ++i) text += pieces[rng() % pieces.size()];
    const size_t max_read = 1 + rng() % 200;
    for (size_t chunk_size : {size_t{1}, size_t{7}, size_t{64}, size_t{65}, size_t{300},
                              text.size()}) {
      auto read_all = [&](bool block_scan) {
        enrich::testing::StringSource source(text, max_read);
        ChunkReader reader(source, RecordFormat::kCsv, delim, chunk_size, /*max_record_size=*/700);
        reader.set_block_scan(block_scan);
        std::vector<std::string> got;
        Chunk chunk;
        while (true) {
          absl::StatusOr<bool> more = reader.Next(chunk);
          if (!more.ok()) {
            got.push_back(std::string(more.status().message()));
            break;
          }
          if (!*more) break;
          got.push_back(absl::StrCat(chunk.index, ":", chunk.first_line, ":", chunk.bytes));
        }
        return got;
      };
      ASSERT_EQ(read_all(true), read_all(false))
          << "delimiter " << int{delim} << ", chunk size " << chunk_size << ", read size "
          << max_read << ", input: " << text;
    }
  }
}

// The chunk reader's newline count: what std::count gives, at every length and alignment,
// past the 255 blocks after which its byte-wide counters are summed, and for every byte value.
TEST(CsvScanTest, CountByteGivesWhatStdCountGives) {
  std::mt19937 rng(31);
  std::string bytes(20000, '\0');
  for (char& c : bytes) c = rng() % 3 == 0 ? '\n' : static_cast<char>(rng() % 256);
  for (size_t length : {size_t{0}, size_t{1}, size_t{15}, size_t{16}, size_t{17}, size_t{4079},
                        size_t{4080}, size_t{4081}, size_t{8161}, size_t{19990}}) {
    for (size_t offset : {size_t{0}, size_t{1}, size_t{7}}) {
      const char* p = bytes.data() + offset;
      for (char byte : {'\n', '"', '\0', '\xFF'}) {
        ASSERT_EQ(internal::CountByte(p, length, byte),
                  static_cast<size_t>(std::count(p, p + length, byte)))
            << "length " << length << ", offset " << offset << ", byte " << int{byte};
      }
    }
  }
}

// Everything CsvRecords tells of a chunk's records, as text.
std::vector<std::string> Dump(const CsvRecords& records) {
  std::vector<std::string> out;
  for (const CsvRecordView& r : records.records()) {
    std::string line = absl::StrCat(r.line, "|", r.raw, "|", r.terminator, "|", r.malformed,
                                    static_cast<int>(r.problem), r.problem_field, "|");
    for (uint32_t f = 0; f < r.field_count; ++f)
      absl::StrAppend(&line, "[", records.field(r, f), "]");
    out.push_back(std::move(line));
  }
  return out;
}

// The vector scan (records on one line) and ScanCsvField (every record) read random inputs the
// same way: long runs cross the scanner's 64-byte windows, quotes open and close anywhere,
// chunks end at every kind of record boundary, and bytes that are not ASCII are valid or not.
TEST(CsvScanTest, VectorScanReadsWhatScanCsvFieldReads) {
  std::mt19937 rng(29);
  const std::vector<std::string> pieces = {"a",
                                           "bc",
                                           "host.example.org",
                                           std::string(70, 'x'),
                                           ",",
                                           ";",
                                           "\t",
                                           "|",
                                           "\"",
                                           "\"\"",
                                           "\n",
                                           "\r\n",
                                           "\r",
                                           "\xC3\xA9",
                                           "\xE9",
                                           "\xEF\xBB\xBF",
                                           " "};
  for (int round = 0; round < 3000; ++round) {
    const char delim = ",;\t|"[rng() % 4];
    std::string text = rng() % 8 == 0 ? "\xEF\xBB\xBF" : "";
    const size_t count = 1 + rng() % 60;
    for (size_t i = 0; i < count; ++i) text += pieces[rng() % pieces.size()];
    for (size_t chunk_size : {size_t{1}, size_t{7}, size_t{64}, text.size()}) {
      enrich::testing::StringSource source(text, 1 + rng() % 100);
      ChunkReader reader(source, RecordFormat::kCsv, delim, chunk_size);
      Chunk chunk;
      CsvRecords vector_scan;
      CsvRecords scalar;
      scalar.set_vector_scan(false);
      while (true) {
        absl::StatusOr<bool> more = reader.Next(chunk);
        ASSERT_TRUE(more.ok());
        if (!*more) break;
        vector_scan.Parse(chunk.bytes, chunk.first_line, chunk.starts_input, delim);
        scalar.Parse(chunk.bytes, chunk.first_line, chunk.starts_input, delim);
        ASSERT_EQ(Dump(vector_scan), Dump(scalar))
            << "delimiter " << delim << ", chunk size " << chunk_size << ", input: " << text;
      }
    }
  }
}

TEST(CsvScanTest, ARecordPastTheLimitIsAnErrorNamingItsLine) {
  // A quote never closed on line 3 would make the rest of the input one record.
  const std::string text = "id,note\n1,ok\n2,\"open\n" + std::string(5000, 'x') + "\n3,z\n";
  enrich::testing::StringSource source(text, 512);
  ChunkReader reader(source, RecordFormat::kCsv, ',', 64, /*max_record_size=*/2000);
  Chunk chunk;
  absl::StatusOr<bool> more;
  std::string out;
  while ((more = reader.Next(chunk)).ok() && *more) out += chunk.bytes;
  ASSERT_FALSE(more.ok());
  EXPECT_EQ(more.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(more.status().message(),
            source.name() + ":3: a record longer than 2000 bytes starts here (a quote that is "
                            "never closed?); --max-record-bytes sets the limit");
  EXPECT_EQ(out, "id,note\n1,ok\n");

  // A long record under the limit is read whole.
  const std::string fine = "id,note\n1,\"" + std::string(1500, 'y') + "\"\n";
  enrich::testing::StringSource source2(fine, 512);
  ChunkReader reader2(source2, RecordFormat::kCsv, ',', 64, 2000);
  out.clear();
  while ((more = reader2.Next(chunk)).ok() && *more) out += chunk.bytes;
  ASSERT_TRUE(more.ok()) << more.status();
  EXPECT_EQ(out, fine);
}

}  // namespace
}  // namespace enrich::engine
