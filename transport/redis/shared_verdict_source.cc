#include "transport/redis/shared_verdict_source.h"

#include <algorithm>
#include <atomic>
#include <memory>
#include <utility>
#include <vector>

#include "absl/cleanup/cleanup.h"
#include "absl/strings/str_cat.h"

namespace enrich::transport {

struct SharedVerdictSource::SettleThenAnswer {
  SharedVerdictSource* source;
  SharedLookupKey key;
  Callback done;
  void operator()(absl::StatusOr<schema::VerdictResult> result) const {
    // Shared, or the lease freed for a waiter, without waiting for Redis: the run goes on with
    // the answer at once; a failed write only costs another worker a lookup.
    SharedLookups& lookups = source->lookups_;
    if (result.ok()) {
      lookups.Settle(key, *result, lookups.TtlFor(*result, source->options_.negative_ttl),
                     [](absl::Status) {});
    } else {
      lookups.Release(key, [](absl::Status) {});
    }
    if (done) return done(std::move(result));
    source->TakenDone();
  }
};

SharedVerdictSource::SharedVerdictSource(VerdictSource& inner, SharedLookups& lookups,
                                         SharedVerdictSourceOptions options)
    : inner_(inner),
      lookups_(lookups),
      options_(std::move(options)),
      handoff_(std::make_unique<SharedHandoff>(lookups, options_.endpoint, options_.intel,
                                               options_.handoff_tick)) {
  handoff_->Join();
  handoff_->Watch([this] { return Tick(); });
}

SharedVerdictSource::~SharedVerdictSource() = default;

void SharedVerdictSource::LookupVerdict(const schema::Observable& observable, Callback done) {
  SharedLookupKey key{options_.endpoint, options_.intel, observable.type, observable.value};
  // A new lookup means the caller is not stuck: it asks for a flush again when it is.
  flush_pending_.store(false);
  flush_deferred_.store(false);
  caller_stuck_.store(false);
  if (marked_stuck_.load()) {
    Unmark();
    handoff_->Unstuck();
  }
  ++staged_;
  ++claiming_;
  lookups_.Claim(key, [this, observable, key, done = std::move(done)](
                          absl::StatusOr<SharedClaim> claim) mutable {
    OnClaim(observable, key, std::move(claim), std::move(done));
    if (--claiming_ == 0 && finish_pending_.exchange(false)) TryFinish();
  });
}

void SharedVerdictSource::OnClaim(const schema::Observable& observable,
                                  const SharedLookupKey& key, absl::StatusOr<SharedClaim> claim,
                                  Callback done) {
  if (!claim.ok()) return AskAlone(observable, claim.status(), std::move(done));
  MarkBack();
  switch (claim->kind) {
    case SharedClaim::Kind::kCached:
      ++counters_.shared;
      Unstage();
      return done(std::move(*claim->cached));
    case SharedClaim::Kind::kLeased:
      if (claim->from_handoff) ++counters_.taken;
      return AskUnderLease(observable, key, std::move(done));
    case SharedClaim::Kind::kHeld:
      ++awaiting_;
      lookups_.AwaitAnswer(key, [this, observable, key, done = std::move(done)](
                                    absl::StatusOr<SharedClaim> answer) mutable {
        --awaiting_;
        ++awaited_answers_;
        if (answer.ok() && answer->kind == SharedClaim::Kind::kHeld) {
          answer = absl::InternalError("shared lookups: a wait ended while the lease is held");
        }
        const bool leased = answer.ok() && answer->kind == SharedClaim::Kind::kLeased;
        OnClaim(observable, key, std::move(answer), std::move(done));
        // The lookup joined this worker's batch (a lease expired, or was handed over): a run
        // stuck since its last flush may wait for that batch, which no answer of its own
        // would now send. Flushed at a tick, with those that join with it.
        if (leased && caller_stuck_.load()) DeferFlush();
      });
      return;
  }
}

void SharedVerdictSource::AskUnderLease(const schema::Observable& observable,
                                        const SharedLookupKey& key, Callback done) {
  ++counters_.asked;
  absl::Cleanup unstage = [this] { Unstage(); };
  inner_.LookupVerdict(observable, SettleThenAnswer{this, key, std::move(done)});
}

void SharedVerdictSource::AskAlone(const schema::Observable& observable, const absl::Status& why,
                                   Callback done) {
  ++counters_.alone;
  if (IsRedisUnavailable(why) && !alone_.exchange(true) && options_.notice) {
    options_.notice(absl::StrCat("shared cache unavailable, looking up alone: ", why.message()));
  }
  inner_.LookupVerdict(observable, std::move(done));
  Unstage();
}

void SharedVerdictSource::Unstage() {
  if (--staged_ == 0 && !finishing_.load() && flush_pending_.exchange(false)) {
    inner_.FlushBatch();
  }
}

void SharedVerdictSource::FlushBatch() {
  caller_stuck_.store(true);
  if (input_ended_.load() && !finished_.load()) return TryFinish();
  if (finishing_.load()) return;  // a hand-off in progress ends with a flush
  // Ended: a lookup that joined the batch after the final hand-off (a handed lease that
  // expired, taken over) is asked here.
  if (input_ended_.load() || alone_.load()) return FlushInner();
  // The run waits for answers other workers are paying for: they may unstick it, and the
  // batch fills on.
  if (awaiting_.load() > 0 || claiming_.load() > 0) return DeferFlush();
  HandOrTake(SharedHandoff::Mode::kStuck);
}

void SharedVerdictSource::DeferFlush() {
  if (flush_deferred_.exchange(true)) return;
  deferred_ticks_.store(0);
  answers_seen_.store(awaited_answers_.load());
}

void SharedVerdictSource::DeferredFlush() {
  if (claiming_.load() > 0) return;  // their answers come in a moment
  const int64_t answers = awaited_answers_.load();
  if (answers != answers_seen_.exchange(answers) && awaiting_.load() > 0 &&
      deferred_ticks_.fetch_add(1) + 1 < kMaxDeferredTicks) {
    return;  // the others' answers still come: wait on
  }
  if (!flush_deferred_.exchange(false) || finishing_.load()) return;
  if (input_ended_.load()) return FlushInner();  // after the final hand-off
  HandOrTake(SharedHandoff::Mode::kStuck);
}

bool SharedVerdictSource::Tick() {
  if (options_.quota_waits) {
    const int64_t waits = options_.quota_waits();
    handoff_->SetQuotaBound(waits != quota_waits_seen_);
    quota_waits_seen_ = waits;
  }
  if (flush_deferred_.load()) {
    DeferredFlush();
    return true;
  }
  if (finishing_.load() || handing_.load()) return true;
  const bool finished = finished_.load();
  const bool stuck = marked_stuck_.load();
  const bool waits = handed_open_.load() > 0 || (stuck && awaiting_.load() > 0);
  if (!(finished || stuck) || !waits) return true;
  // Stuck (or ended) and waiting for handed lookups: take the list once no other worker is
  // busy, or after options_.stuck_wait whoever is busy.
  SharedHandoff::Mode mode = SharedHandoff::Mode::kFinal;
  if (!finished) {
    const int64_t waited = stuck_ticks_.fetch_add(1) + 1;
    mode = waited * options_.handoff_tick >= options_.stuck_wait ? SharedHandoff::Mode::kForce
                                                                  : SharedHandoff::Mode::kStuck;
  }
  handing_.store(true);
  handoff_->Hand({}, mode, [this, mode](absl::StatusOr<SharedHandoff::Outcome> outcome) {
    if (outcome.ok() && !outcome->handed) {
      if (mode != SharedHandoff::Mode::kFinal) Unmark();
      if (!outcome->taken.empty()) AskTaken(outcome->taken);
    }
    handing_.store(false);
  });
  return true;
}

void SharedVerdictSource::Unmark() {
  stuck_ticks_.store(0);
  if (!marked_stuck_.exchange(false)) return;
  if (!finished_.load()) lookups_.TakeHandoffs(true);
}

void SharedVerdictSource::FlushInner() {
  if (staged_.load() > 0) flush_pending_.store(true);
  inner_.FlushBatch();
  // The last staged lookup may have left between the two lines above.
  if (staged_.load() == 0 && flush_pending_.exchange(false)) inner_.FlushBatch();
}

void SharedVerdictSource::TryFinish() {
  if (claiming_.load() > 0) {
    finish_pending_.store(true);
    // The last claim may have come back between the two lines above.
    if (claiming_.load() > 0 || !finish_pending_.exchange(false)) return;
  }
  if (finished_.exchange(true)) return;
  HandOrTake(SharedHandoff::Mode::kFinal);
}

void SharedVerdictSource::HandOrTake(SharedHandoff::Mode mode) {
  if (finishing_.exchange(true)) return;  // one hand-off at a time
  if (mode != SharedHandoff::Mode::kFinal) ++counters_.stuck;
  std::vector<HeldLookup> handing;  // asked for the engine under this worker's lease
  std::vector<HandoffItem> items;
  std::vector<SharedLookupKey> keys;
  const bool alone = alone_.load();
  for (HeldLookup& lookup : inner_.TakeCollected()) {
    const auto* asked = lookup.done.target<SettleThenAnswer>();
    if (!alone && asked != nullptr && asked->done) {
      items.push_back({lookups_.worker_id(), asked->key.type, asked->key.value});
      keys.push_back(asked->key);
      handing.push_back(std::move(lookup));
    } else {
      inner_.LookupVerdict(lookup.observable, std::move(lookup.done));  // sent here
    }
  }
  if (alone) {
    finishing_.store(false);
    return FlushInner();
  }
  // From now on this worker waits for handed leases rather than take them (the busy workers
  // and the last one take them), until its run goes on.
  lookups_.TakeHandoffs(false);
  if (mode != SharedHandoff::Mode::kFinal) marked_stuck_.store(true);
  lookups_.HandOver(keys);  // pipelined: in Redis before the hand-off script
  auto pending = std::make_shared<std::vector<HeldLookup>>(std::move(handing));
  auto done = [this, pending, items, mode](
                  absl::StatusOr<SharedHandoff::Outcome> outcome) mutable {
    OnHanded(mode, std::move(*pending), std::move(items), std::move(outcome));
  };
  if (mode == SharedHandoff::Mode::kFinal) return handoff_->Finish(items, std::move(done));
  handoff_->Hand(items, mode, std::move(done));
}

void SharedVerdictSource::OnHanded(SharedHandoff::Mode mode, std::vector<HeldLookup> handing,
                                   std::vector<HandoffItem> items,
                                   absl::StatusOr<SharedHandoff::Outcome> outcome) {
  if (!outcome.ok() || !outcome->handed) {
    // Redis lost: sent here, as without the hand-off. The last worker (or the last one busy):
    // sent here with the others' lookups, its own leases taken back from the hand-off.
    if (mode != SharedHandoff::Mode::kFinal) Unmark();
    for (HeldLookup& lookup : handing) {
      inner_.LookupVerdict(lookup.observable, std::move(lookup.done));
    }
    if (!outcome.ok()) {
      finishing_.store(false);
      return FlushInner();
    }
    for (const HandoffItem& item : items) {
      lookups_.Adopt({options_.endpoint, options_.intel, item.type, item.value}, item.worker,
                     [](absl::StatusOr<bool>) {});
    }
    return AskTaken(outcome->taken);
  }
  const auto n = static_cast<int64_t>(handing.size());
  counters_.handed += n;
  counters_.asked -= n;  // asked by the taker (or again here, should its lease expire)
  handed_open_ += n;
  staged_ += n;  // waited for like another worker's lease: Collecting() counts them
  for (HeldLookup& lookup : handing) {
    const auto* asked = lookup.done.target<SettleThenAnswer>();
    Callback done = [this, engine = asked->done](absl::StatusOr<schema::VerdictResult> r) {
      --handed_open_;
      engine(std::move(r));
    };
    SharedClaim held;
    held.kind = SharedClaim::Kind::kHeld;
    OnClaim(lookup.observable, asked->key, std::move(held), std::move(done));
  }
  finishing_.store(false);
  FlushInner();
}

void SharedVerdictSource::AskTaken(const std::vector<HandoffItem>& items) {
  finishing_.store(true);
  const size_t count = [&] {
    absl::MutexLock lock(&mu_);
    if (closing_) return size_t{0};  // not asked: their handers ask them once the lease ends
    taken_open_ += static_cast<int64_t>(items.size());
    return items.size();
  }();
  // One count per adoption, one for this call: the batch is flushed once all are in it.
  auto remaining = std::make_shared<std::atomic<size_t>>(count + 1);
  auto one_in = [this, remaining] {
    if (--*remaining != 0) return;
    finishing_.store(false);
    FlushInner();
  };
  for (size_t i = 0; i < count; ++i) {
    SharedLookupKey key{options_.endpoint, options_.intel, items[i].type, items[i].value};
    lookups_.Adopt(key, items[i].worker,
                   [this, key, one_in](absl::StatusOr<bool> adopted) {
                     if (adopted.ok() && *adopted) {
                       ++counters_.taken;
                       ++counters_.asked;
                       inner_.LookupVerdict(schema::Observable{key.type, key.value},
                                            SettleThenAnswer{this, key, nullptr});
                     } else {
                       TakenDone();  // answered, or its hander took it back: nothing to ask
                     }
                     one_in();
                   });
  }
  one_in();
}

void SharedVerdictSource::TakenDone() {
  absl::MutexLock lock(&mu_);
  --taken_open_;
}

void SharedVerdictSource::Close() {
  {
    absl::MutexLock lock(&mu_);
    if (closing_) return;
    closing_ = true;
  }
  handoff_->Watch(nullptr);
  // The lookups taken from others are answered in this run's last requests: their answers
  // are shared before the connection closes. Bounded: past two leases they are cancelled.
  bool answered = false;
  {
    absl::MutexLock lock(&mu_);
    answered = mu_.AwaitWithTimeout(absl::Condition(this, &SharedVerdictSource::NoneTaken),
                                    2 * lookups_.options().lease);
  }
  if (!answered) {
    inner_.StopSending();
    absl::MutexLock lock(&mu_);
    mu_.Await(absl::Condition(this, &SharedVerdictSource::NoneTaken));
  }
  handoff_->Leave();
}

size_t SharedVerdictSource::Collecting() const {
  return inner_.Collecting() + static_cast<size_t>(std::max<int64_t>(0, staged_.load()));
}

void SharedVerdictSource::MarkBack() {
  if (alone_.exchange(false) && options_.notice) {
    options_.notice("shared cache available again");
  }
}

}  // namespace enrich::transport
