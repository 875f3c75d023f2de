#ifndef ENRICH_TRANSPORT_INTERNAL_CONCURRENCY_GATE_H_
#define ENRICH_TRANSPORT_INTERNAL_CONCURRENCY_GATE_H_

// Adaptive concurrency in front of the connection pool (CtiaClientOptions::max_concurrency): a
// send runs when the requests in flight are below the ConcurrencyLimit (rate_limiter.h, AIMD),
// otherwise its call waits in arrival order and is sent when a slot frees.
//
// Contract: thread-safe (one mutex). Release() sends the released waiters on the calling
// thread, after the lock is dropped; sends never complete inline (ConnectionPool::Start), so
// sending one from Release() cannot recurse. Waiters are not owned and must stay alive until
// sent.

#include "transport/client_counters.h"
#include "transport/rate_limiter.h"

#include <cstdint>
#include <deque>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"

namespace enrich::transport::internal {

// A send waiting for a slot.
class GateWaiter {
 public:
  // The slot is granted: send now. `now`: the time of the answer that freed the slot.
  virtual void SendNow(absl::Time now) = 0;

 protected:
  ~GateWaiter() = default;
};

class ConcurrencyGate {
 public:
  enum class Outcome {
    kAnswer,    // an answer below 500 other than 429: its latency says how long the queue is
    kOverload,  // a 429: the server says "fewer"
    kError,     // a 5xx: the server is failing; fewer
    kOther,     // a failure without an answer: says neither
    kUnused,    // the slot is given back unsent (the call must wait for its budget first)
  };

  ConcurrencyGate(int max, absl::Duration latency_floor) : limit_(max, max, 3.0, latency_floor) {}

  // True: `waiter` holds a slot and sends now. False: it waits; Release() sends it.
  bool Acquire(GateWaiter* waiter);

  // Frees the slot of an answered (or failed) send and sends the waiters that may go now.
  // `now`: the time of the answer, taken as the send time of the waiters released.
  void Release(Outcome outcome, absl::Duration latency, absl::Time now);

  // Removes every waiter, in arrival order, without sending it (a stop): the caller ends them.
  std::deque<GateWaiter*> TakeWaiters();

  // Sets the concurrency fields of `c`.
  void Fill(CtiaClientCounters& c) const;

 private:
  mutable absl::Mutex mu_;
  ConcurrencyLimit limit_ ABSL_GUARDED_BY(mu_);
  int in_flight_ ABSL_GUARDED_BY(mu_) = 0;
  std::deque<GateWaiter*> waiting_ ABSL_GUARDED_BY(mu_);
  uint64_t decreases_ ABSL_GUARDED_BY(mu_) = 0;
  uint64_t waits_ ABSL_GUARDED_BY(mu_) = 0;
};

}  // namespace enrich::transport::internal

#endif  // ENRICH_TRANSPORT_INTERNAL_CONCURRENCY_GATE_H_
