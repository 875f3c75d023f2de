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
// The first SIGINT or SIGTERM sets the flag. A second one (either) ends the process at once
// with _exit(128 + its number): 130 (SIGINT) or 143 (SIGTERM), kExitSecondSigint /
// kExitSecondSigterm, an exit status (WIFEXITED), not a death by signal; a line on stderr says
// so. If a journal record is being written at that moment (a JournalWriteGuard lives), the
// exit waits for the write to end, so the journal ends with whole records: usable by --resume
// as it is (journal.h also cuts a torn tail, should a kill -9 leave one). The job
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

// Held around each write of journal records (journal.cc): a second stop signal that comes
// meanwhile ends the process when the last guard goes, never in the middle of the write. A
// guard made after a second signal came does not return: its write is not started and the
// process ends as soon as no other write is under way. Two atomic operations; any thread.
class JournalWriteGuard {
 public:
  JournalWriteGuard();
  ~JournalWriteGuard();
  JournalWriteGuard(const JournalWriteGuard&) = delete;
  JournalWriteGuard& operator=(const JournalWriteGuard&) = delete;
};

// True once SIGINT or SIGTERM arrived while handlers were installed.
bool StopRequested();
// The signal that requested the stop (SIGINT, SIGTERM), 0 if none.
int StopSignal();

}  // namespace enrich::engine

#endif  // ENRICH_ENGINE_SIGNALS_H_
