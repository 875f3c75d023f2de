#ifndef ENRICH_TRANSPORT_REDIS_INTERNAL_HIREDIS_ASIO_H_
#define ENRICH_TRANSPORT_REDIS_INTERNAL_HIREDIS_ASIO_H_

// The event-loop adapter of hiredis' async API on Boost.Asio: RedisClient attaches one to each
// redisAsyncContext it creates, so hiredis' reads and writes run as Asio handlers on the
// client's strand (see redis_client.h for why).

#include <memory>

#include "boost/asio/any_io_executor.hpp"
#include "boost/asio/posix/stream_descriptor.hpp"
#include "boost/asio/strand.hpp"

struct redisAsyncContext;

namespace enrich::transport::internal {

// Implements hiredis' ev.addRead/delRead/addWrite/delWrite/cleanup hooks with async_wait on a
// stream_descriptor over the context's socket (the descriptor is borrowed: hiredis closes it).
// Every method runs on `strand`. It keeps itself alive until hiredis calls cleanup (when the
// context is freed) and no wait is pending; after cleanup it never touches the context again.
class HiredisAsio : public std::enable_shared_from_this<HiredisAsio> {
 public:
  using Strand = boost::asio::strand<boost::asio::any_io_executor>;

  // Sets `ac`'s ev hooks. Call on `strand`, right after creating the context and before
  // redisAsyncSetConnectCallback (which arms the first write wait).
  static void Attach(redisAsyncContext* ac, Strand strand);

  HiredisAsio(redisAsyncContext* ac, Strand strand);

 private:
  enum Direction { kRead = 0, kWrite = 1 };
  static void AddRead(void* self);
  static void DelRead(void* self);
  static void AddWrite(void* self);
  static void DelWrite(void* self);
  static void Cleanup(void* self);

  void Want(Direction d, bool want);
  // Queues a wait for `d`, then probes the socket: readiness that came before the wait was
  // queued gives no new epoll edge, so a ready socket is handled by a posted step instead.
  void Arm(Direction d);
  void OnReady(Direction d);
  void Handle(Direction d);

  redisAsyncContext* ac_;
  Strand strand_;
  boost::asio::posix::stream_descriptor socket_;
  bool want_[2] = {false, false};
  bool waiting_[2] = {false, false};
  bool closed_ = false;
  std::shared_ptr<HiredisAsio> self_;  // released at cleanup
};

}  // namespace enrich::transport::internal

#endif  // ENRICH_TRANSPORT_REDIS_INTERNAL_HIREDIS_ASIO_H_
