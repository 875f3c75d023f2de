#ifndef ENRICH_TRANSPORT_INTERNAL_POOL_CORE_H_
#define ENRICH_TRANSPORT_INTERNAL_POOL_CORE_H_

// What ConnectionPool's connections share: the origin, options and TLS context, the counters,
// and the PoolScheduler (under a mutex) that hands them requests. ConnectionPool is its facade;
// each PoolConnection (internal/pool_connection.h) holds it by shared_ptr.
//
// Contract: Start() and Shutdown() may be called from any thread; TakeMore() and Deliver() are
// called by a connection from its strand. Completions run on the executor's threads, never
// inline in Start(). The core lives until the last connection handler holding it has run.

#include "transport/connection_pool.h"
#include "transport/internal/connection_state.h"
#include "transport/internal/pool_scheduler.h"
#include "transport/internal/socket_readiness.h"
#include "transport/url.h"

#include <atomic>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/synchronization/mutex.h"
#include "boost/asio/any_io_executor.hpp"
#include "boost/asio/io_context.hpp"
#include "boost/asio/ssl/context.hpp"

namespace enrich::transport::internal {

class PoolConnection;

// Set while PoolCore::Start() hands a request to a connection on the calling thread:
// completions found meanwhile are posted, so none runs inline in Start().
inline thread_local int t_pool_starting = 0;

absl::Status ShutDownError(absl::string_view origin);

class PoolCore : public std::enable_shared_from_this<PoolCore> {
 public:
  using Jobs = PoolScheduler::Jobs;

  PoolCore(boost::asio::any_io_executor executor, Url origin, PoolOptions options);
  ~PoolCore();

  // ConnectionPool::Start(): checks the request, then the scheduler assigns it.
  void Start(HttpExchange* exchange);
  // ConnectionPool::Abandon().
  void Abandon(HttpExchange* exchange);
  // ConnectionPool::Shutdown(): fails queued requests and closes the connections. Idempotent.
  void Shutdown();
  PoolCounters Snapshot() const;

  // Called by a connection (on its strand) once `finished` of its requests are settled: hands
  // it queued requests as far as its capacity allows, and parks it as idle when it has none.
  Jobs TakeMore(size_t connection, size_t finished);

  // Completes `exchange` now; the caller is a connection's handler on an io thread.
  void Deliver(HttpExchange* exchange, const absl::Status& status, HttpResponse* response) {
    if (!status.ok()) {
      failures_.fetch_add(1, std::memory_order_relaxed);
      if (shutting_down()) return exchange->Complete(ShutDownError(origin_text_), nullptr);
      return exchange->Complete(status, nullptr);
    }
    requests_.fetch_add(1, std::memory_order_relaxed);
    exchange->Complete(status, response);
  }

  bool shutting_down() const { return shutting_down_.load(std::memory_order_acquire); }
  // The client TLS context shared by the pool's connections; null for http.
  boost::asio::ssl::context* tls_context() const { return tls_context_.get(); }
  // Read readiness of the plain sockets with a single io thread; null otherwise (the sockets
  // are then read with async_read_some).
  SocketReadiness* readiness() const { return readiness_.get(); }
  absl::Status setup_status() const { return setup_status_; }
  const boost::asio::any_io_executor& executor() const { return executor_; }
  const Url& origin() const { return origin_; }
  const std::string& origin_text() const { return origin_text_; }
  const PoolOptions& options() const { return options_; }
  const StepTimeouts& timeouts() const { return timeouts_; }
  // "Host: ...\r\nUser-Agent: ...\r\n", the same for every request.
  const std::string& head_fields() const { return head_fields_; }
  // Answers kept for reuse by every connection; only with PoolOptions::single_io_thread (the
  // connections' handlers then all run on that thread).
  std::vector<std::unique_ptr<HttpResponse>>& shared_spare_responses() {
    return shared_spare_responses_;
  }

  std::atomic<uint64_t> requests_{0};
  std::atomic<uint64_t> failures_{0};
  std::atomic<uint64_t> connects_{0};
  std::atomic<uint64_t> stale_retries_{0};
  std::atomic<uint64_t> pipelined_{0};

 private:
  // Fails `exchange` with `error` on the pool's executor, never inline (for Start()).
  void FailLater(HttpExchange* exchange, absl::Status error);
  // True on the pool's only io thread (PoolOptions::single_io_thread): handlers of every
  // connection run here, one at a time, so a connection may be driven directly.
  bool OnOnlyIoThread() const {
    return options_.single_io_thread && io_context_executor_ != nullptr &&
           io_context_executor_->running_in_this_thread();
  }
  absl::Status SetUpTls();

  const boost::asio::any_io_executor executor_;
  const Url origin_;
  const std::string origin_text_;
  const PoolOptions options_;
  const StepTimeouts timeouts_;
  // The io_context behind executor_, or null when it is some other executor.
  const boost::asio::io_context::executor_type* const io_context_executor_;
  std::string head_fields_;
  std::unique_ptr<boost::asio::ssl::context> tls_context_;
  std::shared_ptr<SocketReadiness> readiness_;
  std::vector<std::unique_ptr<HttpResponse>> shared_spare_responses_;
  absl::Status setup_status_;
  std::atomic<bool> shutting_down_{false};

  mutable absl::Mutex mu_;
  PoolScheduler scheduler_ ABSL_GUARDED_BY(mu_);
  // By the scheduler's connection index; emptied by Shutdown().
  std::vector<std::shared_ptr<PoolConnection>> connections_ ABSL_GUARDED_BY(mu_);
};

}  // namespace enrich::transport::internal

#endif  // ENRICH_TRANSPORT_INTERNAL_POOL_CORE_H_
