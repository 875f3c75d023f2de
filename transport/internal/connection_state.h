#ifndef ENRICH_TRANSPORT_INTERNAL_CONNECTION_STATE_H_
#define ENRICH_TRANSPORT_INTERNAL_CONNECTION_STATE_H_

// The decisions of one pooled connection, without I/O: its requests in write/answer order, what
// is resent or failed when the connection is lost, and which deadline runs. The I/O class
// (internal/pool_connection.h) feeds it events and carries out what it answers.
//
// Contract: a plain value, not thread-safe (its connection's strand owns it). Times are
// steady-clock points passed in by the caller (the tests pass a schema::FakeClock's times);
// nothing here reads a clock. It never owns the exchanges; it hands each one back exactly once,
// as Settled, with an answer or an error.

#include "transport/connection_pool.h"
#include "transport/http_types.h"

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"

namespace enrich::transport::internal {

using SteadyClock = std::chrono::steady_clock;
inline constexpr SteadyClock::time_point kNever = SteadyClock::time_point::max();

// Clamped so that now + the result cannot overflow (an "infinite" timeout means a year).
SteadyClock::duration ToChrono(absl::Duration d);

// The step limits of PoolOptions, as clock durations (for deadlines) and as given (for messages).
struct StepTimeouts {
  explicit StepTimeouts(const PoolOptions& options);
  absl::Duration connect_limit, handshake_limit, write_limit, first_byte_limit, request_limit;
  SteadyClock::duration connect, handshake, write, first_byte, request;
};

// A request given back by the connection: its answer (status OK) or its error.
struct Settled {
  HttpExchange* exchange;
  absl::Status status;
  std::unique_ptr<HttpResponse> response;  // the answer when `status` is OK
};

// Times a pipelined request behind the first unanswered one may be resent after connections
// that closed without answering anything.
inline constexpr int kMaxFollowerResends = 2;

class ConnectionState {
 public:
  enum class Phase { kClosed, kResolving, kConnecting, kHandshaking, kOpen };
  // What the connection should start for its queue (Next()).
  enum class Step { kNothing, kFailAll, kConnect, kWrite };
  // The earliest deadline now running, with the step it limits (for the timeout message).
  struct Due {
    SteadyClock::time_point at = kNever;
    const char* step = "";
    absl::Duration limit;
  };
  // What a timer that fired asks for (OnTimer()).
  struct TimerVerdict {
    enum Kind { kIdle, kRearm, kTimedOut } kind = kIdle;
    SteadyClock::time_point rearm_at = kNever;  // kRearm
    absl::Status timeout;                       // kTimedOut: DeadlineExceeded naming the step
    bool while_connecting = false;              // kTimedOut before the connection was open
  };

  // `timeouts` must outlive the state; `origin` names the server in messages.
  ConnectionState(const StepTimeouts& timeouts, absl::string_view origin)
      : timeouts_(timeouts), origin_(origin) {}

  // ---- events ----

  // A request the pool assigned to this connection.
  void Add(HttpExchange* exchange) { queue_.push_back(InFlight{exchange}); }

  // What the queue needs now: nothing, a connection, a write of unsent requests, or (when the
  // pool is `stopping`) failing everything.
  Step Next(bool stopping) const {
    if (queue_.empty()) return Step::kNothing;
    if (stopping) return Step::kFailAll;
    switch (phase_) {
      case Phase::kClosed:
        return Step::kConnect;
      case Phase::kOpen:
        return Step::kWrite;
      default:
        return Step::kNothing;  // connecting: the write starts once the connection is up
    }
  }

  void OnResolveStarted(SteadyClock::time_point now) {
    phase_ = Phase::kResolving;
    connect_deadline_ = now + timeouts_.connect;  // one deadline covers resolve and connect
  }
  void OnResolved() { phase_ = Phase::kConnecting; }
  // TCP is up: a fresh socket has answered nothing yet.
  void OnConnected() { answered_ = 0; }
  void OnHandshakeStarted(SteadyClock::time_point now) {
    phase_ = Phase::kHandshaking;
    handshake_deadline_ = now + timeouts_.handshake;
  }
  void OnOpen() { phase_ = Phase::kOpen; }

  // True when a write of unsent requests may start now.
  bool CanWrite() const { return phase_ == Phase::kOpen && !writing_ && sent_ < queue_.size(); }

  // Starts a write of every unsent request at `now`: `append(request)` is called for each, in
  // order, and their deadlines start. Returns how many were written behind unanswered ones
  // (pipelined). Only when CanWrite().
  template <typename Append>
  size_t BeginWrite(SteadyClock::time_point now, Append&& append) {
    size_t pipelined = 0;
    for (size_t i = sent_; i < queue_.size(); ++i) {
      InFlight& f = queue_[i];
      append(f.request());
      f.request_deadline = now + timeouts_.request;
      f.first_byte_deadline = kNever;
      f.in_write = true;
      // Written while requests ahead of it on this connection are unanswered.
      if (i > 0) ++pipelined;
    }
    sent_ = queue_.size();
    write_deadline_ = now + timeouts_.write;
    writing_ = true;
    return pipelined;
  }

  // The write ended at `now` (with or without an error): the first-byte deadlines start.
  void OnWriteDone(SteadyClock::time_point now) {
    writing_ = false;
    for (size_t i = 0; i < sent_; ++i) {
      InFlight& f = queue_[i];
      if (!f.in_write) continue;
      f.in_write = false;
      f.first_byte_deadline = now + timeouts_.first_byte;
    }
  }

