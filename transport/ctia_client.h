#ifndef ENRICH_TRANSPORT_CTIA_CLIENT_H_
#define ENRICH_TRANSPORT_CTIA_CLIENT_H_

#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "schema/clock.h"
#include "schema/judgement.h"
#include "transport/client_counters.h"
#include "transport/connection_pool.h"
#include "transport/latency_histogram.h"
#include "transport/rate_limiter.h"
#include "transport/token_source.h"
#include "transport/verdict_source.h"

namespace enrich::transport {

namespace internal {
class VerdictBatcher;
}  // namespace internal

// One credential of a token rotation: its token source and the budget group (CTIA org) whose
// quota its requests spend. Several credentials in one group share that group's budget.
struct CredentialLane {
  TokenSource* tokens = nullptr;  // not owned; outlives the client
  std::string group = "default";
  std::string label;  // for messages (e.g. the client id); never a secret
};

struct CtiaClientOptions {
  int max_attempts = 3;  // per call, for 5xx / transport errors; 401 gets one refresh + retry
  absl::Duration retry_backoff = absl::Milliseconds(200);  // base of capped exponential backoff
  absl::Duration max_backoff = absl::Seconds(5);           // cap of one backoff wait
  // Budget of each group: limit (0 = learn from X-RateLimit-*-Limit), window, and max_wait:
  // a wait for budget or a 429 Retry-After longer than it ends the call with
  // CheckpointSignal() (verdict_source.h) instead of waiting.
  RateLimitOptions rate_limit;
  uint64_t rng_seed = 0x5eed;  // full-jitter randomness (injected)
  const schema::Clock* clock = nullptr;  // null: the system clock
  // Receives one-line notices (a credential retired, GraphQL not supported). Null: printed to
  // stderr.
  std::function<void(absl::string_view)> notice;
  // LookupVerdict batching through `POST /ctia/graphql` (reference §9.4): up to `batch_size`
  // lookups per request (1 = REST only; at most kMaxVerdictBatch), a batch leaving when full
  // or `batch_linger` after its first lookup.
  size_t batch_size = 1;
  absl::Duration batch_linger = absl::Milliseconds(5);
  // Adaptive concurrency (ConcurrencyLimit, AIMD) over the requests in flight: starts at and
  // never exceeds `max_concurrency` (0 = off: only the pool's connections limit it), halves on
  // a 429 and on latencies above 3 × the best seen (and above `concurrency_latency_floor`),
  // grows back by one per round of successes. Calls over the limit wait their turn.
  int max_concurrency = 0;
  absl::Duration concurrency_latency_floor = absl::Milliseconds(50);
};

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

  // The verdicts of `batch`, in its order (one result per observable; see above).
  using VerdictsCallback =
      std::function<void(std::vector<absl::StatusOr<schema::VerdictResult>>)>;
  void Verdicts(std::vector<schema::Observable> batch, VerdictsCallback done);

  // POST /ctia/bulk {"judgements": [...]} (≤ 2000 per call, else InvalidArgument without a
  // request). Result: per item, the created long id or an error (InvalidArgument carrying
  // CTIA's item error), in input order.
  using BulkCallback = std::function<void(absl::StatusOr<std::vector<absl::StatusOr<std::string>>>)>;
  void BulkCreateJudgements(std::vector<schema::Judgement> judgements, BulkCallback done);

  // Every judgement on `observable` (expired ones too, reference §4): `GET <base>/ctia/{type}/
  // {value}/judgements?limit=<page_size>`, then the server's `X-Next` query appended to the
  // same path until a page has no `X-Next` (the server's cursor: offset, then search_after past
  // 10,000). Each page is one request with its own budget unit and retries. Errors: the first
  // page that fails for good; InvalidArgument for an X-Next that would not fit in a request
  // line or does not move on, or past `max_pages`.
  struct JudgementsOptions {
    int page_size = 100;   // CTIA's default `limit`
    int max_pages = 1000;  // a guard against a server that never stops paging
  };
  using JudgementsCallback = std::function<void(absl::StatusOr<std::vector<schema::Judgement>>)>;
  void Judgements(const schema::Observable& observable, JudgementsOptions options,
                  JudgementsCallback done);

  // POST /ctia/judgement → the stored judgement (long id).
  using JudgementCallback = std::function<void(absl::StatusOr<schema::Judgement>)>;
  void CreateJudgement(const schema::Judgement& judgement, JudgementCallback done);

  CtiaClientCounters Snapshot() const;
  // Latency of every HTTP request (send to complete answer or error).
  const LatencyHistogram& latency() const;
  // The limit of `group` now in force (configured or learned; 0 = unknown/unlimited).
  int64_t GroupLimit(absl::string_view group) const;

 private:
  class Call;
  class Budget;
  class Gate;
  class JudgementPager;
  void LookupVerdictRest(const schema::Observable& observable, Callback done);
  void SendGraphql(std::vector<schema::Observable> batch, VerdictsCallback done);
  void GraphqlUnsupported(absl::string_view why);
  ConnectionPool& pool_;
  const CtiaClientOptions options_;
  const schema::Clock& clock_;
  std::unique_ptr<Budget> budget_;
  std::unique_ptr<Gate> gate_;  // null when max_concurrency is 0
  LatencyHistogram latency_;
  void Notice(absl::string_view text) const;
  void CountAnswer(int status);
  struct AtomicCounters;
  std::shared_ptr<AtomicCounters> counters_;
  // Finished calls kept for reuse.
  struct CallCache;
  std::unique_ptr<CallCache> calls_;
  Call* AcquireCall();
  void ReleaseCall(Call* call);
  struct Jitter;
  std::shared_ptr<Jitter> jitter_;
  std::atomic<bool> graphql_off_{false};
  struct LingerTimer;
  std::shared_ptr<LingerTimer> linger_;
  std::unique_ptr<internal::VerdictBatcher> batcher_;  // null when batch_size is 1
};

// Maps an HTTP answer that is not a success to a Status whose message starts with
// "http <code>" and includes CTIA's `error`/`message` when the body is JSON (never a token).
absl::Status StatusFromHttp(const HttpResponse& response);

}  // namespace enrich::transport

#endif  // ENRICH_TRANSPORT_CTIA_CLIENT_H_
