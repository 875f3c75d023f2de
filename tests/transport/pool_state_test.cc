// The pool's decisions without sockets: PoolScheduler (which connection takes a request) and
// ConnectionState (what is resent or failed after a loss, which deadline fires), driven by
// events and a schema::FakeClock.

#include "schema/clock.h"
#include "transport/internal/connection_state.h"
#include "transport/internal/pool_scheduler.h"

#include <memory>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/time/time.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace enrich::transport::internal {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;
using Kind = PoolScheduler::Assignment::Kind;

// A request in flight that only records how it ended.
class FakeExchange final : public HttpExchange {
 public:
  explicit FakeExchange(std::string target, bool idempotent = true, bool alone = false)
      : alone_(alone) {
    request_.target = std::move(target);
    request_.idempotent = idempotent;
    if (!idempotent) request_.method = "POST";
  }
  const HttpRequest& request() const override { return request_; }
  void Complete(const absl::Status& status, HttpResponse*) override { outcome_ = status; }
  bool alone() const override { return alone_; }

 private:
  HttpRequest request_;
  absl::Status outcome_;
  bool alone_;
};

// ---- PoolScheduler ----

TEST(PoolSchedulerTest, FirstRequestOpensAConnectionAndAnIdleOneIsReusedAfterwards) {
  PoolScheduler scheduler(/*max_connections=*/4, /*pipeline_depth=*/1);
  FakeExchange a("/a"), b("/b");
  PoolScheduler::Assignment first = scheduler.Submit(&a);
  EXPECT_EQ(first.kind, Kind::kOpen);
  EXPECT_EQ(first.connection, 0u);
  EXPECT_TRUE(scheduler.OnSettled(0, 1).empty());
  EXPECT_TRUE(scheduler.idle(0));
  PoolScheduler::Assignment second = scheduler.Submit(&b);
  EXPECT_EQ(second.kind, Kind::kExisting);
  EXPECT_EQ(second.connection, 0u);
  EXPECT_EQ(scheduler.connections(), 1u);
}

TEST(PoolSchedulerTest, BusyConnectionsOpenNewOnesUpToTheLimitThenRequestsQueue) {
  PoolScheduler scheduler(/*max_connections=*/2, /*pipeline_depth=*/1);
  FakeExchange a("/a"), b("/b"), c("/c"), d("/d");
  EXPECT_EQ(scheduler.Submit(&a).kind, Kind::kOpen);
  EXPECT_EQ(scheduler.Submit(&b).kind, Kind::kOpen);
  EXPECT_EQ(scheduler.Submit(&c).kind, Kind::kQueued);
  EXPECT_EQ(scheduler.Submit(&d).kind, Kind::kQueued);
  EXPECT_EQ(scheduler.queued(), 2u);
  // Without pipelining a connection takes one queued request per settled one, in order.
  EXPECT_THAT(scheduler.OnSettled(1, 1), ElementsAre(&c));
  EXPECT_THAT(scheduler.OnSettled(0, 1), ElementsAre(&d));
  EXPECT_FALSE(scheduler.idle(0));
  EXPECT_TRUE(scheduler.OnSettled(0, 1).empty());
  EXPECT_TRUE(scheduler.idle(0));
}

TEST(PoolSchedulerTest, MostRecentlyIdleConnectionIsTakenFirst) {
  PoolScheduler scheduler(/*max_connections=*/3, /*pipeline_depth=*/1);
  FakeExchange a("/a"), b("/b"), c("/c"), d("/d");
  scheduler.Submit(&a);
  scheduler.Submit(&b);
  scheduler.Submit(&c);
  scheduler.OnSettled(2, 1);
  scheduler.OnSettled(0, 1);
  EXPECT_EQ(scheduler.Submit(&d).connection, 0u);
}

