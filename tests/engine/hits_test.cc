// Hits in the pipeline (PipelineOptions::hit_dispositions and hits): the hits output holds
// exactly the output rows of the input rows with a hit disposition, in order, for CSV and
// NDJSON, one and several columns, across chunks; the hit rows are counted per observable for
// the top hits (HitCounter); --hit-dispositions names; the bounded quota series.

#include "engine/pipeline.h"
#include "engine/request_series.h"
#include "engine/run_stats.h"
#include "engine/top_hits.h"
#include "schema/clock.h"
#include "schema/time_format.h"
#include "tests/engine/string_io.h"
#include "tests/fakes/fake_verdict_source.h"

#include <map>
#include <set>
#include <string>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include <gmock/gmock.h>
#include <gtest/gtest.h>

namespace enrich::engine {
namespace {

using enrich::testing::FakeVerdictSource;
using enrich::testing::StringSink;
using enrich::testing::StringSource;
using ::testing::ElementsAre;
using ::testing::HasSubstr;

// The disposition a value gets: "bad" Malicious, "sus" Suspicious, "fine" Clean, "down" a 503,
// anything else no verdict.
std::optional<schema::Disposition> DispositionOf(absl::string_view value) {
  if (absl::StrContains(value, "bad")) return schema::Disposition::kMalicious;
  if (absl::StrContains(value, "sus")) return schema::Disposition::kSuspicious;
  if (absl::StrContains(value, "fine")) return schema::Disposition::kClean;
  return std::nullopt;
}

absl::StatusOr<schema::VerdictResult> Answer(const schema::Observable& o) {
  if (absl::StrContains(o.value, "down")) return absl::UnavailableError("http 503: x");
  const auto d = DispositionOf(o.value);
  if (!d.has_value()) return schema::VerdictResult(schema::NoVerdict{});
  schema::Verdict v;
  v.disposition = *d;
  v.judgement_id = "j-" + o.value;
  v.valid_time = {absl::UnixEpoch(), schema::EndOfTime()};
  return schema::VerdictResult(v);
}

// A row of the generated input: its observable values (one per column).
struct Row {
  std::vector<std::string> values;
};

// Values drawn from a small pool so that observables repeat across rows and chunks.
std::vector<Row> MakeRows(int rows, int columns) {
  const std::vector<std::string> pool = {
      "bad-a.example",  "sus-b.example", "fine-c.example", "none-d.example",
      "down-e.example", "bad-f.example", "none-g.example", "",
      "not a domain"};
  std::vector<Row> out;
  for (int i = 0; i < rows; ++i) {
    Row r;
    for (int c = 0; c < columns; ++c) {
      r.values.push_back(pool[static_cast<size_t>((i * (c + 3) + c * 5 + i / 7) % 9)]);
    }
    out.push_back(r);
  }
  return out;
}

bool IsHit(const Row& r, DispositionSet set) {
  for (const std::string& v : r.values) {
    const auto d = DispositionOf(v);
    if (d.has_value() && v != "not a domain" && InDispositionSet(set, static_cast<int>(*d))) {
      return true;
    }
  }
  return false;
}

// Lines of `text`, each with its "\n".
std::vector<std::string> Lines(const std::string& text) {
  std::vector<std::string> lines;
  for (absl::string_view l : absl::StrSplit(text, '\n', absl::SkipEmpty())) {
    lines.push_back(absl::StrCat(l, "\n"));
  }
  return lines;
}

struct Outputs {
  std::string out;
  std::string hits;
  RunStatsSnapshot stats;
  std::vector<TopHit> top;
};

class HitsTest : public ::testing::Test {
 protected:
  Outputs Run(const std::string& input, PipelineOptions o) {
    StringSource src(input, 97);
    StringSink out;
    StringSink hits;
    VerdictTable table(clock_);
    RunStats stats(clock_);
    o.stats = &stats;
    o.hits = &hits;
    o.chunk_size = 64;  // many chunks
    o.threads = 2;
    const absl::Status s = RunPipeline(src, out, o, table, source_);
    EXPECT_TRUE(s.ok()) << s;
    return Outputs{out.text(), hits.text(), stats.Snapshot(), stats.TopHits(100)};
  }

