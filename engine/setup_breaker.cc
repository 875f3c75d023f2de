#include "engine/setup_breaker.h"

#include <optional>
#include <utility>

#include "absl/strings/str_cat.h"
#include "transport/dual_intel_source.h"

namespace enrich::engine {

using transport::SetupFailure;

SetupBreaker::SetupBreaker(size_t lookups, std::string endpoint)
    : lookups_(lookups), endpoint_(std::move(endpoint)), decided_(lookups == 0) {}

absl::Status SetupBreaker::Observe(const absl::StatusOr<schema::VerdictResult>& result) {
  if (decided_.load(std::memory_order_acquire)) return absl::OkStatus();
  if (!result.ok() && absl::IsCancelled(result.status())) return absl::OkStatus();  // a stop's
  const SetupFailure failure =
      result.ok() ? SetupFailure::kNone : transport::SetupFailureOf(result.status());
  absl::MutexLock lock(&mu_);
  if (decided_.load(std::memory_order_relaxed)) return absl::OkStatus();
  if (failure == SetupFailure::kNone || (seen_ > 0 && failure != failure_)) {
    decided_.store(true, std::memory_order_release);  // the setup works, or failures differ
    return absl::OkStatus();
  }
  if (seen_++ == 0) {
    failure_ = failure;
    first_ = result.status();
  }
  if (seen_ < lookups_) return absl::OkStatus();
  decided_.store(true, std::memory_order_release);
  tripped_ = failure_;
  return absl::FailedPreconditionError(Message(failure_, first_, seen_));
}

std::string SetupBreaker::EndHint() const {
  if (lookups_ == 0) return std::string();
  absl::MutexLock lock(&mu_);
  if (tripped_ != SetupFailure::kNone || seen_ == 0 || decided_.load(std::memory_order_relaxed)) {
    return std::string();
  }
  return Message(failure_, first_, seen_);
}

SetupFailure SetupBreaker::tripped() const {
  absl::MutexLock lock(&mu_);
  return tripped_;
}

std::string SetupBreaker::Message(SetupFailure failure, const absl::Status& first,
                                  size_t seen) const {
  std::string base = endpoint_.empty() ? std::string("the endpoint") : endpoint_;
  std::string flag = "--endpoint";
  // Under run --intel both the failure names the intel it came from (DualIntelSource).
  if (std::optional<transport::FailedIntelEndpoint> at = transport::IntelEndpointOf(first)) {
    base = at->url;
    flag = at->flag;
  }
  const bool tripped = seen >= lookups_;
  const std::string all =
      tripped ? absl::StrCat("the first ", lookups_, " lookups all failed the same way")
              : absl::StrCat("all ", seen, " lookups of the run failed the same way");
  const std::string stopped = tripped ? "stopped before spending the quota: " : "";
  switch (failure) {
    case SetupFailure::kNotCtia:
      return absl::StrCat(stopped, base,
                          " answered 404 with an HTML page on the verdict route (", all, "): ",
                          base,
                          " is probably not the CTIA base URL (expected e.g. "
                          "https://private.intel.amp.cisco.com, without /ctia); fix ", flag);
    case SetupFailure::kRefused:
      return absl::StrCat(stopped, all, ": ", first.message(),
                          "; nothing accepts connections at the host and port of ", base,
                          ": check ", flag,
                          ", and that CTIA (or the proxy) is reachable from here");
    case SetupFailure::kUnresolved:
      return absl::StrCat(stopped, all, ": ", first.message(), "; check the host name of ", base,
                          " (", flag, ") and the DNS");
    case SetupFailure::kTlsVerify:
      return absl::StrCat(stopped, all, ": ", first.message());
    case SetupFailure::kNone:
      break;
  }
  return absl::StrCat(stopped, all, ": ", first.message());
}

}  // namespace enrich::engine
