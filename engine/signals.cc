#include "engine/signals.h"

#include <atomic>
#include <cerrno>
#include <cstring>

#include "absl/strings/str_cat.h"
#include <signal.h>

namespace enrich::engine {
namespace {

// Only lock-free atomics may be touched from a signal handler.
std::atomic<int> g_stop_signal{0};
std::atomic<bool> g_installed{false};
static_assert(std::atomic<int>::is_always_lock_free);

void RestoreDefault(int sig) {
  struct sigaction dfl;
  std::memset(&dfl, 0, sizeof dfl);
  dfl.sa_handler = SIG_DFL;
  sigemptyset(&dfl.sa_mask);
  sigaction(sig, &dfl, nullptr);  // async-signal-safe (POSIX.1-2008 §2.4.3)
}

extern "C" void OnStopSignal(int sig) {
  int expected = 0;
  g_stop_signal.compare_exchange_strong(expected, sig);
  RestoreDefault(SIGINT);
  RestoreDefault(SIGTERM);
}

}  // namespace

struct ScopedStopSignals::Saved {
  struct sigaction int_action;
  struct sigaction term_action;
};

absl::StatusOr<std::unique_ptr<ScopedStopSignals>> ScopedStopSignals::Install() {
  if (g_installed.exchange(true)) {
    return absl::FailedPreconditionError("stop-signal handlers are already installed");
  }
  g_stop_signal.store(0);
  auto saved = std::make_unique<Saved>();
  struct sigaction action;
  std::memset(&action, 0, sizeof action);
  action.sa_handler = OnStopSignal;
  sigemptyset(&action.sa_mask);
  // SA_RESTART: a signal does not make blocking reads and writes of other threads fail EINTR.
  action.sa_flags = SA_RESTART;
  if (sigaction(SIGINT, &action, &saved->int_action) != 0) {
    g_installed.store(false);
    return absl::InternalError(absl::StrCat("sigaction(SIGINT): ", std::strerror(errno)));
  }
  if (sigaction(SIGTERM, &action, &saved->term_action) != 0) {
    const int err = errno;
    sigaction(SIGINT, &saved->int_action, nullptr);
    g_installed.store(false);
    return absl::InternalError(absl::StrCat("sigaction(SIGTERM): ", std::strerror(err)));
  }
  return std::unique_ptr<ScopedStopSignals>(new ScopedStopSignals(std::move(saved)));
}

ScopedStopSignals::ScopedStopSignals(std::unique_ptr<Saved> saved) : saved_(std::move(saved)) {}

ScopedStopSignals::~ScopedStopSignals() {
  sigaction(SIGINT, &saved_->int_action, nullptr);
  sigaction(SIGTERM, &saved_->term_action, nullptr);
  g_installed.store(false);
}

bool StopRequested() { return g_stop_signal.load(std::memory_order_relaxed) != 0; }

int StopSignal() { return g_stop_signal.load(std::memory_order_relaxed); }

}  // namespace enrich::engine
