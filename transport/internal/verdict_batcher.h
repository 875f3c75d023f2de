#ifndef ENRICH_TRANSPORT_INTERNAL_VERDICT_BATCHER_H_
#define ENRICH_TRANSPORT_INTERNAL_VERDICT_BATCHER_H_

// Collects single verdict lookups into batches for one GraphQL request each (full, or a
// linger after the first); BeastCtiaClient (ctia_client.cc) sends what it hands out.

#include "schema/observable.h"
#include "transport/verdict_source.h"

#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <vector>

#include "absl/time/time.h"

namespace enrich::transport::internal {

// Collects single verdict lookups into batches for one `POST /ctia/graphql` each. A batch is
// flushed as soon as it holds `batch_size` lookups, or `linger` after its first lookup arrived,
// whichever comes first; so at most `batch_size - 1` lookups wait, for at most `linger`.
//
// `schedule(delay, fn)` must run `fn` once after `delay`, never inline, unless `cancel()` comes
// first (the client arms one timer on the pool's executor; tests run it by hand); `cancel` is
// called when a batch leaves before its linger is over, so no timer outlives the lookups.
// `flush` receives each batch, in arrival order, on the thread that filled it (Add) or that
// ran the timer; it must settle every callback.
//
// Thread safety: Add, FlushNow and TakeOpen from any thread. A timer that fires after the batcher is
// destroyed does nothing.
class VerdictBatcher {
 public:
  using Lookup = VerdictSource::HeldLookup;
  using Flush = std::function<void(std::vector<Lookup>)>;
  using Schedule = std::function<void(absl::Duration delay, std::function<void()> fn)>;
  using Cancel = std::function<void()>;

  VerdictBatcher(size_t batch_size, absl::Duration linger, Schedule schedule, Cancel cancel,
                 Flush flush);
  ~VerdictBatcher();
  VerdictBatcher(const VerdictBatcher&) = delete;
  VerdictBatcher& operator=(const VerdictBatcher&) = delete;

  void Add(schema::Observable observable, VerdictSource::Callback done);
  // Flushes the lookups collected so far (if any) now.
  void FlushNow();
  // Takes the lookups collected so far (if any) back unflushed, and cancels their linger.
  std::vector<Lookup> TakeOpen();

  size_t batch_size() const;
  // Lookups in the open batch, not flushed yet.
  size_t collecting() const;

 private:
  struct State;
  std::shared_ptr<State> state_;
};

}  // namespace enrich::transport::internal

#endif  // ENRICH_TRANSPORT_INTERNAL_VERDICT_BATCHER_H_
