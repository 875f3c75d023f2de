// How ctia-sim is set up: its API clients and every server setting (SimOptions). Filled by
// sim_config.cc from flags and TOML, read by SimServer, the Router and its parts.

#ifndef ENRICH_TOOLS_SIM_SIM_OPTIONS_H_
#define ENRICH_TOOLS_SIM_SIM_OPTIONS_H_

#include <cstddef>
#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "absl/time/time.h"
#include "schema/clock.h"

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
  // (IROH) gives X-RateLimit-ORG-Limit; "NONE" sends no X-RateLimit-* header at all, as a
  // gateway in front of CTIA (only Retry-After on its 429s).
  std::string rate_limit_header_group = "GROUP";
  // Count per client id instead of per org (a gateway's per-credential limit); `customs` and
  // the limit header then name client ids.
  bool rate_limit_per_client = false;
  // Also send X-RateLimit-<GROUP>-Remaining (the middleware can; CTIA leaves it off).
  bool rate_limit_remaining = false;

  // ---- test control API (reference §12.6) ----
  // Serve /__test__/... (faults, clock, reset, load, counters, lookups, visibility, tokens,
  // knobs), and keep the lookup tally (LookupTally). Off by default: the embedded demo never
  // exposes it. The SimServer methods work regardless (Lookups() is empty with it off).
  bool test_api = false;
  // Seed of the generator that draws fault percentages and latency tails.
  uint64_t fault_seed = 1;

  // ---- standing faults of lookups (verdict routes and POST /ctia/graphql), from the start ----
  // They are fault rules (fault_rule.h, `lookups_only`) installed at start and again by
  // Reset(); drawn in this order from the --fault-seed generator, one draw per rule and lookup.
  // Share (0..100 %) of lookups never answered: the connection stays open, silent, until the
  // client closes it or 5 minutes pass (a hung CTIA answer).
  double hang_percent = 0;
  // Every lookup answered with the HTML 404 of an unknown route, as a server that is not CTIA
  // at the client's base URL answers (a wrong --endpoint path); the token endpoint works.
  bool html_404 = false;
  // Share (0..100 %) of lookups answered after `slow` instead of `latency` (slow tails).
  double slow_percent = 0;
  absl::Duration slow = absl::ZeroDuration();

  // ---- switches (the test API's /__test__/knobs changes them at run time) ----
  // Serve POST /ctia/graphql. Off: it answers as a CTIA without GraphQL, the HTML 404 of an
  // unknown route (after authentication, as every /ctia route); the REST routes are unchanged.
  bool graphql = true;
  // Check the bearer token as of the moment the answer is sent (now + the answer's latency)
  // rather than when the request arrives: with a short token_ttl and slow answers, a request
  // sent with a valid token gets 401 jwt_expired, as from CTIA when a token expires in flight.
  bool token_check_at_send = false;

  // ---- synthetic mode ----
  // 0..100: answer verdicts of observables without stored judgements from SyntheticVerdict()
  // with this percentage of observables having a verdict; -1 = off.
  int synthetic_percent = -1;
  // ctia-sim --synthetic-short-valid PCT:SECONDS: the synthetic verdicts of the observables
  // SyntheticShortLived() picks (h % 100 < PCT) end SECONDS after the server starts (its
  // clock, at a whole second) instead of in 2525, so a cache of them expires; from then on
  // they are answered as renewed, with the 2525 end of the others. 0 = none.
  int synthetic_short_percent = 0;
  absl::Duration synthetic_short_valid = absl::ZeroDuration();
};

}  // namespace enrich::sim

#endif  // ENRICH_TOOLS_SIM_SIM_OPTIONS_H_
