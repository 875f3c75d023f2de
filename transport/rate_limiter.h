#ifndef ENRICH_TRANSPORT_RATE_LIMITER_H_
#define ENRICH_TRANSPORT_RATE_LIMITER_H_

// The budget decisions of the CTIA clients, without I/O: RateLimiter (one budget group's
// requests per window, CTIA's X-RateLimit headers and 429 pauses) and ConcurrencyLimit (AIMD).
// Fed times and answers; used by internal/credential_budget.h and internal/concurrency_gate.h.

#include <cstdint>
#include <deque>
#include <limits>
#include <optional>
#include <string>
#include <vector>

#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "transport/http_types.h"

namespace enrich::transport {

struct RateLimitOptions {
  // Requests allowed per `window` for the group (org); 0 = not configured: unlimited until a
  // `X-RateLimit-*-Limit` header teaches the limit.
  int64_t limit = 0;
  absl::Duration window = absl::Hours(1);  // CTIA: a sliding log over 3600 s (§9.1)
  // Waits longer than this are not waited out: the caller checkpoints and exits (code 75).
  absl::Duration max_wait = absl::Seconds(900);
  // Send timestamps remembered while the limit is unknown (so a limit learned later also
  // counts the requests already sent). A learned limit above it is enforced approximately.
  size_t max_log = 1 << 16;
};

// What the limiter says about sending one request now.
struct RatePermit {
  enum class Kind {
    kGo,          // send now; the request was counted
    kWait,        // nothing counted; ask again after `wait`
    kCheckpoint,  // the wait exceeds max_wait: checkpoint and exit, resume after `wait`
  };
  Kind kind = Kind::kGo;
  absl::Duration wait;
};

// The request budget of one budget group (a CTIA org), as a sans-I/O state machine driven by
// events and the caller's clock (STYLE 14). It mirrors CTIA's own limiter (reference §9.1): a
// sliding log of allowed requests over `window`, refused at `limit`. A plain token bucket
// sized limit/window would allow up to 2×limit in one window and so provoke 429s; the sliding
// log spends exactly the quota and never more.
//
// The limit comes from options, or is learned from `X-RateLimit-<GROUP|ORG|…>-Limit` on any
// answer (header name matched case-insensitively, §9.2); a learned limit replaces a configured
// one (the server knows best). A 429 pauses the group until its Retry-After (or one window /
// limit when absent); the 429'd request was not counted by CTIA, so it is removed from the log.
//
// Not thread-safe: the owner serialises calls (BudgetGroups does, under its mutex).
class RateLimiter {
 public:
  explicit RateLimiter(RateLimitOptions options);

  // Asks to send one request at `now`. kGo counts it.
  RatePermit Acquire(absl::Time now);
  // Reports an answer to a request that got kGo (`sent_at` is when it was counted).
  void OnResponse(absl::Time now, absl::Time sent_at, const HttpResponse& response);
  // The request counted at `sent_at` did not reach the server's limiter (transport error before
  // an answer, or a token failure): it is uncounted.
  void OnNotCounted(absl::Time sent_at);

  // Requests that could be sent right now without waiting (a large number when unlimited).
  int64_t Available(absl::Time now);
  int64_t limit() const { return limit_; }  // 0 = unknown/unlimited
  bool learned() const { return learned_; }
  absl::Time paused_until() const { return paused_until_; }

 private:
  // The log is one sorted multiset of times (nanoseconds since the Unix epoch), kept in two
  // parts: `in_flight_` holds the send times of requests not answered yet (few: at most the
  // requests in flight), `answered_` the rest, mostly appended at the back. An answer then
  // moves one entry from the small part to the end of the large one, instead of shifting the
  // entries logged since its send.
  size_t LogSize() const { return in_flight_.size() + answered_.size(); }
  // The `k`-th oldest entry of the whole log (k < LogSize()).
  int64_t NthOldest(size_t k) const;
  void PopOldest();
  void Prune(int64_t now);
  // Removes one entry equal to `at` (none when there is none).
  void Forget(int64_t at);
  // Forget(from), then logs `to` in order.
  void Move(int64_t from, int64_t to);

  RateLimitOptions options_;
  int64_t window_ns_;
  int64_t limit_;
  bool learned_ = false;
  absl::Time paused_until_ = absl::InfinitePast();
  std::vector<int64_t> in_flight_;  // sorted, oldest first
  std::deque<int64_t> answered_;    // sorted, oldest first
};

// The rate limit learned from an answer: the value of the first `X-RateLimit-*-Limit` header
// (any group name, any case), or nullopt.
std::optional<int64_t> RateLimitFromHeaders(const HttpResponse& response);

// Retry-After in its delta-seconds form; the HTTP-date form and junk are treated as absent.
std::optional<absl::Duration> RetryAfterFromHeaders(const HttpResponse& response);

// Adaptive concurrency (AIMD): how many requests may be in flight. Starts at `initial`, grows by
// one per `limit` successes (slow recovery), halves on a 429 or when a latency exceeds both
// `latency_factor` × the best latency seen (rising latency = queueing) and `latency_floor`
// (below it, a local server's microsecond jitter is not congestion), never below 1 or above
// `max`; at most one decrease per round of `limit` answers. Not thread-safe.
class ConcurrencyLimit {
 public:
  ConcurrencyLimit(int initial, int max, double latency_factor = 3.0,
                   absl::Duration latency_floor = absl::ZeroDuration());
  void OnSuccess(absl::Duration latency);
  void OnOverload();  // a 429
  int limit() const { return static_cast<int>(limit_); }

 private:
  void Decrease();
  const int max_;
  const double latency_factor_;
  const absl::Duration latency_floor_;
  double limit_;
  absl::Duration best_latency_ = absl::InfiniteDuration();
  int64_t since_decrease_ = std::numeric_limits<int32_t>::max();  // answers since a decrease
};

}  // namespace enrich::transport

#endif  // ENRICH_TRANSPORT_RATE_LIMITER_H_
