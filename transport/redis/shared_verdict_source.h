#ifndef ENRICH_TRANSPORT_REDIS_SHARED_VERDICT_SOURCE_H_
#define ENRICH_TRANSPORT_REDIS_SHARED_VERDICT_SOURCE_H_

// A VerdictSource in front of the CTIA client that first asks the workers' shared cache in
// Redis (SharedLookups): an answer another worker paid for is used as is, an observable another
// worker is looking up is waited for, and only a lookup whose lease this worker holds goes to
// CTIA, its answer then shared. The engine's own verdict table stays in front of it.
//
// Redis lost (any call failing with RedisUnavailable): the lookup goes to CTIA directly, as
// without Redis; no lookup waits for Redis or fails because of it. `notice` says once when
// the worker goes on alone and once when Redis is back.
//
// The last partial batch (shared_handoff.h): once the engine's input has ended (InputEnded)
// and its run waits for nothing but this worker's batch (the final FlushBatch), the batch is
// taken back from the CTIA client (TakeCollected) and either handed to a worker that still
// runs, or, when this worker is the last, sent with every lookup the others handed over, in
// full batches. So N workers send one last partial batch between them. A handed lookup is
// waited for like another worker's lease (its answer goes to the engine's callback); its
// lease expired (the taker died, or never came within a lease), this worker asks it itself,
// directly. A taken lookup is asked under the lease it adopted; its answer is only shared.
// A worker hands over or takes once per run; Redis lost at any step, it sends its batch
// itself, as without Redis. The final flush waits for the lookups whose first claim is still
// on its way to Redis (they may join the batch), not for those waiting for another worker.
//
// Mid-run partial batches: a run stuck while some of its lookups wait for other workers'
// leases is unstuck by their answers, and its batch then fills on: its flush is put off, and
// dropped if a lookup comes meanwhile; it goes at the first tick (handoff_tick) after which no
// awaited answer came (at most kMaxDeferredTicks). Sending it at once
// cost four workers several partial batches more than one worker alone sends
// (bench/engine/redis_workers.sh). The tick bounds the wait when two workers each wait for
// the other's batch.

#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/strings/string_view.h"
#include "absl/synchronization/mutex.h"
#include "transport/redis/shared_handoff.h"
#include "transport/redis/shared_lookups.h"
#include "transport/verdict_source.h"

namespace enrich::transport {

struct SharedVerdictSourceOptions {
  std::string endpoint;  // the CTIA base URL (part of every key)
  std::string intel;     // the lookup shape (part of every key), e.g. "private"
  absl::Duration negative_ttl = absl::Hours(1);  // how long a no-verdict is shared
  std::function<void(absl::string_view)> notice;  // lost / back messages; may be empty
  // How often the running heartbeat is written, and a worker that handed its batch over checks
  // that a worker still runs to take it (else it takes it back at once).
  absl::Duration handoff_tick = absl::Seconds(1);
};

struct SharedSourceCounters {
  std::atomic<int64_t> shared{0};     // answered from Redis (another worker paid)
  std::atomic<int64_t> asked{0};      // asked of CTIA under this worker's lease
  std::atomic<int64_t> alone{0};      // asked of CTIA without Redis (Redis unavailable)
  std::atomic<int64_t> handed{0};     // of this worker's last batch, handed to another worker
  std::atomic<int64_t> taken{0};      // handed over by other workers and asked here
  // Partial batches a stuck run sent a tick late: it waited for other workers' answers, and
  // none came that let it go on.
  std::atomic<int64_t> deferred_flushes{0};
};

// Thread-safe. Outlives every lookup it was given (as the inner source does).
class SharedVerdictSource : public VerdictSource {
 public:
  SharedVerdictSource(VerdictSource& inner, SharedLookups& lookups,
                      SharedVerdictSourceOptions options);
  ~SharedVerdictSource() override;

  void LookupVerdict(const schema::Observable& observable, Callback done) override;
  void StopSending() override { inner_.StopSending(); }
  // Lookups still asking Redis are held unsent too: Collecting() counts them, and a flush
  // asked for while some are there reaches the inner source's batch once the last of them
  // has left (answered from Redis, or handed to the inner source).
  void FlushBatch() override;
  size_t Collecting() const override;
  // The final FlushBatch hands the batch over, or takes the others' (see above).
  void InputEnded() override {
    input_ended_.store(true);
    inner_.InputEnded();  // no flush held back in the client sends the last batch
  }

