#include "engine/pipeline.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <atomic>
#include <map>
#include <optional>
#include <random>
#include <utility>
#include <string>
#include <vector>

#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "engine/chunk_reader.h"
#include "engine/csv.h"
#include "engine/run_stats.h"
#include "schema/time_format.h"
#include "tests/engine/string_io.h"
#include "tests/fakes/fake_verdict_source.h"

namespace enrich::engine {
namespace {

using enrich::testing::FakeVerdictSource;
using enrich::testing::StringSink;
using enrich::testing::StringSource;
using ::testing::HasSubstr;

// Values containing "bad" → Malicious (id "j-<value>"), "down" → 503, others no verdict.
absl::StatusOr<schema::VerdictResult> Answer(const schema::Observable& o) {
  if (o.value.find("down") != std::string::npos) return absl::UnavailableError("http 503: x");
  if (o.value.find("bad") != std::string::npos) {
    schema::Verdict v;
    v.disposition = schema::Disposition::kMalicious;
    v.judgement_id = "j-" + o.value;
    v.valid_time = {absl::UnixEpoch(), schema::EndOfTime()};
    return schema::VerdictResult(v);
  }
  return schema::VerdictResult(schema::NoVerdict{});
}

std::vector<Chunk> ReadChunks(const std::string& text, RecordFormat format, size_t chunk_size,
                              size_t max_read) {
  StringSource src(text, max_read);
  ChunkReader reader(src, format, ',', chunk_size);
  std::vector<Chunk> chunks;
  for (;;) {
    Chunk c;
    auto more = reader.Next(c);
    EXPECT_TRUE(more.ok());
    if (!more.ok() || !*more) break;
    chunks.push_back(std::move(c));
  }
  return chunks;
}

TEST(ChunkReaderTest, SplitsOnlyOnRecordBoundariesWithTinyChunks) {
  const std::string text =
      "\xEF\xBB\xBF\"a\nb\",x\r\n"
      "\"q\"\"\n\"\"\",y\r\n"
      "plain,z\n"
      "\"\",\"\"\n"
      "last,\"no\nterminator\"";
  for (size_t chunk_size = 1; chunk_size <= text.size() + 1; ++chunk_size) {
    for (size_t max_read : {size_t{1}, size_t{3}, size_t{1000}}) {
      std::vector<Chunk> chunks = ReadChunks(text, RecordFormat::kCsv, chunk_size, max_read);
      std::string joined;
      uint64_t line = 1;
      for (const Chunk& c : chunks) {
        EXPECT_EQ(c.first_line, line) << chunk_size;
        joined += c.bytes;
        line += std::count(c.bytes.begin(), c.bytes.end(), '\n');
        // Each chunk ends a record: a LF outside quotes, or the end of input.
        if (&c != &chunks.back()) {
          ASSERT_EQ(c.bytes.back(), '\n');
        }
      }
      EXPECT_EQ(joined, text);
      // With chunks of one byte every record is its own chunk.
      if (chunk_size == 1) {
        EXPECT_EQ(chunks.size(), 5u);
      }
    }
  }
}

TEST(ChunkReaderTest, NdjsonSplitsAtNewlines) {
  const std::string text = "{\"a\":1}\n{\"b\":\"x\"}\r\n{}";
  std::vector<Chunk> chunks = ReadChunks(text, RecordFormat::kNdjson, 1, 2);
  ASSERT_EQ(chunks.size(), 3u);
  EXPECT_EQ(chunks[1].bytes, "{\"b\":\"x\"}\r\n");
  EXPECT_EQ(chunks[2].first_line, 3u);
}

// Format detection peeks past blanks and a BOM to the first data byte, and loses nothing:
// the chunks still hold every byte, whatever the read sizes.
TEST(ChunkReaderTest, PeekFirstDataByteKeepsEveryByte) {
  const std::pair<std::string, std::optional<char>> cases[] = {
      {"\xEF\xBB\xBF \r\n\t{\"a\":1}\n{}", '{'},
      {"\n\n  {\"a\":1}", '{'},
      {"a,b\n1,2\n", 'a'},
      {"\xEF\xBB\xBFid,x\n", 'i'},
      {"\xEF\xBB", '\xEF'},  // not a whole BOM: data
      {" \n\r\n", std::nullopt},
      {"", std::nullopt},
  };
  for (const auto& [text, want] : cases) {
    for (size_t max_read : {size_t{1}, size_t{2}, size_t{1000}}) {
      StringSource src(text, max_read);
      ChunkReader reader(src, RecordFormat::kCsv, ',', 4);
      auto first = reader.PeekFirstDataByte();
      ASSERT_TRUE(first.ok()) << first.status();
      EXPECT_EQ(*first, want) << absl::CEscape(text) << " " << max_read;
      reader.set_format(RecordFormat::kNdjson);
      std::string joined;
      for (;;) {
        Chunk c;
        auto more = reader.Next(c);
        ASSERT_TRUE(more.ok());
        if (!*more) break;
        joined += c.bytes;
      }
      EXPECT_EQ(joined, text) << absl::CEscape(text) << " " << max_read;
    }
  }
}

class PipelineTest : public ::testing::Test {
 protected:
  // Runs `input` with a fresh table; returns what the run counted (into options.stats, or into
  // a RunStats of the test's when that is null).
  absl::StatusOr<RunStatsSnapshot> Run(const std::string& input, PipelineOptions options,
                                       size_t max_read = 1 << 20) {
    StringSource src(input, max_read);
    StringSink sink;
    VerdictTable table(clock_);
    RunStats stats(clock_);
    if (options.stats == nullptr) options.stats = &stats;
    const absl::Status status = RunPipeline(src, sink, options, table, source_);
    output_ = sink.text();
    if (!status.ok()) return status;
    return options.stats->Snapshot();
  }

