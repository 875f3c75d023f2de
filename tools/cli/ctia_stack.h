#ifndef ENRICH_TOOLS_CLI_CTIA_STACK_H_
#define ENRICH_TOOLS_CLI_CTIA_STACK_H_

// The transport side of the CLI: CTIA flags, credentials and the running stack (io threads,
// pools, token source, client, or an embedded ctia-sim) whose VerdictSource a job runs against.

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "CLI/CLI.hpp"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "boost/asio/any_io_executor.hpp"
#include "transport/ctia_client.h"
#include "transport/dual_intel_source.h"
#include "transport/verdict_source.h"

namespace enrich::cli {

// Flags that say how to reach CTIA; shared by every subcommand that talks to it.
struct CtiaFlags {
  std::string endpoint;  // empty = embedded ctia-sim with demo data (unless --region)
  int connections = 16;
  double timeout_seconds = 30;
  std::string region;         // us | eu | apjc (reference §8.4); "" = none
  std::string intel;          // private | global (read-only Global-Intel host) | both; "" =
                              // private (not given: --intel needs --region, CheckCtiaFlags)
  // --intel both: Global-Intel's own endpoint, credentials and budget (the private side takes
  // endpoint, credentials_file, rate_limit), and how the two verdicts merge.
  std::string global_endpoint;          // with --endpoint instead of --region
  std::string global_credentials_file;  // default: the private side's credentials
  std::string global_rate_limit;        // default: learned from the global host's headers
  std::string merge;                    // ctia | private-first | both; "" = ctia
  std::string token_url;      // overrides the token endpoint
  std::string ca_file;
  bool insecure_skip_tls_verify = false;
  std::string credentials_file;  // lines "client_id:client_secret[:group]", mode 0600
  std::string rate_limit;        // "N/WINDOW", e.g. 18000/1h or 50/10s
  double max_wait_seconds = 900;
  int io_threads = 1;
  int pipeline_depth = 1;  // HTTP/1.1 requests in flight per connection (1 = no pipelining)
  bool no_auth = false;  // bench against a fixed-answer server: no token, no Authorization
  int batch_size = 100;  // verdicts per POST /ctia/graphql; 1 = REST only
  // Not a flag: what `run` needs beyond the verdict (its --fields, --judgements), set by
  // CtiaFlagsForRun and passed to the client as CtiaClientOptions::details.
  transport::VerdictDetailsOptions details;
  // Not a flag: how long a partial GraphQL batch waits for more lookups. `run` makes it a
  // safety net only (its pipeline flushes a batch when it adds no more: VerdictSource::
  // FlushBatch), so that its requests depend on the input alone; bench keeps a short one.
  absl::Duration batch_linger = absl::Milliseconds(5);
  // Not a flag: the quota shared with other workers (`run --redis`), passed to the client as
  // CtiaClientOptions::shared_quota; null: none. Not owned; outlives the stack.
  transport::SharedQuota* shared_quota = nullptr;
  // Not a flag: under --intel both, Global-Intel's shared quota (its own endpoint's budget
  // groups, as its client has its own budget); null: none.
  transport::SharedQuota* global_shared_quota = nullptr;
};

// The hosts of a region preset (reference §8.4).
struct RegionHosts {
  std::string token_base;    // IROH visibility host (token endpoint)
  std::string private_intel;
  std::string global_intel;
};
absl::StatusOr<RegionHosts> RegionPreset(absl::string_view region);

// One credential from a credentials file.
struct CredentialLine {
  std::string client_id;
  std::string client_secret;
  std::string group;  // "" = the default group
};
// Reads `path`: one `client_id:client_secret[:group]` per line, '#' comments and blank lines
// skipped. Refused (InvalidArgument naming the file) unless the mode is 0600 or stricter;
// errors name the file and line, never the secret.
absl::StatusOr<std::vector<CredentialLine>> ReadCredentialsFile(const std::string& path);

// Usage errors (InvalidArgument) in flags that parse one by one: --intel without --region;
// --intel both without --region or --endpoint and --global-endpoint; --global-endpoint,
// --global-credentials-file, --global-rate-limit or --merge without --intel both; a bad
// --merge.
absl::Status CheckCtiaFlags(const CtiaFlags& flags);

// The run's CTIA deployment as its journal records it (a resumed run must match): --endpoint
// for one intel; under --intel both, both hosts (or the region) and the merge rule, since a
// journal of one rule's verdicts is wrong under another.
std::string JournalEndpoint(const CtiaFlags& flags);

// What each intel's client is asked beyond the verdict: CtiaFlags::details, and under --intel
// both with a merge by CTIA's order (ctia, both) the deciding judgement, whose priority ranks
// the two verdicts.
transport::VerdictDetailsOptions DetailsAsked(const CtiaFlags& flags);

// Registers --endpoint, --connections, --timeout, --region, --intel, --global-endpoint,
// --global-credentials-file, --global-rate-limit, --merge, --token-url, --ca-file,
// --insecure-skip-tls-verify, --credentials-file, --rate-limit, --max-wait, --io-threads,
// --batch-size, --pipeline-depth on `cmd`.
void AddCtiaFlags(CLI::App& cmd, CtiaFlags& flags);

// Everything needed to talk to CTIA: io threads, connection pools, token source, client, and
// (without --endpoint) the embedded ctia-sim. Credentials come from CTIA_CLIENT_ID /
// CTIA_CLIENT_SECRET, never from flags. Under --intel both it holds two clients, Private-Intel
// and Global-Intel (each with its own pools, token sources, credentials and budget, on the same
// io threads), and verdicts() is their transport::DualIntelSource.
class CtiaStack {
 public:
  // Checks the flags (CheckCtiaFlags), builds the stack and fetches a first token, so an
  // unreachable endpoint or rejected credentials fail here, before any output exists. Errors:
  // InvalidArgument for bad usage (--intel without --region, bad URL, missing credentials; exit
  // code 2), others as the transport reports them (the message names the URL, never the
  // secret). Prints a notice on stderr when the embedded simulator is used.
  static absl::StatusOr<std::unique_ptr<CtiaStack>> Start(const CtiaFlags& flags);
  ~CtiaStack();

  // The (private) client: the only one but under --intel both.
  transport::BeastCtiaClient& client();
  // Token requests made so far, over all credentials (both intels).
  uint64_t token_requests() const;
  transport::ConnectionPool& ctia_pool();
  // What lookups go through: client(), or under --intel both the merge of both intels.
  transport::VerdictSource& verdicts();
  // Under --intel both: Global-Intel's client; null with one intel.
  transport::BeastCtiaClient* global_client();
  // Under --intel both: the two intels' answers from `private_side` and `global_side` (e.g.
  // each client behind the workers' shared cache, run --redis) merged as verdicts() merges
  // the clients' (--merge, the endpoints its errors name). Neither source is owned.
  std::unique_ptr<transport::DualIntelSource> MergeOf(transport::VerdictSource& private_side,
                                                      transport::VerdictSource& global_side);
  // The io threads' executor (for what else the run does on the network, e.g. Redis).
  boost::asio::any_io_executor executor();
  // The client's counters; under --intel both, both clients' added up (requests, 429s,
  // retries, ... of the run summary).
  transport::CtiaClientCounters Snapshot();
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
