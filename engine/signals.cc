#include "engine/signals.h"

#include <atomic>
#include <cerrno>
#include <cstring>

#include "absl/strings/str_cat.h"
#include "engine/exit_codes.h"
#include <signal.h>
#include <unistd.h>

namespace enrich::engine {
namespace {

// Only lock-free atomics may be touched from a signal handler.
std::atomic<int> g_stop_signal{0};
std::atomic<bool> g_installed{false};
// The second signal, once it came: the process ends with 128 + it as soon as no journal write
// is under way (g_writes == 0). Sequentially consistent: the handler stores g_exit_signal then
// reads g_writes, a writer adds to g_writes then reads g_exit_signal, so at least one of them
// sees the other, and the exit never falls inside a write.
std::atomic<int> g_exit_signal{0};
std::atomic<int> g_writes{0};
static_assert(std::atomic<int>::is_always_lock_free);

// A second signal's end: a line on stderr (write(2) and _exit are async-signal-safe).
[[noreturn]] void ExitForSecondSignal(int sig) {
  static constexpr char kInt[] =
      "ctia-enrich: a second SIGINT: exiting now (exit code 130), without the answers in "
      "flight; the journal, if the output has one, is whole: --resume continues\n";
  static constexpr char kTerm[] =
      "ctia-enrich: a second SIGTERM: exiting now (exit code 143), without the answers in "
      "flight; the journal, if the output has one, is whole: --resume continues\n";
  const bool is_int = sig == SIGINT;
  const ssize_t ignored = write(STDERR_FILENO, is_int ? kInt : kTerm,
                                (is_int ? sizeof kInt : sizeof kTerm) - 1);
  (void)ignored;
  _exit(is_int ? kExitSecondSigint : kExitSecondSigterm);
}

extern "C" void OnStopSignal(int sig) {
  int expected = 0;
  if (g_stop_signal.compare_exchange_strong(expected, sig)) return;  // the first: a stop
  expected = 0;
  g_exit_signal.compare_exchange_strong(expected, sig);
  // Else the last JournalWriteGuard to go ends the process.
  if (g_writes.load() == 0) ExitForSecondSignal(g_exit_signal.load());
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
  g_exit_signal.store(0);
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

JournalWriteGuard::JournalWriteGuard() {
  g_writes.fetch_add(1);
  if (const int sig = g_exit_signal.load(); sig != 0) {
    // The second signal came before this write started: it is not made.
    if (g_writes.fetch_sub(1) == 1) ExitForSecondSignal(sig);
    for (;;) pause();  // another write is under way; its guard ends the process
  }
}

JournalWriteGuard::~JournalWriteGuard() {
  if (g_writes.fetch_sub(1) == 1) {
    if (const int sig = g_exit_signal.load(); sig != 0) ExitForSecondSignal(sig);
  }
}

bool StopRequested() { return g_stop_signal.load(std::memory_order_relaxed) != 0; }

int StopSignal() { return g_stop_signal.load(std::memory_order_relaxed); }

}  // namespace enrich::engine
