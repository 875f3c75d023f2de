// SharedRateLimiter against a real redis-server: N workers (each its own connection and
// limiter) sharing one budget group stay under the group's limit in every window.

#include "transport/redis/shared_rate_limiter.h"

#include <algorithm>
#include <atomic>
#include <chrono>
#include <future>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/synchronization/mutex.h"
#include "boost/asio/steady_timer.hpp"
#include "gtest/gtest.h"
#include "schema/clock.h"
#include "tests/transport/redis_server.h"
#include "transport/io_threads.h"

namespace enrich::transport {
namespace {

using enrich::testing::RedisServer;
using PermitOr = absl::StatusOr<SharedPermit>;
using Steady = std::chrono::steady_clock;

struct Worker {
  Worker(IoThreads& io, const RedisServer& server, SharedRateOptions options)
      : redis(io.executor(), *ParseRedisUrl(server.url())),
        limiter(redis, std::move(options), schema::SystemClock::Instance()) {}
  PermitOr Acquire() {
    std::promise<PermitOr> p;
    limiter.Acquire([&](PermitOr r) { p.set_value(std::move(r)); });
    return p.get_future().get();
  }
  absl::Status Done(std::function<void(SharedRateLimiter::DoneCallback)> call) {
    std::promise<absl::Status> p;
    call([&](absl::Status s) { p.set_value(s); });
    return p.get_future().get();
  }
  RedisClient redis;
  SharedRateLimiter limiter;
};

SharedRateOptions Options(const std::string& worker, int64_t limit, absl::Duration window) {
  SharedRateOptions o;
  o.group = "org-1";
  o.worker_id = worker;
  o.limit = limit;
  o.window = window;
  return o;
}

class SharedRateLimiterTest : public ::testing::Test {
 protected:
  RedisServer server_;
  IoThreads io_{2};
};

// Four workers ask as fast as the limiter lets them, each waiting what it is told to wait.
// Every window (by Redis' clock) holds at most `limit` grants, the quota is used (the waits
// end when a slot frees), and the denials stay few (the waits are honoured, nobody spins).
TEST_F(SharedRateLimiterTest, FourWorkersTogetherStayUnderTheLimitInEveryWindow) {
  constexpr int kWorkers = 4;
  constexpr int64_t kLimit = 20;
  const absl::Duration window = absl::Milliseconds(1000);
  const auto run_for = std::chrono::milliseconds(3500);

  absl::Mutex mu;
  std::vector<absl::Time> grants;
  std::atomic<int> denials{0};
  std::atomic<int64_t> max_workers{0};
  std::vector<std::unique_ptr<Worker>> workers;
  for (int w = 0; w < kWorkers; ++w) {
    workers.push_back(std::make_unique<Worker>(io_, server_,
                                               Options("w" + std::to_string(w), kLimit, window)));
  }
  std::vector<std::thread> threads;
  const auto end = Steady::now() + run_for;
  for (int w = 0; w < kWorkers; ++w) {
    threads.emplace_back([&, w] {
      while (Steady::now() < end) {
        PermitOr p = workers[w]->Acquire();
        ASSERT_TRUE(p.ok()) << p.status();
        max_workers = std::max(max_workers.load(), p->workers);
        if (p->granted) {
          absl::MutexLock lock(&mu);
          grants.push_back(p->granted_at);
        } else {
          ++denials;
          ASSERT_GT(p->wait, absl::ZeroDuration());
          ASSERT_LE(p->wait, window);
          std::this_thread::sleep_for(absl::ToChronoNanoseconds(p->wait));
        }
      }
    });
  }
  for (auto& t : threads) t.join();

  std::sort(grants.begin(), grants.end());
  // Sliding check: the grants in (t - window, t] for every grant t.
  size_t first = 0;
  int64_t busiest = 0;
  for (size_t i = 0; i < grants.size(); ++i) {
    while (grants[first] <= grants[i] - window) ++first;
    busiest = std::max<int64_t>(busiest, static_cast<int64_t>(i - first + 1));
  }
  EXPECT_LE(busiest, kLimit);
  EXPECT_EQ(busiest, kLimit);  // the quota was reached
  // 3.5 windows: at most 4 windows' worth, at least 3 (the waits end as slots free).
  EXPECT_LE(static_cast<int64_t>(grants.size()), 4 * kLimit);
  EXPECT_GE(static_cast<int64_t>(grants.size()), 3 * kLimit);
  EXPECT_LE(denials.load(), static_cast<int>(kWorkers * grants.size()));
  EXPECT_EQ(max_workers.load(), kWorkers);
  EXPECT_EQ(workers[0]->limiter.LocalShare(), kLimit / kWorkers);
}

TEST_F(SharedRateLimiterTest, WaitsUntilTheOldestGrantLeavesTheWindow) {
  Worker w(io_, server_, Options("w", 3, absl::Seconds(2)));
  for (int i = 0; i < 3; ++i) {
    PermitOr p = w.Acquire();
    ASSERT_TRUE(p.ok());
    EXPECT_TRUE(p->granted);
    EXPECT_EQ(p->used, i + 1);
  }
  PermitOr denied = w.Acquire();
  ASSERT_TRUE(denied.ok());
  EXPECT_FALSE(denied->granted);
  EXPECT_FALSE(denied->paused);
  EXPECT_GT(denied->wait, absl::Milliseconds(1000));
  EXPECT_LE(denied->wait, absl::Seconds(2));
  EXPECT_EQ(w.limiter.OwnGrants().size(), 3u);
  std::this_thread::sleep_for(absl::ToChronoNanoseconds(denied->wait + absl::Milliseconds(100)));
  PermitOr after = w.Acquire();
  ASSERT_TRUE(after.ok());
  EXPECT_TRUE(after->granted);
  EXPECT_EQ(w.limiter.OwnGrants().size(), 1u);  // the first three left the window
}

TEST_F(SharedRateLimiterTest, AnUncountedGrantFreesItsSlot) {
  Worker w(io_, server_, Options("w", 2, absl::Hours(1)));
  PermitOr first = w.Acquire();
  ASSERT_TRUE(first.ok() && first->granted);
  ASSERT_TRUE(w.Acquire()->granted);
  EXPECT_FALSE(w.Acquire()->granted);
  ASSERT_TRUE(w.Done([&](auto cb) { w.limiter.Uncount(first->ticket, cb); }).ok());
  EXPECT_TRUE(w.Acquire()->granted);
  EXPECT_FALSE(w.Acquire()->granted);
}

TEST_F(SharedRateLimiterTest, APausePausesEveryWorkerOfTheGroup) {
  Worker a(io_, server_, Options("a", 100, absl::Hours(1)));
  Worker b(io_, server_, Options("b", 100, absl::Hours(1)));
  ASSERT_TRUE(a.Done([&](auto cb) { a.limiter.Pause(absl::Milliseconds(600), cb); }).ok());
  // A shorter pause does not shorten it.
  ASSERT_TRUE(a.Done([&](auto cb) { a.limiter.Pause(absl::Milliseconds(10), cb); }).ok());
  PermitOr p = b.Acquire();
  ASSERT_TRUE(p.ok());
  EXPECT_FALSE(p->granted);
  EXPECT_TRUE(p->paused);
  EXPECT_GT(p->wait, absl::Milliseconds(300));
  EXPECT_LE(p->wait, absl::Milliseconds(600));
  std::this_thread::sleep_for(absl::ToChronoNanoseconds(p->wait + absl::Milliseconds(20)));
  EXPECT_TRUE(b.Acquire()->granted);
}

TEST_F(SharedRateLimiterTest, GroupsHaveTheirOwnBudgets) {
  SharedRateOptions other = Options("w", 1, absl::Hours(1));
  other.group = "org-2";
  Worker a(io_, server_, Options("w", 1, absl::Hours(1))), b(io_, server_, other);
  EXPECT_TRUE(a.Acquire()->granted);
  EXPECT_FALSE(a.Acquire()->granted);
  EXPECT_TRUE(b.Acquire()->granted);
}

TEST_F(SharedRateLimiterTest, ALostRedisFailsFastAndTheLocalShareStaysSafe) {
  Worker a(io_, server_, Options("a", 30, absl::Hours(1)));
  Worker b(io_, server_, Options("b", 30, absl::Hours(1)));
  Worker c(io_, server_, Options("c", 30, absl::Hours(1)));
  ASSERT_TRUE(a.Acquire()->granted);
  ASSERT_TRUE(b.Acquire()->granted);
  ASSERT_TRUE(c.Acquire()->granted);
  ASSERT_TRUE(a.Acquire()->granted);  // a now knows three workers share the group
  EXPECT_EQ(a.limiter.workers(), 3);
  server_.Kill();
  const auto start = Steady::now();
  PermitOr lost = a.Acquire();
  ASSERT_FALSE(lost.ok());
  EXPECT_TRUE(IsRedisUnavailable(lost.status())) << lost.status();
  EXPECT_LT(Steady::now() - start, std::chrono::seconds(2));
  EXPECT_EQ(a.limiter.LocalShare(), 10);         // 30 / 3 workers
  EXPECT_EQ(a.limiter.OwnGrants().size(), 2u);  // what a already spent this window

  ASSERT_TRUE(server_.Restart());
  ASSERT_TRUE(enrich::testing::WaitUp(a.redis, 20));
  PermitOr back = a.Acquire();  // the script is loaded again
  ASSERT_TRUE(back.ok()) << back.status();
  EXPECT_TRUE(back->granted);
}

// Early in a run a worker may have seen only itself: --shard K/N's N floors the count its share
// divides by. And the most workers seen at once decide, not the last count: here b's heartbeat
// lapses (worker_ttl) before a's last grant, which counts a alone, yet a's share stays a third.
TEST_F(SharedRateLimiterTest, TheLocalShareCountsTheExpectedAndTheMostWorkersSeen) {
  SharedRateOptions expecting = Options("early", 40, absl::Hours(1));
  expecting.expected_workers = 4;
  Worker early(io_, server_, expecting);
  ASSERT_TRUE(early.Acquire()->granted);
  EXPECT_EQ(early.limiter.workers(), 1);     // Redis has counted it alone so far
  EXPECT_EQ(early.limiter.LocalShare(), 10);  // 40 / the 4 the run expects

  SharedRateOptions short_lived = Options("a", 30, absl::Hours(1));
  short_lived.group = "org-2";  // not early's
  short_lived.worker_ttl = absl::Milliseconds(300);
  SharedRateOptions other = short_lived;
  other.worker_id = "b";
  Worker a(io_, server_, short_lived), b(io_, server_, other);
  SharedRateOptions third = short_lived;
  third.worker_id = "c";
  Worker c(io_, server_, third);
  ASSERT_TRUE(b.Acquire()->granted);
  ASSERT_TRUE(c.Acquire()->granted);
  ASSERT_TRUE(a.Acquire()->granted);
  EXPECT_EQ(a.limiter.workers(), 3);
  absl::SleepFor(absl::Milliseconds(600));  // b and c fall silent past worker_ttl
  ASSERT_TRUE(a.Acquire()->granted);
  EXPECT_EQ(a.limiter.workers(), 1);
  EXPECT_EQ(a.limiter.peak_workers(), 3);
  EXPECT_EQ(a.limiter.LocalShare(), 10);  // 30 / the 3 seen at once
}

}  // namespace
}  // namespace enrich::transport
