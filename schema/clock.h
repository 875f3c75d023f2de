#ifndef ENRICH_SCHEMA_CLOCK_H_
#define ENRICH_SCHEMA_CLOCK_H_

// The injected time source (Clock, SystemClock, FakeClock) of every decision that depends on
// time: verdict expiry (engine), token refresh and rate limits (transport), ctia-sim's validity
// windows. Part of schema, the vocabulary layer every other layer builds on; no I/O.

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"

namespace enrich::schema {

// Source of the current time. Injected everywhere a decision depends on time (verdict
// validity, token refresh, rate limiting) so tests can use FakeClock.
// Thread safety: implementations are safe to call from any thread.
class Clock {
 public:
  virtual ~Clock() = default;
  virtual absl::Time Now() const = 0;
};

// Wall clock (absl::Now()).
class SystemClock final : public Clock {
 public:
  absl::Time Now() const override;
  // A process-wide instance; never destroyed.
  static SystemClock& Instance();
};

// A clock that moves only when told. Thread-safe.
class FakeClock final : public Clock {
 public:
  explicit FakeClock(absl::Time start) : now_(start) {}
  absl::Time Now() const override;
  void Set(absl::Time t);
  void Advance(absl::Duration d);

 private:
  mutable absl::Mutex mu_;
  absl::Time now_ ABSL_GUARDED_BY(mu_);
};

}  // namespace enrich::schema

#endif  // ENRICH_SCHEMA_CLOCK_H_
