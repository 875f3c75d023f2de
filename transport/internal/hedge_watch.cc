#include "transport/internal/hedge_watch.h"

#include <algorithm>
#include <utility>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_set.h"
#include "absl/synchronization/mutex.h"
#include "boost/asio/steady_timer.hpp"

namespace enrich::transport::internal {

std::optional<absl::Duration> HedgeDelay(const LatencySnapshot& seen, const HedgeSettings& s) {
  if (seen.count < std::max<uint64_t>(s.min_answers, 1)) return std::nullopt;
  return std::max(s.floor, seen.Percentile(0.99) * s.p99_factor);
}

struct HedgeWatch::State : std::enable_shared_from_this<State> {
  State(boost::asio::any_io_executor executor, const LatencyHistogram& histogram,
        const schema::Clock& time, HedgeSettings hedge)
      : latency(histogram), clock(time), settings(hedge), timer(std::move(executor)) {}

  void Arm() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu) {
    timer.expires_after(absl::ToChronoNanoseconds(settings.check_every));
    timer.async_wait([weak = weak_from_this()](const boost::system::error_code&) {
      if (std::shared_ptr<State> self = weak.lock()) self->Look();
    });
  }

  void Look() {
    absl::MutexLock lock(&mu);
    if (stopped) return;
    // Cleared before the calls are read: a call that sends after this store and finds the
    // watch armed (Poke) is seen by the reads below (both sides sequentially consistent).
    armed.store(false);
    const absl::Duration late =
        HedgeDelay(latency.Snapshot(), settings).value_or(absl::InfiniteDuration());
    const absl::Time now = clock.Now();
    bool busy = false;
    for (Hedgeable* call : calls) busy |= call->MaybeHedge(now, late);
    if (busy) {
      armed.store(true);
      Arm();
    }
  }

  std::atomic<bool> armed{false};
  const LatencyHistogram& latency;
  const schema::Clock& clock;
  const HedgeSettings settings;
  absl::Mutex mu;
  bool stopped ABSL_GUARDED_BY(mu) = false;
  absl::flat_hash_set<Hedgeable*> calls ABSL_GUARDED_BY(mu);
  boost::asio::steady_timer timer ABSL_GUARDED_BY(mu);
};

HedgeWatch::HedgeWatch(boost::asio::any_io_executor executor, const LatencyHistogram& latency,
                       const schema::Clock& clock, HedgeSettings settings)
    : state_(std::make_shared<State>(std::move(executor), latency, clock, settings)) {}

void HedgeWatch::Poke() {
  if (state_->armed.load()) return;
  absl::MutexLock lock(&state_->mu);
  if (state_->stopped || state_->armed.load()) return;
  state_->armed.store(true);
  state_->Arm();
}

HedgeWatch::~HedgeWatch() { Stop(); }

void HedgeWatch::Add(Hedgeable* call) {
  absl::MutexLock lock(&state_->mu);
  if (!state_->stopped) state_->calls.insert(call);
}

void HedgeWatch::Remove(Hedgeable* call) {
  absl::MutexLock lock(&state_->mu);
  state_->calls.erase(call);
}

void HedgeWatch::Stop() {
  absl::MutexLock lock(&state_->mu);
  state_->stopped = true;
  state_->calls.clear();
  state_->timer.cancel();
}

}  // namespace enrich::transport::internal
