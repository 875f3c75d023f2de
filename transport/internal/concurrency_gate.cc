#include "transport/internal/concurrency_gate.h"

#include <utility>

#include "absl/container/inlined_vector.h"

namespace enrich::transport::internal {

bool ConcurrencyGate::Acquire(GateWaiter* waiter) {
  absl::MutexLock lock(&mu_);
  if (in_flight_ >= limit_.limit()) {
    ++waits_;
    waiting_.push_back(waiter);
    return false;
  }
  ++in_flight_;
  return true;
}

void ConcurrencyGate::Release(Outcome outcome, absl::Duration latency, absl::Time now) {
  absl::InlinedVector<GateWaiter*, 4> ready;
  {
    absl::MutexLock lock(&mu_);
    const int before = limit_.limit();
    if (outcome == Outcome::kOverload || outcome == Outcome::kError) {
      limit_.OnOverload();
    } else if (outcome == Outcome::kAnswer) {
      limit_.OnSuccess(latency);
    }
    if (limit_.limit() < before) ++decreases_;
    --in_flight_;
    while (in_flight_ < limit_.limit() && !waiting_.empty()) {
      ++in_flight_;
      ready.push_back(waiting_.front());
      waiting_.pop_front();
    }
  }
  for (GateWaiter* waiter : ready) waiter->SendNow(now);
}

std::deque<GateWaiter*> ConcurrencyGate::TakeWaiters() {
  absl::MutexLock lock(&mu_);
  return std::exchange(waiting_, {});
}

void ConcurrencyGate::Fill(CtiaClientCounters& c) const {
  absl::MutexLock lock(&mu_);
  c.concurrency_limit = limit_.limit();
  c.concurrency_decreases = decreases_;
  c.concurrency_waits = waits_;
}

}  // namespace enrich::transport::internal
