#ifndef ENRICH_TRANSPORT_REDIS_REDIS_RECONNECT_H_
#define ENRICH_TRANSPORT_REDIS_REDIS_RECONNECT_H_

// When RedisClient tries to connect again after a failure: capped exponential backoff with
// jitter, as a plain decision class without I/O (STYLE 14), fed connect outcomes.

#include <cstdint>

#include "absl/time/time.h"

namespace enrich::transport {

struct RedisReconnectOptions {
  absl::Duration initial = absl::Milliseconds(50);
  absl::Duration max = absl::Seconds(2);
  double multiplier = 2.0;
  double jitter = 0.2;  // each delay is scaled by a factor in [1 - jitter, 1]
  uint64_t seed = 1;    // randomness is injected (STYLE 15)
};

// Not thread-safe: RedisClient calls it on its strand.
class RedisReconnect {
 public:
  explicit RedisReconnect(RedisReconnectOptions options = {});
  // A connect failed or a connection was lost: the delay before the next attempt. Successive
  // failures grow the delay by `multiplier` up to `max`.
  absl::Duration OnFailure();
  // A connection is up (and authenticated): the next failure starts again at `initial`.
  void OnConnected();
  int64_t failures() const { return failures_; }  // since the last connection

 private:
  double NextUnit();  // uniform in [0, 1)
  RedisReconnectOptions options_;
  absl::Duration next_;
  int64_t failures_ = 0;
  uint64_t rng_;
};

}  // namespace enrich::transport

#endif  // ENRICH_TRANSPORT_REDIS_REDIS_RECONNECT_H_
