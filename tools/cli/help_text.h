#ifndef ENRICH_TOOLS_CLI_HELP_TEXT_H_
#define ENRICH_TOOLS_CLI_HELP_TEXT_H_

// The footers of `ctia-enrich run --help`, `plan --help` and `bench --help` (CLI11 footer()): examples, the
// exit codes (engine/exit_codes.h) and, for `run`, the ctia_status values a row can get.

#include <string>


namespace enrich::cli {

// Examples, exit codes and ctia_status values, printed after the options of `run --help`.
std::string RunHelpFooter();

// Examples, what is counted and exit codes, printed after the options of `plan --help`.
std::string PlanHelpFooter();

// Examples and exit codes, printed after the options of `bench --help`.
std::string BenchHelpFooter();

}  // namespace enrich::cli

#endif  // ENRICH_TOOLS_CLI_HELP_TEXT_H_
