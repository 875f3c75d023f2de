#include "transport/ctia_client.h"

#include "schema/observable.h"
#include "transport/internal/ctia_call.h"
#include "transport/internal/graphql_verdicts.h"
#include "transport/internal/verdict_batcher.h"
#include "transport/internal/verdict_details.h"

#include <algorithm>
#include <atomic>
#include <utility>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "boost/asio/post.hpp"
#include "boost/asio/steady_timer.hpp"

namespace enrich::transport {
namespace {

namespace net = boost::asio;

// Collects the results of one Verdicts() call, which may travel in several requests, and
// delivers them once all are in. Each index is set exactly once, from any thread.
class VerdictsGather {
 public:
  VerdictsGather(size_t size, BeastCtiaClient::VerdictsCallback done)
      : results_(size, absl::UnknownError("unset")), remaining_(size), done_(std::move(done)) {}
  void Set(size_t index, absl::StatusOr<schema::VerdictResult> result) {
    results_[index] = std::move(result);
    if (remaining_.fetch_sub(1, std::memory_order_acq_rel) == 1) done_(std::move(results_));
  }

 private:
  std::vector<absl::StatusOr<schema::VerdictResult>> results_;
  std::atomic<size_t> remaining_;
  BeastCtiaClient::VerdictsCallback done_;
};

}  // namespace

// The one timer of the batcher's linger (VerdictBatcher arms and cancels it from any thread).
struct BeastCtiaClient::LingerTimer {
  explicit LingerTimer(const net::any_io_executor& executor) : timer(executor) {}
  absl::Mutex mu;
  net::steady_timer timer ABSL_GUARDED_BY(mu);
};

BeastCtiaClient::BeastCtiaClient(ConnectionPool& ctia_pool, TokenSource& tokens,
                                 CtiaClientOptions options)
    : BeastCtiaClient(ctia_pool, std::vector<CredentialLane>{{&tokens, "default", "default"}},
                      std::move(options)) {}

BeastCtiaClient::BeastCtiaClient(ConnectionPool& ctia_pool, std::vector<CredentialLane> lanes,
                                 CtiaClientOptions options)
    : calls_(
          std::make_unique<internal::CallContext>(ctia_pool, std::move(lanes), std::move(options))),
      publisher_(*calls_),
      linger_(std::make_shared<LingerTimer>(ctia_pool.executor())) {
  if (calls_->options.details.any()) {
    details_ = std::make_unique<internal::VerdictDetailsFetcher>(*calls_, publisher_,
                                                                 calls_->options.details);
  }
  const size_t batch_size = std::min(calls_->options.batch_size, kMaxVerdictBatch);
  if (batch_size > 1) {
    batcher_ = std::make_unique<internal::VerdictBatcher>(
        batch_size, calls_->options.batch_linger,
        [linger = linger_](absl::Duration delay, std::function<void()> fn) {
          absl::MutexLock lock(&linger->mu);
          linger->timer.expires_after(absl::ToChronoNanoseconds(delay));  // cancels a wait
          linger->timer.async_wait([fn = std::move(fn)](const boost::system::error_code& ec) {
            if (!ec) fn();
          });
        },
        [linger = linger_] {
          absl::MutexLock lock(&linger->mu);
          linger->timer.cancel();
        },
        [this](std::vector<internal::VerdictBatcher::Lookup> lookups) {
          std::vector<schema::Observable> batch;
          batch.reserve(lookups.size());
          for (auto& l : lookups) batch.push_back(std::move(l.observable));
          auto shared =
              std::make_shared<std::vector<internal::VerdictBatcher::Lookup>>(std::move(lookups));
          Verdicts(std::move(batch),
                   [shared](std::vector<absl::StatusOr<schema::VerdictResult>> results) {
                     for (size_t i = 0; i < results.size(); ++i) {
                       (*shared)[i].done(std::move(results[i]));
                     }
                   });
        });
    calls_->flush_now = [this] { batcher_->FlushNow(); };
  }
}

BeastCtiaClient::~BeastCtiaClient() {
  // A pending linger wait would keep the io threads busy after the client is gone.
  absl::MutexLock lock(&linger_->mu);
  linger_->timer.cancel();
}

const LatencyHistogram& BeastCtiaClient::latency() const { return calls_->latency; }

int64_t BeastCtiaClient::GroupLimit(absl::string_view group) const {
  return calls_->budget.Limit(group);
}

void BeastCtiaClient::LookupVerdict(const schema::Observable& observable, Callback done) {
  if (batcher_ != nullptr && !graphql_off_.load(std::memory_order_relaxed)) {
    // A new lookup means the caller is not stuck: a flush held back while the shared quota is
    // waited for (DeferFlush) is dropped, and asked for again when the caller is stuck again.
    // Else it would cut the batch at a point the caller has passed: a mid-run partial batch,
    // or a worker's last one, which FlushBatch's caller (run --redis) hands to another worker.
    calls_->flush_deferred.store(false, std::memory_order_release);
    return batcher_->Add(observable, std::move(done));
  }
  LookupVerdictRest(observable, std::move(done));
}

void BeastCtiaClient::StopSending() {
  calls_->StopSending();
  if (batcher_ != nullptr) batcher_->FlushNow();
}

void BeastCtiaClient::FlushBatch() {
  // Under a shared quota with requests waiting for it, the partial batch waits too (and fills).
  if (batcher_ != nullptr && !calls_->DeferFlush()) batcher_->FlushNow();
}

std::vector<VerdictSource::HeldLookup> BeastCtiaClient::TakeCollected() {
  if (batcher_ == nullptr) return {};
  return batcher_->TakeOpen();
}

void BeastCtiaClient::InputEnded() {
  calls_->flush_deferred.store(false, std::memory_order_release);
}

size_t BeastCtiaClient::Collecting() const {
  return batcher_ != nullptr ? batcher_->collecting() : 0;
}

void BeastCtiaClient::Verdicts(std::vector<schema::Observable> batch, VerdictsCallback done) {
  if (batch.empty()) {
    net::post(calls_->pool.executor(), [done = std::move(done)] { done({}); });
    return;
  }
  // The common case, a batch that fits one GraphQL request whole: its answer is the result, in
  // batch order, with no gathering.
  if (batch.size() >= 2 && batch.size() <= kMaxVerdictBatch &&
      !graphql_off_.load(std::memory_order_relaxed) &&
      std::all_of(batch.begin(), batch.end(), [](const schema::Observable& o) {
        return schema::IsKnownObservableType(o.type);
      })) {
    return SendGraphql(std::move(batch), std::move(done));
  }
  auto gather = std::make_shared<VerdictsGather>(batch.size(), std::move(done));
  std::vector<size_t> graphql;  // indices sent through GraphQL
  if (!graphql_off_.load(std::memory_order_relaxed)) {
    for (size_t i = 0; i < batch.size(); ++i) {
      if (schema::IsKnownObservableType(batch[i].type)) graphql.push_back(i);
    }
    if (graphql.size() < 2) graphql.clear();  // one lookup: a GET costs the same budget
  }
  std::vector<bool> via_graphql(batch.size(), false);
  for (size_t i : graphql) via_graphql[i] = true;
  for (size_t at = 0; at < graphql.size(); at += kMaxVerdictBatch) {
    const size_t end = std::min(graphql.size(), at + kMaxVerdictBatch);
    std::vector<size_t> indices(graphql.begin() + static_cast<long>(at),
                                graphql.begin() + static_cast<long>(end));
    std::vector<schema::Observable> part;
    part.reserve(indices.size());
    for (size_t i : indices) part.push_back(batch[i]);
    SendGraphql(std::move(part),
                [gather, indices](std::vector<absl::StatusOr<schema::VerdictResult>> results) {
                  for (size_t j = 0; j < indices.size(); ++j) {
                    gather->Set(indices[j], std::move(results[j]));
                  }
                });
  }
  for (size_t i = 0; i < batch.size(); ++i) {
    if (via_graphql[i]) continue;
    LookupVerdictRest(batch[i], [gather, i](absl::StatusOr<schema::VerdictResult> result) {
      gather->Set(i, std::move(result));
    });
  }
}

void BeastCtiaClient::GraphqlUnsupported(absl::string_view why) {
  if (graphql_off_.exchange(true)) return;
  calls_->Notice(absl::StrCat("ctia-enrich: ", calls_->pool.origin().Origin(),
                              calls_->pool.origin().path, "/ctia/graphql is not usable (", why,
                              "): verdicts go through REST for the rest of the run"));
}

void BeastCtiaClient::SendGraphql(std::vector<schema::Observable> batch, VerdictsCallback done) {
  HttpRequest request;
  request.method = "POST";
  request.target = absl::StrCat(calls_->pool.origin().path, "/ctia/graphql");
  request.headers = {{"Accept", "application/json"}, {"Content-Type", "application/json"}};
  request.body = internal::BuildVerdictsRequest(batch, calls_->options.details);
  request.idempotent = true;  // a query: asking twice changes nothing
  auto shared_batch = std::make_shared<std::vector<schema::Observable>>(std::move(batch));
  auto shared_done = std::make_shared<VerdictsCallback>(std::move(done));
  // Not served, not allowed, or not understood: this server has no usable GraphQL (§9.4).
  std::vector<int> accepted = {200, 400, 403, 404, 405, 501};
  calls_->Run(
      internal::CallKind::kGraphql, std::move(request), std::move(accepted),
      [this, shared_batch, shared_done](const HttpResponse& response) -> absl::Status {
        auto fall_back = [&](absl::string_view why) {
          GraphqlUnsupported(why);
          Verdicts(*shared_batch, *shared_done);  // graphql_off_ is set: all REST
          return absl::OkStatus();
        };
        if (response.status != 200) {
          return fall_back(StatusFromHttp(response).message());
        }
        auto results = internal::DecodeVerdictsAnswer(response.body, shared_batch->size(),
                                                     calls_->options.details);
        if (!results.ok()) {
          if (absl::IsFailedPrecondition(results.status())) {
            return fall_back(results.status().message());
          }
          return internal::WithHttpPrefix(response.status, results.status());
        }
        calls_->counters.graphql_verdicts.fetch_add(shared_batch->size(),
                                                    std::memory_order_relaxed);
        (*shared_done)(*std::move(results));
        return absl::OkStatus();
      },
      [shared_batch, shared_done](absl::Status status) {
        (*shared_done)(
            std::vector<absl::StatusOr<schema::VerdictResult>>(shared_batch->size(), status));
      });
}

void BeastCtiaClient::LookupVerdictRest(const schema::Observable& observable, Callback done) {
  if (details_ == nullptr) return calls_->RunVerdict(observable, std::move(done));
  calls_->RunVerdict(observable, [this, observable, done = std::move(done)](
                                     absl::StatusOr<schema::VerdictResult> result) mutable {
    details_->Complete(observable, std::move(result), std::move(done));
  });
}

CtiaClientCounters BeastCtiaClient::Snapshot() const {
  CtiaClientCounters c = calls_->Snapshot();
  c.graphql_unsupported = graphql_off_.load(std::memory_order_relaxed);
  return c;
}

}  // namespace enrich::transport
