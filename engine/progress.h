#ifndef ENRICH_ENGINE_PROGRESS_H_
#define ENRICH_ENGINE_PROGRESS_H_

// The live progress line of a run on stderr, drawn from its RunStats (engine/run_stats.h) by a
// thread the job (engine/job.h) starts and finishes around the pipeline.

#include "engine/request_series.h"
#include "engine/run_stats.h"
#include "schema/clock.h"

#include <cstddef>
#include <cstdint>
#include <functional>
#include <optional>
#include <ostream>
#include <string>
#include <thread>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"

namespace enrich::engine {

struct ProgressOptions {
  // true: one live line redrawn in place with '\r' (stderr is a terminal); false: a plain line
  // every `plain_interval` (logs, CI).
  bool tty = false;
  absl::Duration plain_interval = absl::Seconds(10);
  absl::Duration tty_interval = absl::Milliseconds(250);
  // Raw input size when known (a regular file): enables "% of input" and ETA from the bytes
  // read so far (RunCounter::kBytesRead).
  std::optional<uint64_t> input_bytes;
  // Quota use over time (--report): each tick (and the end) notes the requests sent so far
  // into `requests`, as `requests_sent` counts them (the transport's HTTP requests), or the
  // lookups sent when it is empty. May be null.
  RequestSeries* requests = nullptr;
  std::function<uint64_t()> requests_sent;
};

// Time left of a run whose input size is known, from the input bytes read and the lookup rate
// (ProgressReporter's ETA). The run ends when the input is read and every lookup settled: the
// time left is the longer of
//   bytes still to read / the reader's speed (its read rate while no lookup was waited for: a
//   reader held back by lookups reads only as fast as they settle, counted below), and
//   (lookups needed and not settled + lookups the unread bytes will need) / the settle rate.
// Lookups needed are those the run has queued (RunCounter::kLookupsQueued), sent or waiting
// behind the in-flight bound. The unread bytes' lookups follow Heaps' law, as distinct values
// in logs do: U(bytes) ~ bytes^beta, so they are U × ((input / read)^beta - 1), beta fitted from
// how the lookups needed grew over the latest quarter more of the input parsed
// (RunStatsSnapshot::lookups_curve, noted chunk by chunk, so the burst of chunks the pipeline
// reads at its start already shows it). Until then beta is 1 (as many new values per byte as
// so far): an estimate that errs long, so that what is learnt later brings it down, not up.
// The rates are weighted exponentially over the
// recent past (`window`), so neither the burst of reading at the start (the pipeline fills)
// nor a pause of the answers makes the estimate jump. The value returned never goes up through
// noise: an estimate above the previous value is replaced by it unless it is beyond it by more
// than `tolerance` and a second (a real slowdown, which shows). Not thread-safe; feed it
// snapshots in time order.
class EtaEstimator {
 public:
  struct Options {
    absl::Duration window = absl::Seconds(20);
    double tolerance = 0.25;
    double prior_beta = 1;
  };
  explicit EtaEstimator(uint64_t input_bytes) : EtaEstimator(input_bytes, Options()) {}
  EtaEstimator(uint64_t input_bytes, Options options);

  // Takes in `s` (its now, kBytesRead, kLookupsQueued, kLookupsSent, kLookupsSettled,
  // lookups_curve) and
  // returns the time left; nullopt while it cannot be told (no byte read yet, or lookups
  // needed and none settled so far). Zero once everything is read and settled.
  std::optional<absl::Duration> Update(const RunStatsSnapshot& s);

  // The Heaps' law exponent in use (prior_beta until the input parsed grew by a quarter).
  double beta() const { return beta_; }

 private:
  // An exponentially weighted rate: counts and seconds both decayed, their ratio the rate.
  struct Rate {
    double count = 0;
    double seconds = 0;
    double PerSecond() const { return seconds > 0 ? count / seconds : 0; }
  };
  void Fit(const std::vector<RunStatsSnapshot::LookupsAt>& curve);
  std::optional<double> Estimate(double read, double needed, double settled) const;

  const uint64_t input_bytes_;
  const Options options_;
  double beta_;
  Rate read_;
  Rate free_read_;  // the reader's rate over samples with no lookup waited for
  bool was_waiting_ = true;
  Rate settled_;
  absl::Time last_sample_ = absl::InfinitePast();
  uint64_t last_read_ = 0;
  uint64_t last_settled_ = 0;
  std::optional<absl::Duration> shown_;
};

// Progress of a run on a stream (stderr in production), computed from RunStats and an
// injected clock:
//   "1m40s rows 250000 (2500/s), lookups 900/1200, 41.0% of input, ETA 2m24s"
// (rows/s since the start; lookups settled/sent; the ETA of an EtaEstimator when the input
// size is known, fed at every Tick).
//
// Driven by Tick() (prints only when a line is due, so it may be called often) or by its own
// thread (Start()). Thread-safe. `stats`, `clock` and `out` must outlive it.
class ProgressReporter {
 public:
  ProgressReporter(const RunStats& stats, const schema::Clock& clock, std::ostream& out,
                   ProgressOptions options);
  // Stops the thread if started; does not print (call Finish()).
  ~ProgressReporter();
  ProgressReporter(const ProgressReporter&) = delete;
  ProgressReporter& operator=(const ProgressReporter&) = delete;

  // Prints a line if the interval since the last one has passed on the clock.
  void Tick();
  // Calls Tick() every `period` of real time on a thread of its own until Finish() or
  // destruction.
  void Start(absl::Duration period = absl::Milliseconds(250));
  // Stops the thread and prints the final state: on a TTY a last redraw ending the line with
  // '\n', otherwise one last plain line.
  void Finish();

  // One line of text for a snapshot and the time left (none: no ETA), without '\r' or '\n'.
  std::string Line(const RunStatsSnapshot& s, std::optional<absl::Duration> eta) const;

 private:
  void Print(const RunStatsSnapshot& s, bool final) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void NoteRequests(const RunStatsSnapshot& s, bool final) const;
  void Stop();

  const RunStats& stats_;
  const schema::Clock& clock_;
  std::ostream& out_;
  const ProgressOptions options_;

  absl::Mutex mu_;
  std::optional<EtaEstimator> eta_ ABSL_GUARDED_BY(mu_);  // when the input size is known
  std::optional<absl::Duration> last_eta_ ABSL_GUARDED_BY(mu_);
  std::optional<absl::Time> last_print_ ABSL_GUARDED_BY(mu_);
  size_t last_width_ ABSL_GUARDED_BY(mu_) = 0;  // of the live line, to blank a longer one
  bool stopping_ ABSL_GUARDED_BY(mu_) = false;
  bool finished_ ABSL_GUARDED_BY(mu_) = false;
  std::thread thread_;
};

// "17s", "3m20s", "1h02m".
std::string FormatEta(absl::Duration d);

// True when stderr is a terminal.
bool StderrIsTty();

}  // namespace enrich::engine

#endif  // ENRICH_ENGINE_PROGRESS_H_
