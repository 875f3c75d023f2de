#ifndef ENRICH_TRANSPORT_CLIENT_COUNTERS_H_
#define ENRICH_TRANSPORT_CLIENT_COUNTERS_H_

// What the CTIA client has done so far (requests, answers by class, retries, 429s, ...): a plain
// value read with BeastCtiaClient::Snapshot() and copied into the run's statistics
// (engine/run_stats.h), so the engine needs no more of the transport than this struct.

#include <cstdint>
#include <utility>

namespace enrich::transport {

struct CtiaClientCounters {
  uint64_t requests = 0;          // HTTP requests sent (all endpoints)
  uint64_t answers = 0;           // HTTP answers received
  uint64_t status_2xx = 0, status_4xx = 0, status_5xx = 0, status_other = 0;
  uint64_t transport_errors = 0;  // sends that ended without an HTTP answer
  uint64_t budget_waits = 0;      // times a call waited for its group's budget
  uint64_t checkpoints = 0;       // calls ended with CheckpointSignal
  uint64_t retired_credentials = 0;
  uint64_t verdict_requests = 0;  // HTTP requests sent to the verdict endpoint
  uint64_t retries = 0;
  uint64_t unauthorized = 0;  // 401 answers
  uint64_t rate_limited = 0;  // 429 answers
  uint64_t write_requests = 0;  // HTTP requests sent to /ctia/bulk and /ctia/judgement
  uint64_t graphql_requests = 0;   // HTTP requests sent to /ctia/graphql
  uint64_t list_requests = 0;      // HTTP requests sent to /ctia/{type}/{value}/judgements
  uint64_t judgement_reads = 0;    // HTTP requests sent to GET /ctia/judgement/{id} (details)
  uint64_t judgement_read_failures = 0;  // distinct judgement ids whose details stayed empty
  uint64_t graphql_verdicts = 0;   // observables answered through GraphQL
  bool graphql_unsupported = false;  // the server refused GraphQL: REST for the rest of the run
  int concurrency_limit = 0;          // adaptive limit now in force (0 = off)
  uint64_t concurrency_decreases = 0;  // times it was halved (429s, rising latency)
  uint64_t concurrency_waits = 0;      // sends that waited for a slot
  uint64_t hedges = 0;  // requests sent again on another connection after a late answer

  // Adds another client's counters (run --intel both: one summary for both intels'
  // clients): sums, except graphql_unsupported (either) and concurrency_limit (the sum of the
  // limits in force). A new field must be added here too.
  CtiaClientCounters& operator+=(const CtiaClientCounters& more) {
    for (auto [into, add] : {
             std::pair{&requests, more.requests},
             {&answers, more.answers},
             {&status_2xx, more.status_2xx},
             {&status_4xx, more.status_4xx},
             {&status_5xx, more.status_5xx},
             {&status_other, more.status_other},
             {&transport_errors, more.transport_errors},
             {&budget_waits, more.budget_waits},
             {&checkpoints, more.checkpoints},
             {&retired_credentials, more.retired_credentials},
             {&verdict_requests, more.verdict_requests},
             {&retries, more.retries},
             {&unauthorized, more.unauthorized},
             {&rate_limited, more.rate_limited},
             {&write_requests, more.write_requests},
             {&graphql_requests, more.graphql_requests},
             {&list_requests, more.list_requests},
             {&judgement_reads, more.judgement_reads},
             {&judgement_read_failures, more.judgement_read_failures},
             {&graphql_verdicts, more.graphql_verdicts},
             {&concurrency_decreases, more.concurrency_decreases},
             {&concurrency_waits, more.concurrency_waits},
             {&hedges, more.hedges},
         }) {
      *into += add;
    }
    graphql_unsupported = graphql_unsupported || more.graphql_unsupported;
    concurrency_limit += more.concurrency_limit;
    return *this;
  }
};

}  // namespace enrich::transport

#endif  // ENRICH_TRANSPORT_CLIENT_COUNTERS_H_
