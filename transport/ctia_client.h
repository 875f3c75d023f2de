#ifndef ENRICH_TRANSPORT_CTIA_CLIENT_H_
#define ENRICH_TRANSPORT_CTIA_CLIENT_H_

// The CTIA client the engine uses: verdict lookups (REST, and GraphQL batches) over a
// ConnectionPool, with budgets, credential rotation, retries and adaptive concurrency
// (internal/ctia_call.h), and the write side it lends (ctia_publisher.h).

#include "schema/clock.h"
#include "schema/judgement.h"
#include "transport/client_counters.h"
#include "transport/connection_pool.h"
#include "transport/credential_lane.h"
#include "transport/ctia_client_options.h"
#include "transport/ctia_publisher.h"
#include "transport/ctia_status.h"
#include "transport/latency_histogram.h"
#include "transport/rate_limiter.h"
#include "transport/token_source.h"
#include "transport/verdict_source.h"

#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"

namespace enrich::transport {

namespace internal {
struct CallContext;
class VerdictBatcher;
class VerdictDetailsFetcher;
}  // namespace internal

// Most observables asked for in one GraphQL request.
inline constexpr size_t kMaxVerdictBatch = 1000;

// Typed CTIA client over a ConnectionPool (to the CTIA host) and a TokenSource.
//
// LookupVerdict: `GET <base>/ctia/{type}/{percent-encoded value}/verdict` (reference §1.3),
// `Authorization: Bearer`, `Accept: application/json`. 200 → Verdict, 404 with CTIA's JSON
// message → NoVerdict. HTTP errors map to: 400 → InvalidArgument, 401 (after one token refresh
// and retry) → Unauthenticated, 403 → PermissionDenied, 404 HTML → NotFound, 429 →
// ResourceExhausted, 5xx → Unavailable (retried), transport errors as the pool reports them
// (retried). Status messages start with "http <code>" when there was an HTTP status, so the
// engine can write `error:<code>`.
//
// Retries: up to `max_attempts` sends per call with capped exponential backoff and full jitter
// (timers on the pool's executor); a 429 pauses its budget group until Retry-After and is
// retried without using an attempt; a Retry-After above rate_limit.max_wait ends the call with
// CheckpointSignal. A 200 verdict whose body is malformed is retried like a 5xx.
//
// Budget and rotation: before each send the call takes one request from the budget group with
// the most budget left (RateLimiter per group; a wait longer than max_wait → CheckpointSignal),
// then a token from a credential of that group. A credential whose token source fails with
// Unauthenticated (invalid_client) is retired with a notice and the call goes on with the
// others; when none is left the call fails with that error.
// A group whose limit is unknown (no X-RateLimit-*-Limit header, none configured) is paced
// from its 429s (RateLimiter: AIMD).
//
// Hedging (options.hedge): a lookup or GraphQL batch unanswered far beyond the latencies seen
// (max(hedge_floor, hedge_p99_factor × p99)) is sent once more on another connection; the first
// answer wins, the other request is abandoned; counted in CtiaClientCounters::hedges.
//
// Details (options.details, VerdictDetailsOptions): the deciding judgement's fields and the
// observable's first judgements ride in the GraphQL batch's own request (no extra request);
// lookups that go through REST fetch them after the verdict (internal/verdict_details.h: one
// judgement GET per distinct judgement id of the run, one list page per verdict).
//
// Writes (bulk, create) are not idempotent: they retry only where CTIA certainly did not act
// (401 refresh, 429); 5xx and transport errors are final for them.
//
// Batching (options.batch_size > 1): LookupVerdict collects lookups (VerdictBatcher) and sends
// them with Verdicts(). Verdicts(batch) asks for every observable of a known type in one
// `POST /ctia/graphql` with aliases o0, o1, ... and `verdict{...}` selections (one budget unit
// for the whole batch); results are matched by alias, never by the observable a verdict
// echoes (§1.2). A batch of one, and observables of types this build does not know (GraphQL
// takes the type as a plain string, so CTIA would answer "no verdict" where REST answers 400),
// go through REST. An error the answer gives for one alias settles that observable only
// (Unavailable "graphql error for oN: ..."). The POST is retried like a verdict GET; a final
// failure settles every observable of the batch with it. A server that answers /ctia/graphql
// with 400, 403, 404, 405 or 501, or with something that is not GraphQL, is taken not to
// support it: one notice, that batch and every later lookup go through REST.
//
// Thread safety: all methods thread-safe; callbacks run on an io thread (or inline when the
// token source fails inline). The client, pool and token source must outlive pending calls,
// and the pool's io_context must outlive the client (finished calls keep their timers for
// reuse until the client is destroyed).
class BeastCtiaClient final : public VerdictSource {
 public:
  BeastCtiaClient(ConnectionPool& ctia_pool, TokenSource& tokens, CtiaClientOptions options = {});
  // Token rotation: `lanes` must not be empty.
  BeastCtiaClient(ConnectionPool& ctia_pool, std::vector<CredentialLane> lanes,
                  CtiaClientOptions options = {});
  ~BeastCtiaClient() override;