TEST(PoolSchedulerTest, PipeliningGoesToTheLeastLoadedConnectionUpToTheDepth) {
  PoolScheduler scheduler(/*max_connections=*/2, /*pipeline_depth=*/3);
  std::vector<std::unique_ptr<FakeExchange>> x;
  for (int i = 0; i < 7; ++i) x.push_back(std::make_unique<FakeExchange>("/" + std::to_string(i)));
  EXPECT_EQ(scheduler.Submit(x[0].get()).kind, Kind::kOpen);
  EXPECT_EQ(scheduler.Submit(x[1].get()).kind, Kind::kOpen);
  std::vector<size_t> picked;
  for (int i = 2; i < 6; ++i) {
    PoolScheduler::Assignment to = scheduler.Submit(x[static_cast<size_t>(i)].get());
    EXPECT_EQ(to.kind, Kind::kExisting);
    picked.push_back(to.connection);
  }
  // Ties go to the first connection; each takes the next while the other is more loaded.
  EXPECT_THAT(picked, ElementsAre(0u, 1u, 0u, 1u));
  EXPECT_EQ(scheduler.assigned(0), 3u);
  EXPECT_EQ(scheduler.assigned(1), 3u);
  EXPECT_EQ(scheduler.Submit(x[6].get()).kind, Kind::kQueued);
  // One settled answer on connection 1 makes room for the queued request there.
  EXPECT_THAT(scheduler.OnSettled(1, 1), ElementsAre(x[6].get()));
  EXPECT_EQ(scheduler.assigned(1), 3u);
}

TEST(PoolSchedulerTest, NonIdempotentRequestIsNeverPipelinedNorPipelinedBehind) {
  PoolScheduler scheduler(/*max_connections=*/1, /*pipeline_depth=*/4);
  FakeExchange get("/get"), post("/post", /*idempotent=*/false), after("/after");
  EXPECT_EQ(scheduler.Submit(&get).kind, Kind::kOpen);
  // The connection has a request: the POST waits for one with nothing assigned.
  EXPECT_EQ(scheduler.Submit(&post).kind, Kind::kQueued);
  // First come, first served: the GET behind it waits too.
  EXPECT_EQ(scheduler.Submit(&after).kind, Kind::kQueued);
  EXPECT_THAT(scheduler.OnSettled(0, 1), ElementsAre(&post));
  EXPECT_EQ(scheduler.queued(), 1u);
  EXPECT_THAT(scheduler.OnSettled(0, 1), ElementsAre(&after));
}

TEST(PoolSchedulerTest, ShutdownReturnsTheQueuedRequestsAndRefusesNewOnes) {
  PoolScheduler scheduler(/*max_connections=*/1, /*pipeline_depth=*/1);
  FakeExchange a("/a"), b("/b"), c("/c");
  scheduler.Submit(&a);
  scheduler.Submit(&b);
  EXPECT_THAT(scheduler.Shutdown(), ElementsAre(&b));
  EXPECT_EQ(scheduler.Submit(&c).kind, Kind::kShutDown);
  EXPECT_TRUE(scheduler.OnSettled(0, 1).empty());
}

// ---- ConnectionState ----

class ConnectionStateTest : public ::testing::Test {
 protected:
  ConnectionStateTest() : timeouts_(Options()), state_(timeouts_, "http://ctia.test") {}

  static PoolOptions Options() {
    PoolOptions options;
    options.connect_timeout = absl::Seconds(10);
    options.write_timeout = absl::Seconds(5);
    options.first_byte_timeout = absl::Seconds(3);
    options.request_timeout = absl::Seconds(30);
    return options;
  }

  // The fake clock's time as the steady clock points the state works with.
  SteadyClock::time_point Now() const {
    return SteadyClock::time_point(absl::ToChronoNanoseconds(clock_.Now() - absl::UnixEpoch()));
  }

  // Connects a closed connection: resolve, connect, open.
  void Open() {
    EXPECT_EQ(state_.phase(), ConnectionState::Phase::kClosed);
    state_.OnResolveStarted(Now());
    state_.OnResolved();
    state_.OnConnected();
    state_.OnOpen();
  }

  // Writes every unsent request; returns their targets in write order.
  std::vector<std::string> Write() {
    std::vector<std::string> written;
    EXPECT_TRUE(state_.CanWrite());
    state_.BeginWrite(Now(), [&](const HttpRequest& r) { written.push_back(r.target); });
    state_.OnWriteDone(Now());
    return written;
  }

  HttpExchange* Answer() { return state_.SettleHead(std::make_unique<HttpResponse>()).exchange; }

  schema::FakeClock clock_{absl::FromUnixSeconds(1000)};
  StepTimeouts timeouts_;
  ConnectionState state_;
  std::vector<Settled> settled_;
};

