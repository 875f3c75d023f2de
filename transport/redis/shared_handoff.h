#ifndef ENRICH_TRANSPORT_REDIS_SHARED_HANDOFF_H_
#define ENRICH_TRANSPORT_REDIS_SHARED_HANDOFF_H_

// Workers that share the lookups through Redis (shared_lookups.h) hand their partial batches
// to each other, so that N workers send about as many partial batches between them as one
// worker alone would, not N times as many.
//
// A worker's run sends a partial batch only when it is stuck: it cannot go on without that
// batch's answers. Every worker of a lookup shape (endpoint + intel) is registered in the ZSET
// `<prefix>:running:{shape}`, scored by its last heartbeat (Redis' own TIME, so the workers'
// clocks do not matter), refreshed every tick; an entry older than a lease length is a dead
// worker and is dropped. A stuck worker is also in the SET `<prefix>:stuck:{shape}` until it
// goes on (Unstuck). When a worker is stuck, or its input has ended (it leaves the running
// set: Finish), one script (Hand) marks it so and then either
//  - another live worker is busy (running and not stuck; for a mid-run stuck worker, also
//    quota-bound: its requests waited for the shared quota within ten ticks, so the quota
//    sets the pace and waiting costs the job nothing): pushes the batch's lookups on the
//    list `<prefix>:handoff:{shape}` (expiring after a lease) → "handed"; a busy worker that
//    needs one of them takes its lease when it claims it (SharedLookups), the rest wait; or
//  - none is: takes (and deletes) every lookup on the list → "taken": this worker, the last
//    to be stuck (or the last one left), sends them with its own, in full batches.
// A stuck worker that waited long takes the list whoever is busy ("force"): a lookup that only
// stuck workers need does not wait for the busy ones' end.
// The leases of handed lookups are re-set to "<worker>#handed" before the script runs
// (SharedLookups::HandOver), and a taker adopts each one only while it is still so and no
// answer is stored (SharedLookups::Adopt): a lookup is asked by its taker, or by its hander
// once the handed lease expired, never by both.
//
// Why a list plus a registry, and not a shared batch every worker adds to: a worker only
// learns that it is the last from the others' state, and the script that decides is atomic,
// so two workers never both hand (nobody would take) nor both take. A dead
// "running" worker (crashed without leaving) costs the handers at most a lease's wait: their
// handed leases expire and they ask the lookups themselves; nothing is lost. A hander also
// checks every tick (the source's watch) whether every other worker is stuck or gone, and
// takes the list at once when so.
//
// The list, the registry, the stuck and bound sets share one hash tag, so the script touches one Redis
// Cluster slot; the leases (each in its lookup's slot) are set by scripts of their own,
// pipelined before it.

#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "transport/redis/shared_lookups.h"

namespace enrich::transport {

// One lookup on the hand-off list: who handed it, and what to ask.
struct HandoffItem {
  std::string worker;
  std::string type;
  std::string value;
};

// Thread-safe. Callbacks run on the RedisClient's strand and must not block.
class SharedHandoff {
 public:
  struct Outcome {
    bool handed = false;            // the items are on the list, another worker takes them
    std::vector<HandoffItem> taken;  // else: the list's items, this worker's to ask
  };
  using OutcomeCallback = std::function<void(absl::StatusOr<Outcome>)>;

  // `endpoint` and `intel` name the lookup shape (as in SharedLookupKey); the heartbeat and
  // the Watch run every `tick`.
  SharedHandoff(SharedLookups& lookups, const std::string& endpoint, const std::string& intel,
                absl::Duration tick);
  ~SharedHandoff();
  SharedHandoff(const SharedHandoff&) = delete;
  SharedHandoff& operator=(const SharedHandoff&) = delete;

  // Registers this worker as running, and again every tick until Finish or Leave.
  void Join();
  // Leaves the running set (answer ignored; pipelined before any later command).
  void Leave();
  enum class Mode {
    kStuck,  // the worker's run is stuck: it stays in the running set, marked stuck, and hands
             // over while a busy worker is quota-bound
    kForce,  // the same, and it takes the list whoever is busy
    kFinal,  // the worker's input has ended: it leaves the running set, and hands over while
             // another worker is busy
  };
  // Marks the worker as `mode` says and, in the same script, hands `items` over when another
  // live worker is busy, else takes every item on the list (`items` are then not pushed).
  void Hand(const std::vector<HandoffItem>& items, Mode mode, OutcomeCallback callback);
  // Hand(kFinal), and no heartbeat from now on.
  void Finish(const std::vector<HandoffItem>& items, OutcomeCallback callback);
  // The worker's run goes on: no longer marked stuck (answer ignored).
  void Unstuck();
  // Whether this worker's requests wait for the shared quota now: said with each heartbeat
  // (the ZSET `<prefix>:bound:{shape}`), so that a stuck worker hands its batch over only
  // while the quota, not the workers, sets the pace (waiting then costs the job nothing).
  void SetQuotaBound(bool bound);
  // Calls `watch` every tick (on an io thread) while it returns true; it may call Hand,
  // SetQuotaBound and Unstuck, not the other methods. A new watch replaces the old one; nullptr stops it.
  void Watch(std::function<bool()> watch);

  std::string RunningKey() const { return running_key_; }
  std::string ListKey() const { return list_key_; }
  std::string StuckKey() const { return stuck_key_; }
  std::string BoundKey() const { return bound_key_; }

 private:
  struct Ticker;
  static void TickLater(const std::shared_ptr<Ticker>& ticker);

  SharedLookups& lookups_;
  const std::string running_key_;
  const std::string list_key_;
  const std::string stuck_key_;
  const std::string bound_key_;
  std::shared_ptr<Ticker> ticker_;
};

// "<worker>\n<type>\n<value>" (the value last: it may hold anything), and back.
std::string EncodeHandoffItem(const HandoffItem& item);
absl::StatusOr<HandoffItem> DecodeHandoffItem(const std::string& text);

}  // namespace enrich::transport

#endif  // ENRICH_TRANSPORT_REDIS_SHARED_HANDOFF_H_
