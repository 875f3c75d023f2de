#include "transport/connection_pool.h"

#include "transport/internal/pool_core.h"

#include <utility>

namespace enrich::transport {
namespace {

// Send()'s exchange: owns the request and the callback, deletes itself when complete.
class CallbackExchange final : public HttpExchange {
 public:
  CallbackExchange(HttpRequest request, ConnectionPool::Callback done)
      : request_(std::move(request)), done_(std::move(done)) {}
  const HttpRequest& request() const override { return request_; }
  void Complete(const absl::Status& status, HttpResponse* response) override {
    ConnectionPool::Callback done = std::move(done_);
    delete this;
    if (status.ok()) {
      done(std::move(*response));
    } else {
      done(status);
    }
  }

 private:
  ~CallbackExchange() override = default;
  HttpRequest request_;
  ConnectionPool::Callback done_;
};

}  // namespace

ConnectionPool::ConnectionPool(boost::asio::any_io_executor executor, Url origin,
                               PoolOptions options)
    : impl_(std::make_shared<internal::PoolCore>(std::move(executor), std::move(origin),
                                                 std::move(options))) {}

ConnectionPool::~ConnectionPool() { impl_->Shutdown(); }

void ConnectionPool::Send(HttpRequest request, Callback done) {
  impl_->Start(new CallbackExchange(std::move(request), std::move(done)));
}

void ConnectionPool::Start(HttpExchange* exchange) { impl_->Start(exchange); }

void ConnectionPool::Abandon(HttpExchange* exchange) { impl_->Abandon(exchange); }

void ConnectionPool::Shutdown() { impl_->Shutdown(); }

PoolCounters ConnectionPool::Snapshot() const { return impl_->Snapshot(); }

absl::Status ConnectionPool::setup_status() const { return impl_->setup_status(); }

const Url& ConnectionPool::origin() const { return impl_->origin(); }

boost::asio::any_io_executor ConnectionPool::executor() const { return impl_->executor(); }

}  // namespace enrich::transport
