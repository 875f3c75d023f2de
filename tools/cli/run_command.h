#ifndef ENRICH_TOOLS_CLI_RUN_COMMAND_H_
#define ENRICH_TOOLS_CLI_RUN_COMMAND_H_

#include <string>

#include "CLI/CLI.hpp"
#include "tools/cli/ctia_stack.h"

namespace enrich::cli {

// Flags of `ctia-enrich run`.
struct RunFlags {
  std::string input;
  std::string output;
  std::string column;
  CtiaFlags ctia;
  std::string summary_json;  // optional path
};

// Registers `run` on `app`; the callback stores the flags.
CLI::App* AddRunCommand(CLI::App& app, RunFlags& flags);

// Runs the enrichment job. Returns the process exit code: 0 done, 1 failed (message on
// stderr), 2 bad usage.
int RunEnrich(const RunFlags& flags);

}  // namespace enrich::cli

#endif  // ENRICH_TOOLS_CLI_RUN_COMMAND_H_
