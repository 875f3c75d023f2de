#include "transport/internal/retry_policy.h"

#include "transport/ctia_status.h"

#include <vector>

#include "gtest/gtest.h"

namespace enrich::transport::internal {
namespace {

// Full jitter replaced by "always the ceiling", so the backoff schedule is visible.
absl::Duration Ceiling(absl::Duration upper) { return upper; }

AttemptFailure Http(int status) {
  AttemptFailure f;
  f.http_status = status;
  f.error = absl::UnknownError("http");
  return f;
}

RetryOptions Options() {
  RetryOptions o;
  o.max_attempts = 4;
  o.base_backoff = absl::Milliseconds(100);
  o.max_backoff = absl::Milliseconds(250);
  o.max_retry_after = absl::Seconds(60);
  return o;
}

TEST(RetryPolicyTest, ServerErrorsBackOffExponentiallyUpToCapThenFinish) {
  RetryPolicy policy(Options(), /*idempotent=*/true, Ceiling);
  std::vector<absl::Duration> delays;
  for (;;) {
    RetryDecision d = policy.OnFailure(Http(503));
    if (d.action == RetryAction::kFinish) break;
    ASSERT_EQ(d.action, RetryAction::kRetry);
    delays.push_back(d.delay);
  }
  EXPECT_EQ(delays, (std::vector<absl::Duration>{absl::Milliseconds(100), absl::Milliseconds(200),
                                                 absl::Milliseconds(250)}));
  EXPECT_EQ(policy.attempts(), 4);
}

TEST(RetryPolicyTest, JitterDrawsBelowTheCeiling) {
  absl::Duration asked;
  RetryPolicy policy(Options(), true, [&](absl::Duration upper) {
    asked = upper;
    return upper / 3;
  });
  RetryDecision d = policy.OnFailure(Http(500));
  EXPECT_EQ(asked, absl::Milliseconds(100));
  EXPECT_EQ(d.delay, absl::Milliseconds(100) / 3);
}

TEST(RetryPolicyTest, UnauthorizedRefreshesOnceWithoutUsingAnAttempt) {
  RetryPolicy policy(Options(), true, Ceiling);
  EXPECT_EQ(policy.OnFailure(Http(401)).action, RetryAction::kRefreshTokenAndRetry);
  EXPECT_EQ(policy.attempts(), 1);
  EXPECT_EQ(policy.OnFailure(Http(401)).action, RetryAction::kFinish);
}

TEST(RetryPolicyTest, TokensExpiredInFlightAreRefreshedWithoutUsingAttempts) {
  RetryOptions options = Options();
  options.max_expired_token_resends = 5;
  RetryPolicy policy(options, true, Ceiling);
  AttemptFailure expired = Http(401);
  expired.token_expired = true;
  for (int i = 0; i < 5; ++i) {
    EXPECT_EQ(policy.OnFailure(expired).action, RetryAction::kRefreshTokenAndRetry) << i;
  }
  EXPECT_EQ(policy.attempts(), 1);
  // Past the cap, or a 401 for a still-valid token: the one refresh, then final.
  EXPECT_EQ(policy.OnFailure(expired).action, RetryAction::kRefreshTokenAndRetry);
  EXPECT_EQ(policy.OnFailure(Http(401)).action, RetryAction::kFinish);
}

TEST(RetryPolicyTest, ClientErrorsAreFinal) {
  for (int status : {400, 403, 404, 413}) {
    RetryPolicy policy(Options(), true, Ceiling);
    EXPECT_EQ(policy.OnFailure(Http(status)).action, RetryAction::kFinish) << status;
  }
}

TEST(RetryPolicyTest, RetryAfterIsHonouredUpToTheLimit) {
  RetryPolicy policy(Options(), true, Ceiling);
  AttemptFailure limited = Http(429);
  limited.retry_after = absl::Seconds(7);
  RetryDecision d = policy.OnFailure(limited);
  EXPECT_EQ(d.action, RetryAction::kRetry);
  // Retry-After, then a jitter of up to half of it (Ceiling draws the most).
  EXPECT_EQ(d.delay, absl::Seconds(7) + absl::Seconds(7) / 2);
  EXPECT_EQ(policy.attempts(), 1);  // a refused request uses no attempt
  limited.retry_after = absl::Seconds(3595);
  d = policy.OnFailure(limited);
  EXPECT_EQ(d.action, RetryAction::kCheckpoint);
  EXPECT_EQ(d.delay, absl::Seconds(3595));
}

TEST(RetryPolicyTest, RateLimitedRetriesAreBounded) {
  RetryOptions options = Options();
  options.max_rate_limited_retries = 3;
  RetryPolicy policy(options, true, Ceiling);
  AttemptFailure limited = Http(429);  // no Retry-After: backoff
  for (int i = 0; i < 3; ++i) {
    EXPECT_EQ(policy.OnFailure(limited).action, RetryAction::kRetry) << i;
  }
  EXPECT_EQ(policy.OnFailure(limited).action, RetryAction::kFinish);
}

TEST(RetryPolicyTest, TransportErrorsRetryOnlyWhenIdempotentOrUnsent) {
  AttemptFailure reset;
  reset.error = absl::UnavailableError("read from http://x: Connection reset by peer");
  RetryPolicy get(Options(), /*idempotent=*/true, Ceiling);
  EXPECT_EQ(get.OnFailure(reset).action, RetryAction::kRetry);
  RetryPolicy post(Options(), /*idempotent=*/false, Ceiling);
  EXPECT_EQ(post.OnFailure(reset).action, RetryAction::kFinish);
  EXPECT_EQ(post.OnFailure(Http(502)).action, RetryAction::kFinish);
  AttemptFailure token_down = reset;
  token_down.request_sent = false;
  EXPECT_EQ(post.OnFailure(token_down).action, RetryAction::kRetry);
}

// A certificate that failed verification fails the same way every time; a refused connection
// may be a server restarting, and is retried.
TEST(RetryPolicyTest, CertificateVerifyFailuresAreFinalRefusedConnectsRetry) {
  RetryPolicy policy(Options(), true, Ceiling);
  AttemptFailure tls;
  tls.error = WithSetupFailure(
      absl::UnavailableError("TLS handshake with https://x: certificate verify failed"),
      SetupFailure::kTlsVerify);
  tls.request_sent = false;
  EXPECT_EQ(policy.OnFailure(tls).action, RetryAction::kFinish);
  AttemptFailure refused;
  refused.error = WithSetupFailure(
      absl::UnavailableError("connect to http://x: Connection refused"), SetupFailure::kRefused);
  refused.request_sent = false;
  EXPECT_EQ(policy.OnFailure(refused).action, RetryAction::kRetry);
}

TEST(RetryPolicyTest, OversizedOrCancelledAreFinal) {
  RetryPolicy policy(Options(), true, Ceiling);
  AttemptFailure big;
  big.error = absl::ResourceExhaustedError("response exceeds");
  EXPECT_EQ(policy.OnFailure(big).action, RetryAction::kFinish);
  AttemptFailure cancelled;
  cancelled.error = absl::CancelledError("shut down");
  EXPECT_EQ(policy.OnFailure(cancelled).action, RetryAction::kFinish);
  AttemptFailure unauthenticated;
  unauthenticated.error = absl::UnauthenticatedError("token endpoint rejected client id 'c'");
  unauthenticated.request_sent = false;
  EXPECT_EQ(policy.OnFailure(unauthenticated).action, RetryAction::kFinish);
}

TEST(RetryPolicyTest, MalformedSuccessIsRetried) {
  RetryPolicy policy(Options(), true, Ceiling);
  AttemptFailure garbled = Http(200);
  garbled.malformed_ok = true;
  EXPECT_EQ(policy.OnFailure(garbled).action, RetryAction::kRetry);
}

}  // namespace
}  // namespace enrich::transport::internal
