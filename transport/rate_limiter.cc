#include "transport/rate_limiter.h"

#include <algorithm>
#include <iterator>
#include <limits>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"

namespace enrich::transport {

namespace {

// The lowest pace learned (requests per second): a limiter never leaves a group slower.
constexpr double kMinPace = 0.1;
// Additive increase of the pace: about this many requests per second more per second of
// answers (at least kPaceGrowth of the pace per second).
constexpr double kPaceStep = 1.0;
constexpr double kPaceGrowth = 0.05;

// Send times as nanoseconds since the Unix epoch (saturated at the int64 range).
int64_t Nanos(absl::Time t) { return absl::ToUnixNanos(t); }

// Inserts `at` into the sorted `log` after the entries equal to it; usually at the back.
template <typename Log>
void InsertSorted(Log& log, int64_t at) {
  if (log.empty() || log.back() <= at) {
    log.push_back(at);
  } else {
    log.insert(std::upper_bound(log.begin(), log.end(), at), at);
  }
}

}  // namespace

RateLimiter::RateLimiter(RateLimitOptions options)
    : options_(options),
      window_ns_(absl::ToInt64Nanoseconds(options.window)),
      limit_(std::max<int64_t>(options.limit, 0)) {}

int64_t RateLimiter::NthOldest(size_t k) const {
  // k is small where it is used (the entries over the limit), so a merge walk is cheap.
  size_t i = 0;
  size_t j = 0;
  for (;;) {
    const bool from_flight =
        j == answered_.size() || (i < in_flight_.size() && in_flight_[i] <= answered_[j]);
    const int64_t value = from_flight ? in_flight_[i++] : answered_[j++];
    if (k-- == 0) return value;
  }
}

void RateLimiter::PopOldest() {
  if (answered_.empty() || (!in_flight_.empty() && in_flight_.front() < answered_.front())) {
    in_flight_.erase(in_flight_.begin());
  } else {
    answered_.pop_front();
  }
}

void RateLimiter::Prune(int64_t now) {
  // Entries at or before now - window have left the window.
  int64_t cutoff;
  if (__builtin_sub_overflow(now, window_ns_, &cutoff)) cutoff = std::numeric_limits<int64_t>::min();
  while (!answered_.empty() && answered_.front() <= cutoff) answered_.pop_front();
  auto kept = in_flight_.begin();
  while (kept != in_flight_.end() && *kept <= cutoff) ++kept;
  in_flight_.erase(in_flight_.begin(), kept);
}

void RateLimiter::Forget(int64_t at) {
  // Answers come mostly in the order of their sends: the oldest in-flight entries first.
  if (auto it = std::find(in_flight_.begin(), in_flight_.end(), at); it != in_flight_.end()) {
    in_flight_.erase(it);
    return;
  }
  // Pruned from the in-flight part already, or logged under an equal time: usually among the
  // newest entries.
  for (auto it = answered_.rbegin(); it != answered_.rend(); ++it) {
    if (*it == at) {
      answered_.erase(std::next(it).base());
      return;
    }
  }
}

void RateLimiter::Move(int64_t from, int64_t to) {
  Forget(from);
  InsertSorted(answered_, to);
}

RatePermit RateLimiter::Acquire(absl::Time now) {
  auto wait_for = [&](absl::Duration wait) {
    return RatePermit{
        wait > options_.max_wait ? RatePermit::Kind::kCheckpoint : RatePermit::Kind::kWait, wait};
  };
  if (now < paused_until_) return wait_for(paused_until_ - now);
  if (pace_ > 0 && now < next_send_) {
    // Each caller told to wait is given the next send time not promised yet, so waiters
    // spread over the coming sends instead of all asking again at the next one.
    wait_horizon_ = std::max(wait_horizon_, next_send_);
    const absl::Duration wait = wait_horizon_ - now;
    wait_horizon_ += absl::Seconds(1.0 / pace_);
    return wait_for(wait);
  }
  const int64_t now_ns = Nanos(now);
  Prune(now_ns);
  const auto count = static_cast<int64_t>(LogSize());
  if (limit_ > 0 && count >= limit_) {
    // The (count - limit + 1) oldest entries must leave the window first.
    const int64_t oldest = NthOldest(static_cast<size_t>(count - limit_));
    return wait_for(absl::FromUnixNanos(oldest) + options_.window - now);
  }
  InsertSorted(in_flight_, now_ns);
  if (limit_ == 0 && LogSize() > options_.max_log) PopOldest();
  if (pace_ > 0) next_send_ = std::max(now, next_send_) + absl::Seconds(1.0 / pace_);
  return RatePermit{RatePermit::Kind::kGo, absl::ZeroDuration()};
}

bool RateLimiter::Reconfirm(absl::Time sent_at, absl::Time now) {
  Forget(Nanos(sent_at));
  if (now < paused_until_) return false;
  InsertSorted(in_flight_, Nanos(now));
  return true;
}

int64_t RateLimiter::LoggedAfter(int64_t since) const {
  int64_t n = 0;
  for (auto it = answered_.rbegin(); it != answered_.rend() && *it > since; ++it) ++n;
  for (int64_t at : in_flight_) n += at > since ? 1 : 0;
  return n;
}

void RateLimiter::CutPace(absl::Time now, absl::Time sent_at, absl::Duration pause) {
  if (!options_.learn_pace || limit_ > 0) return;  // a known limit is mirrored, not learned
  if (pace_ > 0 && sent_at < pace_cut_at_) return;  // sent before the last cut: the same overload
  if (pace_ == 0) {
    const absl::Duration span = std::max(absl::Seconds(1), pause);
    // The refused request counts in the rate it was sent at.
    pace_ =
        static_cast<double>(LoggedAfter(Nanos(now - span)) + 1) / absl::ToDoubleSeconds(span);
  }
  pace_ = std::max(kMinPace, pace_ / 2);
  pace_cut_at_ = now;
}

void RateLimiter::OnResponse(absl::Time now, absl::Time sent_at, const HttpResponse& response) {
  if (std::optional<int64_t> limit = RateLimitFromHeaders(response); limit.has_value()) {
    limit_ = *limit;
    learned_ = true;
    pace_ = 0;  // the server's own limit replaces a pace guessed from its 429s
  }
  if (response.status == 429) {
    Forget(Nanos(sent_at));
    // CTIA records only allowed requests (§9.1): the refused one is not in its log.
    absl::Duration pause = options_.window / std::max<int64_t>(limit_, 1);
    if (std::optional<absl::Duration> after = RetryAfterFromHeaders(response)) pause = *after;
    CutPace(now, sent_at, pause);
    paused_until_ = std::max(paused_until_, now + pause);
    next_send_ = std::max(next_send_, paused_until_);
    return;
  }
  if (pace_ > 0) pace_ += std::max(kPaceStep, kPaceGrowth * pace_) / pace_;
  // The server counted the request somewhere between send and answer; logging it at the
  // answer's time keeps the client's window at or behind the server's, never ahead.
  Move(Nanos(sent_at), Nanos(now));
  if (limit_ == 0 && LogSize() > options_.max_log) PopOldest();
}

void RateLimiter::OnNotCounted(absl::Time sent_at) { Forget(Nanos(sent_at)); }

int64_t RateLimiter::Available(absl::Time now) {
  if (now < paused_until_ || (pace_ > 0 && now < next_send_)) return 0;
  if (limit_ == 0) return std::numeric_limits<int32_t>::max();
  Prune(Nanos(now));
  return std::max<int64_t>(limit_ - static_cast<int64_t>(LogSize()), 0);
}

std::optional<int64_t> RateLimitFromHeaders(const HttpResponse& response) {
  constexpr absl::string_view kPrefix = "x-ratelimit-";
  constexpr absl::string_view kSuffix = "-limit";
  for (const auto& [name, value] : response.headers) {
    // Names are lower-cased by the pool; compared without case for responses built elsewhere.
    if (name.size() <= kPrefix.size() + kSuffix.size() ||
        !absl::StartsWithIgnoreCase(name, kPrefix) || !absl::EndsWithIgnoreCase(name, kSuffix)) {
      continue;
    }
    int64_t limit = 0;
    if (absl::SimpleAtoi(absl::StripAsciiWhitespace(value), &limit) && limit > 0) return limit;
  }
  return std::nullopt;
}

std::optional<absl::Duration> RetryAfterFromHeaders(const HttpResponse& response) {
  int64_t seconds = 0;
  absl::string_view text = absl::StripAsciiWhitespace(response.Header("retry-after"));
  if (text.empty() || !absl::SimpleAtoi(text, &seconds) || seconds < 0) return std::nullopt;
  return absl::Seconds(seconds);
}

ConcurrencyLimit::ConcurrencyLimit(int initial, int max, double latency_factor,
                                   absl::Duration latency_floor)
    : max_(std::max(max, 1)),
      latency_factor_(latency_factor),
      latency_floor_(latency_floor),
      limit_(std::clamp(initial, 1, std::max(max, 1))) {}

void ConcurrencyLimit::OnSuccess(absl::Duration latency) {
  window_[seen_ % kWindow] = latency;
  ++seen_;
  ++since_decrease_;
  if (seen_ >= kWindow && seen_ % kLookEvery == 0 && LatencyRose() &&
      since_decrease_ > static_cast<int64_t>(limit_)) {
    return Decrease();
  }
  // Additive increase: +1 per `limit` successes.
  limit_ = std::min<double>(limit_ + 1.0 / limit_, max_);
}

bool ConcurrencyLimit::LatencyRose() {
  absl::Duration sorted[kWindow];
  std::copy(std::begin(window_), std::end(window_), std::begin(sorted));
  std::nth_element(std::begin(sorted), std::begin(sorted) + kWindow / 2, std::end(sorted));
  recent_ = sorted[kWindow / 2];
  if (recent_ <= baseline_) {
    baseline_ = recent_;
    return false;
  }
  const bool rose = recent_ > latency_floor_ && recent_ > baseline_ * latency_factor_;
  baseline_ += (recent_ - baseline_) / 64;
  return rose;
}

void ConcurrencyLimit::OnOverload() {
  // One decrease per round of requests: a burst of 429s from one window halves once.
  if (since_decrease_ > static_cast<int64_t>(limit_)) Decrease();
}

void ConcurrencyLimit::Decrease() {
  limit_ = std::max(1.0, limit_ / 2);
  since_decrease_ = 0;
}

}  // namespace enrich::transport
