#ifndef ENRICH_TOOLS_SIM_SIM_SERVER_H_
#define ENRICH_TOOLS_SIM_SIM_SERVER_H_

#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "absl/functional/function_ref.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "schema/clock.h"
#include "absl/strings/string_view.h"
#include "schema/judgement.h"
#include "schema/verdict.h"

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
  // Every answer but the test API's waits this long before it is sent, as one from a server
  // across a network would (ctia-sim --latency-ms); an injected latency fault replaces it.
  // Benchmarks use it so the request rate is set by round trips, as against CTIA, rather than
  // by the sim's own CPU. Zero: answers go out at once.
  absl::Duration latency = absl::ZeroDuration();
  // HTTPS: a PEM certificate chain (server certificate first) and its PEM private key. Both
  // empty = plain HTTP. With TLS every connection starts with a handshake that must finish
  // within `tls_handshake_timeout`.
  std::string tls_cert_pem;
  std::string tls_key_pem;
  absl::Duration tls_handshake_timeout = absl::Seconds(10);

  // ---- rate limiting (reference §9.1, §12.5) ----
  // Requests per `rate_limit_window` per org (the caller's group); 0 = off (CTIA's default).
  // Counted after authentication on every authenticated /ctia route; refused requests are not
  // counted. Over the limit: 429, Retry-After = ceil(oldest + window - now) seconds, body
  // {"error": "Too Many Requests"}.
  int64_t rate_limit = 0;
  absl::Duration rate_limit_window = absl::Seconds(3600);
  // Per-org limits that replace `rate_limit` (ctia `limits.group.customs`).
  std::vector<std::pair<std::string, int64_t>> rate_limit_customs;
  // Client ids that are never limited and get no rate-limit header (ctia `unlimited.client-ids`).
  std::vector<std::string> unlimited_client_ids;
  // Middle part of the header names: "GROUP" (CTIA) gives X-RateLimit-GROUP-Limit, "ORG"
  // (IROH) gives X-RateLimit-ORG-Limit.
  std::string rate_limit_header_group = "GROUP";
  // Also send X-RateLimit-<GROUP>-Remaining (the middleware can; CTIA leaves it off).
  bool rate_limit_remaining = false;

  // ---- test control API (reference §12.6) ----
  // Serve /__test__/... (faults, clock, reset, load, counters, lookups, visibility, tokens), and
  // keep the lookup tally (LookupTally). Off by default: the embedded demo never exposes it.
  // The SimServer methods below work regardless (Lookups() is empty with it off).
  bool test_api = false;
  // Seed of the generator that draws fault percentages and latency tails.
  uint64_t fault_seed = 1;

  // ---- synthetic mode ----
  // 0..100: answer verdicts of observables without stored judgements from SyntheticVerdict()
  // with this percentage of observables having a verdict; -1 = off.
  int synthetic_percent = -1;
};

// What an injected fault does to a matching request (reference §12.6).
enum class FaultKind {
  kStatus500,         // 500 {"type":"unknown-exception","class":"java.lang.RuntimeException",...}
  kHtml502,           // 502 with an HTML body, as a front proxy sends it
  kHtml503,           // 503 HTML
  kHtml504,           // 504 HTML
  kStatus413,         // 413 HTML (front door: body too large)
  kStatus414,         // 414 HTML (front door: URI too long)
  kLatency,           // the normal answer after `latency` (+ `tail` for tail_percentage %)
  kHang,              // no answer; the connection is closed after `hang`
  kCloseMidResponse,  // half of the response's header block, then the connection closes
  kTruncatedBody,     // full headers (full Content-Length), half the body, then close
  kBurst429,          // 429 {"error": "Too Many Requests"} with Retry-After: retry_after_seconds
  kTokenFail,         // token endpoint only: `status` with {"error":"server_error",...}
};

// "status500", "html502", ..., "token_fail" ↔ FaultKind.
std::optional<FaultKind> FaultKindFromName(absl::string_view name);
absl::string_view FaultKindName(FaultKind kind);

// One fault rule. A request matches when its raw path starts with `path_prefix` (kTokenFail:
// only /iroh/oauth2/token). Rules are tried in the order added; the first matching rule that
// fires decides. With `next` > 0 the rule fires for the next `next` matching requests and is
// then removed; otherwise it fires for `percentage` % of matching requests (seeded draw).
// /__test__/ paths are never faulted.
struct FaultRule {
  FaultKind kind = FaultKind::kStatus500;
  std::string path_prefix = "/";
  double percentage = 100;
  int64_t next = 0;
  absl::Duration latency = absl::ZeroDuration();  // kLatency
  absl::Duration tail = absl::ZeroDuration();     // kLatency: extra delay ...
  double tail_percentage = 0;                     // ... for this % of the delayed requests
  absl::Duration hang = absl::Minutes(5);         // kHang
  int64_t retry_after_seconds = 1;                // kBurst429
  int status = 503;                               // kTokenFail
};

// Requests answered per endpoint and status, e.g. counts["verdict"][200]. Endpoints: token,
// verdict, judgements, judgement_post, judgement_get, judgement_delete, judgement_expire,
// bulk_post, bulk_get, graphql, status, version, other. Faulted requests count under the
// status they were given (hang: 0).
using EndpointCounts = std::map<std::string, std::map<int, uint64_t>>;

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
  uint64_t graphql_requests = 0;     // POST /ctia/graphql, any answer
  uint64_t graphql_observables = 0;  // observables asked for by the aliases of answered ones
};

// With the test API on: verdict lookups per client id and observable ("<type>:<value>", the
// value as asked), through GET /ctia/{type}/{value}/verdict or a GraphQL alias. Lets a test
// tell which run (each with its own client) asked for what.
using LookupTally = std::map<std::string, std::map<std::string, uint64_t>>;

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
  // Clears judgements, faults, counters, rate-limit logs and the clock override; issued
  // tokens stay valid.
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
// The same, line by line: calls `each` for every judgement as it is read, so a file of
// millions of judgements is never held in memory at once. On an error, the judgements of the
// lines before it have been passed on already.
absl::Status ForEachJudgementNdjson(const std::string& path, absl::Time now,
                                    absl::FunctionRef<void(schema::Judgement)> each);

// Synthetic mode's answer for (type, value), without storage (ctia-sim --synthetic N):
//   key = type + '\0' + ASCII-lowercase(value); h = FNV-1a 64 of key's bytes
//   (offset 0xcbf29ce484222325, prime 0x100000001b3).
//   No verdict when type is not a known observable type or (h % 100) >= percent.
//   disposition = 1 + (h >> 8) % 5; disposition_name from it;
//   observable = {type, lowercase(value)};
//   judgement_id = public_base + "/ctia/judgement/judgement-" + UUID text of the 128 bits
//     (h, g = h * 0x9e3779b97f4a7c15) as printf("%08x-%04x-4%03x-a%03x-%012llx",
//     h >> 32, (h >> 16) & 0xffff, h & 0xfff, g >> 52, g & 0xffffffffffff);
//   valid_time = {2020-01-01T00:00:00.000Z, 2525-01-01T00:00:00.000Z}.
// A benchmark recomputes this to check every answer.
std::optional<schema::Verdict> SyntheticVerdict(absl::string_view type, absl::string_view value,
                                                int percent, absl::string_view public_base);
// FNV-1a 64 of type + '\0' + lowercase(value), as above.
uint64_t SyntheticHash(absl::string_view type, absl::string_view value);

}  // namespace enrich::sim

#endif  // ENRICH_TOOLS_SIM_SIM_SERVER_H_
