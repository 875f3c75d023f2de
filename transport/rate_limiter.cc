#include "transport/rate_limiter.h"

#include <algorithm>
#include <iterator>
#include <limits>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"

namespace enrich::transport {

RateLimiter::RateLimiter(RateLimitOptions options)
    : options_(options), limit_(std::max<int64_t>(options.limit, 0)) {}

void RateLimiter::Prune(absl::Time now) {
  while (!log_.empty() && log_.front() <= now - options_.window) log_.pop_front();
}

void RateLimiter::Forget(absl::Time sent_at) {
  // Usually among the newest entries.
  for (auto it = log_.rbegin(); it != log_.rend(); ++it) {
    if (*it == sent_at) {
      log_.erase(std::next(it).base());
      return;
    }
  }
}

void RateLimiter::Move(absl::Time from, absl::Time to) {
  // Usually among the newest entries, and `to` at or after every entry: found from the back,
  // then the entries between it and `to`'s place move down one (iterators, not indexing: a
  // deque walks its blocks far faster that way).
  const auto found = std::find(log_.rbegin(), log_.rend(), from);
  if (found != log_.rend() && !(to < from)) {
    const auto at = std::prev(found.base());
    const auto stop = std::upper_bound(std::next(at), log_.end(), to);
    std::move(std::next(at), stop, at);
    *std::prev(stop) = to;
    return;
  }
  Forget(from);
  log_.insert(std::upper_bound(log_.begin(), log_.end(), to), to);
}

RatePermit RateLimiter::Acquire(absl::Time now) {
  auto wait_for = [&](absl::Duration wait) {
    return RatePermit{
        wait > options_.max_wait ? RatePermit::Kind::kCheckpoint : RatePermit::Kind::kWait, wait};
  };
  if (now < paused_until_) return wait_for(paused_until_ - now);
  Prune(now);
  const auto count = static_cast<int64_t>(log_.size());
  if (limit_ > 0 && count >= limit_) {
    // The (count - limit + 1) oldest entries must leave the window first.
    return wait_for(log_[static_cast<size_t>(count - limit_)] + options_.window - now);
  }
  log_.push_back(now);
  if (limit_ == 0 && log_.size() > options_.max_log) log_.pop_front();
  return RatePermit{RatePermit::Kind::kGo, absl::ZeroDuration()};
}

void RateLimiter::OnResponse(absl::Time now, absl::Time sent_at, const HttpResponse& response) {
  if (std::optional<int64_t> limit = RateLimitFromHeaders(response); limit.has_value()) {
    limit_ = *limit;
    learned_ = true;
  }
  if (response.status == 429) {
    Forget(sent_at);
    // CTIA records only allowed requests (§9.1): the refused one is not in its log.
    absl::Duration pause = options_.window / std::max<int64_t>(limit_, 1);
    if (std::optional<absl::Duration> after = RetryAfterFromHeaders(response)) pause = *after;
    paused_until_ = std::max(paused_until_, now + pause);
    return;
  }
  // The server counted the request somewhere between send and answer; logging it at the
  // answer's time keeps the client's window at or behind the server's, never ahead.
  Move(sent_at, now);
  if (limit_ == 0 && log_.size() > options_.max_log) log_.pop_front();
}

void RateLimiter::OnNotCounted(absl::Time sent_at) { Forget(sent_at); }

int64_t RateLimiter::Available(absl::Time now) {
  if (now < paused_until_) return 0;
  if (limit_ == 0) return std::numeric_limits<int32_t>::max();
  Prune(now);
  return std::max<int64_t>(limit_ - static_cast<int64_t>(log_.size()), 0);
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
  best_latency_ = std::min(best_latency_, latency);
  ++since_decrease_;
  // The floor first: below it (every answer of a local server) no Duration multiply is needed.
  if (latency > latency_floor_ && best_latency_ > absl::ZeroDuration() &&
      latency > best_latency_ * latency_factor_ && since_decrease_ > static_cast<int64_t>(limit_)) {
    return Decrease();
  }
  // Additive increase: +1 per `limit` successes.
  limit_ = std::min<double>(limit_ + 1.0 / limit_, max_);
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
