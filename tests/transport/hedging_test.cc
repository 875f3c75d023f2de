// Hedging of hung answers: how late is late (HedgeDelay), the pool giving up a request its
// sender no longer wants (ConnectionPool::Abandon), and the client resending a hung lookup on
// another connection, the first answer winning, every lookup settled exactly once with its own
// answer, writes never resent. Against a scripted server whose hung answers never come.

#include "schema/json_codec.h"
#include "schema/time_format.h"
#include "tests/fakes/await.h"
#include "tests/fakes/fixed_token_source.h"
#include "tests/fakes/pool_client_rig.h"
#include "tests/fakes/scripted_http_server.h"
#include "transport/connection_pool.h"
#include "transport/ctia_client.h"
#include "transport/internal/hedge_watch.h"
#include "transport/io_threads.h"

#include <atomic>
#include <chrono>
#include <future>
#include <memory>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "absl/synchronization/notification.h"
#include "gtest/gtest.h"

namespace enrich::transport {
namespace {

using ::enrich::testing::Reply;
using ::enrich::testing::ScriptedAction;
using ::enrich::testing::ScriptedHttpServer;
using ::enrich::testing::ScriptedReply;
using ::enrich::testing::ScriptedRequest;
using VerdictOr = absl::StatusOr<schema::VerdictResult>;

// ---- HedgeDelay ---------------------------------------------------------------------------

LatencySnapshot Seen(int n, absl::Duration each) {
  LatencyHistogram h;
  for (int i = 0; i < n; ++i) h.Record(each);
  return h.Snapshot();
}

TEST(HedgeDelayTest, NothingBeforeEnoughAnswersThenTheFloorOrSeveralTimesTheP99) {
  internal::HedgeSettings s;  // floor 1 s, 4 × p99, 50 answers
  EXPECT_EQ(internal::HedgeDelay(Seen(49, absl::Milliseconds(20)), s), std::nullopt);
  EXPECT_EQ(internal::HedgeDelay(Seen(50, absl::Milliseconds(20)), s), absl::Seconds(1));
  const std::optional<absl::Duration> far = internal::HedgeDelay(Seen(500, absl::Seconds(2)), s);
  ASSERT_TRUE(far.has_value());
  EXPECT_GE(*far, absl::Seconds(7));  // 4 × ~2 s (the histogram's bucket edges)
  EXPECT_LE(*far, absl::Seconds(9));
}

// ---- ConnectionPool::Abandon ----------------------------------------------------------------

// Records how an exchange ended.
class Recorded final : public HttpExchange {
 public:
  explicit Recorded(std::string target) { request_.target = std::move(target); }
  const HttpRequest& request() const override { return request_; }
  void Complete(const absl::Status& status, HttpResponse* response) override {
    absl::MutexLock lock(&mu_);
    status_ = status;
    if (response != nullptr) http_status_ = response->status;
    ++completions_;
  }
  // Waits for the completion; its status.
  absl::Status Wait(absl::Duration at_most = absl::Seconds(5)) {
    absl::MutexLock lock(&mu_);
    mu_.AwaitWithTimeout(absl::Condition(
                             +[](int* n) { return *n > 0; }, &completions_),
                         at_most);
    return completions_ == 0 ? absl::DeadlineExceededError("not completed") : status_;
  }
  int completions() {
    absl::MutexLock lock(&mu_);
    return completions_;
  }

