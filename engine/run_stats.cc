#include "engine/run_stats.h"

#include "engine/byte_io.h"
#include "schema/disposition.h"
#include "schema/status_macros.h"
#include "schema/time_format.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <limits>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "rapidjson/document.h"
#include "rapidjson/stringbuffer.h"
#include "rapidjson/writer.h"

namespace enrich::engine {
namespace {

constexpr absl::string_view kFixedStatusNames[] = {"ok", "no_verdict", "invalid", "skipped",
                                                   "invalid_row"};

// Names of the counters in the JSON summary and in Prometheus, with the HELP text.
struct CounterInfo {
  RunCounter counter;
  const char* json;
  const char* metric;  // without the ctia_enrich_ prefix
  const char* help;
};
constexpr CounterInfo kCounters[kExportedRunCounterCount] = {
    {RunCounter::kRowsRead, "rows", "rows_total", "Data rows read by the last run."},
    {RunCounter::kRowsWritten, "rows_written", "rows_written_total",
     "Data rows written by the last run."},
    {RunCounter::kBytesRead, "bytes_read", "input_bytes_total",
     "Raw input bytes read by the last run."},
    {RunCounter::kUniqueObservables, "unique_observables", "unique_observables",
     "Distinct observables in the last run's input."},
    {RunCounter::kCacheHits, "cache_hits", "cache_hits_total",
     "Unique observables answered without a lookup (journal or cache)."},
    {RunCounter::kLookupsSent, "lookups", "lookups_total",
     "Verdict lookups sent to CTIA by the last run."},
    {RunCounter::kLookupsSettled, "lookups_settled", "lookups_settled_total",
     "Verdict lookups answered (verdict, no verdict or error)."},
    {RunCounter::kRetries, "retries", "retries_total", "HTTP requests retried by the transport."},
    {RunCounter::kRateLimited, "rate_limited", "rate_limited_total", "HTTP 429 answers received."},
    {RunCounter::kTokenRefreshes, "token_refreshes", "token_refreshes_total",
     "OAuth2 token refreshes."},
    {RunCounter::kBlankLines, "blank_lines", "blank_lines_total",
     "NDJSON blank lines of the last run (not rows; no status)."},
    {RunCounter::kHedges, "hedges", "hedges_total",
     "Lookups resent on another connection after a late answer."},
};

// Prometheus `le` values exported; each is one of transport::LatencyBucketBounds().
// In milliseconds: 0.001 s, 0.0025 s, ..., 60 s.
constexpr double kExportedLeMs[] = {1,   2.5,  5,    10,   25,    50,    100,  250,
                                    500, 1000, 2500, 5000, 10000, 30000, 60000};

// Numbers as Prometheus and people read them: integers without a fraction, others with up to
// 15 significant digits.
std::string Num(double v) { return absl::StrFormat("%.15g", v); }

std::string EscapeLabel(absl::string_view v) {
  std::string out;
  for (char c : v) {
    if (c == '\\' || c == '"') {
      out.push_back('\\');
      out.push_back(c);
    } else if (c == '\n') {
      out += "\\n";
    } else {
      out.push_back(c);
    }
  }
  return out;
}

double PerSecond(uint64_t n, double seconds) {
  return seconds > 0 ? static_cast<double>(n) / seconds : 0.0;
}

double Ms(absl::Duration d) { return absl::ToDoubleMilliseconds(d); }

}  // namespace

double RunStatsSnapshot::seconds() const {
  return std::max(0.0, absl::ToDoubleSeconds(now - started));
}
double RunStatsSnapshot::rows_per_second() const {
  return PerSecond(counter(RunCounter::kRowsRead), seconds());
}
double RunStatsSnapshot::lookups_per_second() const {
  return PerSecond(counter(RunCounter::kLookupsSettled), seconds());
}
double RunStatsSnapshot::lookup_phase_lookups_per_second() const {
  return PerSecond(counter(RunCounter::kLookupsSettled), absl::ToDoubleSeconds(lookup_phase));
}
double RunStatsSnapshot::unique_ratio() const {
  const uint64_t rows = counter(RunCounter::kRowsRead);
  return rows == 0 ? 0.0
                   : static_cast<double>(counter(RunCounter::kUniqueObservables)) /
                         static_cast<double>(rows);
}

RunStats::RunStats(const schema::Clock& clock) : clock_(clock), started_(clock.Now()) {}

void RunStats::Add(RunCounter c, uint64_t n) {
  counters_[static_cast<size_t>(c)].fetch_add(n, std::memory_order_relaxed);
  if (c == RunCounter::kLookupsSent) {
    int64_t none = INT64_MAX;
    if (first_sent_ns_.load(std::memory_order_relaxed) == none) {
      first_sent_ns_.compare_exchange_strong(none, absl::ToUnixNanos(clock_.Now()),
                                             std::memory_order_relaxed);
    }
  } else if (c == RunCounter::kLookupsSettled) {
    const int64_t t = absl::ToUnixNanos(clock_.Now());
    int64_t last = last_settled_ns_.load(std::memory_order_relaxed);
    while (last < t &&
           !last_settled_ns_.compare_exchange_weak(last, t, std::memory_order_relaxed)) {
    }
  }
}

void RunStats::NoteLookupsAt(uint64_t bytes) {
  const uint64_t lookups =
      counters_[static_cast<size_t>(RunCounter::kLookupsQueued)].load(std::memory_order_relaxed);
  absl::MutexLock lock(&mu_);
  if (bytes <= furthest_.bytes) return;  // chunks parsed out of order: the later one counts
  furthest_ = {bytes, lookups};
  if (lookups_curve_.empty() || bytes * 4 >= lookups_curve_.back().bytes * 5) {
    lookups_curve_.push_back(furthest_);
  }
}

void RunStats::CountHits(absl::Span<const HitCount> counts) {
  absl::MutexLock lock(&mu_);
  hits_.Add(counts);
}

std::vector<TopHit> RunStats::TopHits(size_t per_disposition) const {
  absl::MutexLock lock(&mu_);
  return hits_.Top(per_disposition);
}

void RunStats::Set(RunCounter c, uint64_t value) {
  counters_[static_cast<size_t>(c)].store(value, std::memory_order_relaxed);
}

void RunStats::CountStatus(absl::string_view status, uint64_t n) {
  for (size_t i = 0; i < kFixedStatuses; ++i) {
    if (status == kFixedStatusNames[i]) {
      fixed_statuses_[i].fetch_add(n, std::memory_order_relaxed);
      return;
    }
  }
  absl::MutexLock lock(&mu_);
  other_statuses_[std::string(status)] += n;
}

void RunStats::CountDisposition(int disposition, uint64_t n) {
  const size_t d = disposition >= 1 && disposition <= 5 ? static_cast<size_t>(disposition) : 0;
  dispositions_[d].fetch_add(n, std::memory_order_relaxed);
}

void RunStats::RecordLatency(absl::Duration latency) { latency_.Record(latency); }

void RunStats::RecordLatencies(absl::Span<const absl::Duration> latencies) {
  latency_.RecordAll(latencies);
}

void RunStats::SetTransportCounters(const transport::CtiaClientCounters& counters) {
  Set(RunCounter::kRetries, counters.retries);
  Set(RunCounter::kRateLimited, counters.rate_limited);
  Set(RunCounter::kHedges, counters.hedges);
  Set(RunCounter::kRequests, counters.requests);
}

RunStatsSnapshot RunStats::Snapshot() const {
  RunStatsSnapshot s;
  s.started = started_;
  s.now = clock_.Now();
  for (size_t i = 0; i < kRunCounterCount; ++i) {
    s.counters[i] = counters_[i].load(std::memory_order_relaxed);
  }
  for (size_t i = 0; i < kFixedStatuses; ++i) {
    s.statuses[std::string(kFixedStatusNames[i])] =
        fixed_statuses_[i].load(std::memory_order_relaxed);
  }
  {
    absl::MutexLock lock(&mu_);
    for (const auto& [status, n] : other_statuses_) s.statuses[status] += n;
    s.lookups_curve = lookups_curve_;
    if (!lookups_curve_.empty() && furthest_.bytes != lookups_curve_.back().bytes) {
      s.lookups_curve.push_back(furthest_);
    }
  }
  s.latency = latency_.Snapshot();
  for (size_t d = 0; d < dispositions_.size(); ++d) {
    s.dispositions[d] = dispositions_[d].load(std::memory_order_relaxed);
  }
  const int64_t first = first_sent_ns_.load(std::memory_order_relaxed);
  const int64_t last = last_settled_ns_.load(std::memory_order_relaxed);
  if (first != INT64_MAX && last > first) s.lookup_phase = absl::Nanoseconds(last - first);
  return s;
}

namespace {
bool HasPersistentCache(const RunStatsSnapshot& s) {
  return s.counter(RunCounter::kCacheStoreHits) + s.counter(RunCounter::kCacheStoreMisses) +
             s.counter(RunCounter::kCacheStoreWrites) >
         0;
}
// "persistent cache:   H hits, M misses, W written\n" for a run with --cache, else "".
std::string PersistentCacheLine(const RunStatsSnapshot& s) {
  if (!HasPersistentCache(s)) return "";
  return absl::StrCat("persistent cache:   ", s.counter(RunCounter::kCacheStoreHits), " hits, ",
                      s.counter(RunCounter::kCacheStoreMisses), " misses, ",
                      s.counter(RunCounter::kCacheStoreWrites), " written\n");
}
}  // namespace

std::string FormatRunSummary(const RunStatsSnapshot& s) {
  auto c = [&s](RunCounter k) { return s.counter(k); };
  std::string out = absl::StrCat("rows:               ", c(RunCounter::kRowsRead), " read, ",
                                 c(RunCounter::kRowsWritten), " written\n");
  if (c(RunCounter::kBlankLines) > 0) {
    absl::StrAppend(&out, "blank lines:        ", c(RunCounter::kBlankLines),
                    " (NDJSON lines that are not rows; no status)\n");
  }
  absl::StrAppend(&out, "unique observables: ", c(RunCounter::kUniqueObservables),
                  absl::StrFormat(" (%.1f%% of rows)\n", 100 * s.unique_ratio()),
                  "lookups:            ", c(RunCounter::kLookupsSent), " sent, ",
                  c(RunCounter::kLookupsSettled), " settled\n",
                  "cache hits:         ", c(RunCounter::kCacheHits), "\n",
                  PersistentCacheLine(s),
                  "retries:            ", c(RunCounter::kRetries), " (",
                  c(RunCounter::kRateLimited), " rate-limited), ", c(RunCounter::kTokenRefreshes),
                  " token refreshes, ", c(RunCounter::kHedges), " hedged\n", "statuses:\n");
  for (const auto& [status, count] : s.statuses) {
    absl::StrAppend(&out, "  ", status, ": ", count, "\n");
  }
  absl::StrAppend(&out,
                  absl::StrFormat("seconds:            %.2f (%.0f rows/s, %.1f lookups/s)\n",
                                  s.seconds(), s.rows_per_second(), s.lookups_per_second()),
                  absl::StrFormat("lookup latency:     p50 %.1f ms, p90 %.1f ms, p99 %.1f ms\n",
                                  Ms(s.latency.Percentile(0.5)), Ms(s.latency.Percentile(0.9)),
                                  Ms(s.latency.Percentile(0.99))));
  if (s.lookup_phase > absl::ZeroDuration()) {
    absl::StrAppend(&out, absl::StrFormat("lookup phase:       %.2f s (%.1f lookups/s)\n",
                                          absl::ToDoubleSeconds(s.lookup_phase),
                                          s.lookup_phase_lookups_per_second()));
  }
  out.append(FormatTopHits(s.top_hits));
  return out;
}

std::string EncodeRunStatsJson(const RunStatsSnapshot& s) {
  rapidjson::StringBuffer buf;
  rapidjson::Writer<rapidjson::StringBuffer> w(buf);
  w.StartObject();
  w.Key("started");
  w.String(schema::FormatIsoTime(s.started));
  w.Key("finished");
  w.String(schema::FormatIsoTime(s.now));
  w.Key("seconds");
  w.Double(s.seconds());
  for (const CounterInfo& info : kCounters) {
    w.Key(info.json);
    w.Uint64(s.counter(info.counter));
  }
  w.Key("rows_per_second");
  w.Double(s.rows_per_second());
  w.Key("lookups_per_second");
  w.Double(s.lookups_per_second());
  w.Key("lookup_phase_seconds");
  w.Double(absl::ToDoubleSeconds(s.lookup_phase));
  w.Key("lookup_phase_lookups_per_second");
  w.Double(s.lookup_phase_lookups_per_second());
  w.Key("unique_ratio");
  w.Double(s.unique_ratio());
  w.Key("statuses");
  w.StartObject();
  for (const auto& [status, n] : s.statuses) {
    w.Key(status.data(), static_cast<rapidjson::SizeType>(status.size()));
    w.Uint64(n);
  }
  w.EndObject();
  const transport::LatencySnapshot& l = s.latency;
  w.Key("lookup_latency");
  w.StartObject();
  w.Key("count");
  w.Uint64(l.count);
  w.Key("sum_ns");
  w.Int64(absl::ToInt64Nanoseconds(l.sum));
  w.Key("min_ns");
  w.Int64(absl::ToInt64Nanoseconds(l.min));
  w.Key("max_ns");
  w.Int64(absl::ToInt64Nanoseconds(l.max));
  for (auto [key, q] :
       {std::pair{"p50_seconds", 0.5}, {"p90_seconds", 0.9}, {"p99_seconds", 0.99}}) {
    w.Key(key);
    w.Double(absl::ToDoubleSeconds(l.Percentile(q)));
  }
  // Non-empty buckets as [upper edge in ns (-1: unbounded), count].
  w.Key("buckets");
  w.StartArray();
  const auto& bounds = transport::LatencyBucketBounds();
  for (size_t b = 0; b < l.counts.size(); ++b) {
    if (l.counts[b] == 0) continue;
    w.StartArray();
    w.Int64(b < bounds.size() ? absl::ToInt64Nanoseconds(bounds[b]) : -1);
    w.Uint64(l.counts[b]);
    w.EndArray();
  }
  w.EndArray();
  w.EndObject();
  w.Key("requests");
  w.Uint64(s.counter(RunCounter::kRequests));
  if (HasPersistentCache(s)) {
    w.Key("persistent_cache");
    w.StartObject();
    for (auto [key, counter] : {std::pair{"hits", RunCounter::kCacheStoreHits},
                                {"misses", RunCounter::kCacheStoreMisses},
                                {"writes", RunCounter::kCacheStoreWrites}}) {
      w.Key(key);
      w.Uint64(s.counter(counter));
    }
    w.EndObject();
  }
  w.Key("top_hits");
  w.StartArray();
  for (const TopHit& h : s.top_hits) {
    w.StartObject();
    w.Key("observable");
    w.String(h.value.data(), static_cast<rapidjson::SizeType>(h.value.size()));
    w.Key("type");
    w.String(h.type.data(), static_cast<rapidjson::SizeType>(h.type.size()));
    w.Key("disposition");
    const auto d = schema::DispositionFromNumber(h.disposition);
    const absl::string_view name = d.has_value() ? schema::DispositionName(*d) : "Unknown";
    w.String(name.data(), static_cast<rapidjson::SizeType>(name.size()));
    w.Key("rows");
    w.Uint64(h.rows);
    w.Key("source");
    w.String(h.source.data(), static_cast<rapidjson::SizeType>(h.source.size()));
    w.EndObject();
  }
  w.EndArray();
  w.EndObject();
  return std::string(buf.GetString(), buf.GetSize());
}

absl::StatusOr<RunStatsSnapshot> DecodeRunStatsJson(absl::string_view json) {
  rapidjson::Document doc;
  doc.Parse(json.data(), json.size());
  auto bad = [](absl::string_view what) {
    return absl::InvalidArgumentError(absl::StrCat("run stats JSON: ", what));
  };
  if (doc.HasParseError() || !doc.IsObject()) return bad("not a JSON object");
  RunStatsSnapshot s;
  for (auto [key, time] : {std::pair{"started", &s.started}, {"finished", &s.now}}) {
    if (!doc.HasMember(key) || !doc[key].IsString()) return bad(absl::StrCat("no ", key));
    ENRICH_ASSIGN_OR_RETURN(*time, schema::ParseIsoTime(doc[key].GetString()));
  }
  for (const CounterInfo& info : kCounters) {
    if (!doc.HasMember(info.json) || !doc[info.json].IsUint64()) {
      return bad(absl::StrCat("no ", info.json));
    }
    s.counters[static_cast<size_t>(info.counter)] = doc[info.json].GetUint64();
  }
  if (doc.HasMember("lookup_phase_seconds") && doc["lookup_phase_seconds"].IsNumber()) {
    s.lookup_phase = absl::Seconds(doc["lookup_phase_seconds"].GetDouble());
  }
  if (!doc.HasMember("statuses") || !doc["statuses"].IsObject()) return bad("no statuses");
  for (const auto& m : doc["statuses"].GetObject()) {
    if (!m.value.IsUint64()) return bad("status count is not a number");
    s.statuses[m.name.GetString()] = m.value.GetUint64();
  }
  if (!doc.HasMember("lookup_latency") || !doc["lookup_latency"].IsObject()) {
    return bad("no lookup_latency");
  }
  const auto& l = doc["lookup_latency"];
  for (auto [key, d] : {std::pair{"sum_ns", &s.latency.sum},
                        {"min_ns", &s.latency.min},
                        {"max_ns", &s.latency.max}}) {
    if (!l.HasMember(key) || !l[key].IsInt64()) return bad(absl::StrCat("no latency ", key));
    *d = absl::Nanoseconds(l[key].GetInt64());
  }
  if (!l.HasMember("buckets") || !l["buckets"].IsArray()) return bad("no latency buckets");
  const auto& bounds = transport::LatencyBucketBounds();
  s.latency.counts.assign(bounds.size() + 1, 0);
  for (const auto& bucket : l["buckets"].GetArray()) {
    if (!bucket.IsArray() || bucket.Size() != 2 || !bucket[0].IsInt64() || !bucket[1].IsUint64()) {
      return bad("latency bucket is not [edge, count]");
    }
    const int64_t edge = bucket[0].GetInt64();
    size_t b = bounds.size();
    if (edge >= 0) {
      auto it = std::lower_bound(bounds.begin(), bounds.end(), absl::Nanoseconds(edge));
      if (it == bounds.end() || *it != absl::Nanoseconds(edge)) {
        return bad(absl::StrCat("unknown latency bucket edge ", edge));
      }
      b = static_cast<size_t>(it - bounds.begin());
    }
    s.latency.counts[b] = bucket[1].GetUint64();
    s.latency.count += bucket[1].GetUint64();
  }
  if (doc.HasMember("requests") && doc["requests"].IsUint64()) {
    s.counters[static_cast<size_t>(RunCounter::kRequests)] = doc["requests"].GetUint64();
  }
  if (doc.HasMember("persistent_cache") && doc["persistent_cache"].IsObject()) {
    const auto& pc = doc["persistent_cache"];
    for (auto [key, counter] : {std::pair{"hits", RunCounter::kCacheStoreHits},
                                {"misses", RunCounter::kCacheStoreMisses},
                                {"writes", RunCounter::kCacheStoreWrites}}) {
      if (pc.HasMember(key) && pc[key].IsUint64()) {
        s.counters[static_cast<size_t>(counter)] = pc[key].GetUint64();
      }
    }
  }
  if (doc.HasMember("top_hits") && doc["top_hits"].IsArray()) {
    for (const auto& h : doc["top_hits"].GetArray()) {
      if (!h.IsObject() || !h.HasMember("observable") || !h["observable"].IsString() ||
          !h.HasMember("type") || !h["type"].IsString() || !h.HasMember("disposition") ||
          !h["disposition"].IsString() || !h.HasMember("rows") || !h["rows"].IsUint64()) {
        return bad("top_hits entry is not {observable, type, disposition, rows, source}");
      }
      const auto d = schema::DispositionFromName(h["disposition"].GetString());
      s.top_hits.push_back(TopHit{h["type"].GetString(), h["observable"].GetString(),
                                  d.has_value() ? static_cast<int>(*d) : 0,
                                  h["rows"].GetUint64(),
                                  h.HasMember("source") && h["source"].IsString()
                                      ? h["source"].GetString()
                                      : ""});
    }
  }
  return s;
}

std::string FormatPrometheus(const RunStatsSnapshot& s) {
  std::string out;
  auto header = [&out](absl::string_view name, absl::string_view type, absl::string_view help) {
    absl::StrAppend(&out, "# HELP ctia_enrich_", name, " ", help, "\n# TYPE ctia_enrich_", name,
                    " ", type, "\n");
  };
  for (const CounterInfo& info : kCounters) {
    const bool gauge = info.counter == RunCounter::kUniqueObservables;
    header(info.metric, gauge ? "gauge" : "counter", info.help);
    absl::StrAppend(&out, "ctia_enrich_", info.metric, " ", s.counter(info.counter), "\n");
  }
  header("status_total", "counter", "Rows of the last run by status.");
  for (const auto& [status, n] : s.statuses) {
    absl::StrAppend(&out, "ctia_enrich_status_total{status=\"", EscapeLabel(status), "\"} ", n,
                    "\n");
  }
  header("lookup_latency_seconds", "histogram", "Verdict lookup latency.");
  for (double le_ms : kExportedLeMs) {
    absl::StrAppend(&out, "ctia_enrich_lookup_latency_seconds_bucket{le=\"", Num(le_ms / 1000),
                    "\"} ", s.latency.CountAtOrBelow(absl::Microseconds(le_ms * 1000)), "\n");
  }
  absl::StrAppend(&out, "ctia_enrich_lookup_latency_seconds_bucket{le=\"+Inf\"} ", s.latency.count,
                  "\n", "ctia_enrich_lookup_latency_seconds_sum ",
                  Num(absl::ToDoubleSeconds(s.latency.sum)), "\n",
                  "ctia_enrich_lookup_latency_seconds_count ", s.latency.count, "\n");
  header("run_duration_seconds", "gauge", "Wall-clock duration of the last run.");
  absl::StrAppend(&out, "ctia_enrich_run_duration_seconds ", Num(s.seconds()), "\n");
  header("last_run_timestamp_seconds", "gauge", "Unix time at which the last run ended.");
  absl::StrAppend(&out, "ctia_enrich_last_run_timestamp_seconds ",
                  Num(absl::ToDoubleSeconds(s.now - absl::UnixEpoch())), "\n");
  return out;
}

absl::Status WriteRunStatsJson(const std::string& path, const RunStatsSnapshot& s) {
  return WriteFileAtomically(path, EncodeRunStatsJson(s) + "\n");
}

absl::Status WritePrometheusFile(const std::string& path, const RunStatsSnapshot& s) {
  return WriteFileAtomically(path, FormatPrometheus(s));
}

}  // namespace enrich::engine