  // Checks that `got.hits` is the header (if any) and then exactly the output lines of the
  // input rows that are hits, in order; `out_header` lines lead the output.
  void ExpectHitsAreHitRows(const Outputs& got, const std::vector<Row>& rows, size_t out_header,
                            DispositionSet set) {
    const std::vector<std::string> out_lines = Lines(got.out);
    ASSERT_EQ(out_lines.size(), rows.size() + out_header);
    std::string want;
    for (size_t i = 0; i < out_header; ++i) want += out_lines[i];
    size_t hit_rows = 0;
    for (size_t i = 0; i < rows.size(); ++i) {
      if (!IsHit(rows[i], set)) continue;
      want += out_lines[out_header + i];
      ++hit_rows;
    }
    EXPECT_GT(hit_rows, 10u);
    EXPECT_LT(hit_rows, rows.size());
    EXPECT_EQ(got.hits, want);
  }

  // Rows per (disposition, value) as the test counts them: each hit value once per row.
  static std::map<std::pair<int, std::string>, uint64_t> WantCounts(const std::vector<Row>& rows,
                                                                    DispositionSet set) {
    std::map<std::pair<int, std::string>, uint64_t> want;
    for (const Row& r : rows) {
      std::set<std::string> seen;
      for (const std::string& v : r.values) {
        const auto d = DispositionOf(v);
        if (!d.has_value() || !InDispositionSet(set, static_cast<int>(*d))) continue;
        if (seen.insert(v).second) ++want[{static_cast<int>(*d), v}];
      }
    }
    return want;
  }

  static std::map<std::pair<int, std::string>, uint64_t> GotCounts(const std::vector<TopHit>& t) {
    std::map<std::pair<int, std::string>, uint64_t> got;
    for (const TopHit& h : t) got[{h.disposition, h.value}] = h.rows;
    return got;
  }