  // The run asks nothing more: no lookup is taken from the list any more, the lookups taken
  // are waited for (their answers are being shared), and the worker leaves the running set.
  // Call before the Redis connection closes; idempotent.
  void Close();

  const SharedSourceCounters& counters() const { return counters_; }

 private:
  void OnClaim(const schema::Observable& observable, const SharedLookupKey& key,
               absl::StatusOr<SharedClaim> claim, Callback done);
  void AskUnderLease(const schema::Observable& observable, const SharedLookupKey& key,
                     Callback done);
  void AskAlone(const schema::Observable& observable, const absl::Status& why, Callback done);
  void MarkBack();
  // A lookup leaves the Redis stage (after being handed to the inner source, if it was).
  void Unstage();
  // The former FlushBatch: the inner source's batch now, and once the staged lookups left.
  void FlushInner();
  // The watch tick after a mid-run flush was put off: the flush, unless a lookup came since.
  bool DeferredFlush();

  // The callback a lookup asked under this worker's lease gives the inner source: it shares
  // the answer (or frees the lease), then answers `done` (the engine's; empty for a lookup
  // taken from another worker). Named, so the final flush knows it in the batch taken back.
  struct SettleThenAnswer;
  // The final flush once no claim is on its way (else when the last one returns).
  void TryFinish();
  void Finish();
  void OnFinished(std::vector<HeldLookup> handing, std::vector<HandoffItem> items,
                  absl::StatusOr<SharedHandoff::Outcome> outcome);
  // Adopts `items` (another's or this worker's handed leases) and asks those adopted, then
  // flushes (as the last worker).
  void AskTaken(const std::vector<HandoffItem>& items);
  // A watch tick of a worker with handed lookups: takes the list back when no worker runs.
  bool Reclaim();
  void TakenDone();
  bool NoneTaken() const ABSL_SHARED_LOCKS_REQUIRED(mu_) { return taken_open_ <= 0; }

  VerdictSource& inner_;
  SharedLookups& lookups_;
  const SharedVerdictSourceOptions options_;
  SharedSourceCounters counters_;
  std::atomic<bool> alone_{false};
  std::atomic<int64_t> staged_{0};          // lookups asking Redis
  std::atomic<bool> flush_pending_{false};  // FlushBatch() came while some were staged
  std::atomic<int64_t> awaiting_{0};        // lookups waiting for another worker's lease
  // A mid-run FlushBatch() came while some lookups waited for other workers: put off a tick.
  std::atomic<bool> flush_deferred_{false};
  std::atomic<int64_t> awaited_answers_{0};  // waits for other workers' leases that ended
  std::atomic<int64_t> answers_seen_{0};     // awaited_answers_ at the last tick
  std::atomic<int> deferred_ticks_{0};       // ticks the flush has been put off
  // The longest a flush is put off while awaited answers keep coming.
  static constexpr int kMaxDeferredTicks = 10;
  std::atomic<int64_t> claiming_{0};        // lookups whose first claim is on its way
  std::atomic<bool> input_ended_{false};
  std::atomic<bool> finish_pending_{false};  // the final flush waits for claiming_ to be 0
  std::atomic<bool> finished_{false};        // the final flush has begun
  std::atomic<bool> finishing_{false};       // ... and not ended: no other flush meanwhile
  std::atomic<int64_t> handed_open_{0};      // handed lookups not answered yet
  std::atomic<bool> reclaiming_{false};      // a Reclaim's script is on its way
  absl::Mutex mu_;
  bool closing_ ABSL_GUARDED_BY(mu_) = false;
  int64_t taken_open_ ABSL_GUARDED_BY(mu_) = 0;  // taken lookups not answered yet
  std::unique_ptr<SharedHandoff> handoff_;  // last: its ticker calls into this source
};

}  // namespace enrich::transport

#endif  // ENRICH_TRANSPORT_REDIS_SHARED_VERDICT_SOURCE_H_
