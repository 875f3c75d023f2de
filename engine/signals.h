#ifndef ENRICH_ENGINE_SIGNALS_H_
#define ENRICH_ENGINE_SIGNALS_H_

// SIGINT / SIGTERM as a stop request: the job (engine/job.h) mirrors it into the pipeline's
// stop flag, so an interrupted run checkpoints instead of dying mid-write.

#include <memory>

#include "absl/status/statusor.h"

namespace enrich::engine {

// SIGINT / SIGTERM → a stop request the pipeline polls, so an interrupted run checkpoints
// (journal synced, temp output abandoned, exit code 75) instead of dying mid-write.
//
// The first SIGINT or SIGTERM sets the flag and restores the default disposition of both, so
// a second one kills the process the usual way (a second Ctrl-C always works): at once, with
// the status a shell and ChildProcess report as 130 (SIGINT) or 143 (SIGTERM), kExitSecondSigint
// / kExitSecondSigterm; the journal's appends are whole write(2)s, so it stays usable. The job
// (engine/job.h) prints "stopping…" when it sees the flag. Destruction restores the handlers
// that were there before Install().
//
// At most one instance exists at a time. The flag is process-wide; StopRequested() and
// StopSignal() are async-signal-safe and callable from any thread.
class ScopedStopSignals {
 public:
  // Installs the handlers and clears the flag. FailedPrecondition if an instance exists;
  // Internal if sigaction fails.
  static absl::StatusOr<std::unique_ptr<ScopedStopSignals>> Install();
  ~ScopedStopSignals();
  ScopedStopSignals(const ScopedStopSignals&) = delete;
  ScopedStopSignals& operator=(const ScopedStopSignals&) = delete;

 private:
  struct Saved;
  explicit ScopedStopSignals(std::unique_ptr<Saved> saved);
  std::unique_ptr<Saved> saved_;
};

// True once SIGINT or SIGTERM arrived while handlers were installed.
bool StopRequested();
// The signal that requested the stop (SIGINT, SIGTERM), 0 if none.
int StopSignal();

}  // namespace enrich::engine

#endif  // ENRICH_ENGINE_SIGNALS_H_