  schema::FakeClock clock_{absl::FromUnixSeconds(1'700'000'000)};
  FakeVerdictSource source_{Answer, /*async=*/true};
};

std::string Csv(const std::vector<Row>& rows, const std::vector<std::string>& names) {
  std::string text = "id";
  for (const std::string& n : names) absl::StrAppend(&text, ",", n);
  text += "\n";
  for (size_t i = 0; i < rows.size(); ++i) {
    absl::StrAppend(&text, i);
    for (const std::string& v : rows[i].values) absl::StrAppend(&text, ",", v);
    text += "\n";
  }
  return text;
}

std::string Ndjson(const std::vector<Row>& rows, const std::vector<std::string>& names) {
  std::string text;
  for (size_t i = 0; i < rows.size(); ++i) {
    absl::StrAppend(&text, "{\"id\":", i);
    for (size_t c = 0; c < names.size(); ++c) {
      absl::StrAppend(&text, ",\"", names[c], "\":{\"name\":\"", rows[i].values[c], "\"}");
    }
    text += "}\n";
  }
  return text;
}

TEST_F(HitsTest, CsvOneColumnHitsAreTheHitRowsInOrderWithTheHeader) {
  const std::vector<Row> rows = MakeRows(300, 1);
  PipelineOptions o;
  o.columns = {{"domain", "domain"}};
  o.hit_dispositions = kDefaultHitDispositions;
  const Outputs got = Run(Csv(rows, {"domain"}), o);
  ExpectHitsAreHitRows(got, rows, 1, kDefaultHitDispositions);
  EXPECT_TRUE(absl::StartsWith(got.hits, "id,domain,ctia_disposition,"));
  EXPECT_EQ(GotCounts(got.top), WantCounts(rows, kDefaultHitDispositions));
}

TEST_F(HitsTest, CsvSeveralColumnsAHitInAnyColumnMakesAHitRow) {
  const std::vector<Row> rows = MakeRows(300, 3);
  PipelineOptions o;
  o.columns = {{"src", "domain"}, {"dst", "domain"}, {"via", "domain"}};
  o.hit_dispositions = kDefaultHitDispositions;
  const Outputs got = Run(Csv(rows, {"src", "dst", "via"}), o);
  ExpectHitsAreHitRows(got, rows, 1, kDefaultHitDispositions);
  // A value in two columns of one row counts that row once.
  EXPECT_EQ(GotCounts(got.top), WantCounts(rows, kDefaultHitDispositions));
}

TEST_F(HitsTest, NdjsonOneAndSeveralColumnsHaveNoHeader) {
  for (int columns : {1, 2}) {
    const std::vector<Row> rows = MakeRows(250, columns);
    std::vector<std::string> names = {"query", "answer"};
    names.resize(static_cast<size_t>(columns));
    PipelineOptions o;
    o.input_format = o.output_format = DataFormat::kNdjson;
    for (const std::string& n : names) o.columns.push_back({n + ".name", "domain"});
    o.hit_dispositions = kDefaultHitDispositions;
    const Outputs got = Run(Ndjson(rows, names), o);
    ExpectHitsAreHitRows(got, rows, 0, kDefaultHitDispositions);
    EXPECT_EQ(GotCounts(got.top), WantCounts(rows, kDefaultHitDispositions));
  }
}

TEST_F(HitsTest, CsvToNdjsonAndOtherDispositions) {
  const std::vector<Row> rows = MakeRows(200, 2);
  const DispositionSet clean = DispositionBit(1);
  PipelineOptions o;
  o.output_format = DataFormat::kNdjson;
  o.columns = {{"a", "domain"}, {"b", "domain"}};
  o.hit_dispositions = clean;
  const Outputs got = Run(Csv(rows, {"a", "b"}), o);
  ExpectHitsAreHitRows(got, rows, 0, clean);
  for (const std::string& line : Lines(got.hits)) {
    EXPECT_THAT(line, HasSubstr("disposition_name\":\"Clean\"")) << line;
  }
}

TEST_F(HitsTest, WithoutHitDispositionsNothingIsCountedOrWritten) {
  const std::vector<Row> rows = MakeRows(100, 1);
  PipelineOptions o;
  o.columns = {{"domain", "domain"}};
  StringSource src(Csv(rows, {"domain"}));
  StringSink out;
  VerdictTable table(clock_);
  RunStats stats(clock_);
  o.stats = &stats;
  ASSERT_TRUE(RunPipeline(src, out, o, table, source_).ok());
  EXPECT_TRUE(stats.TopHits(10).empty());
  // A hits output without dispositions is a usage error.
  StringSink hits;
  o.hits = &hits;
  const absl::Status s = CheckPipelineOptions(o);
  EXPECT_TRUE(IsUsageError(s)) << s;
}

TEST(DispositionSetTest, NamesAnyCaseCommaSeparated) {
  auto set = ParseDispositionSet("--hit-dispositions", "malicious, SUSPICIOUS,Clean");
  ASSERT_TRUE(set.ok()) << set.status();
  EXPECT_EQ(*set, DispositionBit(1) | DispositionBit(2) | DispositionBit(3));
  EXPECT_EQ(DispositionSetNames(*set), "Clean,Malicious,Suspicious");
  EXPECT_EQ(DispositionSetNames(kDefaultHitDispositions), "Malicious,Suspicious");
  auto bad = ParseDispositionSet("--hit-dispositions", "Malicious,Evil");
  ASSERT_FALSE(bad.ok());
  EXPECT_TRUE(IsUsageError(bad.status()));
  EXPECT_THAT(bad.status().message(),
              HasSubstr("unknown disposition \"Evil\"; expected a comma list of Clean, "
                        "Malicious, Suspicious, Common, Unknown"));
}

TEST(HitCounterTest, TopPerDispositionByRowsWithTheSource) {
  HitCounter counter;
  counter.Add({{"domain", "a.example", 2, "", 3},
               {"domain", "b.example", 2, "feed", 5},
               {"ip", "192.0.2.1", 3, "sandbox", 1}});
  counter.Add({{"domain", "a.example", 2, "analyst", 4}, {"domain", "c.example", 2, "", 1}});
  EXPECT_EQ(counter.size(), 4u);
  const std::vector<TopHit> top = counter.Top(2);
  ASSERT_EQ(top.size(), 3u);
  EXPECT_EQ(top[0].value, "a.example");
  EXPECT_EQ(top[0].rows, 7u);
  EXPECT_EQ(top[0].source, "analyst");
  EXPECT_EQ(top[1].value, "b.example");
  EXPECT_EQ(top[1].source, "feed");
  EXPECT_EQ(top[2].value, "192.0.2.1");
  EXPECT_EQ(top[2].disposition, 3);
  EXPECT_TRUE(counter.Top(0).empty());
  const std::string text = FormatTopHits(top);
  EXPECT_THAT(text, HasSubstr("top hits, Malicious (rows per observable):\n"
                              "         7 rows  domain  a.example  (source: analyst)\n"));
  EXPECT_THAT(text, HasSubstr("top hits, Suspicious"));
}

TEST(HitCounterTest, AnIdentityStandsForItsObservableAndTopAddsUpItsEntries) {
  HitCounter counter;
  const char first[] = "j1";
  const char again[] = "j1";  // the same verdict stored again: another address
  // Views into buffers reused per chunk: the counter copies what it keeps.
  std::string chunk_value = "a.example";
  HitCount c{"domain", chunk_value, 2, "", 3};
  c.identity = first;
  counter.Add({c});
  chunk_value = "zzzzzzzzz";
  c.value = "a.example";
  counter.Add({c});
  c.identity = again;
  counter.Add({c});
  c.identity = nullptr;
  counter.Add({c});
  EXPECT_EQ(counter.size(), 3u);
  const std::vector<TopHit> top = counter.Top(5);
  ASSERT_EQ(top.size(), 1u);
  EXPECT_EQ(top[0].value, "a.example");
  EXPECT_EQ(top[0].type, "domain");
  EXPECT_EQ(top[0].disposition, 2);
  EXPECT_EQ(top[0].rows, 12u);
}

TEST(HitCounterTest, ManyObservablesAndLongValuesKeepTheirCountsAndSources) {
  HitCounter counter;
  // 5000 observables, each with an identity of its own (addresses in one buffer), counted in
  // two chunks; one value of 40 KiB (bigger than a block of the counter's key arena).
  std::vector<char> identities(5000);
  const std::string long_value(40 << 10, 'v');
  for (int chunk = 0; chunk < 2; ++chunk) {
    std::vector<std::string> values;
    std::vector<HitCount> counts;
    for (size_t i = 0; i < identities.size(); ++i) {
      values.push_back(i == 4321 ? long_value : absl::StrCat("host", i, ".example"));
    }
    for (size_t i = 0; i < identities.size(); ++i) {
      HitCount c{"domain", values[i], i % 3 == 0 ? 3 : 2, i % 7 == 0 ? "feed" : "", 1 + i % 5};
      if (i == 4321) c.rows = 1000;
      c.identity = &identities[i];
      counts.push_back(c);
    }
    counter.Add(counts);
  }
  EXPECT_EQ(counter.size(), 5000u);
  const std::vector<TopHit> top = counter.Top(3);
  ASSERT_EQ(top.size(), 6u);
  EXPECT_EQ(top[0].disposition, 2);
  EXPECT_EQ(top[0].value, long_value);
  EXPECT_EQ(top[0].rows, 2000u);
  // Then the most rows (2 × 5), by value; every 7th has a source.
  EXPECT_EQ(top[1].rows, 10u);
  EXPECT_EQ(top[1].value, "host1004.example");
  EXPECT_EQ(top[1].source, "");
  EXPECT_EQ(top[3].disposition, 3);
  EXPECT_EQ(top[3].rows, 10u);
  EXPECT_EQ(top[3].value, "host1014.example");
  EXPECT_EQ(top[3].source, "");
  EXPECT_EQ(top[4].value, "host1029.example");  // 7 × 147
  EXPECT_EQ(top[4].source, "feed");
}

TEST(HitCounterTest, SummaryJsonCarriesTopHitsAndTheyRoundTrip) {
  schema::FakeClock clock(absl::FromUnixSeconds(1'700'000'000));
  RunStats stats(clock);
  stats.CountHits({{"url", "http://x.example/<a>", 2, "feed", 9}});
  RunStatsSnapshot s = stats.Snapshot();
  s.top_hits = stats.TopHits(10);
  const std::string json = EncodeRunStatsJson(s);
  EXPECT_THAT(json, HasSubstr("\"top_hits\":[{\"observable\":\"http://x.example/<a>\","
                              "\"type\":\"url\",\"disposition\":\"Malicious\",\"rows\":9,"
                              "\"source\":\"feed\"}]"));
  auto back = DecodeRunStatsJson(json);
  ASSERT_TRUE(back.ok()) << back.status();
  EXPECT_EQ(EncodeRunStatsJson(*back), json);
  EXPECT_THAT(FormatRunSummary(s), HasSubstr("9 rows  url  http://x.example/<a>"));
}

TEST(RequestSeriesTest, StaysBoundedAndSpansTheRun) {
  RequestSeries series(absl::Seconds(1), 600);
  const absl::Time t0 = absl::FromUnixSeconds(1'700'000'000);
  for (int i = 0; i <= 5000; ++i) series.Note(t0 + absl::Seconds(i), static_cast<uint64_t>(i) * 3);
  series.Note(t0 + absl::Seconds(5000.5), 15002, /*final=*/true);
  const auto points = series.Points();
  EXPECT_LE(points.size(), 600u);
  EXPECT_GE(points.size(), 300u);
  EXPECT_EQ(points.front().time, t0);
  EXPECT_EQ(points.back().requests, 15002u);
  for (size_t i = 1; i + 1 < points.size(); ++i) {
    EXPECT_EQ(points[i].time - points[i - 1].time, series.interval()) << i;
  }
  // Samples within the interval are dropped.
  RequestSeries dense(absl::Seconds(1));
  dense.Note(t0, 0);
  dense.Note(t0 + absl::Milliseconds(300), 5);
  dense.Note(t0 + absl::Seconds(1), 9);
  EXPECT_EQ(dense.Points().size(), 2u);
}

}  // namespace
}  // namespace enrich::engine