// A request that must be alone (a hedge) waits for a connection with nothing in flight rather
// than being pipelined behind another (perhaps the very one it hedges).
TEST(PoolSchedulerTest, AnAloneRequestIsNeverPipelined) {
  PoolScheduler scheduler(/*max_connections=*/1, /*pipeline_depth=*/4);
  FakeExchange a("/a"), hedge("/a", true, /*alone=*/true), b("/b");
  EXPECT_EQ(scheduler.Submit(&a).kind, Kind::kOpen);
  EXPECT_EQ(scheduler.Submit(&hedge).kind, Kind::kQueued);
  EXPECT_EQ(scheduler.Submit(&b).kind, Kind::kQueued);  // first come, first served
  EXPECT_THAT(scheduler.OnSettled(0, 1), ElementsAre(&hedge, &b));
}

TEST(PoolSchedulerTest, RemoveTakesAQueuedRequestOutOfTheQueueOnly) {
  PoolScheduler scheduler(/*max_connections=*/1, /*pipeline_depth=*/1);
  FakeExchange a("/a"), b("/b"), c("/c");
  scheduler.Submit(&a);
  scheduler.Submit(&b);
  scheduler.Submit(&c);
  EXPECT_FALSE(scheduler.Remove(&a));  // assigned to a connection
  EXPECT_TRUE(scheduler.Remove(&b));
  EXPECT_FALSE(scheduler.Remove(&b));
  EXPECT_EQ(scheduler.queued(), 1u);
  EXPECT_THAT(scheduler.OnSettled(0, 1), ElementsAre(&c));
}

TEST_F(ConnectionStateTest, AbandonTakesOutAnUnsentRequestAndNamesAWrittenOne) {
  FakeExchange a("/a"), b("/b"), c("/c"), elsewhere("/x");
  Open();
  state_.Add(&a);
  state_.Add(&b);
  Write();
  state_.Add(&c);  // queued behind the write: not sent
  const absl::Status error = absl::CancelledError("abandoned");
  EXPECT_EQ(state_.Abandon(&elsewhere, error, settled_), ConnectionState::Abandoned::kNotHere);
  EXPECT_EQ(state_.Abandon(&b, error, settled_), ConnectionState::Abandoned::kFollower);
  EXPECT_EQ(state_.Abandon(&a, error, settled_), ConnectionState::Abandoned::kHead);
  EXPECT_TRUE(settled_.empty());  // the caller closes the connection for those
  EXPECT_EQ(state_.Abandon(&c, error, settled_), ConnectionState::Abandoned::kUnsent);
  ASSERT_EQ(settled_.size(), 1u);
  EXPECT_EQ(settled_[0].exchange, &c);
  EXPECT_TRUE(absl::IsCancelled(settled_[0].status));
  EXPECT_EQ(state_.queued(), 2u);
  EXPECT_FALSE(state_.CanWrite());
  EXPECT_EQ(Answer(), &a);
  EXPECT_EQ(Answer(), &b);
}

TEST_F(ConnectionStateTest, QueuedRequestsGoOutInOneWriteAndAreAnsweredInOrder) {
  FakeExchange a("/a"), b("/b"), c("/c");
  state_.Add(&a);
  Open();
  state_.Add(&b);
  state_.Add(&c);
  EXPECT_EQ(state_.Next(false), ConnectionState::Step::kWrite);
  std::vector<std::string> written;
  const size_t pipelined =
      state_.BeginWrite(Now(), [&](const HttpRequest& r) { written.push_back(r.target); });
  EXPECT_THAT(written, ElementsAre("/a", "/b", "/c"));
  EXPECT_EQ(pipelined, 2u);
  EXPECT_FALSE(state_.CanWrite());  // the write is in progress
  state_.OnWriteDone(Now());
  EXPECT_EQ(Answer(), &a);
  EXPECT_EQ(Answer(), &b);
  EXPECT_EQ(state_.sent(), 1u);
  EXPECT_EQ(state_.answered(), 2);
}

