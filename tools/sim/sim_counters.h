// What ctia-sim counts about the requests it answered: per route family and status, and the
// lookups per client. Kept by the Router, read through SimServer and the test API.

#ifndef ENRICH_TOOLS_SIM_SIM_COUNTERS_H_
#define ENRICH_TOOLS_SIM_SIM_COUNTERS_H_

#include <cstdint>
#include <map>
#include <string>

namespace enrich::sim {

// Requests answered per endpoint and status, e.g. counts["verdict"][200]. Endpoints: token,
// verdict, judgements, judgement_post, judgement_get, judgement_delete, judgement_expire,
// bulk_post, bulk_get, graphql, status, version, judgement_external_id, other. Faulted requests count under the
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
  uint64_t judgements_created = 0;   // judgements stored by POST /ctia/judgement and /ctia/bulk
  uint64_t external_id_lookups = 0;  // GET /ctia/judgement/external_id/{xid}, answered
};

// With the test API on: verdict lookups per client id and observable ("<type>:<value>", the
// value as asked), through GET /ctia/{type}/{value}/verdict or a GraphQL alias. Lets a test
// tell which run (each with its own client) asked for what.
using LookupTally = std::map<std::string, std::map<std::string, uint64_t>>;

}  // namespace enrich::sim

#endif  // ENRICH_TOOLS_SIM_SIM_COUNTERS_H_
