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

EtaEstimator::EtaEstimator(uint64_t input_bytes, Options options)
    : input_bytes_(input_bytes), options_(options), beta_(options.prior_beta) {}

void EtaEstimator::Fit(const std::vector<RunStatsSnapshot::LookupsAt>& curve) {
  if (curve.size() < 2 || curve.back().lookups == 0) return;
  const RunStatsSnapshot::LookupsAt& last = curve.back();
  // Against the latest point a quarter or more bytes before: the recent growth, which follows a
  // log whose new values thin out (most of them early, then repeats).
  for (auto p = curve.rbegin() + 1; p != curve.rend(); ++p) {
    if (p->bytes * 5 > last.bytes * 4 || p->lookups == 0) continue;
    const double growth = std::log(static_cast<double>(last.lookups) / p->lookups) /
                          std::log(static_cast<double>(last.bytes) / p->bytes);
    beta_ = std::clamp(growth, 0.0, 1.0);
    return;
  }
}

std::optional<double> EtaEstimator::Estimate(double read, double needed, double settled) const {
  if (read <= 0) return std::nullopt;
  const double total = static_cast<double>(input_bytes_);
  const double unread = total - read;
  const double future = needed * (std::pow(total / read, beta_) - 1);
  const double lookups_left = needed - settled + future;
  double seconds = 0;
  if (unread > 0) {
    // While lookups are waited for, the reader follows them (backpressure): its own speed shows
    // only while none is (free_read_), and until then the lookups' time below is the run's.
    const double read_rate = free_read_.seconds > 0 ? free_read_.PerSecond()
                             : lookups_left <= 0.5  ? read_.PerSecond()
                                                    : 0;
    if (read_rate > 0) {
      seconds = unread / read_rate;
    } else if (lookups_left <= 0.5) {
      return std::nullopt;
    }
  }
  if (lookups_left > 0.5) {
    if (settled_.PerSecond() <= 0) return std::nullopt;
    seconds = std::max(seconds, lookups_left / settled_.PerSecond());
  }
  return seconds;
}

std::optional<absl::Duration> EtaEstimator::Update(const RunStatsSnapshot& s) {
  const uint64_t read = std::min(s.counter(RunCounter::kBytesRead), input_bytes_);
  const uint64_t settled = s.counter(RunCounter::kLookupsSettled);
  const uint64_t needed = std::max({s.counter(RunCounter::kLookupsQueued),
                                    s.counter(RunCounter::kLookupsSent), settled});
  if (last_sample_ == absl::InfinitePast()) last_sample_ = s.started;  // rates from the start
  const double dt = absl::ToDoubleSeconds(s.now - last_sample_);
  if (dt > 0) {
    const double keep = std::exp(-dt / absl::ToDoubleSeconds(options_.window));
    read_.count = read_.count * keep + static_cast<double>(read - std::min(read, last_read_));
    read_.seconds = read_.seconds * keep + dt;
    settled_.count = settled_.count * keep +
                     static_cast<double>(settled - std::min(settled, last_settled_));
    settled_.seconds = settled_.seconds * keep + dt;
    const bool waiting = needed > settled;
    if (!waiting && !was_waiting_) {
      free_read_.count = free_read_.count * keep +
                         static_cast<double>(read - std::min(read, last_read_));
      free_read_.seconds = free_read_.seconds * keep + dt;
    }
    was_waiting_ = waiting;
    last_sample_ = s.now;
    last_read_ = read;
    last_settled_ = settled;
  }
  Fit(s.lookups_curve);
  const std::optional<double> seconds = Estimate(
      static_cast<double>(read), static_cast<double>(needed), static_cast<double>(settled));
  if (!seconds) return shown_;
  absl::Duration eta = absl::Seconds(*seconds);
  // Never up through the noise: a small rise holds the value shown (the next fall moves it);
  // a rise beyond the tolerance is news and shows.
  if (shown_ && eta > *shown_ && eta <= *shown_ * (1 + options_.tolerance) + absl::Seconds(1)) {
    eta = *shown_;
  }
  shown_ = eta;
  return eta;
}

ProgressReporter::ProgressReporter(const RunStats& stats, const schema::Clock& clock,
                                   std::ostream& out, ProgressOptions options)
    : stats_(stats), clock_(clock), out_(out), options_(options) {
  if (options_.input_bytes && *options_.input_bytes > 0) eta_.emplace(*options_.input_bytes);
  // Quota use starts from nothing at the run's start.
  if (options_.requests != nullptr) options_.requests->Note(stats_.Snapshot().started, 0);
}

ProgressReporter::~ProgressReporter() { Stop(); }

std::string ProgressReporter::Line(const RunStatsSnapshot& s,
                                   std::optional<absl::Duration> eta) const {
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
    if (eta) absl::StrAppend(&line, ", ETA ", FormatEta(*eta));
  }
  return line;
}

void ProgressReporter::Tick() {
  absl::MutexLock lock(&mu_);
  if (finished_) return;
  const absl::Duration interval = options_.tty ? options_.tty_interval : options_.plain_interval;
  const absl::Time now = clock_.Now();
  // The ETA's rates take every tick in, printed or not.
  const RunStatsSnapshot s = stats_.Snapshot();
  if (eta_) last_eta_ = eta_->Update(s);
  NoteRequests(s, false);
  if (last_print_ && now - *last_print_ < interval) return;
  // The first plain line comes one interval in, not at once: a short run prints only its end.
  if (!last_print_ && !options_.tty) {
    last_print_ = now;
    return;
  }
  last_print_ = now;
  Print(s, false);
}

void ProgressReporter::Print(const RunStatsSnapshot& s, bool final) {
  const std::string line = Line(s, last_eta_);
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
  const RunStatsSnapshot s = stats_.Snapshot();
  if (eta_) last_eta_ = eta_->Update(s);
  NoteRequests(s, true);
  Print(s, true);
}

void ProgressReporter::NoteRequests(const RunStatsSnapshot& s, bool final) const {
  if (options_.requests == nullptr) return;
  options_.requests->Note(s.now, options_.requests_sent ? options_.requests_sent()
                                                        : s.counter(RunCounter::kLookupsSent),
                          final);
}

}  // namespace enrich::engine
