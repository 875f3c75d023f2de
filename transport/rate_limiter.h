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
  // Learn a pace from 429s (AIMD, see RateLimiter): off, only the sliding log and the pauses
  // decide.
  bool learn_pace = true;
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
// A limiter whose limit is unknown (no limit header, none configured: a gateway in front of
// CTIA) is learned from its 429s as a pace, requests per second, enforced as an even spacing
// between sends (AIMD): the first 429 sets it to half the rate the group sent at over the last
// max(1 s, Retry-After) (the refused request included), each
// later 429 of a request sent under the current pace halves it, and every other answer adds
// kPaceStep / pace (so about kPaceStep requests per second more after a second of answers, at
// least 5% per second). 429s of requests sent before the last cut are the same overload and
// only extend the pause. After a pause the spacing starts again at its end. Callers told to
// wait for the pace are given successive send times (one spacing apart), not all the next one.
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
  // The request counted at `sent_at` has waited (for a concurrency slot) and goes out at `now`
  // only if the group may still send: false (and uncounted) when it was paused meanwhile; true
  // and logged at `now` otherwise.
  bool Reconfirm(absl::Time sent_at, absl::Time now);
  int64_t limit() const { return limit_; }  // 0 = unknown/unlimited
  double pace() const { return pace_; }     // requests per second learned from 429s; 0 = none
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

  // A 429 at `now` for a request sent at `sent_at`: cuts the pace (see the class comment).
  void CutPace(absl::Time now, absl::Time sent_at, absl::Duration pause);
  // Requests logged after `since` (answer times of answered ones, send times of the others).
  int64_t LoggedAfter(int64_t since) const;

  RateLimitOptions options_;
  int64_t window_ns_;
  int64_t limit_;
  bool learned_ = false;
  absl::Time paused_until_ = absl::InfinitePast();
  double pace_ = 0;                                // requests per second; 0 = none learned
  absl::Time next_send_ = absl::InfinitePast();    // the pace's next free send time
  absl::Time pace_cut_at_ = absl::InfinitePast();  // when the pace was last cut
  absl::Time wait_horizon_ = absl::InfinitePast();  // the send time the next waiter is given
  std::vector<int64_t> in_flight_;  // sorted, oldest first
  std::deque<int64_t> answered_;    // sorted, oldest first
};

// The rate limit learned from an answer: the value of the first `X-RateLimit-*-Limit` header
// (any group name, any case), or nullopt.
std::optional<int64_t> RateLimitFromHeaders(const HttpResponse& response);

// Retry-After in its delta-seconds form; the HTTP-date form and junk are treated as absent.
std::optional<absl::Duration> RetryAfterFromHeaders(const HttpResponse& response);

// Adaptive concurrency (AIMD): how many requests may be in flight. Starts at `initial`, grows by
// one per `limit` successes (slow recovery), halves on a 429 (or a 5xx, reported the same way)
// and on *rising* latency, never below 1 or above `max`; at most one decrease per round of
// `limit` answers.
//
// Rising latency is judged on smoothed values, never on single answers: the recent latency is
// the median of the last kWindow answers (a slow tail of a few percent does not move it), the
// baseline the lowest such median seen, drifting up by 1/64 of the gap at each look (so a
// server that moved farther away, or is steadily slow, becomes the new normal instead of being
// taken for a queue). The recent median rising above both `latency_factor` × the baseline and
// `latency_floor` (below it, a local server's microsecond jitter is not congestion) is queueing.
// A constant latency, however long, is distance: it never decreases the limit. Not thread-safe.
class ConcurrencyLimit {
 public:
  static constexpr int kWindow = 16;  // answers in the recent median
  static constexpr int kLookEvery = 4;  // answers between two looks at the median

  ConcurrencyLimit(int initial, int max, double latency_factor = 3.0,
                   absl::Duration latency_floor = absl::ZeroDuration());
  void OnSuccess(absl::Duration latency);
  void OnOverload();  // a 429 (or a 5xx)
  int limit() const { return static_cast<int>(limit_); }
  // The smoothed latencies compared (zero until kWindow answers were seen).
  absl::Duration recent() const { return recent_; }
  absl::Duration baseline() const {
    return baseline_ == absl::InfiniteDuration() ? absl::ZeroDuration() : baseline_;
  }

 private:
  // Takes the median of the window and moves the baseline; true when latency has risen.
  bool LatencyRose();
  void Decrease();
  const int max_;
  const double latency_factor_;
  const absl::Duration latency_floor_;
  double limit_;
  absl::Duration window_[kWindow] = {};
  int64_t seen_ = 0;  // answers recorded in window_ (all time)
  absl::Duration recent_;
  absl::Duration baseline_ = absl::InfiniteDuration();
  int64_t since_decrease_ = std::numeric_limits<int32_t>::max();  // answers since a decrease
};

}  // namespace enrich::transport

#endif  // ENRICH_TRANSPORT_RATE_LIMITER_H_