 private:
  HttpRequest request_;
  absl::Mutex mu_;
  absl::Status status_;
  int http_status_ = 0;
  int completions_ = 0;
};

TEST(PoolAbandonTest, AHungRequestAndAQueuedOneCompleteAtOnceAndThePoolGoesOn) {
  ScriptedHttpServer server([](const ScriptedRequest& r) {
    if (r.target == "/hang") return ScriptedReply{"", ScriptedAction::kHang};
    return Reply(200, "{}");
  });
  IoThreads io(2);
  PoolOptions options;
  options.connections = 1;
  options.request_timeout = absl::Seconds(30);
  ConnectionPool pool(io.executor(), *ParseUrl(server.url()), options);
  Recorded hung("/hang"), queued("/queued"), later("/later");
  pool.Start(&hung);
  pool.Start(&queued);  // one connection, busy: queued in the pool
  std::this_thread::sleep_for(std::chrono::milliseconds(100));
  const absl::Time start = absl::Now();
  pool.Abandon(&queued);
  EXPECT_TRUE(absl::IsCancelled(queued.Wait())) << queued.Wait();
  pool.Abandon(&hung);
  EXPECT_TRUE(absl::IsCancelled(hung.Wait())) << hung.Wait();
  EXPECT_LT(absl::Now() - start, absl::Seconds(2));  // not the 30 s request timeout
  pool.Start(&later);
  EXPECT_TRUE(later.Wait().ok());
  pool.Abandon(&later);  // answered already: nothing happens
  std::this_thread::sleep_for(std::chrono::milliseconds(50));
  EXPECT_EQ(hung.completions() + queued.completions() + later.completions(), 3);
  EXPECT_EQ(server.requests(), 2u);  // the queued one was never sent
  pool.Shutdown();
  io.Stop();
}

// ---- the client ---------------------------------------------------------------------------

// The verdict the scripted server gives for `value`: its judgement id names the value, so an
// answer delivered to the wrong lookup shows.
std::string VerdictBodyFor(absl::string_view value) {
  schema::Verdict v;
  v.disposition = schema::Disposition::kMalicious;
  v.disposition_name = "Malicious";
  v.observable = {"domain", std::string(value)};
  v.judgement_id = absl::StrCat("https://ctia.example/ctia/judgement/for-", value);
  v.valid_time = {absl::FromUnixSeconds(1455235200), schema::EndOfTime()};
  return schema::EncodeVerdict(v);
}

class HedgingTest : public ::testing::Test {
 protected:
  // The server hangs the first request for every value starting with "hang-" (and every
  // POST); it answers everything else at once.
  void Start(CtiaClientOptions options = {}, absl::Duration request_timeout = absl::Seconds(20)) {
    server_ = std::make_unique<ScriptedHttpServer>([this](const ScriptedRequest& r) {
      if (r.method == "POST") return ScriptedReply{"", ScriptedAction::kHang};
      const std::string value = r.target.substr(r.target.find("/domain/") + 8);
      const std::string name = value.substr(0, value.find('/'));
      if (absl::StartsWith(name, "hang-")) {
        absl::MutexLock lock(&mu_);
        if (hung_.insert(name).second) return ScriptedReply{"", ScriptedAction::kHang};
      }
      return Reply(200, VerdictBodyFor(name));
    });
    PoolOptions pool_options;
    pool_options.connections = 8;
    pool_options.request_timeout = request_timeout;
    pool_options.first_byte_timeout = request_timeout;
    options.max_concurrency = 8;
    options.hedge_floor = absl::Milliseconds(200);
    options.hedge_min_answers = 20;
    client_ = &rig_.Start(server_->url(), tokens_, options, pool_options);
  }
  void TearDown() override { rig_.Stop(); }

  // Looks up every value at once; checks each lookup is settled exactly once, with the
  // verdict of its own value.
  void LookupAll(const std::vector<std::string>& values) {
    auto settled = std::make_shared<std::vector<std::atomic<int>>>(values.size());
    auto left = std::make_shared<std::atomic<size_t>>(values.size());
    auto all = std::make_shared<absl::Notification>();
    auto results = std::make_shared<std::vector<VerdictOr>>(values.size(),
                                                            absl::UnknownError("unset"));
    for (size_t i = 0; i < values.size(); ++i) {
      client_->LookupVerdict({"domain", values[i]}, [=](VerdictOr r) {
        (*results)[i] = std::move(r);
        if ((*settled)[i].fetch_add(1) == 0 && left->fetch_sub(1) == 1) all->Notify();
      });
    }
    ASSERT_TRUE(all->WaitForNotificationWithTimeout(absl::Seconds(15)));
    std::this_thread::sleep_for(std::chrono::milliseconds(100));  // a second delivery shows
    for (size_t i = 0; i < values.size(); ++i) {
      EXPECT_EQ((*settled)[i].load(), 1) << values[i];
      const VerdictOr& r = (*results)[i];
      ASSERT_TRUE(r.ok()) << values[i] << ": " << r.status();
      ASSERT_TRUE(std::holds_alternative<schema::Verdict>(*r)) << values[i];
      EXPECT_EQ(std::get<schema::Verdict>(*r).judgement_id,
                absl::StrCat("https://ctia.example/ctia/judgement/for-", values[i]));
    }
  }

