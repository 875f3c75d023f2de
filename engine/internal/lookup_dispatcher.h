// The lookup stage of the pipeline: the misses that parse+extract+resolve (chunk_parser) finds
// go to the verdict source through this dispatcher, whose settle thread journals the answers
// (PipelineOptions::on_lookups_settled) and settles the verdict table, which wakes the chunks.

#ifndef ENRICH_ENGINE_INTERNAL_LOOKUP_DISPATCHER_H_
#define ENRICH_ENGINE_INTERNAL_LOOKUP_DISPATCHER_H_

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/functional/function_ref.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "absl/types/span.h"
#include "engine/pipeline.h"
#include "engine/run_stats.h"
#include "engine/verdict_table.h"
#include "schema/observable.h"
#include "schema/verdict.h"
#include "transport/verdict_source.h"

namespace enrich::engine::internal {

// Sends misses to the source, at most `max_in_flight` at a time; the rest wait in a queue.
// The source's callbacks (an Asio thread) only hand the answer over; a settle thread of its
// own journals each answer and settles the verdict table (which wakes the waiting chunks), so
// the Asio thread, the lookup rate's bottleneck, does no more than the transport's work. A
// lookup counts as in flight until its answer is journaled, so a killed run loses at most
// `max_in_flight` answered-but-unjournaled lookups.
//
// The slots the settle thread frees are filled by the source's thread at its next answer, as
// the transport's own bench does: the settle thread then never calls into the source, whose
// locks and timers it would share with the io thread (on one CPU, a lock holder preempted by
// the io thread's wake-up makes the io thread block on it). Only when no lookup awaits an
// answer, so that no answer will come to do it, does the settle thread send them itself (the
// lookups a batching source holds unsent await no answer either: VerdictSource::Collecting).
//
// Each lookup lives in a pooled record from submission to settlement: the source's callback
// holds the dispatcher and the record only (small enough for std::function's inline storage),
// the queues link records, and a recycled record's strings keep their capacity, so a lookup in
// steady state allocates nothing here.
class LookupDispatcher {
 public:
  // `fail` is called (from the source's thread) with the status of an answer that ends the
  // run (rejected credentials, the source's checkpoint signal); it is expected to Stop() this
  // dispatcher. Lookups sent and settled, and their latencies, are counted into `stats`.
  // `options` (its on_lookups_settled) and `stats` must outlive this object.
  // `after_settle`, if set, is called by the settle thread after each batch of answers is
  // settled (their chunks told) and their slots freed: the pipeline's cue to check whether the
  // run can only go on once the batch being collected is sent (FlushIfIdle).
  LookupDispatcher(VerdictTable& table, transport::VerdictSource& source, size_t max_in_flight,
                   const PipelineOptions& options, RunStats& stats,
                   std::function<void(absl::Status)> fail,
                   std::function<void()> after_settle = nullptr)
      : fail_(std::move(fail)),
        after_settle_(std::move(after_settle)),
        table_(table),
        source_(source),
        max_in_flight_(std::max<size_t>(max_in_flight, 1)),
        options_(options),
        details_(DetailsSpecOf(options)),
        stats_(stats),
        settler_([this] { SettleLoop(); }) {}

  // Settles what the source has answered, then ends the settle thread. Every lookup has been
  // answered by then (each chunk awaits its lookups before the pipeline ends).
  ~LookupDispatcher() {
    {
      absl::MutexLock lock(&settle_mu_);
      settle_stop_ = true;
    }
    settler_.join();
  }

  // Queues lookups of `keys` (each a kMiss of the verdict table) and sends what the in-flight
  // bound allows.
  void SubmitBatch(absl::Span<const VerdictTable::Key> keys);

  // The pipeline adds no lookup for now (every live chunk waits for its lookups and no more
  // can be read): when nothing is queued here and every lookup sent but unsettled is one the
  // source still holds in the batch it collects, nothing can answer before that batch goes,
  // so the source sends it (VerdictSource::FlushBatch), if `still_stuck()` (the pipeline's
  // own condition, checked again after these) holds. Otherwise answers are still to come, and
  // the pipeline asks again after they are settled. Thread-safe.
  void FlushIfIdle(absl::FunctionRef<bool()> still_stuck);

