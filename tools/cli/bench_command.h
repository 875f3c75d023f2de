#ifndef ENRICH_TOOLS_CLI_BENCH_COMMAND_H_
#define ENRICH_TOOLS_CLI_BENCH_COMMAND_H_

// `ctia-enrich bench`: keeps lookups in flight against a CTIA endpoint through the same
// transport stack as `run` (ctia_stack.h) and reports the rate and latency.

#include <string>

#include "CLI/CLI.hpp"
#include "tools/cli/ctia_stack.h"

namespace enrich::cli {

// Flags of `ctia-enrich bench`.
struct BenchFlags {
  std::string target;        // CTIA base URL (becomes --endpoint)
  double duration_seconds = 10;
  std::string observables;   // file: one "type,value" or bare value per line
  int synthetic = 0;         // or N synthetic IPv4 observables
  int in_flight = 0;         // lookups kept in flight; 0 = 2 × --connections
  CtiaFlags ctia;
};

// Registers `bench` on `app`.
CLI::App* AddBenchCommand(CLI::App& app, BenchFlags& flags);

// Drives verdict lookups through the same CtiaStack/BeastCtiaClient the run uses, closed loop
// with `in_flight` outstanding lookups, for the duration. Checks one lookup first (its answer
// must decode as a verdict or "no verdict") and exits 1 if it does not. Prints requests/s,
// observables/s, latency p50/p90/p99, status and result counts, and one machine-readable line
// starting with "bench_result". Exit code 0, 1 (failed), 2 (usage).
int RunBench(const BenchFlags& flags);

}  // namespace enrich::cli

#endif  // ENRICH_TOOLS_CLI_BENCH_COMMAND_H_