  ::enrich::testing::FixedTokenSource tokens_;
  absl::Mutex mu_;
  std::set<std::string> hung_ ABSL_GUARDED_BY(mu_);
  std::unique_ptr<ScriptedHttpServer> server_;
  ::enrich::testing::PoolClientRig rig_{2};
  BeastCtiaClient* client_ = nullptr;
};

std::vector<std::string> Values(absl::string_view prefix, int n) {
  std::vector<std::string> out;
  for (int i = 0; i < n; ++i) out.push_back(absl::StrCat(prefix, i, ".example"));
  return out;
}

TEST_F(HedgingTest, HungLookupsAreResentAndSettleOnceWithTheirOwnAnswer) {
  Start();
  LookupAll(Values("warm-", 40));  // enough answers seen to know what late is
  std::vector<std::string> mixed = Values("hang-", 5);
  for (const std::string& v : Values("plain-", 60)) mixed.push_back(v);
  const absl::Time start = absl::Now();
  LookupAll(mixed);
  const absl::Duration took = absl::Now() - start;
  EXPECT_LT(took, absl::Seconds(5)) << "the hung ones waited for the 20 s request timeout";
  CtiaClientCounters c = client_->Snapshot();
  EXPECT_EQ(c.hedges, 5u);
  EXPECT_EQ(c.requests, 40u + 65u + 5u);
  // The calls are recycled after the hedges: later lookups get their own answers.
  LookupAll(Values("after-", 200));
  EXPECT_EQ(client_->Snapshot().hedges, 5u);
}

TEST_F(HedgingTest, NothingIsHedgedBeforeEnoughAnswersWereSeen) {
  Start({}, /*request_timeout=*/absl::Seconds(2));
  const absl::Time start = absl::Now();
  LookupAll(Values("hang-early-", 1));  // the first lookup of the run hangs
  // Not hedged until 20 answers came: it waits for its request timeout, then is retried.
  EXPECT_GE(absl::Now() - start, absl::Milliseconds(1900));
  const CtiaClientCounters c = client_->Snapshot();
  EXPECT_EQ(c.hedges, 0u);
  EXPECT_EQ(c.retries, 1u);
}

TEST_F(HedgingTest, AWriteIsNeverResent) {
  Start();
  LookupAll(Values("warm-", 40));
  schema::Judgement j;
  j.observable = {"domain", "written.example"};
  j.disposition = schema::Disposition::kMalicious;
  j.source = "ctia-enrich test";
  auto done = std::make_shared<std::promise<absl::Status>>();
  client_->CreateJudgement(
      j, [done](absl::StatusOr<schema::Judgement> made) { done->set_value(made.status()); });
  std::future<absl::Status> status = done->get_future();
  // Far beyond the hedge delay: a lookup would have been resent long ago.
  EXPECT_EQ(status.wait_for(std::chrono::seconds(2)), std::future_status::timeout);
  EXPECT_EQ(client_->Snapshot().hedges, 0u);
  rig_.pool().Shutdown();  // ends the hung POST
  EXPECT_EQ(status.wait_for(std::chrono::seconds(5)), std::future_status::ready);
  EXPECT_EQ(client_->Snapshot().write_requests, 1u);
}

TEST_F(HedgingTest, OffMeansNeverResent) {
  CtiaClientOptions options;
  options.hedge = false;
  Start(options);
  LookupAll(Values("warm-", 40));
  auto done = std::make_shared<std::promise<VerdictOr>>();
  client_->LookupVerdict({"domain", "hang-off.example"},
                         [done](VerdictOr r) { done->set_value(std::move(r)); });
  std::future<VerdictOr> result = done->get_future();
  EXPECT_EQ(result.wait_for(std::chrono::seconds(2)), std::future_status::timeout);
  EXPECT_EQ(client_->Snapshot().hedges, 0u);
  rig_.pool().Shutdown();
  EXPECT_EQ(result.wait_for(std::chrono::seconds(5)), std::future_status::ready);
}

}  // namespace
}  // namespace enrich::transport
