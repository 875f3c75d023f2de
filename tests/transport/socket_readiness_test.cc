#include "transport/internal/socket_readiness.h"

#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <memory>

#include "boost/asio/io_context.hpp"
#include "gtest/gtest.h"

namespace enrich::transport::internal {
namespace {

// A non-blocking socket pair; `ours` is watched, `peer` writes or closes.
class SocketPair {
 public:
  SocketPair() {
    int fds[2];
    EXPECT_EQ(::socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0, fds), 0);
    ours = fds[0];
    peer = fds[1];
  }
  ~SocketPair() {
    if (ours >= 0) ::close(ours);
    ClosePeer();
  }
  void Write(const char* text) const {
    ASSERT_GT(::write(peer, text, std::char_traits<char>::length(text)), 0);
  }
  void ClosePeer() {
    if (peer >= 0) ::close(peer);
    peer = -1;
  }
  // Reads what is there: bytes read, 0 at EOF, -1 when empty.
  ssize_t Drain() const {
    char buf[64];
    return ::read(ours, buf, sizeof buf);
  }
  int ours = -1;
  int peer = -1;
};

class CountingListener final : public SocketReadiness::Listener {
 public:
  void OnReadable() override { ++told; }
  int told = 0;
};

class SocketReadinessTest : public ::testing::Test {
 protected:
  // Runs the io_context's ready handlers (the set's wait, once the kernel reports readiness).
  void Poll() {
    ctx_.restart();
    ctx_.run_for(std::chrono::milliseconds(50));
  }
  boost::asio::io_context ctx_;
  std::shared_ptr<SocketReadiness> set_ = SocketReadiness::Create(ctx_.get_executor());
};

TEST_F(SocketReadinessTest, TellsTheWaitingListenerOnceWhenDataArrives) {
  ASSERT_NE(set_, nullptr);
  SocketPair a, b;
  CountingListener la, lb;
  const uint64_t ha = set_->Watch(a.ours, &la);
  const uint64_t hb = set_->Watch(b.ours, &lb);
  ASSERT_NE(ha, 0u);
  ASSERT_NE(hb, 0u);
  EXPECT_FALSE(set_->Want(ha));
  EXPECT_FALSE(set_->Want(hb));
  Poll();
  EXPECT_EQ(la.told, 0);
  a.Write("x");
  Poll();
  EXPECT_EQ(la.told, 1);
  EXPECT_EQ(lb.told, 0);
  // Told once: more data without a new Want() tells nobody, and the next Want() says "read now".
  a.Write("y");
  Poll();
  EXPECT_EQ(la.told, 1);
  EXPECT_TRUE(set_->Want(ha));
  EXPECT_EQ(a.Drain(), 2);
  EXPECT_FALSE(set_->Want(ha));
  Poll();
  EXPECT_EQ(la.told, 1);
  set_->Stop(ha, a.ours);
  set_->Stop(hb, b.ours);
}

TEST_F(SocketReadinessTest, AnEofBehindTheDataIsReportedByTheNextWant) {
  SocketPair a;
  CountingListener la;
  const uint64_t ha = set_->Watch(a.ours, &la);
  EXPECT_FALSE(set_->Want(ha));
  a.Write("last words");
  a.ClosePeer();
  Poll();
  EXPECT_EQ(la.told, 1);
  EXPECT_EQ(a.Drain(), 10);
  EXPECT_TRUE(set_->Want(ha));  // no new event will come for the EOF
  EXPECT_EQ(a.Drain(), 0);
  set_->Stop(ha, a.ours);
}

TEST_F(SocketReadinessTest, MarkReadyMakesTheNextWantReadAtOnce) {
  SocketPair a;
  CountingListener la;
  const uint64_t ha = set_->Watch(a.ours, &la);
  set_->MarkReady(ha);
  EXPECT_TRUE(set_->Want(ha));
  EXPECT_FALSE(set_->Want(ha));
  set_->Stop(ha, a.ours);
}

TEST_F(SocketReadinessTest, StoppedWatchHearsNothingAndItsHandleIsDead) {
  SocketPair a;
  CountingListener la, lb;
  const uint64_t ha = set_->Watch(a.ours, &la);
  EXPECT_FALSE(set_->Want(ha));
  a.Write("x");
  set_->Stop(ha, a.ours);
  Poll();
  EXPECT_EQ(la.told, 0);
  EXPECT_FALSE(set_->Want(ha));
  // The slot is reused with another handle; the old one stays dead.
  const uint64_t hb = set_->Watch(a.ours, &lb);
  EXPECT_NE(hb, ha);
  set_->MarkReady(ha);
  EXPECT_FALSE(set_->Want(hb)) << "data present at Watch() is reported as an event";
  Poll();
  EXPECT_EQ(lb.told, 1);
  set_->Stop(hb, a.ours);
}

TEST_F(SocketReadinessTest, NoWaitIsLeftPendingWhenNobodyWants) {
  SocketPair a;
  CountingListener la;
  const uint64_t ha = set_->Watch(a.ours, &la);
  EXPECT_FALSE(set_->Want(ha));
  set_->Stop(ha, a.ours);
  // The cancelled wait completes and arms nothing: the io_context runs out of work.
  ctx_.restart();
  const auto start = std::chrono::steady_clock::now();
  ctx_.run_for(std::chrono::seconds(20));
  EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::seconds(10));
}

}  // namespace
}  // namespace enrich::transport::internal
