#include "transport/redis/redis_reconnect.h"

#include <algorithm>

namespace enrich::transport {

RedisReconnect::RedisReconnect(RedisReconnectOptions options)
    : options_(options), next_(options.initial), rng_(options.seed | 1) {}

double RedisReconnect::NextUnit() {
  // xorshift64*: enough for jitter, and reproducible from the seed.
  rng_ ^= rng_ >> 12;
  rng_ ^= rng_ << 25;
  rng_ ^= rng_ >> 27;
  return static_cast<double>((rng_ * 2685821657736338717ULL) >> 11) / 9007199254740992.0;
}

absl::Duration RedisReconnect::OnFailure() {
  ++failures_;
  const absl::Duration base = next_;
  next_ = std::min(options_.max, next_ * options_.multiplier);
  // Jitter spreads the reconnects of many workers after one Redis restart.
  return base * (1.0 - options_.jitter * NextUnit());
}

void RedisReconnect::OnConnected() {
  failures_ = 0;
  next_ = options_.initial;
}

}  // namespace enrich::transport
