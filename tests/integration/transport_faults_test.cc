// The faults a long run meets, against ctia-sim on 127.0.0.1:0: tokens expiring while their
// requests are in flight, a server without GraphQL, a steady far-away server, a bad credential
// in a rotation. Each test asserts that every lookup
// settles as it should and prints the measured figures.

#include "tests/integration/sim_client_rig.h"
#include "tools/sim/sim_server.h"
#include "transport/ctia_client.h"

#include <algorithm>
#include <cstdio>
#include <memory>
#include <string>
#include <tuple>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "gtest/gtest.h"

namespace enrich {
namespace {

using ::enrich::testing::ClientRig;
using ::enrich::testing::VerdictOr;

std::vector<schema::Observable> Domains(int n, absl::string_view tag) {
  std::vector<schema::Observable> out;
  out.reserve(static_cast<size_t>(n));
  for (int i = 0; i < n; ++i) out.push_back({"domain", absl::StrCat(tag, "-", i, ".example")});
  return out;
}

// Every lookup ended with an answer (a verdict or "no verdict"), none with an error.
void ExpectAllSettledOk(const std::vector<VerdictOr>& results) {
  size_t errors = 0;
  for (const VerdictOr& r : results) {
    if (r.ok()) continue;
    if (++errors <= 3) ADD_FAILURE() << r.status();
  }
  EXPECT_EQ(errors, 0u) << "of " << results.size();
}

// Token TTL 3 s, 5% of answers 4 s late, the token checked when the answer is sent: every
// late answer is a 401 jwt_expired for a token the client believed valid when it sent it.
TEST(TransportFaultsTest, TokensExpiringInFlightAreRefreshedAndResent) {
  sim::SimOptions options;
  options.token_ttl = absl::Seconds(3);
  options.slow_percent = 5;
  options.slow = absl::Seconds(4);
  options.token_check_at_send = true;
  options.synthetic_percent = 40;
  options.fault_seed = 14;
  sim::SimServer sim{options};
  ASSERT_TRUE(sim.Start().ok());
  constexpr int kLookups = 20000;

  for (const size_t batch_size : {size_t{1}, size_t{100}}) {
    SCOPED_TRACE(absl::StrCat("batch size ", batch_size));
    // As `ctia-enrich run`: at most one request per connection, so none waits in the pool's
    // queue with a token taken long before; the 4 s tails are not congestion.
    transport::CtiaClientOptions client_options;
    client_options.batch_size = batch_size;
    client_options.max_concurrency = 200;
    client_options.concurrency_latency_floor = absl::Seconds(5);
    // The late answers are the point: not hedged (a hedge would answer before the token ends).
    client_options.hedge = false;
    transport::PoolOptions pool_options;
    // Each late answer holds its connection for 4 s; enough connections keep the run short.
    pool_options.connections = 200;
    ClientRig rig(sim, client_options, {{"client", "secret", "default"}}, pool_options);
    const absl::Time start = absl::Now();
    const std::vector<VerdictOr> results =
        rig.LookupAll(Domains(kLookups, absl::StrCat("expiring-", batch_size)),
                      absl::Seconds(240));
    const absl::Duration took = absl::Now() - start;
    ExpectAllSettledOk(results);
    const transport::CtiaClientCounters c = rig.client().Snapshot();
    std::printf("expiring tokens, batch %zu: %d lookups in %s, %llu requests, %llu 401s, "
                "%llu retries, %llu token requests\n",
                batch_size, kLookups, absl::FormatDuration(took).c_str(),
                static_cast<unsigned long long>(c.requests),
                static_cast<unsigned long long>(c.unauthorized),
                static_cast<unsigned long long>(c.retries),
                static_cast<unsigned long long>(rig.token_requests()));
    EXPECT_GT(c.unauthorized, 0u) << "the late answers must have met expired tokens";
  }
}

// Lookups per second of `n` lookups through a fresh client of `sim` (every one must settle).
struct Measured {
  double per_second = 0;
  transport::CtiaClientCounters counters;
};

Measured Measure(sim::SimServer& sim, transport::CtiaClientOptions client_options,
                 transport::PoolOptions pool_options, int n, absl::string_view tag) {
  ClientRig rig(sim, client_options, {{"client", "secret", "default"}}, pool_options);
  const absl::Time start = absl::Now();
  const std::vector<VerdictOr> results = rig.LookupAll(Domains(n, tag), absl::Seconds(120));
  const double seconds = absl::ToDoubleSeconds(absl::Now() - start);
  ExpectAllSettledOk(results);
  return {n / seconds, rig.client().Snapshot()};
}

// As `ctia-enrich run` sets it up: adaptive concurrency up to one request per connection.
transport::CtiaClientOptions RunLikeOptions(size_t batch_size, int connections) {
  transport::CtiaClientOptions options;
  options.batch_size = batch_size;
  options.max_concurrency = connections;
  return options;
}

// A CTIA without GraphQL at 50 ms: after the fallback, REST keeps every connection busy.
TEST(TransportFaultsTest, AfterTheGraphqlFallbackRestIsAsFastAsBatchSize1) {
  sim::SimOptions options;
  options.graphql = false;
  options.latency = absl::Milliseconds(50);
  options.synthetic_percent = 40;
  sim::SimServer sim{options};
  ASSERT_TRUE(sim.Start().ok());
  constexpr int kConnections = 16;
  constexpr int kLookups = 1600;
  transport::PoolOptions pool_options;
  pool_options.connections = kConnections;
  const Measured rest =
      Measure(sim, RunLikeOptions(1, kConnections), pool_options, kLookups, "rest");
  const Measured fallback =
      Measure(sim, RunLikeOptions(100, kConnections), pool_options, kLookups, "fallback");
  std::printf("no GraphQL, 50 ms, %d connections: batch size 1 %.1f lookups/s, batch size 100 "
              "after the fallback %.1f lookups/s (%.2f×)\n",
              kConnections, rest.per_second, fallback.per_second,
              fallback.per_second / rest.per_second);
  EXPECT_TRUE(fallback.counters.graphql_unsupported);
  EXPECT_GE(fallback.per_second, 0.9 * rest.per_second);
}

// A steady far-away server (every answer 150 ms) is distance, not congestion: the adaptive
// limit stays at one request per connection.
TEST(TransportFaultsTest, ConstantLatencyDoesNotShrinkTheConcurrency) {
  sim::SimOptions options;
  options.latency = absl::Milliseconds(150);
  options.synthetic_percent = 40;
  sim::SimServer sim{options};
  ASSERT_TRUE(sim.Start().ok());
  constexpr int kConnections = 16;
  transport::PoolOptions pool_options;
  pool_options.connections = kConnections;
  const Measured m =
      Measure(sim, RunLikeOptions(1, kConnections), pool_options, 800, "far-away");
  const double ideal = kConnections / 0.15;
  std::printf("constant 150 ms, %d connections: %.1f lookups/s (ideal %.1f, %.2f×), "
              "concurrency limit %d, %llu decreases\n",
              kConnections, m.per_second, ideal, m.per_second / ideal,
              m.counters.concurrency_limit,
              static_cast<unsigned long long>(m.counters.concurrency_decreases));
  EXPECT_GE(m.per_second, 0.9 * ideal);
  EXPECT_EQ(m.counters.concurrency_decreases, 0u);
}

// A gateway's limiter in front of CTIA: 100 requests per 2 s per client, no X-RateLimit-*
// header, a Retry-After of at most 2 s on its 429s. The client learns a pace from the 429s
// (AIMD in RateLimiter) and pauses the group on each, so 429s stay at a few per window while
// every lookup settles; over REST and over REST after the GraphQL fallback.
TEST(TransportFaultsTest, ALimiterWithoutHeadersIsPacedFromIts429s) {
  constexpr int kLookups = 600;
  constexpr int kConnections = 16;
  const absl::Duration window = absl::Seconds(2);
  for (const size_t batch_size : {size_t{1}, size_t{100}}) {
    SCOPED_TRACE(absl::StrCat("batch size ", batch_size));
    sim::SimOptions options;
    options.graphql = false;  // batch size 100 falls back to REST at its first batch
    options.rate_limit = 100;
    options.rate_limit_window = window;
    options.rate_limit_header_group = "NONE";
    options.rate_limit_per_client = true;
    options.synthetic_percent = 40;
    sim::SimServer sim{options};
    ASSERT_TRUE(sim.Start().ok());
    transport::PoolOptions pool_options;
    pool_options.connections = kConnections;
    ClientRig rig(sim, RunLikeOptions(batch_size, kConnections),
                  {{"client", "secret", "default"}}, pool_options);
    const absl::Time start = absl::Now();
    const std::vector<VerdictOr> results =
        rig.LookupAll(Domains(kLookups, absl::StrCat("paced-", batch_size)), absl::Seconds(120));
    const absl::Duration took = absl::Now() - start;
    ExpectAllSettledOk(results);
    const transport::CtiaClientCounters c = rig.client().Snapshot();
    uint64_t served_429 = 0;
    for (const auto& [endpoint, by_status] : sim.CountsByEndpoint()) {
      if (auto it = by_status.find(429); it != by_status.end()) served_429 += it->second;
    }
    const double windows = std::max(1.0, absl::FDivDuration(took, window));
    std::printf("limiter 100/2s without headers, batch %zu: %d lookups in %s (%.1f windows), "
                "%llu 429s (%.2f per window), %llu requests, %llu budget waits\n",
                batch_size, kLookups, absl::FormatDuration(took).c_str(), windows,
                static_cast<unsigned long long>(served_429), served_429 / windows,
                static_cast<unsigned long long>(c.requests),
                static_cast<unsigned long long>(c.budget_waits));
    EXPECT_EQ(served_429, c.rate_limited);
    // Before the first 429 nothing is known: every request in flight then (at most one per
    // connection) is refused. After it, at most one 429 per window (measured: 19 429s in 7.7
    // windows, 2.5 per window, for each batch size; 1,500 before the pace was learned).
    EXPECT_LE(static_cast<double>(served_429), kConnections + windows);
  }
}

// A steady slow tail (5% of answers 2 s late, the rest 50 ms) is not a rise in latency: the
// adaptive limit stays near one request per connection.
TEST(TransportFaultsTest, ASteadySlowTailDoesNotShrinkTheConcurrency) {
  sim::SimOptions options;
  options.latency = absl::Milliseconds(50);
  options.slow_percent = 5;
  options.slow = absl::Seconds(2);
  options.synthetic_percent = 40;
  options.fault_seed = 14;
  sim::SimServer sim{options};
  ASSERT_TRUE(sim.Start().ok());
  constexpr int kConnections = 16;
  transport::PoolOptions pool_options;
  pool_options.connections = kConnections;
  const Measured m =
      Measure(sim, RunLikeOptions(1, kConnections), pool_options, 1600, "slow-tail");
  // Every connection busy: 16 / (0.95 × 50 ms + 0.05 × 2 s) lookups per second.
  const double ideal = kConnections / (0.95 * 0.05 + 0.05 * 2.0);
  std::printf("5%% of answers 2 s late, the rest 50 ms, %d connections: %.1f lookups/s "
              "(every connection busy: %.1f, %.2f×), concurrency limit %d, %llu decreases\n",
              kConnections, m.per_second, ideal, m.per_second / ideal,
              m.counters.concurrency_limit,
              static_cast<unsigned long long>(m.counters.concurrency_decreases));
  // While the run is in full flow the limit never moves (measured: 0.79× the ideal, the rest
  // is the last 2 s answers draining). At the end only late answers are left, and their
  // median is a rise: one halving then is allowed.
  EXPECT_LE(m.counters.concurrency_decreases, 1u);
  EXPECT_GE(m.per_second, 0.7 * ideal);
}

// Requests the sim never answered (hung), on every route.
uint64_t HungAnswers(const sim::SimServer& sim) {
  uint64_t hung = 0;
  for (const auto& [endpoint, by_status] : sim.CountsByEndpoint()) {
    if (auto it = by_status.find(0); it != by_status.end()) hung += it->second;
  }
  return hung;
}

// Hung answers (ctia-sim --hang-percent: never answered) are hedged: resent on another
// connection once late far beyond what the run has seen, the first answer winning. 20k REST
// lookups with 0.05% hung, and GraphQL batches of 100 (one request each) with 1% hung, cost at
// most 3 × the same run without faults. The request timeout (--timeout) stays the limit of an
// attempt: it is 8 s here, so that a hedge that hangs too (rare) still ends within the bound.
TEST(TransportFaultsTest, HungAnswersAreHedgedOnAnotherConnection) {
  struct Case {
    size_t batch_size;
    int connections;
    absl::Duration latency;
    double hang_percent;
  };
  for (const Case& c : {Case{1, 16, absl::Milliseconds(5), 0.05},
                        Case{100, 8, absl::Milliseconds(100), 1.0}}) {
    SCOPED_TRACE(absl::StrCat("batch size ", c.batch_size));
    transport::PoolOptions pool_options;
    pool_options.connections = static_cast<size_t>(c.connections);
    pool_options.request_timeout = absl::Seconds(8);
    pool_options.first_byte_timeout = absl::Seconds(8);
    auto run = [&](double hang_percent, absl::string_view tag) {
      sim::SimOptions options;
      options.latency = c.latency;
      options.hang_percent = hang_percent;
      options.fault_seed = 14;
      options.synthetic_percent = 40;
      auto sim = std::make_unique<sim::SimServer>(options);
      EXPECT_TRUE(sim->Start().ok());
      ClientRig rig(*sim, RunLikeOptions(c.batch_size, c.connections),
                    {{"client", "secret", "default"}}, pool_options);
      const absl::Time start = absl::Now();
      const std::vector<VerdictOr> results =
          rig.LookupAll(Domains(20000, absl::StrCat(tag, c.batch_size)), absl::Seconds(240));
      const absl::Duration took = absl::Now() - start;
      ExpectAllSettledOk(results);
      return std::make_tuple(took, rig.client().Snapshot(), HungAnswers(*sim));
    };
    const auto [clean, clean_counters, clean_hung] = run(0, "clean-");
    const auto [faulty, counters, hung] = run(c.hang_percent, "hung-");
    std::printf("hung answers, batch %zu, %d connections, %s answers: fault-free %s, with %.2f%% "
                "hung %s (%.2f×); %llu hung answers, %llu hedges, %llu requests, %llu timeouts\n",
                c.batch_size, c.connections, absl::FormatDuration(c.latency).c_str(),
                absl::FormatDuration(clean).c_str(), c.hang_percent,
                absl::FormatDuration(faulty).c_str(), absl::FDivDuration(faulty, clean),
                static_cast<unsigned long long>(hung),
                static_cast<unsigned long long>(counters.hedges),
                static_cast<unsigned long long>(counters.requests),
                static_cast<unsigned long long>(counters.transport_errors));
    EXPECT_EQ(clean_hung, 0u);
    EXPECT_EQ(clean_counters.hedges, 0u);
    EXPECT_GT(hung, 0u);
    EXPECT_LE(faulty, 3 * clean);
    // Each hung answer was hedged, but for a hedge that hung too: that attempt timed out.
    EXPECT_GE(counters.hedges + counters.transport_errors, hung);
  }
}

// A rotation with one rejected credential (invalid_client): it is retired with a notice and
// the lookups go on with the others; only when every credential is rejected do they fail.
TEST(TransportFaultsTest, ARejectedCredentialIsRetiredAndTheOthersGoOn) {
  sim::SimOptions options;
  options.clients = {sim::SimClient{"c1", "s1", "org-1"}, sim::SimClient{"c2", "s2", "org-2"}};
  options.synthetic_percent = 40;
  sim::SimServer sim{options};
  ASSERT_TRUE(sim.Start().ok());
  transport::CtiaClientOptions client_options;
  auto notices = std::make_shared<std::vector<std::string>>();
  auto notices_mu = std::make_shared<absl::Mutex>();
  client_options.notice = [notices, notices_mu](absl::string_view text) {
    absl::MutexLock lock(notices_mu.get());
    notices->emplace_back(text);
  };
  {
    ClientRig rig(sim, client_options,
                  {{"c1", "s1", "org-1"}, {"bad", "wrong", "org-3"}, {"c2", "s2", "org-2"}});
    ExpectAllSettledOk(rig.LookupAll(Domains(300, "rotation")));
    EXPECT_EQ(rig.client().Snapshot().retired_credentials, 1u);
    absl::MutexLock lock(notices_mu.get());
    ASSERT_EQ(notices->size(), 1u);
    EXPECT_NE(notices->front().find("credential 'bad' retired"), std::string::npos)
        << notices->front();
  }
  ClientRig all_bad(sim, client_options, {{"bad", "wrong", "org-3"}, {"c1", "nope", "org-1"}});
  for (const VerdictOr& r : all_bad.LookupAll(Domains(20, "all-bad"))) {
    EXPECT_TRUE(absl::IsUnauthenticated(r.status())) << r.status();
  }
  EXPECT_EQ(all_bad.client().Snapshot().retired_credentials, 2u);
}

}  // namespace
}  // namespace enrich
