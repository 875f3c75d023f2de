#ifndef ENRICH_TESTS_FAKES_CLI_RIG_H_
#define ENRICH_TESTS_FAKES_CLI_RIG_H_

// The rig of the integration tests that drive the real `ctia-enrich` binary: ctia-sim started
// in process on 127.0.0.1 at a free port and its per-observable tally, the binary started or
// run as a user runs it (credentials in the environment, stdout and stderr in files, or one
// shell line with its output), a file's size while a run writes it, and a JSON file (summary,
// plan) parsed. Files and temp dirs are tests/engine/temp_dir.h's (TempDir, ReadFileBytes,
// WriteFileBytes), which this header brings.
//
// The library target (enrich_test_cli_rig) knows the binary's path (CTIA_ENRICH_BIN of the
// build) and builds it before the tests that link it.

#include "tests/engine/temp_dir.h"
#include "tests/fakes/child_process.h"
#include "tools/sim/sim_server.h"

#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "rapidjson/document.h"

namespace enrich::testing {

// The path of the ctia-enrich binary under test.
const std::string& CliBinary();

// ctia-sim with `options` listening on 127.0.0.1 at a port the kernel picks; nullptr (and a
// failed expectation naming the error) when it cannot start.
std::unique_ptr<sim::SimServer> StartSim(sim::SimOptions options);

// Lookups per observable ("<type>:<value>", as the sim tallies them) the sim has been asked so
// far, over all its clients. Needs options.test_api.
std::map<std::string, uint64_t> LookupsByObservable(const sim::SimServer& sim);

// The size of the file at `path`; 0 while it does not exist.
uintmax_t FileSize(const std::string& path);

// Waits (polling every 5 ms) until the file at `path` holds at least `bytes` bytes, e.g. a
// run's journal once lookups are in it; false when `timeout` passed first.
bool WaitForFileSize(const std::string& path, uintmax_t bytes, absl::Duration timeout);

// `text` parsed as JSON; a parse error fails the test (the document is then not an object).
rapidjson::Document ParseJson(const std::string& text);

// ctia-enrich with `args`, logged in as `client` / "secret" (CTIA_CLIENT_ID / _SECRET in its
// environment), stdout and stderr to these files (empty: /dev/null).
ChildSpec CliSpec(std::vector<std::string> args, std::string stdout_path,
                  std::string stderr_path, std::string client = "client");

// Starts `spec`; a failure to start fails the test.
absl::StatusOr<ChildProcess> StartCli(const ChildSpec& spec);

// Runs `spec` to its end: the exit code (128 + signal when killed), or -1 (and a failed
// expectation) when it could not start.
int RunCli(const ChildSpec& spec);

// Runs `ctia-enrich ARGS` through /bin/sh (ARGS are shell words, quoted by the caller) with
// the test's environment: stdout and stderr together, and the exit code.
CommandResult RunCliLine(const std::string& args);

}  // namespace enrich::testing

#endif  // ENRICH_TESTS_FAKES_CLI_RIG_H_
