#ifndef ENRICH_TRANSPORT_INTERNAL_SOCKET_READINESS_H_
#define ENRICH_TRANSPORT_INTERNAL_SOCKET_READINESS_H_

// One epoll wait for the read readiness of all the pool's sockets, so a request's answer is
// read once when it is there (no failed recv() per request); used by internal/pool_connection.cc.

#include <cstdint>
#include <memory>
#include <vector>

#include "boost/asio/any_io_executor.hpp"
#include "boost/asio/posix/stream_descriptor.hpp"

namespace enrich::transport::internal {

// Read readiness of many non-blocking sockets through one Asio wait: the sockets sit in an
// epoll set of their own (Linux, edge-triggered), and the io_context waits on that set's
// descriptor. A wake-up hands every socket that became readable to its listener, which then
// reads it itself.
//
// Why: Asio's async_read_some first tries a read at once, and right after a request is written
// the answer is almost never there yet, so each request pays a failed recv() system call. Here
// a request costs one successful read, and the set costs two system calls per wake-up (re-arm,
// collect), shared by every socket ready at that moment.
//
// Edge-triggered contract: a listener hears once per arrival of data (or EOF, or an error)
// after it last found its socket empty. A listener that stops reading before the socket is
// empty (a full read buffer) calls MarkReady() so that its next Want() says "read now"; after
// an EOF or error was reported, the next Want() says so too (the EOF may sit behind the data).
//
// Thread safety: none. Everything, listeners included, runs on the executor's only thread.
class SocketReadiness : public std::enable_shared_from_this<SocketReadiness> {
 public:
  class Listener {
   public:
    // The socket has something to read (or an EOF or error to report). Called from the set's
    // wait handler; the listener may call Want(), Watch() and Stop() from inside.
    virtual void OnReadable() = 0;

   protected:
    virtual ~Listener() = default;
  };

  // Null when the epoll set cannot be created (the caller reads the Asio way instead).
  static std::shared_ptr<SocketReadiness> Create(const boost::asio::any_io_executor& executor);
  ~SocketReadiness();
  SocketReadiness(const SocketReadiness&) = delete;
  SocketReadiness& operator=(const SocketReadiness&) = delete;

  // Starts watching `fd` for `listener`, which must call Stop() before the socket closes or the
  // listener goes away. Returns a handle (never 0), or 0 when the socket cannot be watched.
  uint64_t Watch(int fd, Listener* listener);
  // Stops watching; events already collected for the socket are dropped.
  void Stop(uint64_t handle, int fd);
  // The listener waits to hear about `handle` once. True: it is readable already (an event
  // came while nobody waited, or MarkReady()); the caller should read it now and is not told.
  bool Want(uint64_t handle);
  // The socket may still hold data: the next Want() returns true.
  void MarkReady(uint64_t handle);

 private:
  SocketReadiness(const boost::asio::any_io_executor& executor, int epoll_fd);
  struct Slot {
    Listener* listener = nullptr;
    uint32_t sequence = 0;  // bumped at Stop(): events of an older watch are dropped
    bool wanted = false;
    bool ready = false;
  };
  Slot* Find(uint64_t handle);
  void Arm();
  void OnWait();

  boost::asio::posix::stream_descriptor descriptor_;  // owns the epoll descriptor
  std::vector<Slot> slots_;
  std::vector<uint32_t> free_slots_;
  size_t wanted_ = 0;  // slots with `wanted`
  bool armed_ = false;
};

}  // namespace enrich::transport::internal

#endif  // ENRICH_TRANSPORT_INTERNAL_SOCKET_READINESS_H_
