#include "transport/internal/socket_readiness.h"

#include <sys/epoll.h>
#include <unistd.h>

#include <cerrno>

namespace enrich::transport::internal {
namespace {

// Events collected per wake-up; more stay in the set, which keeps its descriptor readable.
constexpr int kMaxEvents = 64;

uint64_t MakeHandle(size_t slot, uint32_t sequence) {
  return (static_cast<uint64_t>(slot) << 32) | sequence;
}

}  // namespace

std::shared_ptr<SocketReadiness> SocketReadiness::Create(
    const boost::asio::any_io_executor& executor) {
  const int epoll_fd = ::epoll_create1(EPOLL_CLOEXEC);
  if (epoll_fd < 0) return nullptr;
  return std::shared_ptr<SocketReadiness>(new SocketReadiness(executor, epoll_fd));
}

SocketReadiness::SocketReadiness(const boost::asio::any_io_executor& executor, int epoll_fd)
    : descriptor_(executor, epoll_fd) {}

SocketReadiness::~SocketReadiness() = default;

SocketReadiness::Slot* SocketReadiness::Find(uint64_t handle) {
  const size_t index = static_cast<size_t>(handle >> 32);
  if (handle == 0 || index >= slots_.size()) return nullptr;
  Slot& slot = slots_[index];
  if (slot.listener == nullptr || slot.sequence != static_cast<uint32_t>(handle)) return nullptr;
  return &slot;
}

uint64_t SocketReadiness::Watch(int fd, Listener* listener) {
  size_t index;
  if (!free_slots_.empty()) {
    index = free_slots_.back();
    free_slots_.pop_back();
  } else {
    // Slot 0 is never used, so no handle is 0.
    if (slots_.empty()) slots_.emplace_back();
    index = slots_.size();
    slots_.emplace_back();
  }
  Slot& slot = slots_[index];
  // The sequence is never 0 either, and differs from every earlier watch of this slot.
  if (++slot.sequence == 0) slot.sequence = 1;
  const uint64_t handle = MakeHandle(index, slot.sequence);
  epoll_event event{};
  // EPOLLRDHUP and errors (always reported) make the listener read and see the EOF or error.
  event.events = EPOLLIN | EPOLLRDHUP | EPOLLET;
  event.data.u64 = handle;
  if (::epoll_ctl(descriptor_.native_handle(), EPOLL_CTL_ADD, fd, &event) != 0) {
    free_slots_.push_back(static_cast<uint32_t>(index));
    return 0;
  }
  slot.listener = listener;
  // Adding a socket that is readable already reports it (epoll checks at insertion).
  slot.wanted = false;
  slot.ready = false;
  return handle;
}

void SocketReadiness::Stop(uint64_t handle, int fd) {
  Slot* slot = Find(handle);
  if (slot == nullptr) return;
  epoll_event unused{};
  ::epoll_ctl(descriptor_.native_handle(), EPOLL_CTL_DEL, fd, &unused);
  if (slot->wanted) --wanted_;
  slot->listener = nullptr;
  slot->wanted = false;
  slot->ready = false;
  free_slots_.push_back(static_cast<uint32_t>(handle >> 32));
  // Nobody waits any more: a pending wait would keep the io_context busy for nothing.
  if (wanted_ == 0 && armed_) {
    boost::system::error_code ignored;
    descriptor_.cancel(ignored);
  }
}

bool SocketReadiness::Want(uint64_t handle) {
  Slot* slot = Find(handle);
  if (slot == nullptr) return false;
  if (slot->ready) {
    slot->ready = false;
    return true;
  }
  if (!slot->wanted) {
    slot->wanted = true;
    ++wanted_;
  }
  Arm();
  return false;
}

void SocketReadiness::MarkReady(uint64_t handle) {
  if (Slot* slot = Find(handle)) slot->ready = true;
}

void SocketReadiness::Arm() {
  if (armed_ || wanted_ == 0) return;
  armed_ = true;
  descriptor_.async_wait(boost::asio::posix::stream_descriptor::wait_read,
                         [self = shared_from_this()](const boost::system::error_code&) {
                           self->OnWait();
                         });
}

void SocketReadiness::OnWait() {
  armed_ = false;
  epoll_event events[kMaxEvents];
  int count;
  do {
    count = ::epoll_wait(descriptor_.native_handle(), events, kMaxEvents, 0);
  } while (count < 0 && errno == EINTR);
  for (int i = 0; i < count; ++i) {
    // A listener called before may have stopped (or re-watched) this slot: Find() checks.
    Slot* slot = Find(events[i].data.u64);
    if (slot == nullptr) continue;
    if (!slot->wanted) {
      slot->ready = true;
      continue;
    }
    // A read that takes the data which came with a FIN (or an error) leaves the EOF behind,
    // and no new event will tell of it: the next Want() reads again.
    if ((events[i].events & (EPOLLRDHUP | EPOLLHUP | EPOLLERR)) != 0) slot->ready = true;
    slot->wanted = false;
    --wanted_;
    slot->listener->OnReadable();
  }
  Arm();
}

}  // namespace enrich::transport::internal
