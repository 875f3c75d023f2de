#include "engine/progress.h"

#include <algorithm>
#include <cmath>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include <unistd.h>

namespace enrich::engine {

std::string FormatEta(absl::Duration d) {
  const int64_t s = std::max<int64_t>(0, absl::ToInt64Seconds(absl::Ceil(d, absl::Seconds(1))));
  if (s < 60) return absl::StrCat(s, "s");
  if (s < 3600) return absl::StrFormat("%dm%02ds", s / 60, s % 60);
  return absl::StrFormat("%dh%02dm", s / 3600, (s % 3600) / 60);
}

bool StderrIsTty() { return ::isatty(STDERR_FILENO) == 1; }

ProgressReporter::ProgressReporter(const RunStats& stats, const schema::Clock& clock,
                                   std::ostream& out, ProgressOptions options)
    : stats_(stats), clock_(clock), out_(out), options_(options) {}

ProgressReporter::~ProgressReporter() { Stop(); }

std::string ProgressReporter::Line(const RunStatsSnapshot& s) const {
  std::string line = absl::StrCat(
      FormatEta(s.now - s.started), " rows ", s.counter(RunCounter::kRowsRead),
      absl::StrFormat(" (%.0f/s)", s.rows_per_second()), ", lookups ",
      s.counter(RunCounter::kLookupsSettled), "/", s.counter(RunCounter::kLookupsSent));
  const uint64_t read = s.counter(RunCounter::kBytesRead);
  if (options_.input_bytes && *options_.input_bytes > 0) {
    const uint64_t total = *options_.input_bytes;
    const uint64_t done = std::min(read, total);
    absl::StrAppend(&line, absl::StrFormat(", %.1f%% of input", 100.0 * static_cast<double>(done) /
                                                                    static_cast<double>(total)));
    if (done > 0 && s.now > s.started) {
      // Bytes so far predict the rest: rows follow the bytes.
      const absl::Duration eta =
          (s.now - s.started) * (static_cast<double>(total - done) / static_cast<double>(done));
      absl::StrAppend(&line, ", ETA ", FormatEta(eta));
    }
  }
  return line;
}

void ProgressReporter::Tick() {
  absl::MutexLock lock(&mu_);
  if (finished_) return;
  const absl::Duration interval = options_.tty ? options_.tty_interval : options_.plain_interval;
  const absl::Time now = clock_.Now();
  if (last_print_ && now - *last_print_ < interval) return;
  // The first plain line comes one interval in, not at once: a short run prints only its end.
  if (!last_print_ && !options_.tty) {
    last_print_ = now;
    return;
  }
  last_print_ = now;
  Print(false);
}

void ProgressReporter::Print(bool final) {
  const std::string line = Line(stats_.Snapshot());
  if (options_.tty) {
    std::string text = absl::StrCat("\r", line);
    // Blank what is left of a longer previous line.
    if (line.size() < last_width_) text.append(last_width_ - line.size(), ' ');
    last_width_ = line.size();
    out_ << text << (final ? "\n" : "");
  } else {
    out_ << line << "\n";
  }
  out_.flush();
}

void ProgressReporter::Start(absl::Duration period) {
  absl::MutexLock lock(&mu_);
  if (thread_.joinable() || finished_) return;
  thread_ = std::thread([this, period] {
    while (true) {
      {
        absl::MutexLock l(&mu_);
        auto stop = [this]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) { return stopping_; };
        if (mu_.AwaitWithTimeout(absl::Condition(&stop), period)) return;
      }
      Tick();
    }
  });
}

void ProgressReporter::Stop() {
  {
    absl::MutexLock lock(&mu_);
    stopping_ = true;
  }
  if (thread_.joinable()) thread_.join();
}

void ProgressReporter::Finish() {
  Stop();
  absl::MutexLock lock(&mu_);
  if (finished_) return;
  finished_ = true;
  Print(true);
}

}  // namespace enrich::engine
