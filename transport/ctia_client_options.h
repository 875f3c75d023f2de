#ifndef ENRICH_TRANSPORT_CTIA_CLIENT_OPTIONS_H_
#define ENRICH_TRANSPORT_CTIA_CLIENT_OPTIONS_H_

// The settings of a CTIA client (BeastCtiaClient, and the CtiaPublisher it lends): retries,
// budgets, batching and adaptive concurrency. Plain values; the CLI fills them from its flags.

#include "schema/clock.h"
#include "transport/rate_limiter.h"

#include <cstddef>
#include <cstdint>
#include <functional>

#include "absl/strings/string_view.h"
#include "absl/time/time.h"

namespace enrich::transport {

class SharedQuota;  // transport/shared_quota.h

// What a verdict lookup brings beyond the verdict's six keys (run --fields, --judgements):
// schema::Verdict::judgement and schema::Verdict::judgements. Only a Verdict carries them (a
// NoVerdict has no judgement to show).
//   - judgement: the details of the deciding judgement. GraphQL: `judgement{...}` inside the
//     batch's `verdict{...}` (no extra request). REST: `GET /ctia/judgement/{short id}` once per
//     distinct judgement id of the run (deduplicated, cached, single flight; each takes its
//     budget unit; CtiaClientCounters::judgement_reads). A judgement GET that fails for good
//     (e.g. 404: deleted since; 5xx after the retries) leaves the verdict standing without
//     details (CtiaClientCounters::judgement_read_failures); a checkpoint or a stop fails the
//     lookup itself, so that a resumed run asks again.
//   - judgements: the first N judgements of the observable (0 = none), expired ones included
//     (CTIA lists them all, reference §4), in CTIA's list order
//     `disposition:asc,valid_time.start_time:desc` (most severe first, then newest first: the
//     verdict's order without priority, which CTIA's REST sort_by cannot put first). GraphQL:
//     the observable's `judgements(first: N, orderBy: ...)` in the same batch; REST: one
//     `GET /ctia/{type}/{value}/judgements?limit=N&sort_by=...` (first page only), after a
//     verdict. A failed listing fails the lookup.
struct VerdictDetailsOptions {
  bool judgement = false;
  int judgements = 0;
  bool any() const { return judgement || judgements > 0; }
};

struct CtiaClientOptions {
  int max_attempts = 3;  // per call, for 5xx / transport errors; 401 gets one refresh + retry
  absl::Duration retry_backoff = absl::Milliseconds(200);  // base of capped exponential backoff
  absl::Duration max_backoff = absl::Seconds(5);           // cap of one backoff wait
  // Budget of each group: limit (0 = learn from X-RateLimit-*-Limit), window, and max_wait:
  // a wait for budget or a 429 Retry-After longer than it ends the call with
  // CheckpointSignal() (verdict_source.h) instead of waiting.
  RateLimitOptions rate_limit;
  uint64_t rng_seed = 0x5eed;            // full-jitter randomness (injected)
  const schema::Clock* clock = nullptr;  // null: the system clock
  // Receives one-line notices (a credential retired, GraphQL not supported). Null: printed to
  // stderr.
  std::function<void(absl::string_view)> notice;
  // LookupVerdict batching through `POST /ctia/graphql` (reference §9.4): up to `batch_size`
  // lookups per request (1 = REST only; at most kMaxVerdictBatch), a batch leaving when full
  // or `batch_linger` after its first lookup, or when the caller says it adds no more for now
  // (FlushBatch).
  size_t batch_size = 1;
  absl::Duration batch_linger = absl::Milliseconds(5);
  // Adaptive concurrency (ConcurrencyLimit, AIMD) over the requests in flight: starts at and
  // never exceeds `max_concurrency` (0 = off: only the pool's connections limit it), halves on
  // a 429 or 5xx and when the median of the recent latencies rises above 3 × its baseline (and
  // above `concurrency_latency_floor`), grows back by one per round of successes. Calls over
  // the limit wait their turn.
  int max_concurrency = 0;
  absl::Duration concurrency_latency_floor = absl::Milliseconds(50);
  // Hedging of hung answers: a lookup (verdict GET or GraphQL batch; never a write) unanswered
  // max(hedge_floor, hedge_p99_factor × the p99 of the answers seen) after it was sent, once
  // hedge_min_answers answers were seen, is sent once more (taking a budget permit; without a
  // concurrency slot; never pipelined, so on another connection); the first answer wins, the
  // other request is abandoned (ConnectionPool::Abandon). The pool's request timeout still
  // ends the attempt. Counted in CtiaClientCounters::hedges.
  bool hedge = true;
  absl::Duration hedge_floor = absl::Seconds(1);
  double hedge_p99_factor = 4;
  uint64_t hedge_min_answers = 50;
  // Details of each verdict (see VerdictDetailsOptions); none by default.
  VerdictDetailsOptions details;
  // A quota shared with other processes (run --redis), asked once per HTTP request after the
  // client's own budget; null: none. Not owned; outlives the client. Hedging is off with it
  // (a hedge is decided synchronously; the shared quota answers asynchronously).
  SharedQuota* shared_quota = nullptr;
};

}  // namespace enrich::transport

#endif  // ENRICH_TRANSPORT_CTIA_CLIENT_OPTIONS_H_
