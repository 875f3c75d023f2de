#ifndef ENRICH_TRANSPORT_INTERNAL_RETRY_POLICY_H_
#define ENRICH_TRANSPORT_INTERNAL_RETRY_POLICY_H_

// What a CTIA call does after a failed attempt (retry after a backoff, refresh the token,
// checkpoint, or finish), without I/O: fed the failure, answers an action. Used by
// internal/ctia_call.cc.

#include <functional>
#include <optional>
#include <utility>

#include "absl/status/status.h"
#include "absl/time/time.h"

namespace enrich::transport::internal {

struct RetryOptions {
  int max_attempts = 3;
  absl::Duration base_backoff = absl::Milliseconds(200);
  absl::Duration max_backoff = absl::Seconds(5);
  // A 429 whose Retry-After is longer is not waited out: kCheckpoint (the run stops cleanly
  // with exit code 75 and resumes later; nothing is lost).
  absl::Duration max_retry_after = absl::Seconds(900);
  // 429s are retried without using attempts (the request was refused, not failed), at most
  // this many times per call.
  int max_rate_limited_retries = 50;
  // 401s for a token that expired while its request was in flight are resent with a fresh
  // token without using attempts, at most this many times per call.
  int max_expired_token_resends = 20;
};

// What one failed attempt of a CTIA call was.
struct AttemptFailure {
  absl::Status error;         // the error the call ends with if it is not retried
  int http_status = 0;        // 0: no HTTP answer (transport or token error)
  bool request_sent = true;   // false: failed before the request went out (token error)
  bool malformed_ok = false;  // an HTTP success whose body could not be decoded
  // A 401 for a token whose lifetime had ended by the time the answer came (expired in flight).
  bool token_expired = false;
  std::optional<absl::Duration> retry_after;  // 429's Retry-After
};

enum class RetryAction {
  kFinish,                // deliver `error`
  kRetry,                 // wait `delay`, then send again (a new attempt)
  kRefreshTokenAndRetry,  // invalidate the token, send again now (not counted as an attempt)
  kCheckpoint,            // a wait of `delay` is longer than allowed: checkpoint and exit
};

struct RetryDecision {
  RetryAction action = RetryAction::kFinish;
  absl::Duration delay;
};

// The retry rules of the CTIA client as a pure state machine (no I/O, no clock): one per call.
// Reference/ctia-api.md §9.3: 429 and 5xx/timeouts/resets/truncated or invalid bodies are
// retried (capped exponential backoff, full jitter; 429 after Retry-After plus a jitter of up to
// half of it, a too long Retry-After → kCheckpoint); 400/403/404 are final; 401 refreshes the token once (§8.5), and
// again each time the token had expired in flight (up to max_expired_token_resends), none of
// it counted as an attempt; a second 401 for a still-valid token is final. Requests that are not
// idempotent are retried only where CTIA certainly did not act on them (401, 429, or not sent).
// Backoff: capped exponential with full jitter, `jitter(upper)` drawing uniformly in [0, upper].
// Not thread-safe; a call uses it from one step at a time.
class RetryPolicy {
 public:
  using Jitter = std::function<absl::Duration(absl::Duration upper)>;
  RetryPolicy(RetryOptions options, bool idempotent, Jitter jitter)
      : options_(options), idempotent_(idempotent), jitter_(std::move(jitter)) {}

  RetryDecision OnFailure(const AttemptFailure& failure);

  int attempts() const { return attempts_; }  // attempts started so far (first = 1)

 private:
  RetryDecision RetryOrFinish(std::optional<absl::Duration> delay);

  const RetryOptions options_;
  const bool idempotent_;
  const Jitter jitter_;
  int attempts_ = 1;
  int rate_limited_ = 0;
  int expired_token_resends_ = 0;
  bool refreshed_ = false;
};

}  // namespace enrich::transport::internal

#endif  // ENRICH_TRANSPORT_INTERNAL_RETRY_POLICY_H_