  // Stops sending: queued lookups are abandoned (their waiters told), later ones too, and the
  // source stops sending those it holds (VerdictSource::StopSending: they end Cancelled).
  void Stop() {
    Lookup* dropped = nullptr;
    {
      absl::MutexLock lock(&mu_);
      stopped_ = true;
      stopped_flag_.store(true, std::memory_order_relaxed);
      dropped = std::exchange(queue_head_, nullptr);
      queue_tail_ = nullptr;
    }
    AbandonAll(dropped);
    source_.StopSending();
  }

 private:
  // One lookup, from submission until it is settled; then back to the pool. Small: a chunk's
  // misses wait as records in the queue.
  struct Lookup {
    schema::Observable observable;
    std::chrono::steady_clock::time_point started;
    Lookup* next = nullptr;  // in the queue or the free list
  };
  struct Answered {
    Answered(Lookup* l, absl::Duration t, absl::StatusOr<schema::VerdictResult>&& r)
        : lookup(l), took(t), result(std::move(r)) {}
    Lookup* lookup;
    absl::Duration took;  // from sending to the answer
    absl::StatusOr<schema::VerdictResult> result;
  };

  // A pooled record (or a new one). Its strings are assigned, so they reuse their capacity.
  Lookup* NewLookup(const VerdictTable::Key& key) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void Recycle(Lookup* first, Lookup* last) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    last->next = free_;
    free_ = first;
  }
  // Abandons the linked lookups from `first` on (their waiters told) and recycles them.
  void AbandonAll(Lookup* first);
  // Settles the keys the persistent cache holds (PipelineOptions::cache); returns the others
  // (a view of `keys` or of a per-thread vector, valid until this thread's next call).
  absl::Span<const VerdictTable::Key> SettleFromCache(absl::Span<const VerdictTable::Key> keys);
  void Pump();
  void OnDone(Lookup* lookup, absl::StatusOr<schema::VerdictResult>&& result);
  void SettleLoop();
  bool SettleReady() const ABSL_SHARED_LOCKS_REQUIRED(settle_mu_) {
    return !settled_queue_.empty() || settle_stop_;
  }

  const std::function<void(absl::Status)> fail_;
  const std::function<void()> after_settle_;
  VerdictTable& table_;
  transport::VerdictSource& source_;
  const size_t max_in_flight_;
  const PipelineOptions& options_;
  const DetailsSpec details_;  // what the table and the journal keep of a verdict
  RunStats& stats_;
  absl::Mutex mu_;
  Lookup* queue_head_ ABSL_GUARDED_BY(mu_) = nullptr;  // waiting to be sent, oldest first
  Lookup* queue_tail_ ABSL_GUARDED_BY(mu_) = nullptr;
  Lookup* free_ ABSL_GUARDED_BY(mu_) = nullptr;
  std::vector<std::unique_ptr<Lookup>> pool_ ABSL_GUARDED_BY(mu_);  // every record made
  size_t in_flight_ ABSL_GUARDED_BY(mu_) = 0;
  // Of those in flight, how many are not answered yet; and whether the settle thread has
  // freed slots with lookups queued. Atomics, so an answer checks for room without mu_: the
  // settle thread sets room_ then reads unanswered_, an answer decrements unanswered_ then
  // reads room_ (all sequentially consistent), so one of them sees the other and sends.
  std::atomic<size_t> unanswered_{0};
  std::atomic<bool> room_{false};
  bool stopped_ ABSL_GUARDED_BY(mu_) = false;
  std::atomic<bool> stopped_flag_{false};  // stopped_, read without the lock while sending
  absl::Mutex settle_mu_;
  // Answered, not yet settled; swapped with the settle thread's batch, so both keep capacity.
  std::vector<Answered> settled_queue_ ABSL_GUARDED_BY(settle_mu_);
  bool settle_stop_ ABSL_GUARDED_BY(settle_mu_) = false;
  std::thread settler_;  // last: started once the members above exist
};

}  // namespace enrich::engine::internal

#endif  // ENRICH_ENGINE_INTERNAL_LOOKUP_DISPATCHER_H_
