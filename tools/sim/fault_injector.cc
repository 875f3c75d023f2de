#include "tools/sim/fault_injector.h"

#include <utility>

#include "absl/strings/match.h"

namespace enrich::sim {
namespace {

constexpr absl::string_view kTokenPath = "/iroh/oauth2/token";
constexpr absl::string_view kTestPrefix = "/__test__/";

}  // namespace

void FaultInjector::Add(FaultRule rule) {
  if (rule.kind == FaultKind::kTokenFail) rule.path_prefix = std::string(kTokenPath);
  absl::MutexLock lock(&mu_);
  rules_.push_back(std::move(rule));
  any_.store(true, std::memory_order_release);
}

void FaultInjector::Clear() {
  absl::MutexLock lock(&mu_);
  rules_.clear();
  any_.store(false, std::memory_order_release);
}

size_t FaultInjector::size() const {
  absl::MutexLock lock(&mu_);
  return rules_.size();
}

std::optional<FaultRule> FaultInjector::Pick(absl::string_view path) {
  if (!any_.load(std::memory_order_acquire)) return std::nullopt;
  if (absl::StartsWith(path, kTestPrefix)) return std::nullopt;
  absl::MutexLock lock(&mu_);
  std::uniform_real_distribution<double> percent(0.0, 100.0);
  for (auto it = rules_.begin(); it != rules_.end(); ++it) {
    if (!absl::StartsWith(path, it->path_prefix)) continue;
    if (it->lookups_only && !IsLookupPath(path)) continue;
    FaultRule picked;
    if (it->next > 0) {
      picked = *it;
      if (--it->next == 0) rules_.erase(it);
      any_.store(!rules_.empty(), std::memory_order_release);
    } else if (percent(random_) < it->percentage) {
      picked = *it;
    } else {
      continue;
    }
    if (picked.kind == FaultKind::kLatency && picked.tail_percentage > 0 &&
        percent(random_) < picked.tail_percentage) {
      picked.latency += picked.tail;
    }
    return picked;
  }
  return std::nullopt;
}

}  // namespace enrich::sim
