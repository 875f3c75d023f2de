#ifndef ENRICH_TRANSPORT_REDIS_SHARED_HANDOFF_H_
#define ENRICH_TRANSPORT_REDIS_SHARED_HANDOFF_H_

// Workers that share the lookups through Redis (shared_lookups.h) hand their last partial
// batch to each other, so that N workers send one last partial batch between them, not N.
//
// Every worker of a lookup shape (endpoint + intel) is registered in the ZSET
// `<prefix>:running:{shape}`, scored by its last heartbeat (Redis' own TIME, so the workers'
// clocks do not matter), refreshed every tick; an entry older than a lease length is a dead
// worker and is dropped. When a worker's input has ended and its run waits for nothing but its
// partial batch, one script (Finish) atomically removes it from the set and then either
//  - another live worker runs: pushes the batch's lookups on the list
//    `<prefix>:handoff:{shape}` (expiring after a lease) → "handed"; or
//  - none: takes (and deletes) every lookup on the list → "taken": this worker, the last,
//    sends them with its own tail, in full batches.
// The leases of handed lookups are re-set to "<worker>#handed" before the script runs
// (SharedLookups::HandOver), and a taker adopts each one only while it is still so and no
// answer is stored (SharedLookups::Adopt): a lookup is asked by its taker, or by its hander
// once the handed lease expired, never by both.
//
// Why a list plus a registry, and not a shared batch every worker adds to: a worker only
// learns that it is the last from the others' leaving, and the script that leaves is the one
// that decides, so two workers never both hand (nobody would take) nor both take. A dead
// "running" worker (crashed without leaving) costs the handers at most a lease's wait: their
// handed leases expire and they ask the lookups themselves; nothing is lost. A hander also
// checks every tick (Watch) whether any worker still runs, and takes the list back at once
// when none does (the last one ended with nothing to flush, or left).
//
// The list and the registry share one hash tag, so the script touches one Redis Cluster slot;
// the leases (each in its lookup's slot) are set by scripts of their own, pipelined before it.

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
  // Leaves the running set and, in the same script, hands `items` over when another live
  // worker runs, else takes every item on the list (`items` are then not pushed).
  void Finish(const std::vector<HandoffItem>& items, OutcomeCallback callback);
  // Finish without items, for a worker that has left: takes the list when no live worker
  // runs (else "handed", and nothing changes).
  void TakeIfLast(OutcomeCallback callback);
  // Calls `watch` every tick (on an io thread) while it returns true; it may call TakeIfLast,
  // not the other methods. A new watch replaces the old one; nullptr stops it.
  void Watch(std::function<bool()> watch);

  std::string RunningKey() const { return running_key_; }
  std::string ListKey() const { return list_key_; }

 private:
  struct Ticker;
  static void TickLater(const std::shared_ptr<Ticker>& ticker);
  void RunFinish(const std::vector<HandoffItem>& items, OutcomeCallback callback);

  SharedLookups& lookups_;
  const std::string running_key_;
  const std::string list_key_;
  std::shared_ptr<Ticker> ticker_;
};

// "<worker>\n<type>\n<value>" (the value last: it may hold anything), and back.
std::string EncodeHandoffItem(const HandoffItem& item);
absl::StatusOr<HandoffItem> DecodeHandoffItem(const std::string& text);

}  // namespace enrich::transport

#endif  // ENRICH_TRANSPORT_REDIS_SHARED_HANDOFF_H_
