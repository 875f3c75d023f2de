#ifndef ENRICH_TOOLS_SIM_SIM_SERVER_H_
#define ENRICH_TOOLS_SIM_SIM_SERVER_H_

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "schema/clock.h"
#include "schema/judgement.h"

namespace enrich::sim {

// An API client ctia-sim accepts at its token endpoint.
struct SimClient {
  std::string id;
  std::string secret;
  std::string org = "org-1";    // group for visibility and rate limiting
  std::string login = "";       // JWT `sub`; defaults to the client id
  std::vector<std::string> scopes = {"private-intel"};
};

struct SimOptions {
  std::string bind = "127.0.0.1";
  uint16_t port = 0;  // 0 = any free port; Start() returns the bound one
  int threads = 1;    // io_context threads
  // Default local client: id "client", secret "secret" (documented in ctia-sim --help).
  std::vector<SimClient> clients = {SimClient{"client", "secret"}};
  absl::Duration token_ttl = absl::Seconds(600);
  // Base of long judgement ids, e.g. "http://127.0.0.1:8080" (ctia `http.show`, reference
  // §5.2). Empty = "http://<bind>:<bound port>".
  std::string public_base;
  // Clock for token expiry, defaults and verdict validity. Not owned; must outlive the server.
  const schema::Clock* clock = &schema::SystemClock::Instance();
  // Most entities one POST /ctia/bulk may carry (ctia `http.bulk.max-size`, reference §6.1).
  size_t bulk_max = 2000;
  // ctia `access-control.max-record-visibility` (reference §2.5): true = "everyone" (TLP
  // white/green records visible to every caller, CTIA's default); false = "group".
  bool green_visible_to_everyone = true;
  // Connection limits: a request whose header block or body exceeds these gets 431 / 413 and
  // the connection is closed; an idle keep-alive connection is closed after `idle_timeout`.
  size_t header_limit = 8 * 1024;
  size_t body_limit = 16 * 1024 * 1024;
  absl::Duration idle_timeout = absl::Seconds(30);
};

// Request counters (per route family and status class) for tests.
struct SimCounters {
  uint64_t token_requests = 0;
  uint64_t verdict_requests = 0;
  uint64_t judgement_posts = 0;
  uint64_t bulk_posts = 0;
  uint64_t unauthorized = 0;  // 401 answers
  uint64_t total = 0;
  // Added: other route families and status classes.
  uint64_t judgement_reads = 0;    // GET /ctia/judgement/{id}
  uint64_t judgement_deletes = 0;  // DELETE /ctia/judgement/{id}
  uint64_t forbidden = 0;          // 403 answers
  uint64_t client_errors = 0;      // every 4xx answer (401 and 403 included)
};

// ctia-sim: a CTIA-compatible HTTP/1.1 server (reference/ctia-api.md §12).
//
// Serves, on one port: POST /iroh/oauth2/token; GET /ctia/{type}/{value}/verdict;
// POST /ctia/judgement; GET and DELETE /ctia/judgement/{id}; POST /ctia/bulk;
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
  // the bind address and the OS message.
  absl::StatusOr<uint16_t> Start();
  // Closes the listener and every connection, joins the threads. Idempotent.
  void Stop();

  uint16_t port() const;
  // "http://127.0.0.1:<port>"
  std::string base_url() const;

  // Stores judgements as POST /ctia/judgement would (defaults of reference §5.2 applied to
  // fields left unset: id, created, valid_time, timestamp, tlp "green", owner/groups of the
  // first configured client). Returns the long ids.
  std::vector<std::string> AddJudgements(std::vector<schema::Judgement> judgements);
  size_t JudgementCount() const;

  SimCounters Counters() const;

 private:
  class Impl;
  std::unique_ptr<Impl> impl_;
};

// The built-in demo data set: a few dozen judgements on domains, IPs, URLs and hashes with
// every disposition, relative to `now`. The sample log generator (tools/sample) draws part of
// its observables from these.
std::vector<schema::Judgement> DemoJudgements(absl::Time now);

// Reads an NDJSON seed file: one judgement per line in the form POST /ctia/judgement takes
// (reference §5.1), creation defaults relative to `now`. Blank lines and lines starting with
// '#' are skipped. Error: NotFound when the file cannot be read; InvalidArgument naming
// "<path>:<line>: " and the first problem (JSON syntax or field error) otherwise.
absl::StatusOr<std::vector<schema::Judgement>> LoadJudgementsNdjson(const std::string& path,
                                                                    absl::Time now);

}  // namespace enrich::sim

#endif  // ENRICH_TOOLS_SIM_SIM_SERVER_H_
