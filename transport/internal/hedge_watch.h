#ifndef ENRICH_TRANSPORT_INTERNAL_HEDGE_WATCH_H_
#define ENRICH_TRANSPORT_INTERNAL_HEDGE_WATCH_H_

// Hedging of hung answers (CtiaClientOptions::hedge): a request whose answer is late far beyond
// what the client has seen is sent once more, on another connection, and the first answer
// wins (internal/ctia_call.cc does the sending and the choosing). HedgeDelay() says how late is
// late, from the latencies seen (sans I/O); HedgeWatch looks at the calls of one client a few
// times a second while requests are in flight and offers each the delay, so a request costs no
// timer of its own.
//
// Contract: HedgeWatch is thread-safe (one mutex, never held while a call completes). A call
// is added once when created and removed before it is freed; MaybeHedge() runs under the
// watch's mutex, on an io thread. Stop() before the calls and the histogram go away.

#include "schema/clock.h"
#include "transport/latency_histogram.h"

#include <atomic>
#include <cstdint>
#include <memory>
#include <optional>

#include "absl/time/time.h"
#include "boost/asio/any_io_executor.hpp"

namespace enrich::transport::internal {

struct HedgeSettings {
  absl::Duration floor = absl::Seconds(1);    // never hedged sooner than this
  double p99_factor = 4;                      // late = this many times the p99 of answers
  uint64_t min_answers = 50;                  // no hedging before this many answers were seen
  absl::Duration check_every = absl::Milliseconds(100);  // how often the calls are looked at
};

// How long an answer may take before its request is hedged: max(floor, p99_factor × the p99
// of `seen`); nullopt while `seen` holds fewer than min_answers latencies.
std::optional<absl::Duration> HedgeDelay(const LatencySnapshot& seen, const HedgeSettings& s);

// A call that may be hedged.
class Hedgeable {
 public:
  // Hedges the request in flight if it was sent at least `late` before `now` (infinite: the
  // delay is not known yet). True when a request of the call is in flight.
  virtual bool MaybeHedge(absl::Time now, absl::Duration late) = 0;

 protected:
  ~Hedgeable() = default;
};

class HedgeWatch {
 public:
  // `latency` (every answer's, LatencyHistogram) and `clock` must outlive Stop().
  HedgeWatch(boost::asio::any_io_executor executor, const LatencyHistogram& latency,
             const schema::Clock& clock, HedgeSettings settings);
  ~HedgeWatch();

  void Add(Hedgeable* call);
  void Remove(Hedgeable* call);
  // A call has just sent a request (its in-flight state stored with memory_order_seq_cst):
  // the watch looks every check_every while any request is in flight, and sleeps otherwise,
  // so that it never keeps the io threads from ending.
  void Poke();
  // No call is looked at after Stop() returns. Idempotent.
  void Stop();

 private:
  struct State;
  std::shared_ptr<State> state_;
};

}  // namespace enrich::transport::internal

#endif  // ENRICH_TRANSPORT_INTERNAL_HEDGE_WATCH_H_
