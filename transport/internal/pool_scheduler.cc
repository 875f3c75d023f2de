#include "transport/internal/pool_scheduler.h"

#include <algorithm>

namespace enrich::transport::internal {

PoolScheduler::PoolScheduler(size_t max_connections, size_t pipeline_depth)
    : max_connections_(std::max<size_t>(max_connections, 1)),
      pipeline_depth_(std::max<size_t>(pipeline_depth, 1)) {}

long PoolScheduler::Pick(const HttpExchange& exchange, bool* opened) {
  *opened = false;
  if (!idle_.empty()) {
    const size_t c = idle_.back();
    idle_.pop_back();
    slots_[c].idle = false;
    return static_cast<long>(c);
  }
  if (slots_.size() < max_connections_) {
    slots_.emplace_back();
    *opened = true;
    return static_cast<long>(slots_.size() - 1);
  }
  long best = -1;
  if (pipeline_depth_ > 1 && exchange.request().idempotent && !exchange.alone()) {
    for (size_t c = 0; c < slots_.size(); ++c) {
      const Slot& s = slots_[c];
      if (s.exclusive || s.assigned >= pipeline_depth_) continue;
      if (best < 0 || s.assigned < slots_[static_cast<size_t>(best)].assigned) {
        best = static_cast<long>(c);
      }
    }
  }
  return best;
}

void PoolScheduler::Assign(size_t connection, const HttpRequest& request) {
  Slot& s = slots_[connection];
  ++s.assigned;
  if (!request.idempotent) s.exclusive = true;
}

PoolScheduler::Assignment PoolScheduler::Submit(HttpExchange* exchange) {
  if (shutdown_) return {Assignment::kShutDown};
  if (!pending_.empty()) {
    pending_.push_back(exchange);
    return {Assignment::kQueued};
  }
  const HttpRequest& request = exchange->request();
  bool opened = false;
  const long c = Pick(*exchange, &opened);
  if (c < 0) {
    pending_.push_back(exchange);
    return {Assignment::kQueued};
  }
  Assign(static_cast<size_t>(c), request);
  return {opened ? Assignment::kOpen : Assignment::kExisting, static_cast<size_t>(c)};
}

PoolScheduler::Jobs PoolScheduler::OnSettled(size_t connection, size_t finished) {
  Jobs out;
  Slot& s = slots_[connection];
  s.assigned -= std::min(finished, s.assigned);
  if (s.assigned == 0) s.exclusive = false;
  if (shutdown_) return out;
  while (!pending_.empty()) {
    const HttpRequest& request = pending_.front()->request();
    const bool fits = s.assigned == 0 ||
                      (pipeline_depth_ > 1 && !s.exclusive && request.idempotent &&
                       s.assigned < pipeline_depth_ && !pending_.front()->alone());
    if (!fits) break;
    Assign(connection, request);
    out.push_back(pending_.front());
    pending_.pop_front();
  }
  if (s.assigned == 0 && !s.idle) {
    s.idle = true;
    idle_.push_back(connection);
  }
  return out;
}

bool PoolScheduler::Remove(HttpExchange* exchange) {
  auto it = std::find(pending_.begin(), pending_.end(), exchange);
  if (it == pending_.end()) return false;
  pending_.erase(it);
  return true;
}

std::deque<HttpExchange*> PoolScheduler::Shutdown() {
  shutdown_ = true;
  idle_.clear();
  std::deque<HttpExchange*> queued;
  queued.swap(pending_);
  return queued;
}

}  // namespace enrich::transport::internal
