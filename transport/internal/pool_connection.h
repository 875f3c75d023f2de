#ifndef ENRICH_TRANSPORT_INTERNAL_POOL_CONNECTION_H_
#define ENRICH_TRANSPORT_INTERNAL_POOL_CONNECTION_H_

// One keep-alive connection of ConnectionPool (TCP, or TLS over TCP): the I/O shell that
// carries out what its ConnectionState decides. [resolve → connect → TLS handshake →] write
// (several requests at once when pipelining) → read answers in order (AnswerReader).
//
// Contract: created by PoolCore under its mutex; every method but strand() runs on strand()
// (the pool's executor itself with PoolOptions::single_io_thread). Each step is a DoX()/OnX()
// pair; handlers hold a shared_ptr to the connection and check a generation, so a handler of an
// operation started before the socket closed does nothing. Completions
// (HttpExchange::Complete) run from Flush() on the strand, after the pool has the settled count.

#include "transport/internal/answer_reader.h"
#include "transport/internal/connection_state.h"
#include "transport/internal/socket_readiness.h"

#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "boost/asio/any_io_executor.hpp"
#include "boost/asio/ip/tcp.hpp"
#include "boost/asio/ssl/stream.hpp"
#include "boost/asio/steady_timer.hpp"
#include "boost/beast/core/flat_buffer.hpp"

namespace enrich::transport::internal {

class PoolCore;

class PoolConnection : public std::enable_shared_from_this<PoolConnection>,
                       private SocketReadiness::Listener {
 public:
  // `index`: the connection's index in the pool's PoolScheduler.
  PoolConnection(std::shared_ptr<PoolCore> pool, size_t index);
  ~PoolConnection() override;

  const boost::asio::any_io_executor& strand() const { return strand_; }

  // Takes a request the pool assigned to this connection.
  void Add(HttpExchange* exchange);

  // After Shutdown(): cancels whatever is in progress, fails what is queued here and closes
  // the socket.
  void Close();

  // ConnectionPool::Abandon() for a request that may be here: one not written yet is taken
  // out; one awaiting its answer first in line closes the connection (the requests behind it
  // are resent as after any lost connection); either completes with `error`.
  void Abandon(HttpExchange* exchange, const absl::Status& error);

 private:
  using Tcp = boost::asio::ip::tcp;
  using ErrorCode = boost::system::error_code;

  bool use_tls() const;
  Tcp::socket& Socket() { return tls_ ? tls_->next_layer() : *plain_; }
  const std::string& origin_text() const;
  const PoolOptions& options() const;

  // Runs `f` with the stream requests go through (TLS or plain).
  template <typename F>
  void WithStream(F&& f) {
    if (tls_) {
      f(*tls_);
    } else {
      f(*plain_);
    }
  }

  // Starts what the state asks for: a connection, or a write of the requests not yet sent.
  void Kick();

  void DoResolve();
  void OnResolve(uint64_t generation, const ErrorCode& ec, const Tcp::resolver::results_type& r);
  void OnConnect(uint64_t generation, const ErrorCode& ec);
  void DoHandshake();
  void OnHandshake(uint64_t generation, const ErrorCode& ec);
  // The connection could not be set up: nothing queued here was sent, so all of it fails.
  void FailConnect(absl::Status status);

  void DoWrite();
  // `now`: when the write ended (a direct write passes the time it started at).
  void OnWrite(uint64_t generation, const ErrorCode& ec, SteadyClock::time_point now);

  void DoRead();
  void WaitReadable();
  void OnReadable() override;
  void StopWatching();
  void OnRead(uint64_t generation, const ErrorCode& ec, size_t bytes);
  // Feeds the buffered bytes to the reader, settling each complete answer with the request at
  // the head of the queue. False when the connection was closed on the way.
  bool ParseAnswers();
  void OnReadError(const ErrorCode& ec);
  bool HeadGotBytes() const { return reader_.got_some() || buffer_.size() > 0; }
  // The head's answer is complete: settle it. False when the answer closes the connection.
  bool SettleHead(bool keep_alive);
  absl::Status ErrorFor(const ErrorCode& ec, absl::string_view step) const;

  // The connection cannot go on: the state decides what fails and what is resent.
  void Lost(const absl::Status& error, bool peer_closed, bool head_got_bytes);
  void CloseSocket();

  // Hands the pool the settled requests (and takes more work from it), then runs their
  // callbacks: the connection is busy again, or idle, before any caller hears back, so a
  // caller that sends again from its callback finds it free.
  void Flush();
  // response_ holds an answer object to fill (a recycled one when there is one).
  void TakeResponse();
  // Delivered answers kept for reuse, last in first out. With a single io thread the pool's
  // connections share them: the answer just delivered, still in the cache, takes the next one.
  std::vector<std::unique_ptr<HttpResponse>>& Spares();
  // Keeps an answer's buffers for the next one, unless a large body made them large.
  void Recycle(std::unique_ptr<HttpResponse> response);

  void UpdateTimer();
  void ArmTimer(SteadyClock::time_point at);
  void OnTimer(uint64_t generation);

  const std::shared_ptr<PoolCore> pool_;
  const size_t index_;
  const boost::asio::any_io_executor strand_;
  ConnectionState state_;
  Tcp::resolver resolver_;
  boost::asio::steady_timer timer_;
  // Exactly one is set once the first connect started.
  std::optional<Tcp::socket> plain_;
  std::optional<boost::asio::ssl::stream<Tcp::socket>> tls_;
  uint64_t watch_ = 0;  // the plain socket's handle in the pool's SocketReadiness, or 0
  // Bumped whenever the socket closes: handlers of older operations ignore their completion.
  uint64_t generation_ = 0;
  uint64_t timer_generation_ = 0;

  std::string out_;  // bytes of the write in progress
  bool reading_ = false;
  boost::beast::flat_buffer buffer_;
  AnswerReader reader_;
  std::unique_ptr<HttpResponse> response_;  // the answer being read (for the queue's head)
  std::vector<std::unique_ptr<HttpResponse>> spare_responses_;  // delivered, kept for reuse
  std::vector<Settled> settled_;     // settled, callbacks not run yet (see Flush)
  std::vector<Settled> delivering_;  // callbacks being run by Flush
  bool flushing_ = false;
  bool flush_posted_ = false;  // a Flush() deferred out of Start() is posted
};

}  // namespace enrich::transport::internal

#endif  // ENRICH_TRANSPORT_INTERNAL_POOL_CONNECTION_H_
