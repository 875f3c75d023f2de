#include "transport/internal/connection_state.h"

#include <algorithm>

#include "absl/strings/str_cat.h"

namespace enrich::transport::internal {

SteadyClock::duration ToChrono(absl::Duration d) {
  return absl::ToChronoNanoseconds(std::clamp(d, absl::ZeroDuration(), absl::Hours(24 * 365)));
}

StepTimeouts::StepTimeouts(const PoolOptions& options)
    : connect_limit(options.connect_timeout),
      handshake_limit(options.tls_handshake_timeout),
      write_limit(options.write_timeout),
      first_byte_limit(options.first_byte_timeout),
      request_limit(options.request_timeout),
      connect(ToChrono(options.connect_timeout)),
      handshake(ToChrono(options.tls_handshake_timeout)),
      write(ToChrono(options.write_timeout)),
      first_byte(ToChrono(options.first_byte_timeout)),
      request(ToChrono(options.request_timeout)) {}

size_t ConnectionState::OnLost(const absl::Status& error, bool peer_closed, bool head_got_bytes,
                               bool stopping, std::vector<Settled>& out) {
  const bool progressed = answered_ > 0;
  OnClosed();
  size_t resent = 0;
  InFlightQueue kept;
  for (size_t i = 0; i < queue_.size(); ++i) {
    InFlight& f = queue_[i];
    if (i < sent_) {
      const bool head_failed = i == 0 && !error.ok();
      bool resend;
      if (head_failed) {
        resend = peer_closed && progressed && !head_got_bytes && f.request().idempotent &&
                 !f.stale_resent;
        f.stale_resent = true;
      } else {
        resend = f.request().idempotent &&
                 (progressed || f.resends_without_progress < kMaxFollowerResends);
        if (!progressed) ++f.resends_without_progress;
      }
      if (stopping || !resend) {
        absl::Status status =
            head_failed ? error
                        : absl::UnavailableError(absl::StrCat(
                              "read from ", origin_, ": connection closed before the response"));
        out.push_back(Settled{f.exchange, std::move(status), nullptr});
        continue;
      }
      ++resent;
    }
    f.in_write = false;
    f.request_deadline = kNever;
    f.first_byte_deadline = kNever;
    kept.push_back(std::move(f));
  }
  queue_.swap(kept);
  sent_ = 0;
  return resent;
}

ConnectionState::Abandoned ConnectionState::Abandon(HttpExchange* exchange,
                                                     const absl::Status& error,
                                                     std::vector<Settled>& out) {
  for (size_t i = 0; i < queue_.size(); ++i) {
    if (queue_[i].exchange != exchange) continue;
    if (i == 0 && sent_ > 0) return Abandoned::kHead;
    if (i < sent_) return Abandoned::kFollower;
    queue_.erase(i);
    out.push_back(Settled{exchange, error, nullptr});
    return Abandoned::kUnsent;
  }
  return Abandoned::kNotHere;
}

void ConnectionState::FailAll(const absl::Status& status, std::vector<Settled>& out) {
  for (size_t i = 0; i < queue_.size(); ++i) {
    out.push_back(Settled{queue_[i].exchange, status, nullptr});
  }
  queue_.clear();
  sent_ = 0;
}

ConnectionState::Due ConnectionState::NextDue() const {
  switch (phase_) {
    case Phase::kClosed:
      return {};
    case Phase::kResolving:
      return {connect_deadline_, "resolve", timeouts_.connect_limit};
    case Phase::kConnecting:
      return {connect_deadline_, "connect to", timeouts_.connect_limit};
    case Phase::kHandshaking:
      return {handshake_deadline_, "TLS handshake with", timeouts_.handshake_limit};
    case Phase::kOpen:
      break;
  }
  Due due;
  auto consider = [&due](SteadyClock::time_point at, const char* step, absl::Duration limit) {
    if (at < due.at) due = Due{at, step, limit};
  };
  if (writing_) consider(write_deadline_, "write to", timeouts_.write_limit);
  if (sent_ > 0) {
    const InFlight& head = queue_.front();
    consider(head.request_deadline, head.in_write ? "write to" : "read from",
             timeouts_.request_limit);
    consider(head.first_byte_deadline, "read from", timeouts_.first_byte_limit);
  }
  return due;
}

ConnectionState::TimerVerdict ConnectionState::OnTimer(SteadyClock::time_point now) {
  timer_waiting_ = false;
  TimerVerdict verdict;
  const Due due = NextDue();
  if (due.at == kNever) return verdict;  // idle: the next request arms the timer again
  if (now < due.at) {
    verdict.kind = TimerVerdict::kRearm;
    verdict.rearm_at = Armed(due.at);
    return verdict;
  }
  verdict.kind = TimerVerdict::kTimedOut;
  verdict.timeout = absl::DeadlineExceededError(
      absl::StrCat(due.step, " ", origin_, ": timed out after ", absl::FormatDuration(due.limit)));
  verdict.while_connecting = phase_ != Phase::kOpen;
  return verdict;
}

}  // namespace enrich::transport::internal
