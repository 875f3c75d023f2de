// The ledger of a run: every counter, status count and lookup latency the pipeline and the
// transport record while it runs (RunStats), read by the progress line and written at the end
// as the text summary, the JSON summary and the Prometheus file.

#ifndef ENRICH_ENGINE_RUN_STATS_H_
#define ENRICH_ENGINE_RUN_STATS_H_

#include "engine/top_hits.h"
#include "schema/clock.h"
#include "transport/client_counters.h"
#include "transport/latency_histogram.h"

#include <array>
#include <atomic>
#include <cstddef>
#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "absl/types/span.h"

namespace enrich::engine {

// The counters of a run.
enum class RunCounter : int {
  kRowsRead = 0,       // data rows read
  kRowsWritten,        // data rows written
  kBytesRead,          // raw input bytes read (compressed bytes for a compressed input)
  kUniqueObservables,  // distinct observables after normalization
  kCacheHits,          // unique observables answered without a lookup (journal, cache)
  kLookupsSent,        // verdict lookups asked of the transport
  kLookupsSettled,     // of those, answered (verdict, no verdict or error)
  kRetries,            // transport retries (fed from the transport)
  kRateLimited,        // 429 answers (fed from the transport)
  kTokenRefreshes,     // OAuth2 token refreshes (fed from the transport)
  kBlankLines,         // NDJSON blank lines (passed through; not rows)
  kHedges,             // lookups resent on another connection after a late answer (transport)
  // The counters below are kept for callers and tests, not written to the JSON summary or the
  // Prometheus file (their formats stay as they were).
  kCells,         // observable fields examined (data rows × observable columns)
  kJoined,        // resolves that joined a lookup already in flight
  kInputBytes,    // decoded input bytes (kBytesRead counts raw, maybe compressed, bytes)
  kLookupsQueued,  // lookups the run has found it needs: queued for the source, sent or not
  kRequests,       // HTTP requests sent (fed from the transport; the JSON summary's `requests`)
  kAllowlisted,    // observable fields skipped because the allowlist holds them (status skipped)
  // --cache DIR (the JSON summary's `persistent_cache`, written when the run has a cache):
  kCacheStoreHits,    // table misses answered by the persistent cache
  kCacheStoreMisses,  // table misses the persistent cache did not answer
  kCacheStoreWrites,  // settled lookups written to it
};
inline constexpr size_t kRunCounterCount = 21;
// Counters kRowsRead .. kHedges: those of the JSON summary and the Prometheus file.
inline constexpr size_t kExportedRunCounterCount = 12;

// Everything a run counted, at one moment; what the writers below format.
struct RunStatsSnapshot {
  std::array<uint64_t, kRunCounterCount> counters{};
  // Rows per `status` value: the five fixed ones always present, `error:<code>` as seen.
  std::map<std::string, uint64_t> statuses;
  transport::LatencySnapshot latency;
  absl::Time started;
  absl::Time now;  // when the snapshot was taken (the run's end for a final summary)
  // From the first lookup sent to the last one settled so far; zero without lookups.
  absl::Duration lookup_phase;
  // Status cells with a verdict per disposition number (1 Clean .. 5 Unknown; 0: outside 1..5).
  std::array<uint64_t, 6> dispositions{};
  // How the lookups needed grew with the input parsed (RunStats::NoteLookupsAt): (decoded bytes
  // up to a chunk's end, lookups queued then), a point each time the bytes grew by a quarter,
  // and last the furthest point noted.
  struct LookupsAt {
    uint64_t bytes;
    uint64_t lookups;
  };
  std::vector<LookupsAt> lookups_curve;
  // The observables with the most hit rows per hit disposition (RunStats::TopHits); filled for
  // the summaries at the run's end only (Snapshot() leaves it empty).
  std::vector<TopHit> top_hits;

  uint64_t counter(RunCounter c) const { return counters[static_cast<size_t>(c)]; }
  double seconds() const;
  double rows_per_second() const;     // rows read / seconds; 0 for a zero-length run
  double lookups_per_second() const;  // lookups settled / seconds
  // Lookups settled / lookup_phase: the lookup rate while lookups were being made.
  double lookup_phase_lookups_per_second() const;
  double unique_ratio() const;        // unique observables / rows read; 0 without rows
};

// Thread-safe counters of one run, timed by an injected clock. Add/CountStatus/RecordLatency
// are cheap (atomics; a mutex only for `error:*` statuses, which are rare).
class RunStats {
 public:
  // The run starts now (clock.Now()). `clock` must outlive this object.
  explicit RunStats(const schema::Clock& clock);