  schema::FakeClock clock_{absl::FromUnixSeconds(1'700'000'000)};
  FakeVerdictSource source_{Answer};
  std::string output_;
};

TEST_F(PipelineTest, NdjsonNestedFieldGetsFieldsBeforeTheClosingBrace) {
  PipelineOptions o;
  o.input_format = o.output_format = DataFormat::kNdjson;
  o.columns = {{"dns.query.name", "domain"}};
  const std::string input =
      "{\"ts\": 1, \"dns\": {\"query\": {\"name\": \"BAD.example\"}} }\n"
      "{\"dns\":{}}\r\n"
      "not json\n"
      "{}\n"
      "[1,2]";
  auto s = Run(input, o);
  ASSERT_TRUE(s.ok()) << s.status();
  EXPECT_EQ(output_,
            "{\"ts\": 1, \"dns\": {\"query\": {\"name\": \"BAD.example\"}} ,"
            "\"ctia_disposition\":2,\"ctia_disposition_name\":\"Malicious\","
            "\"ctia_judgement_id\":\"j-bad.example\","
            "\"ctia_valid_until\":\"2525-01-01T00:00:00.000Z\",\"ctia_status\":\"ok\"}\n"
            "{\"dns\":{},\"ctia_disposition\":null,\"ctia_disposition_name\":null,"
            "\"ctia_judgement_id\":null,\"ctia_valid_until\":null,\"ctia_status\":\"skipped\"}"
            "\r\n"
            "not json\n"
            "{\"ctia_disposition\":null,\"ctia_disposition_name\":null,"
            "\"ctia_judgement_id\":null,\"ctia_valid_until\":null,\"ctia_status\":\"skipped\"}\n"
            "[1,2]\n");
  EXPECT_EQ(s->statuses.at("invalid_row"), 2u);
  EXPECT_EQ(s->counter(RunCounter::kRowsRead), 5u);
}

TEST_F(PipelineTest, NdjsonBlankLinesPassThroughAsTheyAreWithoutAStatus) {
  PipelineOptions o;
  o.input_format = o.output_format = DataFormat::kNdjson;
  o.columns = {{"d", "domain"}};
  o.strict = true;  // a blank line is not a malformed row
  const std::string input = "\n{\"d\":\"x.example\"}\n  \t\n\r\n{\"d\":\"y.example\"}\n \r\n  ";
  const std::string no_verdict =
      ",\"ctia_disposition\":null,\"ctia_disposition_name\":null,\"ctia_judgement_id\":null,"
      "\"ctia_valid_until\":null,\"ctia_status\":\"no_verdict\"}";
  for (size_t chunk_size : {size_t{1}, size_t{3}, size_t{1} << 20}) {
    o.chunk_size = chunk_size;
    RunStats stats(clock_);
    o.stats = &stats;
    auto s = Run(input, o);
    ASSERT_TRUE(s.ok()) << s.status();
    EXPECT_EQ(output_, "\n{\"d\":\"x.example\"" + no_verdict + "\n  \t\n\r\n{\"d\":\"y.example\"" +
                           no_verdict + "\n \r\n  ")
        << chunk_size;
    EXPECT_EQ(s->statuses, (std::map<std::string, uint64_t>{{"ok", 0},
                                                             {"no_verdict", 2},
                                                             {"skipped", 0},
                                                             {"invalid", 0},
                                                             {"invalid_row", 0}}));
    EXPECT_EQ(s->counter(RunCounter::kCells), 2u);
    const RunStatsSnapshot snap = stats.Snapshot();
    EXPECT_EQ(snap.counter(RunCounter::kRowsRead), 2u);
    EXPECT_EQ(snap.counter(RunCounter::kRowsWritten), 2u);
    EXPECT_EQ(snap.counter(RunCounter::kBlankLines), 5u);
  }
  // CSV output has no line for them (an empty line would be a ragged row).
  o.output_format = DataFormat::kCsv;
  o.stats = nullptr;
  auto s = Run(input, o);
  ASSERT_TRUE(s.ok()) << s.status();
  EXPECT_EQ(output_,
            "json,ctia_disposition,ctia_disposition_name,ctia_judgement_id,ctia_valid_until,"
            "ctia_status\n\"{\"\"d\"\":\"\"x.example\"\"}\",,,,,no_verdict\n"
            "\"{\"\"d\"\":\"\"y.example\"\"}\",,,,,no_verdict\n");
  EXPECT_EQ(s->counter(RunCounter::kBlankLines), 5u);
}

TEST_F(PipelineTest, ARecordJustOverMaxRecordBytesStopsTheRunAtAnyChunkSize) {
  PipelineOptions o;
  o.input_name = "<string>";  // as the test source names itself (ChunkReader's errors)
  o.columns = {{"d", "domain"}};
  o.max_record_bytes = 40;
  const std::string at_limit = "a.example," + std::string(30, 'x');       // 40 bytes
  const std::string over = "b.example,\"" + std::string(29, 'y') + "\"";  // 41 bytes
  ASSERT_EQ(at_limit.size(), 40u);
  ASSERT_EQ(over.size(), 41u);
  const std::string ndjson_over = "{\"d\":\"b.example\",\"n\":\"" + std::string(17, 'z') + "\"}";
  ASSERT_EQ(ndjson_over.size(), 41u);
  for (size_t chunk_size : {size_t{1}, size_t{5}, size_t{64}, size_t{1} << 20}) {
    o.chunk_size = chunk_size;
    o.input_format = o.output_format = DataFormat::kCsv;
    auto fine = Run("d,note\r\n" + at_limit + "\r\n" + at_limit, o);
    ASSERT_TRUE(fine.ok()) << chunk_size << ": " << fine.status();
    EXPECT_EQ(fine->counter(RunCounter::kRowsRead), 2u);
    auto s = Run("d,note\n" + at_limit + "\n" + over + "\n" + at_limit + "\n", o);
    ASSERT_FALSE(s.ok()) << chunk_size;
    EXPECT_EQ(s.status().message(),
              "<string>:3: a record longer than 40 bytes starts here; --max-record-bytes sets the "
              "limit")
        << chunk_size;
    // A quote never closed: the rest of the input would be one record.
    s = Run("d,note\n" + at_limit + "\nc.example,\"" + std::string(100, 'q') + "\n", o);
    ASSERT_FALSE(s.ok()) << chunk_size;
    EXPECT_EQ(s.status().message(),
              "<string>:3: a record longer than 40 bytes starts here (a quote that is never "
              "closed?); --max-record-bytes sets the limit")
        << chunk_size;
    o.input_format = o.output_format = DataFormat::kNdjson;
    s = Run("{\"d\":\"a.example\"}\n" + ndjson_over + "\n", o);
    ASSERT_FALSE(s.ok()) << chunk_size;
    EXPECT_EQ(s.status().message(),
              "<string>:2: a record longer than 40 bytes starts here; --max-record-bytes sets the "
              "limit")
        << chunk_size;
  }
}

TEST_F(PipelineTest, SeveralColumnsEachGetTheirOwnColumns) {
  PipelineOptions o;
  o.columns = {{"src", "ip"}, {"host", "auto"}};
  auto s = Run("src,host\n10.0.0.1,bad.example\n999.1.1.1,hxxp://down[.]example/x\n", o);
  ASSERT_TRUE(s.ok()) << s.status();
  EXPECT_EQ(output_,
            "src,host,ctia_src_disposition,ctia_src_disposition_name,ctia_src_judgement_id,"
            "ctia_src_valid_until,ctia_src_status,ctia_host_disposition,"
            "ctia_host_disposition_name,ctia_host_judgement_id,ctia_host_valid_until,"
            "ctia_host_status\n"
            "10.0.0.1,bad.example,,,,,no_verdict,2,Malicious,j-bad.example,"
            "2525-01-01T00:00:00.000Z,ok\n"
            "999.1.1.1,hxxp://down[.]example/x,,,,,invalid,,,,,error:503\n");
  EXPECT_EQ(source_.calls("http://down.example/x"), 1);  // refanged, typed url by auto
}

// Search engines read a dot in a key as an object path: the added keys of NDJSON path
// columns have none.
TEST_F(PipelineTest, SeveralNdjsonPathColumnsAddKeysWithoutDots) {
  PipelineOptions o;
  o.input_format = o.output_format = DataFormat::kNdjson;
  o.columns = {{"dns.query.name", "domain"}, {"src.ip", "ip"}};
  auto s = Run("{\"dns\":{\"query\":{\"name\":\"bad.example\"}},\"src\":{\"ip\":\"::1\"}}\n", o);
  ASSERT_TRUE(s.ok()) << s.status();
  EXPECT_EQ(output_,
            "{\"dns\":{\"query\":{\"name\":\"bad.example\"}},\"src\":{\"ip\":\"::1\"},"
            "\"ctia_dns_query_name_disposition\":2,"
            "\"ctia_dns_query_name_disposition_name\":\"Malicious\","
            "\"ctia_dns_query_name_judgement_id\":\"j-bad.example\","
            "\"ctia_dns_query_name_valid_until\":\"2525-01-01T00:00:00.000Z\","
            "\"ctia_dns_query_name_status\":\"ok\","
            "\"ctia_src_ip_disposition\":null,\"ctia_src_ip_disposition_name\":null,"
            "\"ctia_src_ip_judgement_id\":null,\"ctia_src_ip_valid_until\":null,"
            "\"ctia_src_ip_status\":\"no_verdict\"}\n");
  EXPECT_EQ(source_.calls("::1"), 1);  // an ip column's IPv6 address, looked up (as ipv6)

  // Two columns that would add the same keys are refused before any lookup.
  o.columns = {{"src.ip", "ip"}, {"src_ip", "ip"}};
  s = Run("{\"src\":{\"ip\":\"1.2.3.4\"},\"src_ip\":\"1.2.3.5\"}\n", o);
  ASSERT_FALSE(s.ok());
  EXPECT_TRUE(IsUsageError(s.status()));
  EXPECT_THAT(std::string(s.status().message()),
              HasSubstr("--column \"src.ip\" and --column \"src_ip\" would add the same columns "
                        "(ctia_src_ip_disposition, ...)"));

  // Nor may the prefix bring a dot in.
  o.columns = {{"src.ip", "ip"}};
  o.prefix = "ctia.";
  s = Run("{\"src\":{\"ip\":\"1.2.3.4\"}}\n", o);
  ASSERT_FALSE(s.ok());
  EXPECT_TRUE(IsUsageError(s.status()));
  EXPECT_THAT(std::string(s.status().message()), HasSubstr("--prefix \"ctia.\": NDJSON keys"));
}

// Stdin has no extension: the first data byte says NDJSON, and the output follows it.
TEST_F(PipelineTest, DetectedNdjsonInputIsReadAndWrittenAsNdjson) {
  PipelineOptions o;
  o.detect_input_format = true;
  o.output_format_follows_input = true;
  o.columns = {{"d", "domain"}};
  for (size_t max_read : {size_t{1}, size_t{1 << 20}}) {
    auto s = Run("\n {\"d\":\"bad.example\"}\n", o, max_read);
    ASSERT_TRUE(s.ok()) << s.status();
    EXPECT_EQ(output_,
              "\n {\"d\":\"bad.example\",\"ctia_disposition\":2,\"ctia_disposition_name\":"
              "\"Malicious\",\"ctia_judgement_id\":\"j-bad.example\",\"ctia_valid_until\":"
              "\"2525-01-01T00:00:00.000Z\",\"ctia_status\":\"ok\"}\n");
    EXPECT_EQ(s->counter(RunCounter::kBlankLines), 1u);
  }
  // Anything else stays CSV.
  auto s = Run("d\nbad.example\n", o);
  ASSERT_TRUE(s.ok()) << s.status();
  EXPECT_THAT(output_, HasSubstr("d,ctia_disposition,"));
}

TEST_F(PipelineTest, CountsEverythingIntoTheRunsLedger) {
  PipelineOptions o;
  o.columns = {{"src", "ip"}, {"host", "domain"}};
  const std::string input =
      "src,host\n10.0.0.1,bad.example\n10.0.0.1,BAD.example\nnope,a.example\n,\n1,2,3\n";
  auto s = Run(input, o);
  ASSERT_TRUE(s.ok()) << s.status();
  EXPECT_EQ(s->counter(RunCounter::kRowsRead), 5u);
  EXPECT_EQ(s->counter(RunCounter::kRowsWritten), 5u);
  EXPECT_EQ(s->counter(RunCounter::kCells), 10u);
  EXPECT_EQ(s->counter(RunCounter::kInputBytes), input.size());
  EXPECT_EQ(s->counter(RunCounter::kBytesRead), input.size());
  // 10.0.0.1, bad.example and a.example: one lookup each, whatever the case or the row.
  EXPECT_EQ(s->counter(RunCounter::kUniqueObservables), 3u);
  EXPECT_EQ(s->counter(RunCounter::kLookupsSent), 3u);
  EXPECT_EQ(s->counter(RunCounter::kLookupsSettled), 3u);
  EXPECT_EQ(s->counter(RunCounter::kJoined), 1u);  // BAD.example joined bad.example's lookup
  EXPECT_EQ(s->counter(RunCounter::kCacheHits), 0u);
  EXPECT_EQ(s->latency.count, 3u);
  EXPECT_EQ(s->statuses, (std::map<std::string, uint64_t>{{"ok", 2},
                                                           {"no_verdict", 3},
                                                           {"skipped", 2},
                                                           {"invalid", 1},
                                                           {"invalid_row", 2}}));
}

TEST_F(PipelineTest, NoHeaderUsesColumnNumbersAndDelimiter) {
  PipelineOptions o;
  o.header = false;
  o.delimiter = '|';
  o.columns = {{"2", "domain"}};
  auto s = Run("a|bad.example.\nb\n", o);
  ASSERT_TRUE(s.ok()) << s.status();
  EXPECT_EQ(output_,
            "a|bad.example.|2|Malicious|j-bad.example|2525-01-01T00:00:00.000Z|ok\n"
            "b|||||invalid_row\n");
}

TEST_F(PipelineTest, StrictStopsAtTheFirstMalformedRowWithItsLine) {
  PipelineOptions o;
  o.strict = true;
  o.input_name = "events.csv";
  o.columns = {{"domain", "domain"}};
  auto s = Run("domain,n\na.example,\"x\ny\"\nb.example,1,2\n", o);
  ASSERT_FALSE(s.ok());
  EXPECT_EQ(s.status().message(), "events.csv:4: malformed row: 3 fields, the header has 2");
}

TEST_F(PipelineTest, AllowlistedValuesAreSkippedWithoutARequest) {
  auto allow = schema::Allowlist::Parse("*.corp.example\n10.0.0.0/8\n", "allow.txt");
  ASSERT_TRUE(allow.ok()) << allow.status();
  PipelineOptions o;
  o.allowlist = &*allow;
  o.columns = {{"v", "auto"}};
  auto s = Run("v\nbad.corp.example\n10.1.2.3\nbad.example\n", o);
  ASSERT_TRUE(s.ok());
  EXPECT_THAT(output_, HasSubstr("bad.corp.example,,,,,skipped\n10.1.2.3,,,,,skipped\n"));
  EXPECT_EQ(source_.total(), 1);
}

TEST_F(PipelineTest, CsvToNdjsonAndBack) {
  PipelineOptions o;
  o.output_format = DataFormat::kNdjson;
  o.columns = {{"domain", "domain"}};
  auto s = Run("id,domain\n1,\"bad.example\"\n2,x,y\n", o);
  ASSERT_TRUE(s.ok());
  EXPECT_EQ(output_,
            "{\"id\":\"1\",\"domain\":\"bad.example\",\"ctia_disposition\":2,"
            "\"ctia_disposition_name\":\"Malicious\",\"ctia_judgement_id\":\"j-bad.example\","
            "\"ctia_valid_until\":\"2525-01-01T00:00:00.000Z\",\"ctia_status\":\"ok\"}\n"
            "{\"ctia_raw\":\"2,x,y\",\"ctia_disposition\":null,\"ctia_disposition_name\":null,"
            "\"ctia_judgement_id\":null,\"ctia_valid_until\":null,"
            "\"ctia_status\":\"invalid_row\"}\n");
  PipelineOptions back;
  back.input_format = DataFormat::kNdjson;
  back.columns = {{"domain", "domain"}};
  s = Run("{\"domain\":\"x.example\",\"q\":\"a,b\"}\n", back);
  ASSERT_TRUE(s.ok());
  EXPECT_EQ(output_,
            "json,ctia_disposition,ctia_disposition_name,ctia_judgement_id,ctia_valid_until,"
            "ctia_status\n"
            "\"{\"\"domain\"\":\"\"x.example\"\",\"\"q\"\":\"\"a,b\"\"}\",,,,,no_verdict\n");
}

TEST_F(PipelineTest, CheckpointSignalEndsTheRunResumably) {
  FakeVerdictSource checkpointing(
      [](const schema::Observable& ob) -> absl::StatusOr<schema::VerdictResult> {
        if (ob.value == "c.example") {
          return transport::CheckpointSignal(absl::Seconds(3557), "429 for too long");
        }
        return schema::VerdictResult(schema::NoVerdict{});
      },
      /*async=*/true);
  std::vector<std::string> journaled;
  absl::Mutex mu;
  PipelineOptions o;
  o.columns = {{"domain", "domain"}};
  o.chunk_size = 8;
  o.on_lookups_settled = [&](absl::Span<const PipelineOptions::SettledLookup> settled) {
    absl::MutexLock lock(&mu);
    for (const PipelineOptions::SettledLookup& l : settled) {
      journaled.push_back(l.observable->value);
    }
  };
  std::string input = "domain\n";
  for (int i = 0; i < 50; ++i) input += absl::StrCat("h", i, ".example\n");
  input += "c.example\n";
  StringSource src(input);
  StringSink sink;
  VerdictTable table(clock_);
  const absl::Status s = RunPipeline(src, sink, o, table, checkpointing);
  ASSERT_FALSE(s.ok());
  ASSERT_TRUE(transport::CheckpointWait(s).has_value()) << s;
  EXPECT_EQ(*transport::CheckpointWait(s), absl::Seconds(3557));
  absl::MutexLock lock(&mu);
  EXPECT_THAT(journaled, ::testing::Not(::testing::Contains("c.example")));
}

TEST_F(PipelineTest, StopRequestEndsWithCancelled) {
  std::atomic<bool> stop{true};
  PipelineOptions o;
  o.columns = {{"domain", "domain"}};
  o.stop_requested = &stop;
  auto s = Run("domain\na.example\n", o);
  ASSERT_FALSE(s.ok());
  EXPECT_EQ(s.status().code(), absl::StatusCode::kCancelled);
}

// Runs `input` through the pipeline with `o`, a fresh table, a source answering inline or from
// other threads, and reads of random sizes up to `max_read`.
std::string RunRandomized(const std::string& input, const PipelineOptions& o, bool async,
                          size_t max_read, const schema::Clock& clock, uint64_t* rows) {
  FakeVerdictSource source(Answer, async);
  StringSource src(input, max_read);
  StringSink sink;
  VerdictTable table(clock);
  RunStats stats(clock);
  PipelineOptions counted = o;
  counted.stats = &stats;
  const absl::Status s = RunPipeline(src, sink, counted, table, source);
  EXPECT_TRUE(s.ok()) << s;
  if (rows != nullptr) *rows = s.ok() ? stats.Snapshot().counter(RunCounter::kRowsRead) : 0;
  return sink.text();
}

// Random CSV: random quoting (embedded delimiters, quotes, CR/LF), random row lengths, some
// ragged rows; run with random chunk sizes and thread counts. Every time: the output rows are
// the input rows, in order, byte for byte, plus the added columns expected for each.
// One record (without its terminator) read byte by byte, independently of the engine's
// scanner: its field count, and whether it is malformed (text after a closing quote, or a quote
// left open).
struct ReferenceRecord {
  size_t fields = 1;
  bool malformed = false;
};
ReferenceRecord ReferenceRead(const std::string& record) {
  ReferenceRecord r;
  bool at_field_start = true;
  bool in_quotes = false;
  bool after_closing_quote = false;
  for (size_t i = 0; i < record.size(); ++i) {
    const char c = record[i];
    if (in_quotes) {
      if (c == '"' && i + 1 < record.size() && record[i + 1] == '"') {
        ++i;  // a doubled quote
      } else if (c == '"') {
        in_quotes = false;
        after_closing_quote = true;
      }
      continue;
    }
    if (c == ',') {
      ++r.fields;
      at_field_start = true;
      after_closing_quote = false;
      continue;
    }
    if (at_field_start && c == '"') {
      in_quotes = true;
    } else if (after_closing_quote) {
      r.malformed = true;
    }
    at_field_start = false;
  }
  r.malformed = r.malformed || in_quotes;
  return r;
}

TEST_F(PipelineTest, PropertyRandomCsvKeepsEveryRowInOrder) {
  std::mt19937 rng(20240607);
  auto random_field = [&]() -> std::string {
    static const std::vector<std::string> atoms = {"a", "b", ",", "\"", "\n", "\r\n", " ", "x"};
    std::string f;
    const int n = static_cast<int>(rng() % 5);
    for (int i = 0; i < n; ++i) f += atoms[rng() % atoms.size()];
    return f;
  };
  for (int round = 0; round < 30; ++round) {
    const int rows = 1 + static_cast<int>(rng() % 300);
    const bool crlf = rng() % 2 == 0;
    const std::string eol = crlf ? "\r\n" : "\n";
    std::string input = "id,domain,note" + eol;
    std::vector<std::string> expected_rows;
    for (int r = 0; r < rows; ++r) {
      std::string row;
      const int kind = static_cast<int>(rng() % 10);
      std::string domain = kind < 4 ? absl::StrCat("bad", rng() % 20, ".example")
                           : kind < 8 ? absl::StrCat("ok", rng() % 20, ".example")
                                      : "";
      const std::string note_text = random_field();
      std::string note;
      AppendCsvField(note, note_text);
      // Sometimes quote it again: malformed when it was quoted, but still one record as long
      // as no line break ends up outside the quotes.
      if (rng() % 3 == 0 && note_text.find_first_of("\r\n") == std::string::npos) {
        note = "\"" + note + "\"";
      }
      std::string dom_field;
      if (rng() % 2) {
        AppendCsvField(dom_field, domain);
      } else {
        dom_field = "\"" + domain + "\"";
      }
      row = absl::StrCat(r, ",", dom_field, ",", note);
      const bool ragged = rng() % 25 == 0;
      if (ragged) row += ",extra";
      // Expected added columns.
      std::string added;
      // Forced quoting may make the note malformed: ask the independent reference reading.
      const ReferenceRecord rec = ReferenceRead(row);
      if (rec.malformed || rec.fields != 3) {
        added = ",,,,,invalid_row";
      } else if (domain.empty()) {
        added = ",,,,,skipped";
      } else if (domain.rfind("bad", 0) == 0) {
        added = ",2,Malicious,j-" + domain + ",2525-01-01T00:00:00.000Z,ok";
      } else {
        added = ",,,,,no_verdict";
      }
      input += row;
      const bool last = r == rows - 1;
      const bool terminated = !last || rng() % 2 == 0;
      if (terminated) input += eol;
      expected_rows.push_back(row + added + eol);
    }
    std::string expected = "id,domain,note,ctia_disposition,ctia_disposition_name,"
                           "ctia_judgement_id,ctia_valid_until,ctia_status" + eol;
    for (const auto& r : expected_rows) expected += r;

    PipelineOptions o;
    o.columns = {{"domain", "domain"}};
    o.chunk_size = 1 + rng() % 200;
    o.threads = 1 + rng() % 4;
    o.max_live_chunks = 1 + rng() % 6;
    o.max_in_flight = 1 + rng() % 8;
    uint64_t rows_out = 0;
    const bool async = rng() % 2 == 0;
    ASSERT_EQ(RunRandomized(input, o, async, 1 + rng() % 64, clock_, &rows_out), expected)
        << "round " << round << " chunk " << o.chunk_size;
    EXPECT_EQ(rows_out, static_cast<uint64_t>(rows));
  }
}

// Random NDJSON: nested objects, random whitespace, some invalid lines.
TEST_F(PipelineTest, PropertyRandomNdjsonKeepsEveryLineInOrder) {
  std::mt19937 rng(99);
  for (int round = 0; round < 20; ++round) {
    const int lines = 1 + static_cast<int>(rng() % 200);
    std::string input;
    std::string expected;
    for (int i = 0; i < lines; ++i) {
      const int kind = static_cast<int>(rng() % 10);
      std::string domain = absl::StrCat(kind < 5 ? "bad" : "fine", rng() % 30, ".example");
      std::string ws(rng() % 3, ' ');
      std::string line;
      std::string added;
      if (kind == 9) {
        line = "{\"dns\": broken";
      } else if (kind == 8 && i % 2 == 0) {
        line = std::string(rng() % 3, ' ');  // a blank line: kept as it is, no status
      } else {
        line = absl::StrCat("{", ws, "\"n\":", i, ",\"dns\":{\"q\":{\"name\":\"", domain,
                            "\"}}", ws, "}", ws);
        added = domain.rfind("bad", 0) == 0
                    ? ",\"ctia_disposition\":2,\"ctia_disposition_name\":\"Malicious\","
                      "\"ctia_judgement_id\":\"j-" + domain +
                          "\",\"ctia_valid_until\":\"2525-01-01T00:00:00.000Z\","
                          "\"ctia_status\":\"ok\""
                    : ",\"ctia_disposition\":null,\"ctia_disposition_name\":null,"
                      "\"ctia_judgement_id\":null,\"ctia_valid_until\":null,"
                      "\"ctia_status\":\"no_verdict\"";
      }
      input += line + "\n";
      if (added.empty()) {
        expected += line + "\n";
      } else {
        const size_t close = line.rfind('}');
        expected += line.substr(0, close) + added + line.substr(close) + "\n";
      }
    }
    PipelineOptions o;
    o.input_format = o.output_format = DataFormat::kNdjson;
    o.columns = {{"dns.q.name", "domain"}};
    o.chunk_size = 1 + rng() % 300;
    o.threads = 1 + rng() % 3;
    const bool async = rng() % 2 == 0;
    ASSERT_EQ(RunRandomized(input, o, async, 1 + rng() % 100, clock_, nullptr), expected)
        << "round " << round;
  }
}

}  // namespace
}  // namespace enrich::engine
