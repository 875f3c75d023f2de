#include "tools/sim/sim_clock.h"

namespace enrich::sim {

absl::Time SimClock::Now() const {
  if (!overridden_.load(std::memory_order_acquire)) return base_.Now();
  absl::MutexLock lock(&mu_);
  return fixed_ ? fixed_at_ : base_.Now() + offset_;
}

void SimClock::SetFixed(absl::Time t) {
  absl::MutexLock lock(&mu_);
  fixed_ = true;
  fixed_at_ = t;
  overridden_.store(true, std::memory_order_release);
}

void SimClock::Advance(absl::Duration d) {
  absl::MutexLock lock(&mu_);
  if (fixed_) {
    fixed_at_ += d;
  } else {
    offset_ += d;
  }
  overridden_.store(true, std::memory_order_release);
}

void SimClock::Release() {
  absl::MutexLock lock(&mu_);
  fixed_ = false;
  offset_ = absl::ZeroDuration();
  overridden_.store(false, std::memory_order_release);
}

}  // namespace enrich::sim
