#ifndef ENRICH_TOOLS_CLI_CTIA_STACK_H_
#define ENRICH_TOOLS_CLI_CTIA_STACK_H_

#include <memory>
#include <string>

#include "CLI/CLI.hpp"
#include "absl/status/statusor.h"
#include "transport/ctia_client.h"
#include "transport/verdict_source.h"

namespace enrich::cli {

// Flags that say how to reach CTIA; shared by every subcommand that talks to it.
struct CtiaFlags {
  std::string endpoint;  // empty = embedded ctia-sim with demo data
  int connections = 16;
  double timeout_seconds = 30;
};

// Registers --endpoint, --connections, --timeout on `cmd`.
void AddCtiaFlags(CLI::App& cmd, CtiaFlags& flags);

// Everything needed to talk to CTIA: io threads, connection pools, token source, client, and
// (without --endpoint) the embedded ctia-sim. Credentials come from CTIA_CLIENT_ID /
// CTIA_CLIENT_SECRET, never from flags.
class CtiaStack {
 public:
  // Builds the stack and fetches a first token, so an unreachable endpoint or rejected
  // credentials fail here, before any output exists. Errors: InvalidArgument for bad usage
  // (bad URL, missing credentials; exit code 2), others as the transport reports them (the
  // message names the URL, never the secret). Prints a notice on stderr when the embedded
  // simulator is used.
  static absl::StatusOr<std::unique_ptr<CtiaStack>> Start(const CtiaFlags& flags);
  ~CtiaStack();

  transport::BeastCtiaClient& client();
  transport::VerdictSource& verdicts() { return client(); }
  // Stops the pools, the io threads and the embedded simulator. Idempotent.
  void Shutdown();

 private:
  struct Parts;
  explicit CtiaStack(std::unique_ptr<Parts> parts);
  std::unique_ptr<Parts> parts_;
};

// Exit code for a failed Status: 2 for InvalidArgument (usage), 1 otherwise.
int ExitCodeFor(const absl::Status& status);

}  // namespace enrich::cli

#endif  // ENRICH_TOOLS_CLI_CTIA_STACK_H_
