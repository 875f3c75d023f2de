// Workers hand their partial batches to each other (SharedVerdictSource over SharedHandoff):
// two workers, each a real BeastCtiaClient of one ctia-sim and its own connection to one real
// redis-server. The hander's callbacks get the answers the taker asked for, in one request for
// both batches; a taker that never comes costs the hander a lease, then it asks the lookups
// itself, once each; a stuck worker waits a few ticks at most; a busy worker takes a handed
// lookup it needs when it claims it.

#include "schema/clock.h"
#include "tests/fakes/cli_rig.h"
#include "tests/integration/sim_client_rig.h"
#include "tests/transport/redis_server.h"
#include "tools/sim/sim_server.h"
#include "transport/io_threads.h"
#include "transport/redis/redis_endpoint.h"
#include "transport/redis/shared_verdict_source.h"

#include <chrono>
#include <map>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/clock.h"
#include "gtest/gtest.h"

namespace enrich {
namespace {

using testing::VerdictOr;

// Answers of lookups asked through a source, waited for from the test's thread.
class Answers {
 public:
  explicit Answers(size_t n) : results_(n, absl::DeadlineExceededError("not answered")) {}
  transport::VerdictSource::Callback At(size_t i) {
    return [this, i](VerdictOr r) {
      absl::MutexLock lock(&mu_);
      results_[i] = std::move(r);
      ++answered_;
    };
  }
  bool WaitAll(absl::Duration timeout) {
    absl::MutexLock lock(&mu_);
    return mu_.AwaitWithTimeout(absl::Condition(this, &Answers::AllAnswered), timeout);
  }
  std::vector<VerdictOr> results() {
    absl::MutexLock lock(&mu_);
    return results_;
  }

 private:
  bool AllAnswered() const ABSL_SHARED_LOCKS_REQUIRED(mu_) {
    return answered_ == results_.size();
  }
  absl::Mutex mu_;
  std::vector<VerdictOr> results_ ABSL_GUARDED_BY(mu_);
  size_t answered_ ABSL_GUARDED_BY(mu_) = 0;
};

// One worker: a batching CTIA client of the sim (batches of 20, a linger far beyond the test:
// only a flush sends a partial batch), its Redis connection, shared lookups and source.
struct Worker {
  // `quota_bound`: its requests wait for the shared quota at every tick (as under a quota
  // that sets the pace), so stuck workers hand their batches over while it is busy.
  Worker(sim::SimServer& sim, const testing::RedisServer& redis, const std::string& id,
         absl::Duration lease, bool quota_bound = false,
         absl::Duration stuck_wait = absl::Seconds(60))
      : rig(sim, ClientOptions()),
        io(1),
        client(io.executor(), *transport::ParseRedisUrl(redis.url())),
        lookups(client, LookupOptions(id, lease), schema::SystemClock::Instance()),
        source(rig.client(), lookups, SourceOptions(quota_bound, stuck_wait)) {}
  ~Worker() {
    source.Close();
    (void)testing::Call(client, {"PING"});  // the running set left before the link closes
  }
  static transport::CtiaClientOptions ClientOptions() {
    transport::CtiaClientOptions o;
    o.batch_size = 20;
    o.batch_linger = absl::Seconds(600);
    return o;
  }
  static transport::SharedLookupOptions LookupOptions(const std::string& id,
                                                      absl::Duration lease) {
    transport::SharedLookupOptions o;
    o.worker_id = id;
    o.lease = lease;
    o.poll_initial = absl::Milliseconds(5);
    o.poll_max = absl::Milliseconds(50);
    return o;
  }
  static transport::SharedVerdictSourceOptions SourceOptions(bool quota_bound,
                                                             absl::Duration stuck_wait) {
    transport::SharedVerdictSourceOptions o;
    o.endpoint = "http://ctia-sim.test";
    o.intel = "private";
    o.handoff_tick = absl::Milliseconds(100);
    o.stuck_wait = stuck_wait;
    if (quota_bound) {
      o.quota_waits = [waits = std::make_shared<int64_t>(0)] { return ++*waits; };
    }
    return o;
  }
  // Asks `values` (domains); returns once the client holds them all in its batch.
  void Ask(const std::vector<std::string>& values, Answers& answers) {
    for (size_t i = 0; i < values.size(); ++i) {
      source.LookupVerdict({"domain", values[i]}, answers.At(i));
    }
    for (int i = 0; i < 1000 && rig.client().Collecting() < values.size(); ++i) {
      std::this_thread::sleep_for(std::chrono::milliseconds(5));
    }
    ASSERT_EQ(rig.client().Collecting(), values.size());
  }
  // Returns once `n` of its lookups were handed over (at most 5 s).
  void AwaitHanded(int64_t n) {
    for (int i = 0; i < 500 && source.counters().handed.load() < n; ++i) {
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
  }
  // The engine's run is stuck on the batch (its input goes on): a mid-run flush.
  void Stuck() { source.FlushBatch(); }
  // Returns once the others can see this worker as quota-bound (its heartbeat said so).
  void AwaitBoundHeartbeat() {
    transport::SharedHandoff probe(lookups, "http://ctia-sim.test", "private", absl::Seconds(1));
    for (int i = 0; i < 500; ++i) {
      auto score = testing::Call(client, {"ZSCORE", probe.BoundKey(), lookups.worker_id()});
      if (score.ok() && !score->is_nil()) return;
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    FAIL() << "no quota-bound heartbeat in " << probe.BoundKey();
  }
  // The engine's input ends and it waits for the batch alone: the final flush.
  void End() {
    source.InputEnded();
    source.FlushBatch();
  }

  testing::ClientRig rig;
  transport::IoThreads io;
  transport::RedisClient client;
  transport::SharedLookups lookups;
  transport::SharedVerdictSource source;
};

std::vector<std::string> Domains(const std::string& prefix, int n) {
  std::vector<std::string> out;
  for (int i = 0; i < n; ++i) out.push_back(absl::StrCat(prefix, i, ".example"));
  return out;
}

class RedisHandoffTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_TRUE(redis_.running());
    sim::SimOptions options;
    options.synthetic_percent = 30;  // every domain answered, from a hash
    options.test_api = true;         // per-observable tally
    options.threads = 2;
    sim_ = testing::StartSim(options);
    ASSERT_NE(sim_, nullptr);
  }
  void ExpectAnswered(Answers& answers, const std::vector<std::string>& values) {
    ASSERT_TRUE(answers.WaitAll(absl::Seconds(60)));
    const std::vector<VerdictOr> got = answers.results();
    for (size_t i = 0; i < got.size(); ++i) {
      ASSERT_TRUE(got[i].ok()) << values[i] << ": " << got[i].status();
      if (const auto* v = std::get_if<schema::Verdict>(&*got[i])) {
        EXPECT_EQ(v->observable.value, values[i]);
      }
    }
  }

