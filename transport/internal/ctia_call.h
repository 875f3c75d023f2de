#ifndef ENRICH_TRANSPORT_INTERNAL_CTIA_CALL_H_
#define ENRICH_TRANSPORT_INTERNAL_CTIA_CALL_H_

// One logical CTIA call (budget → token → send [→ hedge a late answer] → classify the answer →
// RetryPolicy → retry or finish) and what the calls of one client share: the pool, budgets,
// concurrency gate, hedge watch, counters, latency and the recycled call objects. BeastCtiaClient (verdicts) and CtiaPublisher
// (writes and listings) start their requests here.
//
// Contract: Run() and RunVerdict() may be called from any thread; `accept`, `fail` and verdict
// callbacks run on an io thread of the pool (or inline in the token source's callback when it
// fails inline). The context must outlive every call it started, and the pool's io_context
// must outlive the context (finished calls keep their timers for reuse until it is destroyed).

#include "schema/clock.h"
#include "schema/observable.h"
#include "transport/client_counters.h"
#include "transport/connection_pool.h"
#include "transport/credential_lane.h"
#include "transport/ctia_client_options.h"
#include "transport/internal/concurrency_gate.h"
#include "transport/internal/credential_budget.h"
#include "transport/internal/hedge_watch.h"
#include "transport/latency_histogram.h"
#include "transport/verdict_source.h"

#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <random>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/strings/string_view.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"

namespace enrich::transport::internal {

// What a call asks for: decides its counter and whether a garbled 200 is worth asking again.
enum class CallKind { kVerdict, kGraphql, kList, kJudgementRead, kWrite };

struct CallCounters {
  std::atomic<uint64_t> requests{0};
  std::atomic<uint64_t> answers{0};
  std::atomic<uint64_t> status_2xx{0}, status_4xx{0}, status_5xx{0}, status_other{0};
  std::atomic<uint64_t> transport_errors{0};
  std::atomic<uint64_t> budget_waits{0};
  std::atomic<uint64_t> checkpoints{0};
  std::atomic<uint64_t> retired_credentials{0};
  std::atomic<uint64_t> verdict_requests{0};
  std::atomic<uint64_t> retries{0};
  std::atomic<uint64_t> unauthorized{0};
  std::atomic<uint64_t> rate_limited{0};
  std::atomic<uint64_t> write_requests{0};
  std::atomic<uint64_t> graphql_requests{0};
  std::atomic<uint64_t> list_requests{0};
  std::atomic<uint64_t> judgement_reads{0};
  std::atomic<uint64_t> judgement_read_failures{0};
  std::atomic<uint64_t> graphql_verdicts{0};
  std::atomic<uint64_t> hedges{0};
};

// Full jitter (uniform in [0, cap]) from one seeded generator shared by all calls.
struct Jitter {
  explicit Jitter(uint64_t seed) : rng(seed) {}
  absl::Duration Draw(absl::Duration upper) {
    const int64_t max_ns = std::max<int64_t>(absl::ToInt64Nanoseconds(upper), 0);
    absl::MutexLock lock(&mu);
    return absl::Nanoseconds(std::uniform_int_distribution<int64_t>(0, max_ns)(rng));
  }
  absl::Mutex mu;
  std::mt19937_64 rng ABSL_GUARDED_BY(mu);
};

class Call;

// The shared part of one client's calls. Public fields: the calls read them directly.
struct CallContext {
  // Given an answer whose status is in `accepted`: completes the call and returns OK, or
  // returns the decoding error without completing the call (it is then retried or failed).
  using Accept = std::function<absl::Status(const HttpResponse&)>;
  using Fail = std::function<void(absl::Status)>;

  // `lanes` must not be empty; their token sources and `pool` outlive the context.
  CallContext(ConnectionPool& ctia_pool, std::vector<CredentialLane> lanes,
              CtiaClientOptions client_options);
  ~CallContext();

  // Any endpoint: `accept` decodes the answers whose status is in `accepted`, `fail` gets the
  // final error. A non-idempotent request is retried only where CTIA certainly did not act
  // (401 refresh, 429).
  void Run(CallKind kind, HttpRequest request, std::vector<int> accepted, Accept accept, Fail fail);
  // `GET <base>/ctia/{type}/{value}/verdict`, decoded into a VerdictResult for `done`.
  void RunVerdict(const schema::Observable& observable, VerdictSource::Callback done);

  // Every call not yet on the wire (waiting for a Gate slot, a budget wait, a retry backoff, a
  // token) and every later one ends at once with Cancelled; calls on the wire go on.
  // Idempotent; callbacks may run inline, with no lock of the context held.
  void StopSending();

  // With a shared quota (run --redis): true when this client's calls wait for it, and then the
  // flush of a partial batch waits too (flush_now is run when the last of them is granted), so
  // the lookups that come meanwhile fill the batch instead of costing another request.
  bool DeferFlush();

  // One-line notice to the user (options.notice, else stderr).
  void Notice(absl::string_view text) const;
  void CountAnswer(int status);
  // Every counter but graphql_unsupported (the verdict client's).
  CtiaClientCounters Snapshot() const;

  // Recycled call objects (see Call).
  Call* AcquireCall();
  void ReleaseCall(Call* call);

  ConnectionPool& pool;
  const CtiaClientOptions options;
  const schema::Clock& clock;
  CredentialBudget budget;
  std::unique_ptr<ConcurrencyGate> gate;  // null when max_concurrency is 0
  LatencyHistogram latency;               // every HTTP request: send to answer or error
  std::unique_ptr<HedgeWatch> hedges;     // null when options.hedge is off
  CallCounters counters;
  Jitter jitter;
  struct CallCache;
  std::unique_ptr<CallCache> calls;
  std::atomic<bool> stopped{false};  // StopSending() was called
  std::atomic<int> quota_waiting{0};         // calls told to wait by the shared quota
  std::atomic<bool> flush_deferred{false};   // DeferFlush() held a flush back
  std::function<void()> flush_now;           // the client's batch flush (set once, at start)
  struct TimerWaits;  // the calls waiting on their timer, for StopSending() to wake
  std::unique_ptr<TimerWaits> timer_waits;
};

// Keeps the code of `status`, puts "http <code>: " in front of its message.
absl::Status WithHttpPrefix(int http_status, const absl::Status& status);

}  // namespace enrich::transport::internal

#endif  // ENRICH_TRANSPORT_INTERNAL_CTIA_CALL_H_
