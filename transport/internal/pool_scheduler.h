#ifndef ENRICH_TRANSPORT_INTERNAL_POOL_SCHEDULER_H_
#define ENRICH_TRANSPORT_INTERNAL_POOL_SCHEDULER_H_

// The pool-wide decision of ConnectionPool, without I/O: which connection takes a submitted
// request (an idle one, a new one, or, pipelining, the least loaded one), which queued requests
// a connection takes once some of its own are settled, and what shutdown fails.
//
// Contract: a plain value, not thread-safe (the pool calls it under its mutex). Connections are
// named by index 0, 1, ... in the order Submit() asked for them to be opened. The scheduler
// never owns the exchanges; it only reads their request's `idempotent` and their alone().

#include "transport/connection_pool.h"

#include <cstddef>
#include <deque>
#include <vector>

#include "absl/container/inlined_vector.h"

namespace enrich::transport::internal {

class PoolScheduler {
 public:
  using Jobs = absl::InlinedVector<HttpExchange*, 1>;

  // What Submit() decided for one request.
  struct Assignment {
    enum Kind {
      kExisting,  // connection `connection` takes it
      kOpen,      // a new connection, index `connection`, takes it (the caller creates it)
      kQueued,    // it waits until a connection settles a request (OnSettled())
      kShutDown,  // after Shutdown(): fail it
    } kind;
    size_t connection = 0;
  };

  // `max_connections` and `pipeline_depth` of at least 1 (PoolOptions).
  PoolScheduler(size_t max_connections, size_t pipeline_depth);

  // A request is submitted. First come, first served: it waits behind those already queued.
  // A non-idempotent request is never pipelined: it needs a connection with nothing assigned,
  // and nothing is assigned behind it until it is settled (RFC 9112 §9.3.2).
  Assignment Submit(HttpExchange* exchange);

  // Connection `connection` settled `finished` of its requests: returns the queued requests it
  // takes now (as far as its depth allows), and parks it as idle when it has none.
  Jobs OnSettled(size_t connection, size_t finished);

  // Takes `exchange` out of the queue; false when it is not queued (assigned, or settled).
  bool Remove(HttpExchange* exchange);

  // Returns the queued requests (to fail with Cancelled); every later Submit() is kShutDown.
  std::deque<HttpExchange*> Shutdown();

  // ---- observers (tests, counters) ----
  size_t connections() const { return slots_.size(); }
  size_t assigned(size_t connection) const { return slots_[connection].assigned; }
  bool idle(size_t connection) const { return slots_[connection].idle; }
  size_t queued() const { return pending_.size(); }

 private:
  struct Slot {
    size_t assigned = 0;     // requests given to the connection and not yet settled
    bool exclusive = false;  // a non-idempotent request is among them: pipeline nothing behind
    bool idle = false;       // in idle_
  };

  // The connection that may take `request` now, or -1: idle first (the most recently used, so
  // a light load keeps one warm connection), then a new one, then (pipelining) the least
  // loaded one with room.
  long Pick(const HttpExchange& exchange, bool* opened);
  void Assign(size_t connection, const HttpRequest& request);

  const size_t max_connections_;
  const size_t pipeline_depth_;
  bool shutdown_ = false;
  std::vector<Slot> slots_;
  std::vector<size_t> idle_;  // most recently parked at the back
  std::deque<HttpExchange*> pending_;
};

}  // namespace enrich::transport::internal

#endif  // ENRICH_TRANSPORT_INTERNAL_POOL_SCHEDULER_H_
