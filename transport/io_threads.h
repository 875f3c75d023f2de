#ifndef ENRICH_TRANSPORT_IO_THREADS_H_
#define ENRICH_TRANSPORT_IO_THREADS_H_

// The io threads of a run: the threads that run every network step of the transport layer
// (connection pools, client timers). Created by the CLI and tests, handed to pools as executors.

#include <memory>
#include <thread>
#include <vector>

#include "boost/asio/any_io_executor.hpp"
#include "boost/asio/executor_work_guard.hpp"
#include "boost/asio/io_context.hpp"

namespace enrich::transport {

// An io_context run by N threads until Stop() or destruction. Network I/O only: nothing that
// runs on these threads may block.
class IoThreads {
 public:
  explicit IoThreads(int threads = 1);
  ~IoThreads();
  IoThreads(const IoThreads&) = delete;
  IoThreads& operator=(const IoThreads&) = delete;

  boost::asio::io_context& context() { return ctx_; }
  boost::asio::any_io_executor executor() { return ctx_.get_executor(); }
  // Lets pending handlers finish, then joins the threads. Idempotent.
  void Stop();

 private:
  boost::asio::io_context ctx_;
  boost::asio::executor_work_guard<boost::asio::io_context::executor_type> guard_;
  std::vector<std::thread> threads_;
};

}  // namespace enrich::transport

#endif  // ENRICH_TRANSPORT_IO_THREADS_H_
