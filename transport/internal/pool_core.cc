#include "transport/internal/pool_core.h"

#include "transport/internal/http_request_head.h"
#include "transport/internal/pool_connection.h"

#include <algorithm>
#include <deque>
#include <utility>

#include "absl/strings/str_cat.h"
#include "boost/asio/post.hpp"
#include "boost/asio/ssl.hpp"

namespace enrich::transport::internal {
namespace {

namespace net = boost::asio;

PoolOptions Normalized(PoolOptions options) {
  options.connections = std::max<size_t>(options.connections, 1);
  options.pipeline_depth = std::max<size_t>(options.pipeline_depth, 1);
  return options;
}

}  // namespace

absl::Status ShutDownError(absl::string_view origin) {
  return absl::CancelledError(
      absl::StrCat("request to ", origin, " cancelled: connection pool shut down"));
}

PoolCore::PoolCore(net::any_io_executor executor, Url origin, PoolOptions options)
    : executor_(std::move(executor)),
      origin_(std::move(origin)),
      origin_text_(origin_.Origin()),
      options_(Normalized(std::move(options))),
      timeouts_(options_),
      io_context_executor_(executor_.target<net::io_context::executor_type>()),
      scheduler_(options_.connections, options_.pipeline_depth) {
  head_fields_ =
      absl::StrCat("Host: ", origin_.HostHeader(), "\r\nUser-Agent: ", options_.user_agent, "\r\n");
  if (origin_.scheme == "https") {
    setup_status_ = SetUpTls();
  } else if (options_.single_io_thread && io_context_executor_ != nullptr) {
    readiness_ = SocketReadiness::Create(executor_);
  }
}

PoolCore::~PoolCore() = default;

PoolCounters PoolCore::Snapshot() const {
  PoolCounters c;
  c.requests = requests_.load(std::memory_order_relaxed);
  c.failures = failures_.load(std::memory_order_relaxed);
  c.connects = connects_.load(std::memory_order_relaxed);
  c.stale_retries = stale_retries_.load(std::memory_order_relaxed);
  c.pipelined = pipelined_.load(std::memory_order_relaxed);
  return c;
}

void PoolCore::FailLater(HttpExchange* exchange, absl::Status error) {
  failures_.fetch_add(1, std::memory_order_relaxed);
  net::post(executor_,
            [exchange, error = std::move(error)] { exchange->Complete(error, nullptr); });
}

absl::Status PoolCore::SetUpTls() {
  tls_context_ = std::make_unique<net::ssl::context>(net::ssl::context::tls_client);
  boost::system::error_code ec;
  tls_context_->set_options(net::ssl::context::default_workarounds | net::ssl::context::no_sslv2 |
                                net::ssl::context::no_sslv3 | net::ssl::context::no_tlsv1 |
                                net::ssl::context::no_tlsv1_1,
                            ec);
  if (!options_.tls.verify_peer) {
    tls_context_->set_verify_mode(net::ssl::verify_none, ec);
    return absl::OkStatus();
  }
  tls_context_->set_verify_mode(net::ssl::verify_peer, ec);
  if (options_.tls.ca_file.empty()) {
    tls_context_->set_default_verify_paths(ec);
    if (ec) {
      return absl::FailedPreconditionError(absl::StrCat(
          "TLS for ", origin_text_, ": cannot load the system CA store: ", ec.message(),
          " (pass a CA bundle with --ca-file)"));
    }
  } else {
    tls_context_->load_verify_file(options_.tls.ca_file, ec);
    if (ec) {
      return absl::FailedPreconditionError(
          absl::StrCat("TLS for ", origin_text_, ": cannot load CA file ", options_.tls.ca_file,
                       ": ", ec.message(), " (expected PEM certificates)"));
    }
  }
  return absl::OkStatus();
}

void PoolCore::Start(HttpExchange* exchange) {
  if (!setup_status_.ok()) return FailLater(exchange, setup_status_);
  if (absl::Status bad = CheckRequest(exchange->request(), origin_text_); !bad.ok()) {
    return FailLater(exchange, std::move(bad));
  }
  std::shared_ptr<PoolConnection> conn;
  {
    absl::MutexLock lock(&mu_);
    const PoolScheduler::Assignment assignment = scheduler_.Submit(exchange);
    switch (assignment.kind) {
      case PoolScheduler::Assignment::kQueued:
        return;
      case PoolScheduler::Assignment::kShutDown:
        break;
      case PoolScheduler::Assignment::kOpen:
        connections_.push_back(
            std::make_shared<PoolConnection>(shared_from_this(), assignment.connection));
        conn = connections_.back();
        break;
      case PoolScheduler::Assignment::kExisting:
        conn = connections_[assignment.connection];
        break;
    }
  }
  if (conn == nullptr) return FailLater(exchange, ShutDownError(origin_text_));
  if (OnOnlyIoThread()) {
    // Every connection's handlers run on this thread: drive the connection now instead of
    // through a posted handler (its completions are posted, see PoolConnection::Flush).
    ++t_pool_starting;
    conn->Add(exchange);
    --t_pool_starting;
    return;
  }
  net::post(conn->strand(), [conn, exchange] { conn->Add(exchange); });
}

PoolCore::Jobs PoolCore::TakeMore(size_t connection, size_t finished) {
  absl::MutexLock lock(&mu_);
  return scheduler_.OnSettled(connection, finished);
}

void PoolCore::Abandon(HttpExchange* exchange) {
  absl::Status error = absl::CancelledError(
      absl::StrCat("request to ", origin_text_, " abandoned: its answer came another way"));
  std::vector<std::shared_ptr<PoolConnection>> connections;
  {
    absl::MutexLock lock(&mu_);
    if (scheduler_.Remove(exchange)) return FailLater(exchange, std::move(error));
    connections = connections_;
  }
  // Which connection holds it is not recorded (that would cost every request a map update);
  // abandons are rare, so each connection looks on its own strand, after anything posted to it
  // before (the request's own hand-over included).
  for (auto& conn : connections) {
    net::post(conn->strand(), [conn, exchange, error] { conn->Abandon(exchange, error); });
  }
}

void PoolCore::Shutdown() {
  std::deque<HttpExchange*> queued;
  std::vector<std::shared_ptr<PoolConnection>> connections;
  {
    absl::MutexLock lock(&mu_);
    if (shutting_down()) return;
    shutting_down_.store(true, std::memory_order_release);
    queued = scheduler_.Shutdown();
    connections.swap(connections_);
  }
  for (HttpExchange* exchange : queued) FailLater(exchange, ShutDownError(origin_text_));
  // Each connection drops its reference to the pool once its last handler has completed,
  // which breaks the pool ↔ connection cycle.
  for (auto& conn : connections) {
    net::post(conn->strand(), [conn] { conn->Close(); });
  }
}

}  // namespace enrich::transport::internal
