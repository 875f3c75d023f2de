#ifndef ENRICH_TESTS_FAKES_POOL_CLIENT_RIG_H_
#define ENRICH_TESTS_FAKES_POOL_CLIENT_RIG_H_

// A real BeastCtiaClient of a test HTTP server (ScriptedHttpServer) for the transport tests:
// its io threads, its connection pool and the client, stopped in the order they need (client,
// pool, io threads). Start() again replaces the pool and the client (the old ones stopped
// first). Header-only: used by test binaries that link the transport library.

#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "transport/connection_pool.h"
#include "transport/credential_lane.h"
#include "transport/ctia_client.h"
#include "transport/io_threads.h"
#include "transport/token_source.h"
#include "transport/url.h"

namespace enrich::testing {

class PoolClientRig {
 public:
  explicit PoolClientRig(int io_threads = 1) : io_(io_threads) {}
  ~PoolClientRig() {
    Stop();
    io_.Stop();
  }
  PoolClientRig(const PoolClientRig&) = delete;
  PoolClientRig& operator=(const PoolClientRig&) = delete;

  // A pool of `url` and a client over it that asks with `lanes`' tokens.
  transport::BeastCtiaClient& Start(const std::string& url,
                                    std::vector<transport::CredentialLane> lanes,
                                    transport::CtiaClientOptions options,
                                    transport::PoolOptions pool_options = {}) {
    Stop();
    pool_ = std::make_unique<transport::ConnectionPool>(io_.executor(),
                                                        *transport::ParseUrl(url), pool_options);
    client_ = std::make_unique<transport::BeastCtiaClient>(*pool_, std::move(lanes),
                                                           std::move(options));
    return *client_;
  }
  // The same with one token source (the "default" group).
  transport::BeastCtiaClient& Start(const std::string& url, transport::TokenSource& tokens,
                                    transport::CtiaClientOptions options,
                                    transport::PoolOptions pool_options = {}) {
    Stop();
    pool_ = std::make_unique<transport::ConnectionPool>(io_.executor(),
                                                        *transport::ParseUrl(url), pool_options);
    client_ = std::make_unique<transport::BeastCtiaClient>(*pool_, tokens, std::move(options));
    return *client_;
  }
  // The client, then its pool (idempotent); the io threads stop with the rig.
  void Stop() {
    client_.reset();
    if (pool_ != nullptr) pool_->Shutdown();
    pool_.reset();
  }

  transport::BeastCtiaClient& client() { return *client_; }
  transport::ConnectionPool& pool() { return *pool_; }
  transport::IoThreads& io() { return io_; }

 private:
  transport::IoThreads io_;
  std::unique_ptr<transport::ConnectionPool> pool_;
  std::unique_ptr<transport::BeastCtiaClient> client_;
};

}  // namespace enrich::testing

#endif  // ENRICH_TESTS_FAKES_POOL_CLIENT_RIG_H_
