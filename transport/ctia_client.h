#ifndef ENRICH_TRANSPORT_CTIA_CLIENT_H_
#define ENRICH_TRANSPORT_CTIA_CLIENT_H_

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "schema/judgement.h"
#include "transport/connection_pool.h"
#include "transport/token_source.h"
#include "transport/verdict_source.h"

namespace enrich::transport {

struct CtiaClientOptions {
  int max_attempts = 3;  // per call, for 5xx / transport errors; 401 gets one refresh + retry
  absl::Duration retry_backoff = absl::Milliseconds(200);  // base of capped exponential backoff
  absl::Duration max_backoff = absl::Seconds(5);           // cap of one backoff wait
  absl::Duration max_retry_after = absl::Seconds(60);      // longer 429 Retry-After → final error
  uint64_t rng_seed = 0x5eed;                              // full-jitter randomness (injected)
};

struct CtiaClientCounters {
  uint64_t verdict_requests = 0;  // HTTP requests sent to the verdict endpoint
  uint64_t retries = 0;
  uint64_t unauthorized = 0;  // 401 answers
  uint64_t rate_limited = 0;  // 429 answers
  uint64_t write_requests = 0;  // HTTP requests sent to /ctia/bulk and /ctia/judgement
};

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
// (timers on the pool's executor); a 429 whose Retry-After is ≤ max_retry_after is waited out
// and counts as an attempt. A 200 verdict whose body is malformed is retried like a 5xx.
// Writes (bulk, create) are not idempotent: they retry only where CTIA certainly did not act
// (401 refresh, 429); 5xx and transport errors are final for them.
//
// Thread safety: all methods thread-safe; callbacks run on an io thread (or inline when the
// token source fails inline). The client, pool and token source must outlive pending calls.
class BeastCtiaClient final : public VerdictSource {
 public:
  BeastCtiaClient(ConnectionPool& ctia_pool, TokenSource& tokens, CtiaClientOptions options = {});

  void LookupVerdict(const schema::Observable& observable, Callback done) override;

  // POST /ctia/bulk {"judgements": [...]} (≤ 2000 per call, else InvalidArgument without a
  // request). Result: per item, the created long id or an error (InvalidArgument carrying
  // CTIA's item error), in input order.
  using BulkCallback = std::function<void(absl::StatusOr<std::vector<absl::StatusOr<std::string>>>)>;
  void BulkCreateJudgements(std::vector<schema::Judgement> judgements, BulkCallback done);

  // POST /ctia/judgement → the stored judgement (long id).
  using JudgementCallback = std::function<void(absl::StatusOr<schema::Judgement>)>;
  void CreateJudgement(const schema::Judgement& judgement, JudgementCallback done);

  CtiaClientCounters Snapshot() const;

 private:
  class Call;
  ConnectionPool& pool_;
  TokenSource& tokens_;
  const CtiaClientOptions options_;
  struct AtomicCounters;
  std::shared_ptr<AtomicCounters> counters_;
  struct Jitter;
  std::shared_ptr<Jitter> jitter_;
};

// Maps an HTTP answer that is not a success to a Status whose message starts with
// "http <code>" and includes CTIA's `error`/`message` when the body is JSON (never a token).
absl::Status StatusFromHttp(const HttpResponse& response);

}  // namespace enrich::transport

#endif  // ENRICH_TRANSPORT_CTIA_CLIENT_H_
