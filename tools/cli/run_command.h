#ifndef ENRICH_TOOLS_CLI_RUN_COMMAND_H_
#define ENRICH_TOOLS_CLI_RUN_COMMAND_H_

// `ctia-enrich run`: its flags (run_flags.h) become an engine::Job (engine/job.h), run against
// the CTIA stack (ctia_stack.h); the process exit code is the job's.

#include "tools/cli/run_flags.h"

namespace enrich::cli {

// Runs the enrichment job. Returns the process exit code (engine/exit_codes.h): 0 done,
// 1 failed (message on stderr), 2 bad usage, 75 checkpointed (rate-limit wait too long, or
// SIGINT/SIGTERM): rerun with --resume.
int RunEnrich(const RunFlags& flags);

}  // namespace enrich::cli

#endif  // ENRICH_TOOLS_CLI_RUN_COMMAND_H_
