#ifndef ENRICH_TESTS_FAKES_AWAIT_H_
#define ENRICH_TESTS_FAKES_AWAIT_H_

#include <chrono>
#include <functional>
#include <future>
#include <memory>
#include <utility>

#include "absl/status/status.h"

namespace enrich::testing {

// Runs `start(callback)` and waits for the callback's value (an absl::StatusOr<...>). Returns
// DeadlineExceeded("test: ...") if the callback does not run within `timeout`. A late callback
// after a timeout is harmless (the promise is shared).
template <typename StatusOrT>
StatusOrT Await(const std::function<void(std::function<void(StatusOrT)>)>& start,
                std::chrono::milliseconds timeout = std::chrono::seconds(10)) {
  auto promise = std::make_shared<std::promise<StatusOrT>>();
  std::future<StatusOrT> future = promise->get_future();
  start([promise](StatusOrT value) { promise->set_value(std::move(value)); });
  if (future.wait_for(timeout) != std::future_status::ready) {
    return StatusOrT(absl::DeadlineExceededError("test: the callback did not run in time"));
  }
  return future.get();
}

}  // namespace enrich::testing

#endif  // ENRICH_TESTS_FAKES_AWAIT_H_
