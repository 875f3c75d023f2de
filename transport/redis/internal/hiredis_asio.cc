#include "transport/redis/internal/hiredis_asio.h"

#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <time.h>

#include <hiredis/async.h>

#include "boost/asio/bind_executor.hpp"
#include "boost/asio/post.hpp"

namespace enrich::transport::internal {

namespace net = boost::asio;

HiredisAsio::HiredisAsio(redisAsyncContext* ac, Strand strand)
    : ac_(ac), strand_(strand), socket_(strand, ac->c.fd) {}

void HiredisAsio::Attach(redisAsyncContext* ac, Strand strand) {
  auto adapter = std::make_shared<HiredisAsio>(ac, strand);
  adapter->self_ = adapter;
  ac->ev.data = adapter.get();
  ac->ev.addRead = &AddRead;
  ac->ev.delRead = &DelRead;
  ac->ev.addWrite = &AddWrite;
  ac->ev.delWrite = &DelWrite;
  ac->ev.cleanup = &Cleanup;
}

void HiredisAsio::AddRead(void* self) { static_cast<HiredisAsio*>(self)->Want(kRead, true); }
void HiredisAsio::DelRead(void* self) { static_cast<HiredisAsio*>(self)->Want(kRead, false); }
void HiredisAsio::AddWrite(void* self) { static_cast<HiredisAsio*>(self)->Want(kWrite, true); }
void HiredisAsio::DelWrite(void* self) { static_cast<HiredisAsio*>(self)->Want(kWrite, false); }

void HiredisAsio::Cleanup(void* self) {
  auto* adapter = static_cast<HiredisAsio*>(self);
  adapter->closed_ = true;
  adapter->ac_ = nullptr;
  boost::system::error_code ignored;
  adapter->socket_.cancel(ignored);
  adapter->socket_.release();  // hiredis closes the fd itself, after this hook
  // Pending waits hold their own references; this may be the last one.
  std::shared_ptr<HiredisAsio> keep = std::move(adapter->self_);
}

void HiredisAsio::Want(Direction d, bool want) {
  want_[d] = want;
  if (want) Arm(d);
}

void HiredisAsio::Arm(Direction d) {
  if (closed_) return;
  if (!waiting_[d]) {
    waiting_[d] = true;
    socket_.async_wait(d == kRead ? net::posix::descriptor_base::wait_read
                                  : net::posix::descriptor_base::wait_write,
                       net::bind_executor(strand_, [self = shared_from_this(), d](
                                                       const boost::system::error_code& ec) {
                         self->waiting_[d] = false;
                         if (ec == net::error::operation_aborted) return;
                         self->OnReady(d);
                       }));
  }
  // Asio's epoll reactor registers the socket edge-triggered and does not try a wait
  // speculatively: data that arrived before the wait was queued (hiredis reads at most 16 KiB
  // per call) would never wake it. A zero-timeout poll after queuing closes that gap.
  pollfd p{ac_->c.fd, static_cast<short>(d == kRead ? POLLIN : POLLOUT), 0};
  if (::poll(&p, 1, 0) > 0) {
    net::post(strand_, [self = shared_from_this(), d] { self->OnReady(d); });
  }
}

void HiredisAsio::OnReady(Direction d) {
  if (closed_ || !want_[d]) return;
  Handle(d);
  if (!closed_ && want_[d]) Arm(d);
}

namespace {

// hiredis writes with write(2), which raises SIGPIPE on a connection the server has closed
// (Redis killed or restarted): that would end the process. SIGPIPE is held back in this thread
// for the write, and one the write raised is taken off (sigtimedwait) before the mask comes
// back: the write then only fails (EPIPE), and hiredis reports the lost connection.
class HeldSigpipe {
 public:
  HeldSigpipe() {
    sigemptyset(&pipe_);
    sigaddset(&pipe_, SIGPIPE);
    sigset_t pending;
    sigpending(&pending);
    was_pending_ = sigismember(&pending, SIGPIPE) == 1;
    pthread_sigmask(SIG_BLOCK, &pipe_, &old_);
  }
  ~HeldSigpipe() {
    sigset_t pending;
    sigpending(&pending);
    if (!was_pending_ && sigismember(&pending, SIGPIPE) == 1) {
      const timespec now{0, 0};
      sigtimedwait(&pipe_, nullptr, &now);
    }
    pthread_sigmask(SIG_SETMASK, &old_, nullptr);
  }
  HeldSigpipe(const HeldSigpipe&) = delete;
  HeldSigpipe& operator=(const HeldSigpipe&) = delete;

 private:
  sigset_t pipe_;
  sigset_t old_;
  bool was_pending_ = false;
};

}  // namespace

void HiredisAsio::Handle(Direction d) {
  // May free the context (a lost connection): Cleanup then sets closed_.
  if (d == kRead) {
    redisAsyncHandleRead(ac_);
  } else {
    HeldSigpipe held;
    redisAsyncHandleWrite(ac_);
  }
}

}  // namespace enrich::transport::internal
