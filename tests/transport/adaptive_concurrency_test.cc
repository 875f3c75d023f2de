// The client's adaptive concurrency (ConcurrencyLimit wired in front of the pool) against a
// scripted server that counts the requests it holds at once.

#include "schema/json_codec.h"
#include "tests/fakes/await.h"
#include "tests/fakes/fixed_token_source.h"
#include "tests/fakes/pool_client_rig.h"
#include "tests/fakes/scripted_http_server.h"
#include "transport/ctia_client.h"
#include "transport/io_threads.h"

#include <algorithm>
#include <atomic>
#include <chrono>
#include <functional>
#include <future>
#include <memory>
#include <random>
#include <thread>
#include <vector>

#include "gtest/gtest.h"

namespace enrich::transport {
namespace {

using ::enrich::testing::Await;
using ::enrich::testing::Reply;
using ::enrich::testing::ScriptedHttpServer;
using ::enrich::testing::ScriptedReply;
using ::enrich::testing::ScriptedRequest;
using VerdictOr = absl::StatusOr<schema::VerdictResult>;

constexpr char kNoVerdictBody[] =
    R"({"message":"no verdict currently available for the supplied observable"})";

// The server answers `reply(index)` after `delay_ms(index)`, and records how many requests
// it held at once. The tests that are not about latency set a latency floor far above any
// latency a loaded machine gives, so only what they test moves the limit.
class AdaptiveConcurrencyTest : public ::testing::Test {
 protected:
  void Start(int max_concurrency, std::function<int(size_t)> delay_ms,
             std::function<ScriptedReply(size_t)> reply,
             absl::Duration latency_floor = absl::Seconds(10)) {
    delay_ms_ = std::move(delay_ms);
    reply_ = std::move(reply);
    server_ = std::make_unique<ScriptedHttpServer>([this](const ScriptedRequest& r) {
      const int now = ++holding_;
      int seen = peak_.load();
      while (now > seen && !peak_.compare_exchange_weak(seen, now)) {
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(delay_ms_(r.index)));
      --holding_;
      return reply_(r.index);
    });
    PoolOptions pool_options;
    pool_options.connections = 32;  // more than the limit: the gate is what holds sends back
    CtiaClientOptions options;
    options.max_concurrency = max_concurrency;
    options.concurrency_latency_floor = latency_floor;
    client_ = &rig_.Start(server_->url(), tokens_, options, pool_options);
  }
  void TearDown() override { rig_.Stop(); }

  // `n` lookups at once; returns when all settled (each must succeed).
  void Burst(int n) {
    std::vector<std::future<VerdictOr>> results;
    for (int i = 0; i < n; ++i) {
      auto p = std::make_shared<std::promise<VerdictOr>>();
      results.push_back(p->get_future());
      client_->LookupVerdict({"ip", "10.0.0.1"}, [p](VerdictOr r) { p->set_value(std::move(r)); });
    }
    for (auto& f : results) {
      ASSERT_EQ(f.wait_for(std::chrono::seconds(30)), std::future_status::ready);
      VerdictOr r = f.get();
      EXPECT_TRUE(r.ok()) << r.status();
    }
  }
  void Sequential(int n) {
    for (int i = 0; i < n; ++i) {
      VerdictOr r = Await<VerdictOr>([&](VerdictSource::Callback done) {
        client_->LookupVerdict({"ip", "10.0.0.1"}, done);
      });
      EXPECT_TRUE(r.ok()) << r.status();
    }
  }
  CtiaClientCounters Counters() { return client_->Snapshot(); }

