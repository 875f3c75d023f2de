// ctia-sim's settings as the command line and a TOML file give them (SimSettings), and their
// conversion into SimOptions for the server. Used by main.cc, before the server starts.

#ifndef ENRICH_TOOLS_SIM_SIM_CONFIG_H_
#define ENRICH_TOOLS_SIM_SIM_CONFIG_H_

#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "tools/sim/sim_options.h"

namespace enrich::sim {

// Every ctia-sim setting in the form the command line takes it. A TOML file (--config FILE)
// fills it first; the command-line flags then overwrite what they name, so flags win.
struct SimSettings {
  SimOptions options;
  // --client ID:SECRET[:ORG], repeatable; when non-empty it replaces `options.clients`.
  std::vector<std::string> client_flags;
  int token_ttl_seconds = 600;
  std::string seed_file;
  bool no_demo = false;
  std::string rate_limit;                       // "N/WINDOW"; empty = off
  std::vector<std::string> rate_limit_customs;  // "ORG=N"
  std::string visibility = "everyone";          // or "group"
  int idle_timeout_seconds = 30;
  int latency_ms = 0;  // --latency-ms: SimOptions::latency
  int slow_ms = 0;     // --slow-ms: SimOptions::slow
  // --tls-cert FILE / --tls-key FILE: PEM files read by FinishSimOptions; both empty = HTTP.
  std::string tls_cert_file;
  std::string tls_key_file;
};

// Reads the TOML file at `path` into `settings`; keys absent from the file keep their values.
//
// Layout (every key optional; configs/sim-local.toml lists them all with comments):
//   [server]     bind, port, threads, public_base, header_limit, body_limit, idle_timeout,
//                latency_ms, tls_cert, tls_key (relative to the file's folder), graphql
//   [auth]       token_ttl, token_check_at_send, [[auth.clients]] {id, secret, org, login, scopes}
//   [data]       seed (relative to the file's folder), demo, bulk_max, synthetic, visibility
//   [rate_limit] limit ("N/WINDOW"), orgs {ORG = N}, unlimited_clients, header, remaining, per
//   [test]       api, fault_seed, hang_percent, html_404, slow_percent, slow_ms
// Errors are InvalidArgument naming the file, the line and the key, e.g.
// "sim.toml:4: key 'server.port': expected an integer in 0..65535, got 70000". Unknown
// sections and keys are errors too (a typo must not be ignored).
absl::Status LoadSimConfig(const std::string& path, SimSettings& settings);

// Turns the string-valued settings (client flags, rate limit, per-org limits, token ttl,
// visibility, idle timeout, TLS files) into `settings.options`. Errors name the flag, and for
// TLS the file: unreadable, not PEM, or a key that does not match the certificate.
absl::StatusOr<SimOptions> FinishSimOptions(const SimSettings& settings);

// The effective settings as a TOML document LoadSimConfig reads back (ctia-sim
// --print-settings). Client secrets are written as "<redacted>", never in clear.
std::string FormatSimSettings(const SimSettings& settings);

}  // namespace enrich::sim

#endif  // ENRICH_TOOLS_SIM_SIM_CONFIG_H_
