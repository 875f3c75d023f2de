#include "transport/internal/verdict_batcher.h"

#include <algorithm>
#include <utility>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"

namespace enrich::transport::internal {

struct VerdictBatcher::State {
  State(size_t size, absl::Duration linger_time, Schedule schedule_fn, Cancel cancel_fn,
        Flush flush_fn)
      : batch_size(std::max<size_t>(size, 1)),
        linger(linger_time),
        schedule(std::move(schedule_fn)),
        cancel(std::move(cancel_fn)),
        flush(std::move(flush_fn)) {}

  // Takes the open batch if it is still generation `gen` (the linger timer of a batch that
  // was already flushed full must not cut the next one short).
  std::vector<Lookup> TakeIf(uint64_t gen) {
    absl::MutexLock lock(&mu);
    if (gen != generation || open.empty()) return {};
    ++generation;
    return std::exchange(open, {});
  }

  const size_t batch_size;
  const absl::Duration linger;
  const Schedule schedule;
  const Cancel cancel;
  const Flush flush;
  absl::Mutex mu;
  std::vector<Lookup> open ABSL_GUARDED_BY(mu);
  uint64_t generation ABSL_GUARDED_BY(mu) = 0;  // of the open batch
};

VerdictBatcher::VerdictBatcher(size_t batch_size, absl::Duration linger, Schedule schedule,
                               Cancel cancel, Flush flush)
    : state_(std::make_shared<State>(batch_size, linger, std::move(schedule), std::move(cancel),
                                     std::move(flush))) {}

VerdictBatcher::~VerdictBatcher() = default;

size_t VerdictBatcher::batch_size() const { return state_->batch_size; }

size_t VerdictBatcher::collecting() const {
  absl::MutexLock lock(&state_->mu);
  return state_->open.size();
}

void VerdictBatcher::Add(schema::Observable observable, VerdictSource::Callback done) {
  std::vector<Lookup> full;
  {
    absl::MutexLock lock(&state_->mu);
    // One allocation per batch, not one per doubling.
    if (state_->open.capacity() == 0) state_->open.reserve(state_->batch_size);
    state_->open.push_back(Lookup{std::move(observable), std::move(done)});
    if (state_->open.size() >= state_->batch_size) {
      ++state_->generation;
      full = std::exchange(state_->open, {});
      // Disarm under the lock: a timer armed for the next batch must not be cancelled.
      if (full.size() > 1) state_->cancel();
    } else if (state_->open.size() == 1) {
      const uint64_t gen = state_->generation;
      // Armed under the lock too, so that arm and cancel keep the batches' order.
      std::weak_ptr<State> weak = state_;
      state_->schedule(state_->linger, [weak, gen] {
        std::shared_ptr<State> state = weak.lock();
        if (state == nullptr) return;
        std::vector<Lookup> due = state->TakeIf(gen);
        if (!due.empty()) state->flush(std::move(due));
      });
    }
  }
  if (!full.empty()) return state_->flush(std::move(full));
}

void VerdictBatcher::FlushNow() {
  std::vector<Lookup> due;
  {
    absl::MutexLock lock(&state_->mu);
    if (state_->open.empty()) return;
    ++state_->generation;
    due = std::exchange(state_->open, {});
    state_->cancel();
  }
  state_->flush(std::move(due));
}

std::vector<VerdictBatcher::Lookup> VerdictBatcher::TakeOpen() {
  absl::MutexLock lock(&state_->mu);
  if (state_->open.empty()) return {};
  ++state_->generation;
  state_->cancel();
  return std::exchange(state_->open, {});
}

}  // namespace enrich::transport::internal