TEST_F(ConnectionStateTest, LostAfterAnswersResendsTheUnansweredIdempotentOnesOnly) {
  FakeExchange a("/a"), b("/b"), c("/c"), post("/post", /*idempotent=*/false), d("/d");
  Open();
  for (FakeExchange* x : {&a, &b, &c, &post}) state_.Add(x);
  Write();
  state_.Add(&d);  // queued while the others are in flight: not sent
  EXPECT_EQ(Answer(), &a);
  // The server closes the reused connection before any byte of b's answer.
  const size_t resent = state_.OnLost(absl::UnavailableError("read: eof"), /*peer_closed=*/true,
                                      /*head_got_bytes=*/false, /*stopping=*/false, settled_);
  // b (stale rule, once), c (a follower after progress) are resent; the POST fails.
  EXPECT_EQ(resent, 2u);
  ASSERT_EQ(settled_.size(), 1u);
  EXPECT_EQ(settled_[0].exchange, &post);
  EXPECT_THAT(settled_[0].status.message(), HasSubstr("connection closed before the response"));
  EXPECT_EQ(state_.Next(false), ConnectionState::Step::kConnect);
  Open();
  EXPECT_THAT(Write(), ElementsAre("/b", "/c", "/d"));
}

TEST_F(ConnectionStateTest, StaleHeadResentOnAFreshConnectionFailsWhenThatOneClosesToo) {
  FakeExchange a("/a"), b("/b");
  const absl::Status eof = absl::UnavailableError("read: eof");
  Open();
  state_.Add(&a);
  state_.Add(&b);
  Write();
  EXPECT_EQ(Answer(), &a);
  EXPECT_EQ(state_.OnLost(eof, true, false, false, settled_), 1u);  // stale: b once more
  EXPECT_TRUE(settled_.empty());
  Open();
  EXPECT_THAT(Write(), ElementsAre("/b"));
  // The fresh connection closes too, before answering anything: b fails with that error.
  EXPECT_EQ(state_.OnLost(eof, true, false, false, settled_), 0u);
  ASSERT_EQ(settled_.size(), 1u);
  EXPECT_EQ(settled_[0].exchange, &b);
  EXPECT_EQ(settled_[0].status, eof);
  EXPECT_EQ(state_.Next(false), ConnectionState::Step::kNothing);
}

TEST_F(ConnectionStateTest, HeadWithPartOfItsAnswerOrNotIdempotentIsNotResent) {
  FakeExchange a("/a"), b("/b"), post("/post", /*idempotent=*/false);
  const absl::Status eof = absl::UnavailableError("read: eof");
  Open();
  for (FakeExchange* x : {&a, &b, &post}) state_.Add(x);
  Write();
  EXPECT_EQ(Answer(), &a);
  // Bytes of b's answer arrived: the server acted on it, b fails.
  EXPECT_EQ(state_.OnLost(eof, true, /*head_got_bytes=*/true, false, settled_), 0u);
  ASSERT_EQ(settled_.size(), 2u);
  EXPECT_EQ(settled_[0].exchange, &b);
  EXPECT_EQ(settled_[1].exchange, &post);
}

TEST_F(ConnectionStateTest, LostOnAFreshConnectionFailsTheHeadAndResendsTheFollowers) {
  FakeExchange a("/a"), b("/b");
  const absl::Status reset = absl::UnavailableError("read: connection reset");
  Open();
  state_.Add(&a);
  state_.Add(&b);
  Write();
  // Nothing was answered on this socket: the head fails with the error, b is resent.
  EXPECT_EQ(state_.OnLost(reset, true, false, false, settled_), 1u);
  ASSERT_EQ(settled_.size(), 1u);
  EXPECT_EQ(settled_[0].exchange, &a);
  EXPECT_EQ(settled_[0].status, reset);
  Open();
  EXPECT_THAT(Write(), ElementsAre("/b"));
}

TEST_F(ConnectionStateTest, FollowerIsResentAtMostTwiceAfterConnectionsThatAnsweredNothing) {
  FakeExchange head("/head"), follower("/follower");
  Open();
  state_.Add(&head);
  state_.Add(&follower);
  Write();
  // A loss without an error for the head (as after a `Connection: close` answer) treats every
  // sent request as a follower: resent while its connections answered nothing, twice.
  EXPECT_EQ(state_.OnLost(absl::OkStatus(), true, false, false, settled_), 2u);
  Open();
  Write();
  EXPECT_EQ(state_.OnLost(absl::OkStatus(), true, false, false, settled_), 2u);
  Open();
  Write();
  EXPECT_EQ(state_.OnLost(absl::OkStatus(), true, false, false, settled_), 0u);
  ASSERT_EQ(settled_.size(), 2u);
  EXPECT_EQ(settled_[0].exchange, &head);
  EXPECT_EQ(settled_[1].exchange, &follower);
  EXPECT_THAT(settled_[1].status.message(), HasSubstr("connection closed before the response"));
}