  // Adding to kLookupsSent / kLookupsSettled also notes the time: the lookup phase runs from the
  // first lookup sent to the last one settled.
  void Add(RunCounter c, uint64_t n = 1);
  // For totals kept elsewhere (the transport's cumulative counters).
  void Set(RunCounter c, uint64_t value);
  // Counts `n` rows with `status` ("ok", "no_verdict", "invalid", "skipped", "invalid_row",
  // "error:<code>"; anything else is counted under its own name too).
  void CountStatus(absl::string_view status, uint64_t n = 1);
  // Counts `n` status cells whose verdict has disposition number `disposition` (1..5; anything
  // else is counted as 0).
  void CountDisposition(int disposition, uint64_t n = 1);
  void RecordLatency(absl::Duration latency);
  void RecordLatencies(absl::Span<const absl::Duration> latencies);
  // Takes retries, 429s and hedged resends from the transport's counters (cumulative).
  void SetTransportCounters(const transport::CtiaClientCounters& counters);
  // Notes, after a chunk's parse, the decoded input bytes up to its end and kLookupsQueued then:
  // the ETA fits how the distinct values grow with the input (progress.h) from these points,
  // which, unlike its own samples, show that growth within the burst of chunks the pipeline
  // reads at its start. Keeps a few dozen points at most.
  void NoteLookupsAt(uint64_t bytes);
  // Adds a chunk's hit rows per observable (the pipeline's serial write stage: one lock per
  // chunk).
  void CountHits(absl::Span<const HitCount> counts);
  // HitCounter::Top of the hits counted so far.
  std::vector<TopHit> TopHits(size_t per_disposition) const;

  RunStatsSnapshot Snapshot() const;

 private:
  static constexpr size_t kFixedStatuses = 5;
  const schema::Clock& clock_;
  const absl::Time started_;
  std::array<std::atomic<uint64_t>, kRunCounterCount> counters_{};
  std::array<std::atomic<uint64_t>, kFixedStatuses> fixed_statuses_{};
  mutable absl::Mutex mu_;
  std::map<std::string, uint64_t> other_statuses_ ABSL_GUARDED_BY(mu_);
  transport::LatencyHistogram latency_;  // of the lookups settled
  std::array<std::atomic<uint64_t>, 6> dispositions_{};
  std::atomic<int64_t> first_sent_ns_{INT64_MAX};  // Unix ns; INT64_MAX = none yet
  std::atomic<int64_t> last_settled_ns_{INT64_MIN};
  std::vector<RunStatsSnapshot::LookupsAt> lookups_curve_ ABSL_GUARDED_BY(mu_);
  RunStatsSnapshot::LookupsAt furthest_ ABSL_GUARDED_BY(mu_) = {0, 0};
  HitCounter hits_ ABSL_GUARDED_BY(mu_);
};

// Multi-line human summary: rows, unique observables (and their ratio to rows), lookups, cache
// hits, retries and 429s, statuses, seconds, rows/s, lookups/s, latency p50/p90/p99, and the
// top hits when there are (FormatTopHits).
std::string FormatRunSummary(const RunStatsSnapshot& s);

// JSON summary (an object; times as ISO-8601 UTC with milliseconds, latency in seconds with
// the non-empty buckets), and back. Keeps the keys of the first CLI's summary (`rows`,
// `unique_observables`, `lookups`, `statuses`, `seconds`) so existing consumers go on working.
// Also `requests` (HTTP requests) and `top_hits`: an array of {"observable", "type",
// "disposition" (name), "rows", "source"}.
std::string EncodeRunStatsJson(const RunStatsSnapshot& s);
absl::StatusOr<RunStatsSnapshot> DecodeRunStatsJson(absl::string_view json);

// Prometheus text exposition format (version 0.0.4) for node_exporter's textfile collector:
// `ctia_enrich_*` counters, `ctia_enrich_status_total{status="..."}`, the histogram
// `ctia_enrich_lookup_latency_seconds` (`_bucket{le=...}`, `_sum`, `_count`), gauges
// `ctia_enrich_run_duration_seconds` and `ctia_enrich_last_run_timestamp_seconds`; each with
// HELP and TYPE lines.
std::string FormatPrometheus(const RunStatsSnapshot& s);

// Write the JSON / Prometheus text to `path` atomically (temp file + fsync + rename), so
// node_exporter never reads half a file. Errors name the path.
absl::Status WriteRunStatsJson(const std::string& path, const RunStatsSnapshot& s);
absl::Status WritePrometheusFile(const std::string& path, const RunStatsSnapshot& s);

}  // namespace enrich::engine

#endif  // ENRICH_ENGINE_RUN_STATS_H_
