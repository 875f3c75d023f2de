#include "tools/cli/run_command.h"

#include "engine/exit_codes.h"
#include "engine/job.h"
#include "engine/pipeline.h"
#include "engine/progress.h"
#include "tools/cli/ctia_stack.h"
#include "tools/cli/shared_redis.h"

#include <cstdio>
#include <future>
#include <memory>
#include <utility>

#include "absl/cleanup/cleanup.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"

namespace enrich::cli {
namespace {

constexpr absl::Duration kRunBatchLinger = absl::Seconds(2);
constexpr absl::Duration kSharedQuotaBatchLinger = absl::Seconds(30);

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
// journal is created. With --redis the shared cache is set up on the stack before the journal
// too (an unreachable Redis stops the run before anything is written), and `quota` (the org's
// quota shared through it, given to the stack's client; `global_quota` to Global-Intel's under
// --intel both) attached to it. Errors are printed; a
// usage error is marked so (engine::JobExitCode).
absl::StatusOr<std::unique_ptr<CtiaStack>> StartStackAndJournal(
    const RunFlags& flags, engine::Job& job, transport::RedisQuota* quota,
    transport::RedisQuota* global_quota, std::unique_ptr<SharedRedis>& shared) {
  auto start_stack = [&flags, quota, global_quota] {
    // The run's pipeline sends a partial GraphQL batch when it cannot go on without it
    // (engine/pipeline.cc, LookupDispatcher::FlushIfIdle), so its requests are what `plan`
    // counts; the linger is only a safety net. Short, it would cut batches whenever answers
    // are slow and the lookups that fill them wait for an in-flight slot.
    CtiaFlags ctia = CtiaFlagsForRun(flags);
    ctia.batch_linger = kRunBatchLinger;
    ctia.shared_quota = quota;
    ctia.global_shared_quota = global_quota;
    // Under the shared quota a partial batch waits while requests wait for the quota (it fills
    // meanwhile; CallContext::DeferFlush): the linger must not send it before.
    if (quota != nullptr) ctia.batch_linger = kSharedQuotaBatchLinger;
    return CtiaStack::Start(ctia);
  };
  auto start_shared = [&flags, &shared, quota, global_quota](CtiaStack& ctia) -> absl::Status {
    if (flags.redis.empty()) return absl::OkStatus();
    auto started = SharedRedis::Start({flags.redis, flags.redis_optional,
                                       flags.max_cache_ttl_seconds, flags.negative_ttl_seconds},
                                      CtiaFlagsForRun(flags), ctia, quota, global_quota);
    if (!started.ok()) return started.status();
    shared = *std::move(started);
    return absl::OkStatus();
  };
  absl::StatusOr<std::unique_ptr<CtiaStack>> stack = absl::UnknownError("not started");
  std::future<absl::StatusOr<std::unique_ptr<CtiaStack>>> starting;
  if (flags.resume) {
    starting = std::async(std::launch::async, start_stack);
  } else {
    stack = start_stack();
    if (!stack.ok()) return StackError(stack.status());
    if (absl::Status s = start_shared(**stack); !s.ok()) return StackError(s);
  }
  if (absl::Status s = job.OpenJournal(); !s.ok()) {
    Fail(s.message());
    if (shared != nullptr) shared->Close();  // before the stack stops its io threads
    return s;
  }
  if (starting.valid()) {
    stack = starting.get();
    if (!stack.ok()) return StackError(stack.status());
    if (absl::Status s = start_shared(**stack); !s.ok()) return StackError(s);
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
  // The N of --shard K/N share the quota from the start, before Redis has counted them.
  const int64_t workers = options->pipeline.shard ? options->pipeline.shard->count : 1;
  auto job = engine::Job::Open(*std::move(options));
  if (!job.ok()) {
    Fail(job.status().message());
    return engine::JobExitCode(job.status());
  }
  // --cache DIR before the CTIA stack: a damaged one with --cache-damaged=fail stops the run
  // before any token is asked for or an embedded ctia-sim started.
  if (absl::Status s = (*job)->OpenCache(); !s.ok()) {
    Fail(s.message());
    return engine::JobExitCode(s);
  }
  // The shared quotas outlive the stack whose clients ask them: under --intel both each intel's
  // client has its own (each host its own budget).
  std::unique_ptr<transport::RedisQuota> quota, global_quota;
  if (!flags.redis.empty()) quota = SharedRedis::MakeQuota(flags.ctia, workers);
  if (!flags.redis.empty() && flags.ctia.intel == "both") {
    global_quota = SharedRedis::MakeQuota(flags.ctia, workers, /*global=*/true);
  }
  std::unique_ptr<SharedRedis> shared;
  auto stack = StartStackAndJournal(flags, **job, quota.get(), global_quota.get(), shared);
  if (!stack.ok()) return engine::JobExitCode(stack.status());
  CtiaStack& ctia = **stack;
  // Redis' connection closes before the stack stops the io threads, on every way out.
  absl::Cleanup close_shared = [&shared] {
    if (shared != nullptr) shared->Close();
  };
  const engine::JobResult result = (*job)->Run(
      shared != nullptr ? shared->verdicts() : ctia.verdicts(),
      [&ctia, &shared] {
        if (shared != nullptr) shared->Close();
        ctia.Shutdown();
        return ctia.Snapshot();
      },
      [&ctia] { return ctia.Snapshot(); });
  if (shared != nullptr) Fail(shared->Summary());
  return result.exit_code;
}

}  // namespace enrich::cli