  // The sim was asked `count` distinct observables, each once.
  void ExpectEachAskedOnce(size_t count) {
    const auto asked = testing::LookupsByObservable(*sim_);
    EXPECT_EQ(asked.size(), count);
    for (const auto& [observable, n] : asked) EXPECT_EQ(n, 1u) << observable;
  }

  testing::RedisServer redis_;
  std::unique_ptr<sim::SimServer> sim_;
};

TEST_F(RedisHandoffTest, TheLastWorkerSendsBothTailsInOneRequest) {
  Worker a(*sim_, redis_, "a", absl::Seconds(30));
  Worker b(*sim_, redis_, "b", absl::Seconds(30));
  const std::vector<std::string> a_values = Domains("a-", 5), b_values = Domains("b-", 7);
  Answers a_answers(a_values.size()), b_answers(b_values.size());
  a.Ask(a_values, a_answers);
  b.Ask(b_values, b_answers);

  a.End();  // b still runs: a hands its five over and sends nothing
  a.AwaitHanded(5);
  EXPECT_EQ(a.source.counters().handed.load(), 5);
  EXPECT_EQ(a.rig.client().Collecting(), 0u);
  std::this_thread::sleep_for(std::chrono::milliseconds(300));
  EXPECT_EQ(sim_->Counters().graphql_requests, 0u);
  EXPECT_EQ(a.source.Collecting(), 5u);  // waited for: the engine's run stays on them

  b.End();  // the last: its seven and a's five, one request
  ExpectAnswered(b_answers, b_values);
  ExpectAnswered(a_answers, a_values);
  EXPECT_EQ(sim_->Counters().graphql_requests, 1u);
  EXPECT_EQ(b.source.counters().taken.load(), 5);
  EXPECT_EQ(b.source.counters().asked.load(), 12);
  EXPECT_EQ(a.source.counters().asked.load(), 0);
  EXPECT_EQ(a.source.counters().shared.load(), 5);  // answered through Redis
  ExpectEachAskedOnce(12u);
  // Nothing is left on the hand-off list, nobody in the running set.
  transport::SharedHandoff probe(a.lookups, "http://ctia-sim.test", "private",
                                 absl::Seconds(1));
  EXPECT_EQ(testing::Call(a.client, {"LLEN", probe.ListKey()})->integer, 0);
  EXPECT_EQ(testing::Call(a.client, {"ZCARD", probe.RunningKey()})->integer, 0);
}

// Mid-run: a stuck worker hands its batch to the list while the other is busy; the other,
// stuck in turn, finds nobody busy and sends both batches.
TEST_F(RedisHandoffTest, TwoStuckWorkersSendTheirBatchesInOneRequest) {
  Worker a(*sim_, redis_, "a", absl::Seconds(30));
  Worker b(*sim_, redis_, "b", absl::Seconds(30), /*quota_bound=*/true);
  const std::vector<std::string> a_values = Domains("a-", 5), b_values = Domains("b-", 7);
  Answers a_answers(a_values.size()), b_answers(b_values.size());
  a.Ask(a_values, a_answers);
  b.Ask(b_values, b_answers);
  b.AwaitBoundHeartbeat();

  a.Stuck();  // b is busy and the quota sets its pace: a hands its five over
  a.AwaitHanded(5);
  ASSERT_EQ(a.source.counters().handed.load(), 5);
  std::this_thread::sleep_for(std::chrono::milliseconds(200));  // two ticks: nothing sent
  EXPECT_EQ(sim_->Counters().graphql_requests, 0u);
  transport::SharedHandoff probe(a.lookups, "http://ctia-sim.test", "private",
                                 absl::Seconds(1));
  EXPECT_EQ(testing::Call(a.client, {"SISMEMBER", probe.StuckKey(), "a"})->integer, 1);

  b.Stuck();  // a is stuck: b is the last busy worker, it takes a's five
  ExpectAnswered(b_answers, b_values);
  ExpectAnswered(a_answers, a_values);
  EXPECT_EQ(sim_->Counters().graphql_requests, 1u);
  EXPECT_EQ(b.source.counters().taken.load(), 5);
  EXPECT_EQ(a.source.counters().asked.load(), 0);
  ExpectEachAskedOnce(12u);
  EXPECT_EQ(testing::Call(a.client, {"LLEN", probe.ListKey()})->integer, 0);
}

// A stuck worker whose batch nobody takes (the other stays busy and never needs it) takes it
// back after its stuck_wait, not a lease later.
TEST_F(RedisHandoffTest, AStuckWorkerSendsItsBatchAfterItsStuckWaitWhenTheOthersStayBusy) {
  Worker a(*sim_, redis_, "a", absl::Seconds(30), false, absl::Milliseconds(500));
  Worker b(*sim_, redis_, "b", absl::Seconds(30), /*quota_bound=*/true);  // never stuck
  const std::vector<std::string> values = Domains("a-", 6);
  Answers answers(values.size());
  a.Ask(values, answers);
  b.AwaitBoundHeartbeat();
  const absl::Time start = absl::Now();
  a.Stuck();
  ExpectAnswered(answers, values);
  const absl::Duration waited = absl::Now() - start;
  EXPECT_GE(waited, absl::Milliseconds(300));  // handed, then taken back at a tick
  EXPECT_LT(waited, absl::Seconds(15));        // not the lease's 30 s
  EXPECT_EQ(a.source.counters().handed.load(), 6);
  EXPECT_EQ(a.source.counters().taken.load(), 6);  // its own, from the list
  EXPECT_EQ(sim_->Counters().graphql_requests, 1u);
  ExpectEachAskedOnce(values.size());
}

// A busy worker whose requests do not wait for the quota: the workers, not the quota, set the
// pace, and a stuck worker sends its batch at once (with the list), as alone.
TEST_F(RedisHandoffTest, AStuckWorkerSendsAtOnceWhileNoBusyWorkerWaitsForTheQuota) {
  Worker a(*sim_, redis_, "a", absl::Seconds(30));
  Worker b(*sim_, redis_, "b", absl::Seconds(30));  // busy, not quota-bound
  const std::vector<std::string> values = Domains("a-", 6);
  Answers answers(values.size());
  a.Ask(values, answers);
  a.Stuck();
  ExpectAnswered(answers, values);
  EXPECT_EQ(a.source.counters().handed.load(), 0);
  EXPECT_EQ(a.source.counters().stuck.load(), 1);
  EXPECT_EQ(sim_->Counters().graphql_requests, 1u);
  transport::SharedHandoff probe(a.lookups, "http://ctia-sim.test", "private",
                                 absl::Seconds(1));
  EXPECT_EQ(testing::Call(a.client, {"SISMEMBER", probe.StuckKey(), "a"})->integer, 0);
}

// A busy worker that claims a lookup another worker handed over asks it in its own batch (it
// does not wait for the last worker); the rest of the list goes with its final flush.
TEST_F(RedisHandoffTest, ABusyWorkerAsksAHandedLookupItNeedsInItsOwnBatch) {
  Worker a(*sim_, redis_, "a", absl::Seconds(30));
  Worker b(*sim_, redis_, "b", absl::Seconds(30));
  const std::vector<std::string> a_values = Domains("a-", 5);
  Answers a_answers(a_values.size());
  a.Ask(a_values, a_answers);
  a.End();  // b is busy: a hands its five over
  a.AwaitHanded(5);
  ASSERT_EQ(a.source.counters().handed.load(), 5);

  const std::vector<std::string> b_values = {"a-0.example", "b-0.example", "b-1.example"};
  Answers b_answers(b_values.size());
  b.Ask(b_values, b_answers);  // a-0 is taken by the claim: in b's batch, not waited for
  EXPECT_EQ(b.source.counters().taken.load(), 1);
  b.End();  // the last: its three and the four left on the list, one request
  ExpectAnswered(b_answers, b_values);
  ExpectAnswered(a_answers, a_values);
  EXPECT_EQ(sim_->Counters().graphql_requests, 1u);
  EXPECT_EQ(b.source.counters().taken.load(), 5);
  EXPECT_EQ(b.source.counters().asked.load(), 7);
  ExpectEachAskedOnce(7u);
}

TEST_F(RedisHandoffTest, AHandedBatchWhoseTakerNeverComesIsAskedByItsHanderAfterALease) {
  const absl::Duration lease = absl::Seconds(1);
  Worker a(*sim_, redis_, "a", lease);
  Worker b(*sim_, redis_, "b", lease);  // runs (its heartbeat goes on), never ends
  const std::vector<std::string> values = Domains("a-", 6);
  Answers answers(values.size());
  a.Ask(values, answers);
  const absl::Time start = absl::Now();
  a.End();
  ExpectAnswered(answers, values);
  const absl::Duration waited = absl::Now() - start;
  EXPECT_GE(waited, lease - absl::Milliseconds(100));  // the handed leases ran out first
  EXPECT_LT(waited, lease * 20);
  EXPECT_EQ(a.source.counters().handed.load(), 6);
  EXPECT_EQ(a.source.counters().asked.load(), 6);  // taken back, each asked once, here
  EXPECT_EQ(b.source.counters().taken.load(), 0);
  EXPECT_EQ(sim_->Counters().graphql_requests, 1u);  // taken over together: one batch
  ExpectEachAskedOnce(values.size());
}

TEST_F(RedisHandoffTest, AHanderTakesItsBatchBackAtOnceWhenTheOtherWorkerLeaves) {
  Worker a(*sim_, redis_, "a", absl::Seconds(30));
  auto b = std::make_unique<Worker>(*sim_, redis_, "b", absl::Seconds(30));
  const std::vector<std::string> values = Domains("a-", 4);
  Answers answers(values.size());
  a.Ask(values, answers);
  a.End();
  a.AwaitHanded(4);
  ASSERT_EQ(a.source.counters().handed.load(), 4);
  const absl::Time left = absl::Now();
  b.reset();  // ends with nothing of its own to flush, and leaves
  ExpectAnswered(answers, values);
  EXPECT_LT(absl::Now() - left, absl::Seconds(15));  // not the lease's 30 s
  EXPECT_EQ(a.source.counters().taken.load(), 4);    // its own, from the list
  ExpectEachAskedOnce(values.size());
}

}  // namespace
}  // namespace enrich