TEST_F(ConnectionStateTest, NothingIsResentWhenThePoolIsStopping) {
  FakeExchange a("/a"), b("/b"), c("/c");
  Open();
  state_.Add(&a);
  state_.Add(&b);
  Write();
  EXPECT_EQ(Answer(), &a);
  state_.Add(&c);
  EXPECT_EQ(state_.OnLost(absl::UnavailableError("eof"), true, false, /*stopping=*/true, settled_),
            0u);
  ASSERT_EQ(settled_.size(), 1u);
  EXPECT_EQ(settled_[0].exchange, &b);
  EXPECT_EQ(state_.Next(/*stopping=*/true), ConnectionState::Step::kFailAll);
  state_.FailAll(absl::CancelledError("shut down"), settled_);
  EXPECT_EQ(settled_.back().exchange, &c);
  EXPECT_EQ(state_.queued(), 0u);
}

TEST_F(ConnectionStateTest, ConnectDeadlineFiresWhileConnecting) {
  FakeExchange a("/a");
  state_.Add(&a);
  state_.OnResolveStarted(Now());
  state_.OnResolved();
  std::optional<SteadyClock::time_point> at = state_.TimerToArm();
  ASSERT_TRUE(at.has_value());
  EXPECT_EQ(*at, Now() + std::chrono::seconds(10));
  EXPECT_FALSE(state_.TimerToArm().has_value());  // armed already for that deadline
  clock_.Advance(absl::Seconds(10));
  ConnectionState::TimerVerdict verdict = state_.OnTimer(Now());
  EXPECT_EQ(verdict.kind, ConnectionState::TimerVerdict::kTimedOut);
  EXPECT_TRUE(verdict.while_connecting);
  EXPECT_TRUE(absl::IsDeadlineExceeded(verdict.timeout));
  EXPECT_EQ(verdict.timeout.message(), "connect to http://ctia.test: timed out after 10s");
}

TEST_F(ConnectionStateTest, FirstByteDeadlineFiresAfterTheWriteAndIsMetByTheHeaders) {
  FakeExchange a("/a");
  Open();
  state_.Add(&a);
  state_.BeginWrite(Now(), [](const HttpRequest&) {});
  // Writing: the write deadline (5 s) is the earliest.
  EXPECT_EQ(state_.NextDue().at, Now() + std::chrono::seconds(5));
  EXPECT_STREQ(state_.NextDue().step, "write to");
  clock_.Advance(absl::Seconds(1));
  state_.OnWriteDone(Now());
  EXPECT_EQ(state_.NextDue().at, Now() + std::chrono::seconds(3));
  ASSERT_TRUE(state_.TimerToArm().has_value());
  // A timer that wakes early re-arms for the same deadline.
  clock_.Advance(absl::Seconds(2));
  ConnectionState::TimerVerdict early = state_.OnTimer(Now());
  EXPECT_EQ(early.kind, ConnectionState::TimerVerdict::kRearm);
  EXPECT_EQ(early.rearm_at, Now() + std::chrono::seconds(1));
  clock_.Advance(absl::Seconds(1));
  ConnectionState::TimerVerdict due = state_.OnTimer(Now());
  EXPECT_EQ(due.kind, ConnectionState::TimerVerdict::kTimedOut);
  EXPECT_FALSE(due.while_connecting);
  EXPECT_EQ(due.timeout.message(), "read from http://ctia.test: timed out after 3s");
}

TEST_F(ConnectionStateTest, RequestDeadlineRunsOnceTheHeadersArrived) {
  FakeExchange a("/a");
  Open();
  state_.Add(&a);
  const SteadyClock::time_point sent = Now();
  Write();
  state_.OnHeadHeaders();
  EXPECT_EQ(state_.NextDue().at, sent + std::chrono::seconds(30));
  clock_.Advance(absl::Seconds(30));
  ConnectionState::TimerVerdict verdict = state_.OnTimer(Now());
  EXPECT_EQ(verdict.kind, ConnectionState::TimerVerdict::kTimedOut);
  EXPECT_EQ(verdict.timeout.message(), "read from http://ctia.test: timed out after 30s");
  // An idle connection has no deadline.
  Answer();
  EXPECT_EQ(state_.OnTimer(Now()).kind, ConnectionState::TimerVerdict::kIdle);
  EXPECT_FALSE(state_.TimerToArm().has_value());
}

}  // namespace
}  // namespace enrich::transport::internal
