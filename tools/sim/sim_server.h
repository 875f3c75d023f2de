// ctia-sim's server: the Beast HTTP/1.1 (and HTTPS) shell around the Router, and the public
// header of the enrich::sim library for tests, benchmarks and the CLI's embedded demo; it
// brings the option, fault, counter and seed-data headers with it.

#ifndef ENRICH_TOOLS_SIM_SIM_SERVER_H_
#define ENRICH_TOOLS_SIM_SIM_SERVER_H_

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "schema/judgement.h"
#include "tools/sim/demo_data.h"
#include "tools/sim/fault_rule.h"
#include "tools/sim/ndjson_seed.h"
#include "tools/sim/sim_counters.h"
#include "tools/sim/sim_options.h"
#include "tools/sim/synthetic.h"

namespace enrich::sim {

// ctia-sim: a CTIA-compatible HTTP/1.1 server (reference/ctia-api.md §12).
//
// Serves, on one port: POST /iroh/oauth2/token; GET /ctia/{type}/{value}/verdict;
// POST /ctia/judgement; GET and DELETE /ctia/judgement/{id}; POST /ctia/bulk;
// GET /ctia/judgement/external_id/{xid};
// GET /ctia/status; GET /ctia/version. Keep-alive, any number of connections.
//
// Thread safety: Start/Stop from one controlling thread; AddJudgements, Counters and
// JudgementCount from any thread.
class SimServer {
 public:
  explicit SimServer(SimOptions options);
  ~SimServer();  // Stop()s
  SimServer(const SimServer&) = delete;
  SimServer& operator=(const SimServer&) = delete;

  // Binds, listens and starts the io threads. Returns the bound port. Error: Unavailable with
  // the bind address and the OS message; InvalidArgument from CheckTlsCredentials.
  absl::StatusOr<uint16_t> Start();
  // Closes the listener and every connection, joins the threads. Idempotent.
  void Stop();

  uint16_t port() const;
  // "http://127.0.0.1:<port>" ("https://..." with TLS)
  std::string base_url() const;

  // Stores judgements as POST /ctia/judgement would (defaults of reference §5.2 applied to
  // fields left unset: id, created, valid_time, timestamp, tlp "green", owner/groups of the
  // first configured client). Returns the long ids.
  std::vector<std::string> AddJudgements(std::vector<schema::Judgement> judgements);
  size_t JudgementCount() const;
  // Every stored judgement whose external_ids hold `external_id` (short ids, no ACL filter).
  std::vector<schema::Judgement> JudgementsByExternalId(absl::string_view external_id) const;

  SimCounters Counters() const;

  // ---- in-process test controls (the same as the /__test__/ API; any thread) ----
  void AddFault(FaultRule rule);
  void ClearFaults();
  // Server clock: fixed at `t` until released; Advance moves the fixed time, or offsets the
  // configured clock when not fixed; Release returns to the configured clock.
  void SetClockFixed(absl::Time t);
  void AdvanceClock(absl::Duration d);
  void ReleaseClock();
  absl::Time Now() const;
  // Run-time switches (SimOptions::graphql, SimOptions::token_check_at_send).
  void SetGraphqlEnabled(bool on);
  void SetTokenCheckAtSend(bool on);
  // Clears judgements, faults, counters, rate-limit logs and the clock override; the standing
  // faults (hang_percent, slow_percent) and the switches return to their configured state.
  // Issued tokens stay valid.
  void Reset();
  // ctia `max-record-visibility`: true = "everyone", false = "group".
  void SetGreenVisibleToEveryone(bool everyone);
  // Loads an NDJSON file (ForEachJudgementNdjson) into the store in batches, as
  // AddJudgements; returns how many were stored. On an error the lines before it stay loaded.
  absl::StatusOr<size_t> LoadNdjson(const std::string& path);
  void ExpireAllTokens();
  EndpointCounts CountsByEndpoint() const;
  // Empty unless SimOptions::test_api is on (the tally costs a lock per observable).
  LookupTally Lookups() const;

 private:
  class Impl;
  std::unique_ptr<Impl> impl_;
};

// Checks that `cert_pem` is a PEM certificate chain and `key_pem` a PEM private key that
// belongs to its first certificate, as SimServer::Start() loads them. Errors: InvalidArgument
// starting with "certificate chain: ", "private key: " or "private key does not match the
// certificate", with OpenSSL's reason.
absl::Status CheckTlsCredentials(const std::string& cert_pem, const std::string& key_pem);

}  // namespace enrich::sim

#endif  // ENRICH_TOOLS_SIM_SIM_SERVER_H_
