#ifndef ENRICH_TESTS_FAKES_FAKE_VERDICT_SOURCE_H_
#define ENRICH_TESTS_FAKES_FAKE_VERDICT_SOURCE_H_

#include <functional>
#include <string>
#include <thread>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_map.h"
#include "absl/synchronization/mutex.h"
#include "transport/verdict_source.h"

namespace enrich::testing {

// A VerdictSource answering from a function of the observable. Answers inline, or from a
// separate thread per call when `async` (to exercise cross-thread completion). Counts calls
// per observable value.
class FakeVerdictSource : public transport::VerdictSource {
 public:
  using Answer = std::function<absl::StatusOr<schema::VerdictResult>(const schema::Observable&)>;
  explicit FakeVerdictSource(Answer answer, bool async = false)
      : answer_(std::move(answer)), async_(async) {}
  ~FakeVerdictSource() override {
    for (auto& t : threads_) t.join();
  }

  void LookupVerdict(const schema::Observable& observable, Callback done) override {
    {
      absl::MutexLock lock(&mu_);
      ++calls_[observable.value];
      ++total_;
    }
    if (!async_) {
      done(answer_(observable));
      return;
    }
    absl::MutexLock lock(&mu_);
    threads_.emplace_back([this, observable, done = std::move(done)] { done(answer_(observable)); });
  }

  int calls(const std::string& value) const {
    absl::MutexLock lock(&mu_);
    auto it = calls_.find(value);
    return it == calls_.end() ? 0 : it->second;
  }
  int total() const {
    absl::MutexLock lock(&mu_);
    return total_;
  }

 private:
  Answer answer_;
  const bool async_;
  mutable absl::Mutex mu_;
  absl::flat_hash_map<std::string, int> calls_ ABSL_GUARDED_BY(mu_);
  int total_ ABSL_GUARDED_BY(mu_) = 0;
  std::vector<std::thread> threads_ ABSL_GUARDED_BY(mu_);
};

}  // namespace enrich::testing

#endif  // ENRICH_TESTS_FAKES_FAKE_VERDICT_SOURCE_H_
