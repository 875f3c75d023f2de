#include "transport/io_threads.h"

#include <algorithm>
#include <cstdio>
#include <exception>

namespace enrich::transport {

// A concurrency hint of 1 lets Asio skip some locking for handlers posted from its own thread.
IoThreads::IoThreads(int threads)
    : ctx_(std::max(threads, 1) == 1 ? 1 : BOOST_ASIO_CONCURRENCY_HINT_DEFAULT),
      guard_(ctx_.get_executor()) {
  const int n = std::max(threads, 1);
  threads_.reserve(static_cast<size_t>(n));
  for (int i = 0; i < n; ++i) {
    threads_.emplace_back([this] {
      // Thread entry: the one place an exception from a handler may be caught (STYLE rule 10).
      // The loop keeps serving the remaining handlers.
      for (;;) {
        try {
          ctx_.run();
          return;
        } catch (const std::exception& e) {
          std::fprintf(stderr, "ctia-enrich: exception on an io thread: %s\n", e.what());
        } catch (...) {
          std::fprintf(stderr, "ctia-enrich: unknown exception on an io thread\n");
        }
      }
    });
  }
}

IoThreads::~IoThreads() { Stop(); }

void IoThreads::Stop() {
  guard_.reset();
  const auto self = std::this_thread::get_id();
  for (std::thread& t : threads_) {
    if (!t.joinable()) continue;
    // Stop() from one of our own threads cannot join itself; that thread ends when run() does.
    if (t.get_id() == self) {
      t.detach();
    } else {
      t.join();
    }
  }
}

}  // namespace enrich::transport
