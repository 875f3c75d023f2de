#ifndef ENRICH_TOOLS_CLI_PLAN_COMMAND_H_
#define ENRICH_TOOLS_CLI_PLAN_COMMAND_H_

// `ctia-enrich plan`: a run's command line (the same flags, registered by run_flags.cc and read
// by JobOptionsFromFlags) answered with what the run would do, read from the input without any
// request: rows, unique observables per type, those already known, the lookups and requests,
// and the time under the quota (engine/plan.h counts; this file prints, as text or --json).

#include "engine/plan.h"
#include "tools/cli/run_flags.h"

#include <string>

#include "CLI/CLI.hpp"

namespace enrich::cli {

struct PlanFlags {
  RunFlags run;  // -o optional: only its journal (<output>.journal) is read
  bool json = false;
};

// Registers `plan` on `app`: run's flags, -o optional, and --json.
CLI::App* AddPlanCommand(CLI::App& app, PlanFlags& flags);

// Plans the run the flags describe and prints it on stdout; the exit code (0, or run's: 2 for
// usage errors, 1 for an unreadable input).
int RunPlan(const PlanFlags& flags);

// The report as text (the plan's stdout) and as one JSON object (--json); the time is counted
// under --rate-limit, or CTIA's default quota when none is given.
std::string PlanText(const engine::PlanReport& report, const PlanFlags& flags);
std::string PlanJson(const engine::PlanReport& report, const PlanFlags& flags);

}  // namespace enrich::cli

#endif  // ENRICH_TOOLS_CLI_PLAN_COMMAND_H_