  ::enrich::testing::FixedTokenSource tokens_;
  std::function<int(size_t)> delay_ms_;
  std::function<ScriptedReply(size_t)> reply_;
  std::atomic<int> holding_{0};
  std::atomic<int> peak_{0};
  std::unique_ptr<ScriptedHttpServer> server_;
  ::enrich::testing::PoolClientRig rig_{2};
  BeastCtiaClient* client_ = nullptr;
};

TEST_F(AdaptiveConcurrencyTest, NeverMoreInFlightThanTheLimit) {
  Start(
      4, [](size_t) { return 20; }, [](size_t) { return Reply(404, kNoVerdictBody); });
  Burst(40);
  EXPECT_LE(peak_.load(), 4);
  EXPECT_GE(peak_.load(), 2);
  const CtiaClientCounters c = Counters();
  EXPECT_EQ(c.concurrency_limit, 4);
  EXPECT_EQ(c.concurrency_decreases, 0u);
  EXPECT_GT(c.concurrency_waits, 0u);
  EXPECT_EQ(server_->requests(), 40u);
}

TEST_F(AdaptiveConcurrencyTest, BacksOffOn429AndRecoversSlowly) {
  // The first 8 requests are refused (Retry-After: 0), everything after is answered.
  Start(
      8, [](size_t) { return 1; },
      [](size_t index) {
        if (index < 8) return Reply(429, R"({"error": "Too Many Requests"})", {"Retry-After: 0"});
        return Reply(404, kNoVerdictBody);
      });
  Burst(8);  // all refused once, each retried
  CtiaClientCounters c = Counters();
  EXPECT_EQ(c.rate_limited, 8u);
  // One halving per round of answers, not one per 429 (eight 429s arrive together; a second
  // halving needs a late 429 after a round of successful retries).
  EXPECT_GE(c.concurrency_decreases, 1u);
  EXPECT_LE(c.concurrency_decreases, 2u);
  const int after_burst = c.concurrency_limit;
  EXPECT_LE(after_burst, 5);  // halved to 4, plus at most one step from the 8 retries
  // Additive increase: +1 per `limit` successes, so 10 more answers cannot restore 8.
  Sequential(10);
  c = Counters();
  EXPECT_GT(c.concurrency_limit, after_burst);
  EXPECT_LT(c.concurrency_limit, 8);
  Sequential(40);
  EXPECT_EQ(Counters().concurrency_limit, 8);  // back at the maximum, never above
}

TEST_F(AdaptiveConcurrencyTest, RisingLatencyBacksOff) {
  // 30 quick answers, then answers 30× slower (above the 20 ms floor): the server is queueing.
  Start(
      8, [](size_t index) { return index < 30 ? 1 : 60; },
      [](size_t) { return Reply(404, kNoVerdictBody); }, absl::Milliseconds(20));
  Sequential(30);
  const CtiaClientCounters before = Counters();
  Sequential(20);
  const CtiaClientCounters after = Counters();
  // The median of the last 16 answers rises after 8 slow ones: 8 → 4, then 4 → 2 a round
  // later, then a step or two back up.
  EXPECT_GE(after.concurrency_decreases, before.concurrency_decreases + 2);
  EXPECT_LE(after.concurrency_limit, 4);
}

// ---- ConcurrencyLimit on its own: latencies given, no server --------------------------------

// `n` answers with latencies from `latency(i)`; returns the lowest limit seen on the way.
int Feed(ConcurrencyLimit& c, int n, const std::function<absl::Duration(int)>& latency) {
  int lowest = c.limit();
  for (int i = 0; i < n; ++i) {
    c.OnSuccess(latency(i));
    lowest = std::min(lowest, c.limit());
  }
  return lowest;
}

TEST(ConcurrencyLimitAloneTest, ConstantLatencyNeverDecreases) {
  for (const absl::Duration latency : {absl::Milliseconds(50), absl::Milliseconds(150),
                                       absl::Seconds(2)}) {
    ConcurrencyLimit c(16, 16, 3.0, absl::Milliseconds(50));
    EXPECT_EQ(Feed(c, 5000, [&](int) { return latency; }), 16) << latency;
  }
}

// 5% of answers 2 s late, the rest 50 ms (a steady slow tail, drawn at random): the median
// does not move, the limit stays at the maximum or near it.
TEST(ConcurrencyLimitAloneTest, SteadySlowTailDoesNotShrinkTheLimit) {
  std::mt19937_64 rng(14);
  ConcurrencyLimit c(16, 16, 3.0, absl::Milliseconds(50));
  const int lowest = Feed(c, 20000, [&](int) {
    return rng() % 100 < 5 ? absl::Seconds(2) : absl::Milliseconds(50);
  });
  EXPECT_GE(lowest, 12);
  EXPECT_EQ(c.limit(), 16);
}

// Queueing: latency climbs from 50 ms to 1 s over 400 answers. The limit backs off while it
// rises; once the latency is steady again, the baseline catches up and the limit recovers.
TEST(ConcurrencyLimitAloneTest, RisingLatencyDecreasesThenASteadyLevelRecovers) {
  ConcurrencyLimit c(16, 16, 3.0, absl::Milliseconds(50));
  Feed(c, 200, [](int) { return absl::Milliseconds(50); });
  const int lowest = Feed(c, 400, [](int i) { return absl::Milliseconds(50 + i * 950 / 400); });
  EXPECT_LE(lowest, 4);
  Feed(c, 5000, [](int) { return absl::Seconds(1); });
  EXPECT_EQ(c.limit(), 16);
  EXPECT_GT(c.baseline(), absl::Milliseconds(900));
}

TEST(ConcurrencyLimitAloneTest, TooManyRequestsDecreases) {
  ConcurrencyLimit c(16, 16, 3.0, absl::Milliseconds(50));
  Feed(c, 100, [](int) { return absl::Milliseconds(150); });
  c.OnOverload();
  EXPECT_EQ(c.limit(), 8);
}

}  // namespace
}  // namespace enrich::transport
