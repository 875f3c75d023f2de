#ifndef ENRICH_TESTS_FAKES_CHILD_PROCESS_H_
#define ENRICH_TESTS_FAKES_CHILD_PROCESS_H_

#include <sys/types.h>

#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"

namespace enrich::testing {

// How to start a program for a test: the real binary as a user runs it.
struct ChildSpec {
  std::string program;            // path of the executable
  std::vector<std::string> args;  // argv[1..]
  std::string cwd;                // empty = the test's own
  std::string stdin_path;         // empty = /dev/null
  std::string stdout_path;        // empty = /dev/null; truncated
  std::string stderr_path;        // empty = /dev/null; truncated
  std::vector<std::pair<std::string, std::string>> env;  // added to (or replacing in) ours
};

// A started child process. Not thread-safe. The destructor kills (SIGKILL) and reaps a child
// that was not waited for, so a failing test leaves no process behind.
class ChildProcess {
 public:
  // fork + exec. Errors: fork failures; an exec failure shows as exit code 127.
  static absl::StatusOr<ChildProcess> Start(const ChildSpec& spec);

  ChildProcess(ChildProcess&& other) noexcept
      : pid_(std::exchange(other.pid_, -1)), killed_by_signal_(other.killed_by_signal_) {}
  ChildProcess& operator=(ChildProcess&& other) noexcept;
  ChildProcess(const ChildProcess&) = delete;
  ChildProcess& operator=(const ChildProcess&) = delete;
  ~ChildProcess();

  pid_t pid() const { return pid_; }

  // Waits for the child to end. Returns its exit code, or 128 + signal number when a signal
  // ended it (as a shell reports it).
  int Wait();

  // After Wait() or Poll() saw the end: whether a signal killed the child (Wait() then said
  // 128 + its number) rather than the child exiting with a code.
  bool killed_by_signal() const { return killed_by_signal_; }

  // Non-blocking: the exit code (as Wait) if the child has ended, else nullopt.
  std::optional<int> Poll();

  // Sends `signal` (e.g. SIGKILL) to a child that has not been reaped.
  void Signal(int signal);

 private:
  explicit ChildProcess(pid_t pid) : pid_(pid) {}
  static int Decode(int wait_status);
  pid_t pid_ = -1;  // -1 once reaped
  bool killed_by_signal_ = false;
};

// Runs `spec` to its end; returns the exit code as ChildProcess::Wait does.
absl::StatusOr<int> RunChild(const ChildSpec& spec);

// What a command line run through the shell printed and how it ended.
struct CommandResult {
  int exit_code = -1;   // -1 when it could not be started or did not exit normally
  std::string output;   // stdout and stderr together
};

// Runs `program args` through /bin/sh (args are shell words, quoted by the caller) with stderr
// sent to stdout, and waits for it.
CommandResult RunCommandLine(const std::string& program, const std::string& args);

}  // namespace enrich::testing

#endif  // ENRICH_TESTS_FAKES_CHILD_PROCESS_H_
