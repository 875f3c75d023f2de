#ifndef ENRICH_TESTS_INTEGRATION_SIM_CLIENT_RIG_H_
#define ENRICH_TESTS_INTEGRATION_SIM_CLIENT_RIG_H_

// A BeastCtiaClient of an in-process ctia-sim for the integration tests: its own io thread,
// pools and one OAuth token source per credential; LookupAll() asks many observables at once.
// EndpointTotal() reads the sim's answers to one route.

#include "tools/sim/sim_server.h"
#include "transport/connection_pool.h"
#include "transport/ctia_client.h"
#include "transport/io_threads.h"
#include "transport/oauth_token_source.h"

#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "gtest/gtest.h"

namespace enrich::testing {

using VerdictOr = absl::StatusOr<schema::VerdictResult>;

// The answers of every status the sim gave on `endpoint` (a key of CountsByEndpoint()).
inline uint64_t EndpointTotal(const sim::EndpointCounts& counts, const std::string& endpoint) {
  auto it = counts.find(endpoint);
  if (it == counts.end()) return 0;
  uint64_t n = 0;
  for (const auto& [status, count] : it->second) n += count;
  return n;
}

// A client of `sim` with its own pool and one token source per credential.
class ClientRig {
 public:
  struct Credential {
    std::string id, secret, group;
  };
  ClientRig(sim::SimServer& sim, transport::CtiaClientOptions options,
            std::vector<Credential> credentials = {{"client", "secret", "default"}},
            transport::PoolOptions pool_options = {})
      : io_(1) {
    auto url = transport::ParseUrl(sim.base_url());
    pool_ = std::make_unique<transport::ConnectionPool>(io_.executor(), *url, pool_options);
    transport::PoolOptions token_pool_options;
    token_pool_options.tls = pool_options.tls;
    token_pool_ = std::make_unique<transport::ConnectionPool>(io_.executor(), *url,
                                                              token_pool_options);
    std::vector<transport::CredentialLane> lanes;
    for (const Credential& c : credentials) {
      tokens_.push_back(std::make_unique<transport::OAuthTokenSource>(
          *token_pool_, "/iroh/oauth2/token", transport::ClientCredentials{c.id, c.secret},
          schema::SystemClock::Instance()));
      lanes.push_back({tokens_.back().get(), c.group, c.id});
    }
    client_ =
        std::make_unique<transport::BeastCtiaClient>(*pool_, std::move(lanes), std::move(options));
  }
  ~ClientRig() {
    pool_->Shutdown();
    token_pool_->Shutdown();
    io_.Stop();
  }

  // Looks up every observable at once (through LookupVerdict, so batching applies) and waits
  // at most `timeout` for all of them.
  std::vector<VerdictOr> LookupAll(const std::vector<schema::Observable>& observables,
                                   absl::Duration timeout = absl::Seconds(120)) {
    auto results = std::make_shared<std::vector<VerdictOr>>(
        observables.size(), absl::DeadlineExceededError("test: not settled in time"));
    auto mu = std::make_shared<absl::Mutex>();
    auto left = std::make_shared<size_t>(observables.size());
    for (size_t i = 0; i < observables.size(); ++i) {
      client_->LookupVerdict(observables[i], [results, mu, left, i](VerdictOr r) {
        absl::MutexLock lock(mu.get());
        (*results)[i] = std::move(r);
        --*left;
      });
    }
    absl::MutexLock lock(mu.get());
    mu->AwaitWithTimeout(absl::Condition(
                             +[](size_t* n) { return *n == 0; }, left.get()),
                         timeout);
    EXPECT_EQ(*left, 0u) << "lookups still unsettled after " << timeout;
    return *results;
  }

  transport::BeastCtiaClient& client() { return *client_; }
  transport::ConnectionPool& pool() { return *pool_; }
  uint64_t token_requests() const {
    uint64_t n = 0;
    for (const auto& t : tokens_) n += t->token_requests();
    return n;
  }

 private:
  transport::IoThreads io_;
  std::unique_ptr<transport::ConnectionPool> pool_;
  std::unique_ptr<transport::ConnectionPool> token_pool_;
  std::vector<std::unique_ptr<transport::OAuthTokenSource>> tokens_;
  std::unique_ptr<transport::BeastCtiaClient> client_;
};

}  // namespace enrich::testing

#endif  // ENRICH_TESTS_INTEGRATION_SIM_CLIENT_RIG_H_
