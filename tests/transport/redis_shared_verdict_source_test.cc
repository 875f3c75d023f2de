// SharedVerdictSource: workers (each its own Redis connection and CTIA stand-in) sharing a real
// redis-server never ask one observable twice, and go on alone when Redis is lost.

#include "transport/redis/shared_verdict_source.h"

#include <chrono>
#include <future>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/synchronization/mutex.h"
#include "gtest/gtest.h"
#include "schema/clock.h"
#include "tests/fakes/fake_verdict_source.h"
#include "tests/transport/redis_server.h"
#include "transport/io_threads.h"

namespace enrich::transport {
namespace {

using enrich::testing::FakeVerdictSource;
using enrich::testing::RedisServer;
using VerdictOr = absl::StatusOr<schema::VerdictResult>;

// The stand-in CTIA: slow enough that the workers' lookups overlap; odd numbers are malicious,
// even ones have no verdict.
VerdictOr Answer(const schema::Observable& o) {
  std::this_thread::sleep_for(std::chrono::milliseconds(30));
  const int n = std::stoi(o.value.substr(1));
  if (n % 2 == 0) return schema::VerdictResult(schema::NoVerdict{});
  schema::Verdict v;
  v.disposition = schema::Disposition::kMalicious;
  v.disposition_name = "Malicious";
  v.observable = o;
  v.judgement_id = "judgement-" + o.value;
  v.valid_time = {absl::Now() - absl::Hours(1), absl::Now() + absl::Hours(1)};
  return schema::VerdictResult(v);
}

struct Worker {
  Worker(IoThreads& io, const RedisServer& server, const std::string& id,
         std::function<void(absl::string_view)> notice = nullptr)
      : ctia(Answer, /*async=*/true),
        redis(io.executor(), *ParseRedisUrl(server.url())),
        lookups(redis, Options(id), schema::SystemClock::Instance()),
        source(ctia, lookups, {"https://ctia.example", "private", absl::Hours(1), notice}) {}
  static SharedLookupOptions Options(const std::string& id) {
    SharedLookupOptions o;
    o.worker_id = id;
    o.poll_initial = absl::Milliseconds(5);
    return o;
  }
  // Looks up every value at once; waits for all answers.
  std::vector<VerdictOr> LookupAll(const std::vector<std::string>& values) {
    std::vector<std::promise<VerdictOr>> promises(values.size());
    for (size_t i = 0; i < values.size(); ++i) {
      source.LookupVerdict({"domain", values[i]},
                           [&promises, i](VerdictOr r) { promises[i].set_value(std::move(r)); });
    }
    std::vector<VerdictOr> out;
    for (auto& p : promises) out.push_back(p.get_future().get());
    return out;
  }
  FakeVerdictSource ctia;
  RedisClient redis;
  SharedLookups lookups;
  SharedVerdictSource source;
};

void ExpectCorrect(const std::vector<std::string>& values, const std::vector<VerdictOr>& got) {
  ASSERT_EQ(values.size(), got.size());
  for (size_t i = 0; i < values.size(); ++i) {
    ASSERT_TRUE(got[i].ok()) << values[i] << ": " << got[i].status();
    const bool odd = std::stoi(values[i].substr(1)) % 2 == 1;
    ASSERT_EQ(std::holds_alternative<schema::Verdict>(*got[i]), odd) << values[i];
    if (odd) {
      EXPECT_EQ(std::get<schema::Verdict>(*got[i]).judgement_id, "judgement-" + values[i]);
    }
  }
}

TEST(SharedVerdictSourceTest, FourWorkersAskEachObservableOnceBetweenThem) {
  RedisServer server;
  IoThreads io(2);
  std::vector<std::string> values;
  for (int i = 0; i < 100; ++i) values.push_back("v" + std::to_string(i));
  std::vector<std::unique_ptr<Worker>> workers;
  for (int w = 0; w < 4; ++w) {
    workers.push_back(std::make_unique<Worker>(io, server, "w" + std::to_string(w)));
  }
  std::vector<std::vector<VerdictOr>> results(workers.size());
  std::vector<std::thread> threads;
  for (size_t w = 0; w < workers.size(); ++w) {
    threads.emplace_back([&, w] { results[w] = workers[w]->LookupAll(values); });
  }
  for (auto& t : threads) t.join();
  for (const auto& r : results) ExpectCorrect(values, r);
  int64_t asked = 0, shared = 0;
  for (const std::string& v : values) {
    int calls = 0;
    for (auto& w : workers) calls += w->ctia.calls(v);
    EXPECT_EQ(calls, 1) << v;
  }
  for (auto& w : workers) {
    asked += w->source.counters().asked.load();
    shared += w->source.counters().shared.load();
    EXPECT_EQ(w->source.counters().alone.load(), 0);
  }
  EXPECT_EQ(asked, 100);
  EXPECT_EQ(shared, 300);
}

TEST(SharedVerdictSourceTest, ARedisLostMidRunIsGoneAroundAndRejoined) {
  RedisServer server;
  IoThreads io(2);
  absl::Mutex mu;
  std::vector<std::string> notices;
  Worker a(io, server, "a", [&](absl::string_view n) {
    absl::MutexLock lock(&mu);
    notices.emplace_back(n);
  });
  std::vector<std::string> first = {"v1", "v2", "v3"};
  ExpectCorrect(first, a.LookupAll(first));
  server.Kill();
  std::vector<std::string> during = {"v1", "v4", "v5", "v6"};
  ExpectCorrect(during, a.LookupAll(during));  // every row still answered, by CTIA alone
  EXPECT_EQ(a.source.counters().alone.load(), 4);
  EXPECT_EQ(a.ctia.calls("v1"), 2);  // the shared answer was out of reach
  ASSERT_TRUE(server.Restart());
  ASSERT_TRUE(enrich::testing::WaitUp(a.redis, 20));
  std::vector<std::string> after = {"v7"};
  ExpectCorrect(after, a.LookupAll(after));
  // The answer is shared in the background (the lookup does not wait for the write).
  const std::string key = a.lookups.ValueKey({"https://ctia.example", "private", "domain", "v7"});
  for (int i = 0; i < 500 && enrich::testing::Call(a.redis, {"EXISTS", key})->integer == 0; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  ExpectCorrect(after, a.LookupAll(after));
  EXPECT_EQ(a.ctia.calls("v7"), 1);  // shared again
  absl::MutexLock lock(&mu);
  ASSERT_EQ(notices.size(), 2u);
  EXPECT_NE(notices[0].find("looking up alone"), std::string::npos) << notices[0];
  EXPECT_EQ(notices[1], "shared cache available again");
}

}  // namespace
}  // namespace enrich::transport
