// RedisQuota (the org's quota shared by the workers of `run --redis`) against a real
// redis-server: grants through Redis up to the limit, tickets given back and moved to the
// answer's time, the group's pause, and a lost Redis: local pacing at the worker's share,
// seeded with its own grants, said once; back through Redis (said once) when it returns.

#include "transport/redis/redis_quota.h"

#include <future>
#include <memory>
#include <string>
#include <vector>

#include "absl/strings/match.h"
#include "absl/synchronization/mutex.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "schema/clock.h"
#include "tests/transport/redis_server.h"
#include "transport/io_threads.h"
#include "transport/redis/redis_endpoint.h"

namespace enrich::transport {
namespace {

using enrich::testing::RedisServer;
using ::testing::HasSubstr;
using Grant = SharedQuota::Grant;

constexpr absl::Duration kWindow = absl::Seconds(60);

struct Worker {
  Worker(IoThreads& io, const RedisServer& server, const std::string& id)
      : redis(io.executor(), *ParseRedisUrl(server.url())),
        quota(Options(id, this), schema::SystemClock::Instance()) {
    quota.Attach(redis);
  }
  ~Worker() { quota.Detach(); }

  static RedisQuotaOptions Options(const std::string& id, Worker* self) {
    RedisQuotaOptions o;
    o.endpoint = "http://ctia.test";
    o.worker_id = id;
    o.notice = [self](absl::string_view text) {
      absl::MutexLock lock(&self->mu);
      self->notices.emplace_back(text);
    };
    return o;
  }
  Grant Acquire(int64_t limit, absl::string_view group = "org-1") {
    std::promise<Grant> p;
    quota.Acquire(group, limit, kWindow, [&p](Grant g) { p.set_value(std::move(g)); });
    return p.get_future().get();
  }
  // The calls sent so far are done: Redis answers one connection in order. Twice: a script
  // new to the server is sent again (EVAL after NOSCRIPT) when its first answer comes back,
  // after the first PING was queued.
  void Sync() {
    ASSERT_TRUE(enrich::testing::Call(redis, {"PING"}).ok());
    ASSERT_TRUE(enrich::testing::Call(redis, {"PING"}).ok());
  }
  std::vector<std::string> Notices() {
    absl::MutexLock lock(&mu);
    return notices;
  }

  absl::Mutex mu;
  std::vector<std::string> notices;
  RedisClient redis;
  RedisQuota quota;
};

class RedisQuotaTest : public ::testing::Test {
 protected:
  void SetUp() override { ASSERT_TRUE(server_.running()); }
  // Grants of `group` in the shared log (ZCARD of its key).
  int64_t Logged(Worker& w, absl::string_view group) {
    auto n = enrich::testing::Call(
        w.redis, {"ZCARD", absl::StrCat("enrich:v1:rate:{", w.quota.GroupKey(group), "}")});
    return n.ok() ? n->integer : -1;
  }
  RedisServer server_;
  IoThreads io_{2};
};

TEST_F(RedisQuotaTest, TwoWorkersShareOneLimitAndGiveBackWhatCtiaNeverCounted) {
  Worker a(io_, server_, "a");
  Worker b(io_, server_, "b");
  std::vector<std::string> tickets;
  for (int i = 0; i < 5; ++i) {
    Grant g = (i % 2 == 0 ? a : b).Acquire(5);
    ASSERT_TRUE(g.go) << i;
    ASSERT_FALSE(g.ticket.empty());
    tickets.push_back(g.ticket);
  }
  Grant refused = a.Acquire(5);
  EXPECT_FALSE(refused.go);
  EXPECT_GT(refused.wait, absl::Seconds(50));  // until the oldest grant leaves the window
  EXPECT_LE(refused.wait, kWindow);
  EXPECT_EQ(Logged(a, "org-1"), 5);

  // Another budget group (another credential's org) has its own quota.
  EXPECT_TRUE(b.Acquire(5, "org-2").go);

  // A grant whose request never reached CTIA goes back: the next request goes.
  a.quota.Uncount("org-1", tickets[0]);
  a.Sync();
  Grant after_uncount = b.Acquire(5);
  EXPECT_TRUE(after_uncount.go);
  EXPECT_EQ(Logged(a, "org-1"), 5);

  // An answered grant stays counted (moved to the answer's time).
  a.quota.Restamp("org-1", tickets[1]);
  a.Sync();
  EXPECT_FALSE(b.Acquire(5).go);
  EXPECT_EQ(a.quota.counters().granted + b.quota.counters().granted, 7);
}

TEST_F(RedisQuotaTest, APauseAfterA429HoldsEveryWorkerEvenWithoutAKnownLimit) {
  Worker a(io_, server_, "a");
  Worker b(io_, server_, "b");
  Grant first = a.Acquire(0);  // limit unknown: only the pause holds requests back
  EXPECT_TRUE(first.go);
  a.quota.Pause("org-1", absl::Seconds(30));
  a.Sync();
  Grant held = b.Acquire(0);
  EXPECT_FALSE(held.go);
  EXPECT_GT(held.wait, absl::Seconds(25));
  // The limit learned later is the org's quota: the pause still holds.
  EXPECT_FALSE(b.Acquire(100).go);
}

TEST_F(RedisQuotaTest, BeforeAttachEveryRequestGoesUncounted) {
  RedisQuota quota(RedisQuotaOptions{}, schema::SystemClock::Instance());
  std::promise<Grant> p;
  quota.Acquire("org-1", 1, kWindow, [&p](Grant g) { p.set_value(std::move(g)); });
  Grant g = p.get_future().get();
  EXPECT_TRUE(g.go);
  EXPECT_TRUE(g.ticket.empty());
}

// Two workers seen, limit 10: the share is 5 per window. Worker a spent 3 through Redis, so it
// may send 2 more alone in this window; then Redis comes back and a asks it again.
TEST_F(RedisQuotaTest, RedisLostPacesAtTheWorkersShareSeededWithItsOwnGrantsThenRejoins) {
  Worker a(io_, server_, "a");
  Worker b(io_, server_, "b");
  ASSERT_TRUE(b.Acquire(10).go);
  for (int i = 0; i < 3; ++i) ASSERT_TRUE(a.Acquire(10).go);

  server_.Kill();
  Grant alone1 = a.Acquire(10);
  Grant alone2 = a.Acquire(10);
  Grant alone3 = a.Acquire(10);
  EXPECT_TRUE(alone1.go);
  EXPECT_TRUE(alone1.ticket.empty());  // nothing in Redis to give back
  EXPECT_TRUE(alone2.go);
  EXPECT_FALSE(alone3.go);  // 3 + 2 = its share of 5
  EXPECT_GT(alone3.wait, absl::Seconds(50));
  EXPECT_EQ(a.quota.counters().alone, 2);
  EXPECT_EQ(a.quota.counters().losses, 1);
  std::vector<std::string> notices = a.Notices();
  ASSERT_EQ(notices.size(), 1u);  // said once
  EXPECT_THAT(notices[0], HasSubstr("pacing alone at 5 requests per 1m"));

  ASSERT_TRUE(server_.Restart());  // empty: the shared log is gone with it
  ASSERT_TRUE(enrich::testing::WaitUp(a.redis, 20));
  Grant back = a.Acquire(10);
  EXPECT_TRUE(back.go);
  EXPECT_FALSE(back.ticket.empty());  // through Redis again
  notices = a.Notices();
  ASSERT_EQ(notices.size(), 2u);
  EXPECT_THAT(notices[1], HasSubstr("available again"));
}

}  // namespace
}  // namespace enrich::transport
