#include "transport/internal/retry_policy.h"

#include "transport/ctia_status.h"

#include <algorithm>

namespace enrich::transport::internal {

RetryDecision RetryPolicy::OnFailure(const AttemptFailure& failure) {
  const int status = failure.http_status;
  if (status == 401) {
    // A token that expired on the way is not a rejected credential: a fresh one will do.
    if (failure.token_expired &&
        ++expired_token_resends_ <= options_.max_expired_token_resends) {
      return {RetryAction::kRefreshTokenAndRetry, absl::ZeroDuration()};
    }
    if (refreshed_) return {};
    refreshed_ = true;
    return {RetryAction::kRefreshTokenAndRetry, absl::ZeroDuration()};
  }
  if (status == 429) {
    // CTIA's Retry-After is when the oldest request leaves its one-hour window (§9.1); a long
    // wait is the caller's decision, not ours.
    if (failure.retry_after.has_value() && *failure.retry_after > options_.max_retry_after) {
      return {RetryAction::kCheckpoint, *failure.retry_after};
    }
    if (++rate_limited_ > options_.max_rate_limited_retries) return {};
    if (failure.retry_after.has_value()) {
      // Every call refused in one pause hears the same Retry-After: up to half of it again,
      // drawn per call, so they do not all ask again in the same instant.
      return {RetryAction::kRetry, *failure.retry_after + jitter_(*failure.retry_after / 2)};
    }
    absl::Duration ceiling = options_.base_backoff;
    for (int i = 1; i < rate_limited_ && ceiling < options_.max_backoff; ++i) ceiling *= 2;
    return {RetryAction::kRetry, jitter_(std::min(ceiling, options_.max_backoff))};
  }
  // A certificate that failed verification fails the same way every time: not retried.
  const bool transient = (status >= 500 && status <= 599) ||
                         (status == 0 && (absl::IsUnavailable(failure.error) ||
                                          absl::IsDeadlineExceeded(failure.error)) &&
                          SetupFailureOf(failure.error) != SetupFailure::kTlsVerify) ||
                         failure.malformed_ok;
  const bool safe_to_repeat = idempotent_ || !failure.request_sent;
  if (transient && safe_to_repeat) return RetryOrFinish(std::nullopt);
  return {};
}

RetryDecision RetryPolicy::RetryOrFinish(std::optional<absl::Duration> delay) {
  if (attempts_ >= options_.max_attempts) return {};
  if (!delay.has_value()) {
    // min(cap, base · 2^(attempt-1)), then full jitter.
    absl::Duration ceiling = options_.base_backoff;
    for (int i = 1; i < attempts_ && ceiling < options_.max_backoff; ++i) ceiling *= 2;
    delay = jitter_(std::min(ceiling, options_.max_backoff));
  }
  ++attempts_;
  return {RetryAction::kRetry, *delay};
}

}  // namespace enrich::transport::internal
