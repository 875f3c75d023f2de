#ifndef ENRICH_TOOLS_CLI_HELP_TEXT_H_
#define ENRICH_TOOLS_CLI_HELP_TEXT_H_

// The footers of `ctia-enrich run --help` and `bench --help` (CLI11 footer()): examples, the
// exit codes (engine/exit_codes.h) and, for `run`, the ctia_status values a row can get.

#include <string>

#include "absl/strings/string_view.h"

namespace enrich::cli {

// Examples, exit codes and ctia_status values, printed after the options of `run --help`.
// `exit_codes`: the text on exit codes the subcommand already has as its footer (empty: none;
// then the codes of engine/exit_codes.h are listed here).
std::string RunHelpFooter(absl::string_view exit_codes);

// Examples and exit codes, printed after the options of `bench --help`.
std::string BenchHelpFooter();

}  // namespace enrich::cli

#endif  // ENRICH_TOOLS_CLI_HELP_TEXT_H_