  // The request whose answer is read next (only when awaiting_answer()).
  const HttpRequest& head_request() const { return queue_.front().request(); }
  // The head's answer has its headers: its first-byte deadline is met.
  void OnHeadHeaders() { queue_.front().first_byte_deadline = kNever; }
  // The head's answer is complete: it leaves the queue, `response` with it.
  Settled SettleHead(std::unique_ptr<HttpResponse> response) {
    Settled settled{queue_.front().exchange, absl::OkStatus(), std::move(response)};
    queue_.pop_front();
    --sent_;
    ++answered_;
    return settled;
  }

  // The connection cannot go on (closed by the peer, a timeout, garbage, `Connection: close`
  // when `error` is OK). The first sent, unanswered request fails with `error` (when not OK)
  // unless the stale rule lets it be resent once: the peer closed a reused connection before
  // any byte of its answer. Sent requests behind it are resent when idempotent: always when
  // this socket answered something (progress was made, so resending cannot loop), else at most
  // kMaxFollowerResends times. Requests not sent yet simply wait. Nothing is resent when the
  // pool is `stopping`. Failures go to `out`; returns how many requests are resent. Afterwards
  // the state is closed and Next() says whether to reconnect.
  size_t OnLost(const absl::Status& error, bool peer_closed, bool head_got_bytes, bool stopping,
                std::vector<Settled>& out);

  // The connection is closed (OnLost() does this itself).
  void OnClosed() {
    phase_ = Phase::kClosed;
    writing_ = false;
    answered_ = 0;
  }

  // Every queued request fails with `status` (none has an answer).
  void FailAll(const absl::Status& status, std::vector<Settled>& out);

  // What Abandon() found for a request its sender no longer wants answered.
  enum class Abandoned {
    kNotHere,   // not on this connection (answered already, or elsewhere)
    kUnsent,    // not written yet: taken out of the queue and settled with the error
    kHead,      // written and first in line: the caller closes the connection (OnLost)
    kFollower,  // written behind other unanswered requests: left to be answered
  };
  Abandoned Abandon(HttpExchange* exchange, const absl::Status& error, std::vector<Settled>& out);

  // ---- deadlines ----

  Due NextDue() const;

  // The time to arm the connection's one timer at, or nullopt when it need not change: a
  // timer that fires no later than the next deadline re-checks then; only an earlier deadline
  // re-arms it, so a request costs no timer operation of its own.
  std::optional<SteadyClock::time_point> TimerToArm() {
    const Due due = NextDue();
    if (due.at == kNever) return std::nullopt;
    if (timer_waiting_ && timer_expiry_ <= due.at) return std::nullopt;
    return Armed(due.at);
  }
  // The armed timer fired at `now`.
  TimerVerdict OnTimer(SteadyClock::time_point now);
  // The timer was cancelled (the connection closed for good).
  void OnTimerCancelled() { timer_waiting_ = false; }

  // ---- observers ----
  Phase phase() const { return phase_; }
  bool writing() const { return writing_; }
  size_t queued() const { return queue_.size(); }
  size_t sent() const { return sent_; }  // written (or being written) and unanswered
  bool awaiting_answer() const { return sent_ > 0; }
  int answered() const { return answered_; }  // answers read on the current socket

 private:
  struct InFlight {
    HttpExchange* exchange;
    const HttpRequest& request() const { return exchange->request(); }
    SteadyClock::time_point request_deadline = kNever;     // write + whole answer
    SteadyClock::time_point first_byte_deadline = kNever;  // end of write → end of headers
    int resends_without_progress = 0;  // resent after connections that answered nothing
    bool stale_resent = false;         // resent once under the stale rule
    bool in_write = false;             // part of the write in progress
  };

  // A FIFO over a vector that keeps its capacity: a steady load allocates nothing (a deque
  // allocates and frees a block every few requests).
  class InFlightQueue {
   public:
    bool empty() const { return head_ == items_.size(); }
    size_t size() const { return items_.size() - head_; }
    InFlight& operator[](size_t i) { return items_[head_ + i]; }
    const InFlight& front() const { return items_[head_]; }
    InFlight& front() { return items_[head_]; }
    void push_back(InFlight f) { items_.push_back(std::move(f)); }
    void pop_front() {
      if (++head_ == items_.size()) return clear();
      // Pipelining may never empty it: drop the answered part once it is most of the vector.
      if (head_ >= 32 && head_ * 2 >= items_.size()) {
        items_.erase(items_.begin(), items_.begin() + static_cast<long>(head_));
        head_ = 0;
      }
    }
    void clear() {
      items_.clear();
      head_ = 0;
    }
    // Removes the i-th entry (rare: an abandoned request).
    void erase(size_t i) { items_.erase(items_.begin() + static_cast<long>(head_ + i)); }
    void swap(InFlightQueue& other) {
      items_.swap(other.items_);
      std::swap(head_, other.head_);
    }

   private:
    std::vector<InFlight> items_;
    size_t head_ = 0;
  };

  SteadyClock::time_point Armed(SteadyClock::time_point at) {
    timer_waiting_ = true;
    timer_expiry_ = at;
    return at;
  }

  const StepTimeouts& timeouts_;
  const absl::string_view origin_;
  InFlightQueue queue_;
  size_t sent_ = 0;  // queue_[0, sent_) are written (or being written) and unanswered
  Phase phase_ = Phase::kClosed;
  bool writing_ = false;
  // Answers read on the current socket; > 0 means the socket is a reused keep-alive connection.
  int answered_ = 0;
  SteadyClock::time_point connect_deadline_ = kNever;
  SteadyClock::time_point handshake_deadline_ = kNever;
  SteadyClock::time_point write_deadline_ = kNever;
  bool timer_waiting_ = false;
  SteadyClock::time_point timer_expiry_ = kNever;
};

}  // namespace enrich::transport::internal

#endif  // ENRICH_TRANSPORT_INTERNAL_CONNECTION_STATE_H_
