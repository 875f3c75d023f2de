// Sharded reading (engine/shard.h): ChunkReader::set_range hands out exactly the records that
// start in a byte range, whatever the quoting before it (quoted newlines across every cut,
// doubled quotes, quotes as data, CRLF, a BOM, no final newline), with the input's line numbers;
// and RunPipeline's shards, concatenated in order, are one run's output byte for byte.

#include "engine/shard.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <random>
#include <string>
#include <vector>

#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "engine/chunk_reader.h"
#include "engine/job.h"
#include "engine/pipeline.h"
#include "schema/clock.h"
#include "schema/time_format.h"
#include "tests/engine/string_io.h"
#include "tests/fakes/fake_verdict_source.h"

namespace enrich::engine {
namespace {

using enrich::testing::FakeVerdictSource;
using enrich::testing::StringSink;
using enrich::testing::StringSource;
using ::testing::HasSubstr;

TEST(ShardTest, ParsesKOfN) {
  auto s = ParseShard("2/4");
  ASSERT_TRUE(s.ok()) << s.status();
  EXPECT_EQ(s->index, 2u);
  EXPECT_EQ(s->count, 4u);
  EXPECT_EQ(ShardName(*s), "2/4");
  EXPECT_TRUE(ParseShard("0/1").ok());
  EXPECT_THAT(std::string(ParseShard("4/4").status().message()),
              HasSubstr("K must be less than N (0-based: 0/4 .. 3/4)"));
  EXPECT_THAT(std::string(ParseShard("1/0").status().message()), HasSubstr("N must be 1 .."));
  for (const char* bad : {"", "1", "a/b", "-1/4", "1/-4", "+1/4", "1/4/5", " 1/4"}) {
    EXPECT_FALSE(ParseShard(bad).ok()) << bad;
  }
}

TEST(ShardTest, RangesCoverTheInputOnce) {
  for (uint64_t size : {uint64_t{0}, uint64_t{1}, uint64_t{5}, uint64_t{1000003},
                        uint64_t{1} << 62}) {
    for (uint32_t n = 1; n <= 9; ++n) {
      uint64_t at = 0;
      for (uint32_t k = 0; k < n; ++k) {
        const ByteRange r = ShardRange(size, Shard{k, n});
        EXPECT_EQ(r.begin, at) << size << " " << k << "/" << n;
        EXPECT_LE(r.begin, r.end);
        at = r.end;
      }
      EXPECT_EQ(at, size) << n;
    }
  }
}

// CSV that is hard to cut: quoted fields with LF and CRLF inside, doubled quotes, quotes as
// data in unquoted fields, empty fields, CRLF and LF record ends.
std::string TrickyCsv(uint32_t seed, int rows, bool bom, bool final_newline) {
  std::mt19937 rng(seed);
  const char* fields[] = {"plain",        "host-1.example", "\"a\nb\"",    "\"x\"\"y\"",
                          "\"\r\n,\"",    "",               "a\"b",        "\"\"",
                          "\"q\n\"\"\n\"", "bad-3.example",  "\"long,\n\n\n\"", "c\"\"d"};
  std::string text = bom ? "\xEF\xBB\xBF" : "";
  text += "id,domain,note\r\n";
  for (int r = 0; r < rows; ++r) {
    absl::StrAppend(&text, r, ",", rng() % 3 == 0 ? "bad-" : "host-", rng() % 17, ".example,",
                    fields[rng() % std::size(fields)], fields[rng() % std::size(fields)]);
    if (r + 1 < rows || final_newline) text += rng() % 2 == 0 ? "\n" : "\r\n";
  }
  return text;
}

std::string TrickyNdjson(uint32_t seed, int rows, bool final_newline) {
  std::mt19937 rng(seed);
  std::string text;
  for (int r = 0; r < rows; ++r) {
    if (rng() % 7 == 0) text += rng() % 2 == 0 ? "\n" : "  \r\n";  // blank lines
    absl::StrAppend(&text, "{\"id\":", r, ",\"domain\":\"", rng() % 3 == 0 ? "bad-" : "host-",
                    rng() % 17, ".example\",\"note\":\"a\\\"\\n,\"}");
    if (r + 1 < rows || final_newline) text += rng() % 2 == 0 ? "\n" : "\r\n";
  }
  return text;
}

// The chunks of `text` a reader hands out (with set_range when `shard` is set).
std::vector<Chunk> Read(const std::string& text, RecordFormat format, size_t chunk_size,
                        size_t max_read, const Shard* shard, bool header) {
  StringSource src(text, max_read);
  ChunkReader reader(src, format, ',', chunk_size);
  if (shard != nullptr) {
    const ByteRange r = ShardRange(text.size(), *shard);
    reader.set_range(r.begin, r.end, header);
  }
  std::vector<Chunk> chunks;
  for (;;) {
    Chunk c;
    auto more = reader.Next(c);
    EXPECT_TRUE(more.ok()) << more.status();
    if (!more.ok() || !*more) break;
    chunks.push_back(std::move(c));
  }
  return chunks;
}

// The offsets where records start, by CsvReader's rules written out byte by byte (a quote
// opens a quoted field at a field start or right after a closing quote; a BOM is not data), or
// at every NDJSON line: the reference the reader's shards are checked against.
std::vector<uint64_t> RecordStarts(const std::string& text, RecordFormat format) {
  std::vector<uint64_t> starts;
  if (text.empty()) return starts;
  starts.push_back(0);
  size_t i = text.compare(0, 3, "\xEF\xBB\xBF") == 0 ? 3 : 0;
  bool in_quotes = false;
  bool after_quote = false;
  bool at_field_start = true;
  for (; i < text.size(); ++i) {
    const char c = text[i];
    bool ends = false;
    if (format == RecordFormat::kNdjson) {
      ends = c == '\n';
    } else if (in_quotes) {
      if (c == '"') {
        in_quotes = false;
        after_quote = true;
      }
    } else if (c == '"') {
      in_quotes = at_field_start || after_quote;
      after_quote = false;
      at_field_start = false;
    } else {
      after_quote = false;
      at_field_start = c == ',' || c == '\n';
      ends = c == '\n';
    }
    if (ends && i + 1 < text.size()) starts.push_back(i + 1);
  }
  return starts;
}

uint64_t LineAt(const std::string& text, uint64_t offset) {
  return 1 + static_cast<uint64_t>(std::count(text.begin(), text.begin() + offset, '\n'));
}

// Every shard's chunks are its records (those starting in its range), with the header record
// first and apart in shards past 0, the input's line numbers, and starts_input only at 0.
void ExpectShardsExact(const std::string& text, RecordFormat format, bool header) {
  const std::vector<uint64_t> starts = RecordStarts(text, format);
  for (uint32_t n = 1; n <= 8; ++n) {
    for (size_t chunk_size : {size_t{1}, size_t{7}, size_t{100}, size_t{1} << 16}) {
      for (size_t max_read : {size_t{1}, size_t{13}, size_t{1} << 20}) {
        std::string joined;
        for (uint32_t k = 0; k < n; ++k) {
          const Shard shard{k, n};
          const ByteRange range = ShardRange(text.size(), shard);
          std::string expected;
          // With a header, record 0 is the header: every shard reads it, none takes it as a row.
          for (size_t i = header ? 1 : 0; i < starts.size(); ++i) {
            if (starts[i] < range.begin || starts[i] >= range.end) continue;
            const uint64_t end = i + 1 < starts.size() ? starts[i + 1] : text.size();
            expected += text.substr(starts[i], end - starts[i]);
          }
          std::vector<Chunk> chunks = Read(text, format, chunk_size, max_read, &shard, header);
          const std::string where = absl::StrCat("shard ", k, "/", n, " chunk ", chunk_size,
                                                 " read ", max_read);
          // With a header, its record comes first and alone in every shard.
          size_t first = 0;
          if (header && !starts.empty()) {
            ASSERT_FALSE(chunks.empty()) << where;
            const uint64_t header_end = starts.size() > 1 ? starts[1] : text.size();
            EXPECT_EQ(chunks[0].bytes, text.substr(0, header_end)) << where;
            EXPECT_TRUE(chunks[0].starts_input) << where;
            EXPECT_EQ(chunks[0].first_line, 1u) << where;
            first = 1;
            if (k == 0) joined += chunks[0].bytes;
          }
          std::string got;
          for (size_t i = first; i < chunks.size(); ++i) got += chunks[i].bytes;
          EXPECT_EQ(got, expected) << where << "\n" << absl::CEscape(text);
          // Line numbers and starts_input: the shard's first record's.
          if (first < chunks.size()) {
            uint64_t begin = 0;
            for (uint64_t s : starts) {
              if (s >= range.begin && (s > 0 || !header)) {
                begin = s;
                break;
              }
            }
            uint64_t at = begin;
            for (size_t i = first; i < chunks.size(); ++i) {
              EXPECT_EQ(chunks[i].first_line, LineAt(text, at)) << where;
              EXPECT_EQ(chunks[i].starts_input, at == 0) << where;
              at += chunks[i].bytes.size();
            }
          }
          joined += got;
        }
        EXPECT_EQ(joined, text) << "n " << n << " chunk " << chunk_size;
      }
    }
  }
}

TEST(ShardReaderTest, CsvShardsAreExactlyTheirRecords) {
  for (uint32_t seed = 1; seed <= 6; ++seed) {
    for (bool bom : {false, true}) {
      for (bool final_newline : {false, true}) {
        ExpectShardsExact(TrickyCsv(seed, seed * 7, bom, final_newline), RecordFormat::kCsv,
                          true);
      }
    }
  }
  // Long inputs: the 64-byte block scan before a shard's range.
  ExpectShardsExact(TrickyCsv(42, 300, true, false), RecordFormat::kCsv, true);
  // Without a header every shard starts with its own records.
  ExpectShardsExact(TrickyCsv(7, 40, false, true), RecordFormat::kCsv, false);
}

TEST(ShardReaderTest, CsvEdgeInputs) {
  for (const char* text : {"", "id,domain", "id,domain\n", "\xEF\xBB\xBF" "id\n\"a\nb\"",
                           "h\n\n\n\n", "h\n\"\n\n\n\"\n", "h\r\n\"\"\"\n\"\r\nx\r\n",
                           "\"head\ner\"\na\nb\nc\n"}) {
    ExpectShardsExact(text, RecordFormat::kCsv, true);
    ExpectShardsExact(text, RecordFormat::kCsv, false);
  }
}

TEST(ShardReaderTest, NdjsonShardsAreExactlyTheirLines) {
  for (uint32_t seed = 1; seed <= 6; ++seed) {
    for (bool final_newline : {false, true}) {
      ExpectShardsExact(TrickyNdjson(seed, seed * 9, final_newline), RecordFormat::kNdjson,
                        false);
    }
  }
  ExpectShardsExact("", RecordFormat::kNdjson, false);
  ExpectShardsExact("\n\n{}", RecordFormat::kNdjson, false);
}

// A record past the limit in a shard's last record is reported with its line, as in a run.
TEST(ShardReaderTest, UnclosedQuoteInTheRangeIsTooLong) {
  std::string text = "h\na\n\"never closed\n";
  text += std::string(4000, 'x');
  StringSource src(text);
  ChunkReader reader(src, RecordFormat::kCsv, ',', 16, 1000);
  reader.set_range(0, 6, true);
  Chunk c;
  absl::Status status;
  for (;;) {
    auto more = reader.Next(c);
    if (!more.ok()) {
      status = more.status();
      break;
    }
    if (!*more) break;
  }
  EXPECT_THAT(std::string(status.message()), HasSubstr("<string>:3: a record longer than"));
}

// A shard's journal identity names the shard: --resume of another shard (or of the whole
// file) is a run of another input.
TEST(ShardTest, JournalIdentityNamesTheShard) {
  JobOptions options;
  options.input = "export.csv";
  options.output = "part-1.csv";
  options.column_specs = "domain";
  options.endpoint = "https://private.intel.amp.cisco.com";
  const std::string whole = JobFingerprint(options, 1000);
  options.pipeline.shard = Shard{1, 4};
  const std::string one = JobFingerprint(options, 1000);
  options.pipeline.shard = Shard{2, 4};
  const std::string two = JobFingerprint(options, 1000);
  EXPECT_THAT(one, HasSubstr("input=export.csv shard=1/4 size=1000"));
  EXPECT_NE(one, whole);
  EXPECT_NE(one, two);
  EXPECT_EQ(JournalPathFor(options), "part-1.csv.journal");
}

absl::StatusOr<schema::VerdictResult> Answer(const schema::Observable& o) {
  if (o.value.find("bad") != std::string::npos) {
    schema::Verdict v;
    v.disposition = schema::Disposition::kMalicious;
    v.judgement_id = "j-" + o.value;
    v.valid_time = {absl::UnixEpoch(), schema::EndOfTime()};
    return schema::VerdictResult(v);
  }
  return schema::VerdictResult(schema::NoVerdict{});
}

// One pipeline run of `text` (a shard of it when `shard` is set); its output.
std::string Enrich(const std::string& text, PipelineOptions options, const Shard* shard,
                   size_t chunk_size) {
  StringSource src(text, 9);
  StringSink sink;
  schema::FakeClock clock(absl::FromUnixSeconds(1'700'000'000));
  VerdictTable table(clock);
  FakeVerdictSource source(Answer);
  if (shard != nullptr) options.shard = *shard;
  options.chunk_size = chunk_size;
  options.threads = 2;
  const absl::Status status = RunPipeline(src, sink, options, table, source);
  EXPECT_TRUE(status.ok()) << status;
  return sink.text();
}

void ExpectConcatenationIsOneRun(const std::string& text, const PipelineOptions& options) {
  const std::string whole = Enrich(text, options, nullptr, 1 << 16);
  ASSERT_FALSE(whole.empty());
  for (uint32_t n = 1; n <= 7; ++n) {
    for (size_t chunk_size : {size_t{1}, size_t{64}, size_t{1} << 16}) {
      std::string joined;
      for (uint32_t k = 0; k < n; ++k) {
        const Shard shard{k, n};
        joined += Enrich(text, options, &shard, chunk_size);
      }
      EXPECT_EQ(joined, whole) << n << " shards, chunks of " << chunk_size;
    }
  }
}

TEST(ShardPipelineTest, ConcatenatedShardsAreOneRun) {
  PipelineOptions csv;
  csv.columns = {{"domain", "domain"}};
  for (bool bom : {false, true}) {
    for (bool final_newline : {false, true}) {
      ExpectConcatenationIsOneRun(TrickyCsv(3, 60, bom, final_newline), csv);
    }
  }
  PipelineOptions csv_to_ndjson = csv;
  csv_to_ndjson.output_format = DataFormat::kNdjson;
  ExpectConcatenationIsOneRun(TrickyCsv(5, 40, true, false), csv_to_ndjson);

  PipelineOptions ndjson;
  ndjson.input_format = DataFormat::kNdjson;
  ndjson.output_format = DataFormat::kNdjson;
  ndjson.columns = {{"domain", "domain"}};
  ExpectConcatenationIsOneRun(TrickyNdjson(4, 50, false), ndjson);
  PipelineOptions ndjson_to_csv = ndjson;
  ndjson_to_csv.output_format = DataFormat::kCsv;  // the "json" header in shard 0 alone
  ExpectConcatenationIsOneRun(TrickyNdjson(6, 50, true), ndjson_to_csv);
}

// More shards than records: the shards without a record write nothing (but shard 0 its header).
TEST(ShardPipelineTest, EmptyShards) {
  PipelineOptions csv;
  csv.columns = {{"domain", "domain"}};
  const std::string text = "id,domain\n1,bad-1.example\n";
  std::string joined;
  int empty = 0;
  for (uint32_t k = 0; k < 7; ++k) {
    const Shard shard{k, 7};
    const std::string out = Enrich(text, csv, &shard, 1 << 16);
    if (out.empty()) ++empty;
    joined += out;
  }
  EXPECT_EQ(joined, Enrich(text, csv, nullptr, 1 << 16));
  EXPECT_GE(empty, 5);
}

}  // namespace
}  // namespace enrich::engine
