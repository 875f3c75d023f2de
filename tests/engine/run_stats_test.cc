#include "engine/run_stats.h"

#include "tests/engine/temp_dir.h"

#include <algorithm>
#include <random>
#include <thread>
#include <vector>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

namespace enrich::engine {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;

const absl::Time kStart = absl::FromUnixSeconds(1767225600);  // 2026-01-01T00:00:00Z

// A fixed run: 1000 rows, 100 unique, 90 lookups, 40 s.
RunStats& FillFixedRun(RunStats& stats, schema::FakeClock& clock) {
  stats.Add(RunCounter::kRowsRead, 1000);
  stats.Add(RunCounter::kRowsWritten, 1000);
  stats.Add(RunCounter::kBytesRead, 65536);
  stats.Add(RunCounter::kUniqueObservables, 100);
  stats.Add(RunCounter::kCacheHits, 10);
  stats.Add(RunCounter::kLookupsSent, 90);
  stats.Add(RunCounter::kLookupsSettled, 90);
  stats.Add(RunCounter::kTokenRefreshes, 1);
  transport::CtiaClientCounters transport_counters;
  transport_counters.retries = 3;
  transport_counters.rate_limited = 2;
  stats.SetTransportCounters(transport_counters);
  stats.CountStatus("ok", 700);
  stats.CountStatus("no_verdict", 250);
  stats.CountStatus("skipped", 40);
  stats.CountStatus("error:503", 6);
  stats.CountStatus("error:deadline_exceeded", 4);
  stats.RecordLatency(absl::Milliseconds(2));   // ≤ 0.0025
  stats.RecordLatency(absl::Milliseconds(20));  // ≤ 0.025
  stats.RecordLatency(absl::Milliseconds(20));
  stats.RecordLatency(absl::Milliseconds(100));  // ≤ 0.1 (edge is inclusive)
  stats.RecordLatency(absl::Seconds(90));        // only +Inf
  clock.Advance(absl::Seconds(40));
  return stats;
}

TEST(RunStatsTest, PrometheusTextIsExact) {
  schema::FakeClock clock(kStart);
  RunStats stats(clock);
  FillFixedRun(stats, clock);
  EXPECT_EQ(FormatPrometheus(stats.Snapshot()),
            R"(# HELP ctia_enrich_rows_total Data rows read by the last run.
# TYPE ctia_enrich_rows_total counter
ctia_enrich_rows_total 1000
# HELP ctia_enrich_rows_written_total Data rows written by the last run.
# TYPE ctia_enrich_rows_written_total counter
ctia_enrich_rows_written_total 1000
# HELP ctia_enrich_input_bytes_total Raw input bytes read by the last run.
# TYPE ctia_enrich_input_bytes_total counter
ctia_enrich_input_bytes_total 65536
# HELP ctia_enrich_unique_observables Distinct observables in the last run's input.
# TYPE ctia_enrich_unique_observables gauge
ctia_enrich_unique_observables 100
# HELP ctia_enrich_cache_hits_total Unique observables answered without a lookup (journal or cache).
# TYPE ctia_enrich_cache_hits_total counter
ctia_enrich_cache_hits_total 10
# HELP ctia_enrich_lookups_total Verdict lookups sent to CTIA by the last run.
# TYPE ctia_enrich_lookups_total counter
ctia_enrich_lookups_total 90
# HELP ctia_enrich_lookups_settled_total Verdict lookups answered (verdict, no verdict or error).
# TYPE ctia_enrich_lookups_settled_total counter
ctia_enrich_lookups_settled_total 90
# HELP ctia_enrich_retries_total HTTP requests retried by the transport.
# TYPE ctia_enrich_retries_total counter
ctia_enrich_retries_total 3
# HELP ctia_enrich_rate_limited_total HTTP 429 answers received.
# TYPE ctia_enrich_rate_limited_total counter
ctia_enrich_rate_limited_total 2
# HELP ctia_enrich_token_refreshes_total OAuth2 token refreshes.
# TYPE ctia_enrich_token_refreshes_total counter
ctia_enrich_token_refreshes_total 1
# HELP ctia_enrich_blank_lines_total NDJSON blank lines of the last run (not rows; no status).
# TYPE ctia_enrich_blank_lines_total counter
ctia_enrich_blank_lines_total 0
# HELP ctia_enrich_hedges_total Lookups resent on another connection after a late answer.
# TYPE ctia_enrich_hedges_total counter
ctia_enrich_hedges_total 0
# HELP ctia_enrich_status_total Rows of the last run by status.
# TYPE ctia_enrich_status_total counter
ctia_enrich_status_total{status="error:503"} 6
ctia_enrich_status_total{status="error:deadline_exceeded"} 4
ctia_enrich_status_total{status="invalid"} 0
ctia_enrich_status_total{status="invalid_row"} 0
ctia_enrich_status_total{status="no_verdict"} 250
ctia_enrich_status_total{status="ok"} 700
ctia_enrich_status_total{status="skipped"} 40
# HELP ctia_enrich_lookup_latency_seconds Verdict lookup latency.
# TYPE ctia_enrich_lookup_latency_seconds histogram
ctia_enrich_lookup_latency_seconds_bucket{le="0.001"} 0
ctia_enrich_lookup_latency_seconds_bucket{le="0.0025"} 1
ctia_enrich_lookup_latency_seconds_bucket{le="0.005"} 1
ctia_enrich_lookup_latency_seconds_bucket{le="0.01"} 1
ctia_enrich_lookup_latency_seconds_bucket{le="0.025"} 3
ctia_enrich_lookup_latency_seconds_bucket{le="0.05"} 3
ctia_enrich_lookup_latency_seconds_bucket{le="0.1"} 4
ctia_enrich_lookup_latency_seconds_bucket{le="0.25"} 4
ctia_enrich_lookup_latency_seconds_bucket{le="0.5"} 4
ctia_enrich_lookup_latency_seconds_bucket{le="1"} 4
ctia_enrich_lookup_latency_seconds_bucket{le="2.5"} 4
ctia_enrich_lookup_latency_seconds_bucket{le="5"} 4
ctia_enrich_lookup_latency_seconds_bucket{le="10"} 4
ctia_enrich_lookup_latency_seconds_bucket{le="30"} 4
ctia_enrich_lookup_latency_seconds_bucket{le="60"} 4
ctia_enrich_lookup_latency_seconds_bucket{le="+Inf"} 5
ctia_enrich_lookup_latency_seconds_sum 90.142
ctia_enrich_lookup_latency_seconds_count 5
# HELP ctia_enrich_run_duration_seconds Wall-clock duration of the last run.
# TYPE ctia_enrich_run_duration_seconds gauge
ctia_enrich_run_duration_seconds 40
# HELP ctia_enrich_last_run_timestamp_seconds Unix time at which the last run ended.
# TYPE ctia_enrich_last_run_timestamp_seconds gauge
ctia_enrich_last_run_timestamp_seconds 1767225640
)");
}

TEST(RunStatsTest, PrometheusLabelValuesAreEscaped) {
  schema::FakeClock clock(kStart);
  RunStats stats(clock);
  stats.CountStatus("error:\"odd\\\n", 1);
  EXPECT_THAT(FormatPrometheus(stats.Snapshot()),
              HasSubstr("ctia_enrich_status_total{status=\"error:\\\"odd\\\\\\n\"} 1\n"));
}

TEST(RunStatsTest, JsonRoundTrip) {
  schema::FakeClock clock(kStart);
  RunStats stats(clock);
  FillFixedRun(stats, clock);
  RunStatsSnapshot s = stats.Snapshot();
  std::string json = EncodeRunStatsJson(s);
  EXPECT_THAT(json, HasSubstr("\"started\":\"2026-01-01T00:00:00.000Z\""));
  EXPECT_THAT(json, HasSubstr("\"rows\":1000"));
  EXPECT_THAT(json, HasSubstr("\"rows_per_second\":25.0"));
  EXPECT_THAT(json, HasSubstr("\"error:503\":6"));
  absl::StatusOr<RunStatsSnapshot> back = DecodeRunStatsJson(json);
  ASSERT_TRUE(back.ok()) << back.status();
  EXPECT_EQ(back->counters, s.counters);
  EXPECT_EQ(back->statuses, s.statuses);
  EXPECT_EQ(back->started, s.started);
  EXPECT_EQ(back->now, s.now);
  EXPECT_EQ(back->latency.counts, s.latency.counts);
  EXPECT_EQ(back->latency.count, 5u);
  EXPECT_EQ(back->latency.sum, s.latency.sum);
  EXPECT_EQ(back->latency.min, absl::Milliseconds(2));
  EXPECT_EQ(back->latency.max, absl::Seconds(90));
  EXPECT_EQ(EncodeRunStatsJson(*back), json);
}

// The ETA's curve of lookups needed against the input parsed: a point per quarter more bytes,
// the furthest one last, chunks parsed out of order ignored.
TEST(RunStatsTest, LookupsCurveKeepsAPointPerQuarterMoreBytes) {
  schema::FakeClock clock(kStart);
  RunStats stats(clock);
  EXPECT_TRUE(stats.Snapshot().lookups_curve.empty());
  for (uint64_t chunk = 1; chunk <= 6; ++chunk) {
    stats.Add(RunCounter::kLookupsQueued, 100);
    stats.NoteLookupsAt(chunk * 1000);
  }
  stats.NoteLookupsAt(2500);  // parsed after chunk 6: not further in
  using At = RunStatsSnapshot::LookupsAt;
  const std::vector<At> curve = stats.Snapshot().lookups_curve;
  std::vector<std::pair<uint64_t, uint64_t>> got;
  for (const At& at : curve) got.emplace_back(at.bytes, at.lookups);
  EXPECT_EQ(got, (std::vector<std::pair<uint64_t, uint64_t>>{
                     {1000, 100}, {2000, 200}, {3000, 300}, {4000, 400}, {5000, 500}, {6000, 600}}));
  stats.Add(RunCounter::kLookupsQueued, 10);
  stats.NoteLookupsAt(6200);  // less than a quarter past 5000, but the furthest: last
  ASSERT_EQ(stats.Snapshot().lookups_curve.size(), 6u);
  EXPECT_EQ(stats.Snapshot().lookups_curve.back().bytes, 6200u);
  EXPECT_EQ(stats.Snapshot().lookups_curve.back().lookups, 610u);
}

TEST(RunStatsTest, LookupPhaseRunsFromFirstSendToLastSettlement) {
  schema::FakeClock clock(kStart);
  RunStats stats(clock);
  EXPECT_EQ(stats.Snapshot().lookup_phase, absl::ZeroDuration());
  clock.Advance(absl::Seconds(5));  // reading before the first miss
  stats.Add(RunCounter::kLookupsSent, 1);
  clock.Advance(absl::Seconds(1));
  stats.Add(RunCounter::kLookupsSent, 1);
  stats.Add(RunCounter::kLookupsSettled, 1);
  clock.Advance(absl::Seconds(3));
  stats.Add(RunCounter::kLookupsSettled, 1);
  clock.Advance(absl::Seconds(10));  // cache hits after the last lookup
  RunStatsSnapshot s = stats.Snapshot();
  EXPECT_EQ(s.lookup_phase, absl::Seconds(4));
  EXPECT_DOUBLE_EQ(s.lookup_phase_lookups_per_second(), 0.5);
  EXPECT_DOUBLE_EQ(s.lookups_per_second(), 2.0 / 19);
  const std::string json = EncodeRunStatsJson(s);
  EXPECT_THAT(json, HasSubstr("\"lookup_phase_seconds\":4.0"));
  EXPECT_THAT(FormatRunSummary(s), HasSubstr("lookup phase:       4.00 s (0.5 lookups/s)\n"));
  absl::StatusOr<RunStatsSnapshot> back = DecodeRunStatsJson(json);
  ASSERT_TRUE(back.ok()) << back.status();
  EXPECT_EQ(back->lookup_phase, absl::Seconds(4));
}

TEST(RunStatsTest, BadJsonIsAnError) {
  EXPECT_FALSE(DecodeRunStatsJson("").ok());
  EXPECT_FALSE(DecodeRunStatsJson("[]").ok());
  EXPECT_FALSE(DecodeRunStatsJson("{\"started\":\"2026-01-01T00:00:00Z\"}").ok());
}

TEST(RunStatsTest, SummaryTextHasRatesAndPercentiles) {
  schema::FakeClock clock(kStart);
  RunStats stats(clock);
  FillFixedRun(stats, clock);
  RunStatsSnapshot s = stats.Snapshot();
  EXPECT_DOUBLE_EQ(s.seconds(), 40);
  EXPECT_DOUBLE_EQ(s.rows_per_second(), 25);
  EXPECT_DOUBLE_EQ(s.lookups_per_second(), 2.25);
  EXPECT_DOUBLE_EQ(s.unique_ratio(), 0.1);
  std::string text = FormatRunSummary(s);
  EXPECT_THAT(text, HasSubstr("rows:               1000 read, 1000 written\n"));
  EXPECT_THAT(text, Not(HasSubstr("blank lines")));  // none: no line for them
  EXPECT_THAT(text, HasSubstr("unique observables: 100 (10.0% of rows)\n"));
  EXPECT_THAT(text, HasSubstr("lookups:            90 sent, 90 settled\n"));
  EXPECT_THAT(text, HasSubstr("cache hits:         10\n"));
  EXPECT_THAT(text, HasSubstr("retries:            3 (2 rate-limited), 1 token refreshes, 0 hedged\n"));
  EXPECT_THAT(text, HasSubstr("  error:503: 6\n"));
  EXPECT_THAT(text, HasSubstr("  ok: 700\n"));
  EXPECT_THAT(text, HasSubstr("seconds:            40.00 (25 rows/s, 2.2 lookups/s)\n"));
  EXPECT_THAT(text, HasSubstr("lookup latency:     p50 20.0 ms, p90 90000.0 ms"));
  stats.Add(RunCounter::kBlankLines, 3);
  EXPECT_THAT(FormatRunSummary(stats.Snapshot()),
              HasSubstr("rows:               1000 read, 1000 written\n"
                        "blank lines:        3 (NDJSON lines that are not rows; no status)\n"));
  EXPECT_THAT(EncodeRunStatsJson(stats.Snapshot()), HasSubstr("\"blank_lines\":3,"));
}

TEST(RunStatsTest, EmptyRunHasZeroRates) {
  schema::FakeClock clock(kStart);
  RunStats stats(clock);
  RunStatsSnapshot s = stats.Snapshot();
  EXPECT_EQ(s.rows_per_second(), 0);
  EXPECT_EQ(s.unique_ratio(), 0);
  EXPECT_EQ(s.latency.Percentile(0.5), absl::ZeroDuration());
  EXPECT_EQ(s.statuses.size(), 5u);
  EXPECT_THAT(FormatRunSummary(s), HasSubstr("p50 0.0 ms"));
}

TEST(RunStatsTest, CountsFromManyThreads) {
  schema::FakeClock clock(kStart);
  RunStats stats(clock);
  std::vector<std::thread> threads;
  for (int t = 0; t < 8; ++t) {
    threads.emplace_back([&stats, t] {
      for (int i = 0; i < 10000; ++i) {
        stats.Add(RunCounter::kRowsRead);
        stats.CountStatus(i % 2 == 0 ? "ok" : (t % 2 == 0 ? "error:500" : "error:429"));
        stats.RecordLatency(absl::Microseconds(i));
      }
    });
  }
  for (auto& th : threads) th.join();
  RunStatsSnapshot s = stats.Snapshot();
  EXPECT_EQ(s.counter(RunCounter::kRowsRead), 80000u);
  EXPECT_EQ(s.statuses["ok"], 40000u);
  EXPECT_EQ(s.statuses["error:500"], 20000u);
  EXPECT_EQ(s.statuses["error:429"], 20000u);
  EXPECT_EQ(s.latency.count, 80000u);
  EXPECT_EQ(s.latency.max, absl::Microseconds(9999));
  EXPECT_EQ(s.latency.min, absl::ZeroDuration());
}

TEST(RunStatsTest, FilesAreWrittenWhole) {
  enrich::testing::TempDir dir;
  schema::FakeClock clock(kStart);
  RunStats stats(clock);
  FillFixedRun(stats, clock);
  RunStatsSnapshot s = stats.Snapshot();
  ASSERT_TRUE(WritePrometheusFile(dir.File("ctia_enrich.prom"), s).ok());
  ASSERT_TRUE(WriteRunStatsJson(dir.File("summary.json"), s).ok());
  EXPECT_EQ(enrich::testing::ReadFileBytes(dir.File("ctia_enrich.prom")), FormatPrometheus(s));
  EXPECT_EQ(enrich::testing::ReadFileBytes(dir.File("summary.json")), EncodeRunStatsJson(s) + "\n");
  EXPECT_EQ(dir.List(), (std::set<std::string>{"ctia_enrich.prom", "summary.json"}));
  absl::Status missing = WritePrometheusFile(dir.File("nope/x.prom"), s);
  EXPECT_THAT(missing.message(), HasSubstr("nope/x.prom"));
}

}  // namespace
}  // namespace enrich::engine
