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
// Partial batches (shared_handoff.h): the engine flushes when its run is stuck on the batch
// (FlushBatch). The batch is then taken back from the CTIA client (TakeCollected) and either
// handed to the others while another worker is busy, or, when every other worker is stuck too
// or gone, sent with every lookup the others handed over, in full batches. So N workers send
// about as many partial batches between them as one worker alone. Once the engine's input has
// ended (InputEnded) the final flush does the same and leaves the running set. A handed lookup
// is waited for like another worker's lease (its answer goes to the engine's callback); a busy
// worker that claims it asks it in its own batch; its lease expired (the taker died), this
// worker asks it itself, directly. A taken lookup is asked under the lease it adopted; its
// answer is only shared. Redis lost at any step, the worker sends its batch itself, as without
// Redis. The final flush waits for the lookups whose first claim is still on its way to Redis
// (they may join the batch), not for those waiting for another worker.
//
// A stuck worker waits for the list to be taken while it waits for handed lookups; at each tick
// (handoff_tick) it takes the list once no other worker is busy, or after stuck_wait whoever
// is. A run stuck while some of its lookups wait for other workers' leases may be unstuck by
// their answers, and its batch then fills on: its flush is put off, and dropped if a lookup
// comes meanwhile; it is handed over at the first tick after which no awaited answer came (at
// most kMaxDeferredTicks). Before, four workers sent a partial batch each at such points and
// at their ends, several requests more than one worker alone (bench/engine/redis_workers.sh).

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
  // How often the running heartbeat is written, a put-off flush is reconsidered, and a stuck
  // worker that handed its batch over checks whether another worker is still busy (else it
  // takes the list at once).
  absl::Duration handoff_tick = absl::Seconds(1);
  // The longest a stuck worker's handed batch waits for a taker while other workers stay busy:
  // then it takes the list (its own batch and the others') and sends it.
  absl::Duration stuck_wait = absl::Seconds(60);
  // This worker's requests told to wait by the shared quota so far (RedisQuotaCounters::waits):
  // sampled every tick, it says whether the quota sets the pace now (SetQuotaBound). Empty:
  // never (no shared quota), and a stuck worker then sends its batch at once, as alone.
  std::function<int64_t()> quota_waits = nullptr;
};

struct SharedSourceCounters {
  std::atomic<int64_t> shared{0};     // answered from Redis (another worker paid)
  std::atomic<int64_t> asked{0};      // asked of CTIA under this worker's lease
  std::atomic<int64_t> alone{0};      // asked of CTIA without Redis (Redis unavailable)
  std::atomic<int64_t> handed{0};     // of this worker's partial batches, handed to others
  std::atomic<int64_t> taken{0};      // handed over by other workers and asked here
  // Times the run was stuck mid-run on its partial batch, which was then handed over, or sent
  // with the others' (the list taken).
  std::atomic<int64_t> stuck{0};
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
  // Puts a flush off to the next tick (DeferredFlush), unless it already is.
  void DeferFlush();
  // At a tick after a flush was put off: hands the batch over (or takes the others'; after
  // the final hand-off, sends it), unless a lookup came since or awaited answers still come.
  void DeferredFlush();
  // Every tick (SharedHandoff::Watch): a deferred flush, or the list taken by a stuck or ended
  // worker waiting for handed lookups once no other worker is busy.
  bool Tick();
  // Not marked stuck any more (its run went on, or it took the list and sends).
  void Unmark();

  // The callback a lookup asked under this worker's lease gives the inner source: it shares
  // the answer (or frees the lease), then answers `done` (the engine's; empty for a lookup
  // taken from another worker). Named, so the final flush knows it in the batch taken back.
  struct SettleThenAnswer;
  // The final flush once no claim is on its way (else when the last one returns).
  void TryFinish();
  // Takes the batch back from the inner source and hands it over, or takes the list and sends
  // both (SharedHandoff::Hand); kFinal for the final flush, kStuck for a stuck run's.
  void HandOrTake(SharedHandoff::Mode mode);
  void OnHanded(SharedHandoff::Mode mode, std::vector<HeldLookup> handing,
                std::vector<HandoffItem> items, absl::StatusOr<SharedHandoff::Outcome> outcome);
  // Adopts `items` (another's or this worker's handed leases) and asks those adopted, then
  // flushes.
  void AskTaken(const std::vector<HandoffItem>& items);
  void TakenDone();
  bool NoneTaken() const ABSL_SHARED_LOCKS_REQUIRED(mu_) { return taken_open_ <= 0; }

  VerdictSource& inner_;
  SharedLookups& lookups_;
  const SharedVerdictSourceOptions options_;
  SharedSourceCounters counters_;
  std::atomic<bool> alone_{false};
  std::atomic<int64_t> staged_{0};          // lookups asking Redis
  std::atomic<bool> flush_pending_{false};  // FlushBatch() came while some were staged
  std::atomic<bool> caller_stuck_{false};   // FlushBatch() came, and no lookup since
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
  std::atomic<bool> handing_{false};         // a Tick's hand-off script is on its way
  std::atomic<bool> marked_stuck_{false};    // in the stuck set (SharedHandoff): handed mid-run
  std::atomic<int> stuck_ticks_{0};          // ticks waited since marked stuck
  int64_t quota_waits_seen_ = 0;             // options_.quota_waits() at the last tick
  absl::Mutex mu_;
  bool closing_ ABSL_GUARDED_BY(mu_) = false;
  int64_t taken_open_ ABSL_GUARDED_BY(mu_) = 0;  // taken lookups not answered yet
  std::unique_ptr<SharedHandoff> handoff_;  // last: its ticker calls into this source
};

}  // namespace enrich::transport

#endif  // ENRICH_TRANSPORT_REDIS_SHARED_VERDICT_SOURCE_H_
