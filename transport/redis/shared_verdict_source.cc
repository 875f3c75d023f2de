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
}

SharedVerdictSource::~SharedVerdictSource() = default;

void SharedVerdictSource::LookupVerdict(const schema::Observable& observable, Callback done) {
  SharedLookupKey key{options_.endpoint, options_.intel, observable.type, observable.value};
  // A new lookup means the caller is not stuck: it asks for a flush again when it is.
  flush_pending_.store(false);
  flush_deferred_.store(false);
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
        OnClaim(observable, key, std::move(answer), std::move(done));
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
  if (input_ended_.load() && !finished_.load()) return TryFinish();
  if (finishing_.load()) return;  // the final flush ends with one
  if (!input_ended_.load() && awaiting_.load() > 0) {
    // The run waits for answers other workers are paying for: they unstick it, and the batch
    // fills on. Sent at a tick with no lookup since the flush was put off and no awaited
    // answer since the tick before (two workers may each wait for the other's batch).
    if (!flush_deferred_.exchange(true)) {
      deferred_ticks_.store(0);
      answers_seen_.store(awaited_answers_.load());
      handoff_->Watch([this] { return DeferredFlush(); });
    }
    return;
  }
  FlushInner();
}

bool SharedVerdictSource::DeferredFlush() {
  if (!flush_deferred_.load()) return false;  // a lookup came: the run went on
  const int64_t answers = awaited_answers_.load();
  if (answers != answers_seen_.exchange(answers) && awaiting_.load() > 0 &&
      deferred_ticks_.fetch_add(1) + 1 < kMaxDeferredTicks) {
    return true;  // the others' answers still come: wait on
  }
  if (flush_deferred_.exchange(false) && !input_ended_.load()) {
    ++counters_.deferred_flushes;
    FlushInner();
  }
  return false;  // one tick
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
  Finish();
}

void SharedVerdictSource::Finish() {
  finishing_.store(true);
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
  lookups_.HandOver(keys);  // pipelined: in Redis before the hand-off script
  auto pending = std::make_shared<std::vector<HeldLookup>>(std::move(handing));
  handoff_->Finish(items, [this, pending, items](
                              absl::StatusOr<SharedHandoff::Outcome> outcome) mutable {
    OnFinished(std::move(*pending), std::move(items), std::move(outcome));
  });
}

void SharedVerdictSource::OnFinished(std::vector<HeldLookup> handing,
                                     std::vector<HandoffItem> items,
                                     absl::StatusOr<SharedHandoff::Outcome> outcome) {
  if (!outcome.ok() || !outcome->handed) {
    // Redis lost: sent here, as without the hand-off. The last worker: sent here with the
    // others' lookups, its own leases taken back from the hand-off (asked either way).
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
  if (n > 0) handoff_->Watch([this] { return Reclaim(); });
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

bool SharedVerdictSource::Reclaim() {
  if (handed_open_.load() == 0) return false;
  if (reclaiming_.exchange(true)) return true;
  handoff_->TakeIfLast([this](absl::StatusOr<SharedHandoff::Outcome> outcome) {
    if (outcome.ok() && !outcome->handed && !outcome->taken.empty()) AskTaken(outcome->taken);
    reclaiming_.store(false);
  });
  return true;
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
