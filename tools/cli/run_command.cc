#include "tools/cli/run_command.h"

#include "engine/exit_codes.h"
#include "engine/job.h"
#include "engine/pipeline.h"
#include "engine/progress.h"
#include "tools/cli/ctia_stack.h"

#include <cstdio>
#include <future>
#include <memory>
#include <utility>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"

namespace enrich::cli {
namespace {

constexpr absl::Duration kRunBatchLinger = absl::Seconds(2);

void Fail(absl::string_view message) {
  std::fprintf(stderr, "ctia-enrich: %.*s\n", static_cast<int>(message.size()), message.data());
}

// Prints why the CTIA stack did not start; its usage errors (ExitCodeFor) become the engine's.
absl::Status StackError(const absl::Status& status) {
  Fail(status.message());
  return ExitCodeFor(status) == engine::kExitUsage ? engine::UsageError(status.message())
                                                   : status;
}

// Starts the CTIA stack around the job's journal: on --resume the transport starts (thread,
// connection, token) while the journal reloads, so the run waits for the longer of the two, not
// their sum; without --resume it starts first, so that bad credentials fail the run before its
// journal is created. Errors are printed; a usage error is marked so (engine::JobExitCode).
absl::StatusOr<std::unique_ptr<CtiaStack>> StartStackAndJournal(const RunFlags& flags,
                                                                engine::Job& job) {
  auto start_stack = [&flags] {
    // The run's pipeline sends a partial GraphQL batch when it cannot go on without it
    // (engine/pipeline.cc, LookupDispatcher::FlushIfIdle), so its requests are what `plan`
    // counts; the linger is only a safety net. Short, it would cut batches whenever answers
    // are slow and the lookups that fill them wait for an in-flight slot.
    CtiaFlags ctia = CtiaFlagsForRun(flags);
    ctia.batch_linger = kRunBatchLinger;
    return CtiaStack::Start(ctia);
  };
  absl::StatusOr<std::unique_ptr<CtiaStack>> stack = absl::UnknownError("not started");
  std::future<absl::StatusOr<std::unique_ptr<CtiaStack>>> starting;
  if (flags.resume) {
    starting = std::async(std::launch::async, start_stack);
  } else {
    stack = start_stack();
    if (!stack.ok()) return StackError(stack.status());
  }
  if (absl::Status s = job.OpenJournal(); !s.ok()) {
    Fail(s.message());
    return s;
  }
  if (starting.valid()) {
    stack = starting.get();
    if (!stack.ok()) return StackError(stack.status());
  }
  return stack;
}

}  // namespace

int RunEnrich(const RunFlags& flags) {
  // Usage first: nothing is opened or sent before the flags make sense.
  auto options = JobOptionsFromFlags(flags);
  if (!options.ok()) {
    Fail(options.status().message());
    return engine::kExitUsage;
  }
  options->progress_tty = engine::StderrIsTty();
  auto job = engine::Job::Open(*std::move(options));
  if (!job.ok()) {
    Fail(job.status().message());
    return engine::JobExitCode(job.status());
  }
  auto stack = StartStackAndJournal(flags, **job);
  if (!stack.ok()) return engine::JobExitCode(stack.status());
  CtiaStack& ctia = **stack;
  const engine::JobResult result = (*job)->Run(
      ctia.verdicts(),
      [&ctia] {
        ctia.Shutdown();
        return ctia.Snapshot();
      },
      [&ctia] { return ctia.Snapshot(); });
  return result.exit_code;
}

}  // namespace enrich::cli