  void LookupVerdict(const schema::Observable& observable, Callback done) override;
  // Lookups and writes not yet on the wire end with Cancelled, and every later one (see
  // VerdictSource::StopSending); a batch being collected leaves at once, to be cancelled.
  void StopSending() override;
  // The batch being collected leaves now (VerdictSource::FlushBatch).
  void FlushBatch() override;
  size_t Collecting() const override;
  // The batch being collected, taken back unsent (VerdictSource::TakeCollected).
  std::vector<HeldLookup> TakeCollected() override;
  // Drops a flush held back for the shared quota (FlushBatch): the caller's final flush
  // decides where the last batch goes (run --redis hands it to the last worker running).
  void InputEnded() override;

  // The verdicts of `batch`, in its order (one result per observable; see above).
  using VerdictsCallback = std::function<void(std::vector<absl::StatusOr<schema::VerdictResult>>)>;
  void Verdicts(std::vector<schema::Observable> batch, VerdictsCallback done);

  // The write side (ctia_publisher.h), sharing this client's budgets, retries and pool.
  CtiaPublisher& publisher() { return publisher_; }

  // The publisher's calls, kept here so callers of the client need not change.
  using BulkCallback = CtiaPublisher::BulkCallback;
  using JudgementsOptions = CtiaPublisher::JudgementsOptions;
  using JudgementsCallback = CtiaPublisher::JudgementsCallback;
  using JudgementCallback = CtiaPublisher::JudgementCallback;
  void BulkCreateJudgements(std::vector<schema::Judgement> judgements, BulkCallback done) {
    publisher_.BulkCreateJudgements(std::move(judgements), std::move(done));
  }
  void Judgements(const schema::Observable& observable, JudgementsOptions options,
                  JudgementsCallback done) {
    publisher_.Judgements(observable, options, std::move(done));
  }
  void CreateJudgement(const schema::Judgement& judgement, JudgementCallback done) {
    publisher_.CreateJudgement(judgement, std::move(done));
  }

  CtiaClientCounters Snapshot() const;
  // Latency of every HTTP request (send to complete answer or error).
  const LatencyHistogram& latency() const;
  // The limit of `group` now in force (configured or learned; 0 = unknown/unlimited).
  int64_t GroupLimit(absl::string_view group) const;

 private:
  void LookupVerdictRest(const schema::Observable& observable, Callback done);
  void SendGraphql(std::vector<schema::Observable> batch, VerdictsCallback done);
  void GraphqlUnsupported(absl::string_view why);

  std::unique_ptr<internal::CallContext> calls_;
  CtiaPublisher publisher_;
  std::atomic<bool> graphql_off_{false};
  struct LingerTimer;
  std::shared_ptr<LingerTimer> linger_;
  std::unique_ptr<internal::VerdictBatcher> batcher_;  // null when batch_size is 1
  std::unique_ptr<internal::VerdictDetailsFetcher> details_;  // null without options.details
};

}  // namespace enrich::transport

#endif  // ENRICH_TRANSPORT_CTIA_CLIENT_H_
