#include "engine/internal/lookup_dispatcher.h"

#include "engine/lookup_status.h"
#include "engine/persistent_cache.h"
#include "engine/setup_breaker.h"

namespace enrich::engine::internal {

// Inline: once per lookup, in SubmitBatch's loop under the lock.
inline LookupDispatcher::Lookup* LookupDispatcher::NewLookup(const VerdictTable::Key& key) {
  Lookup* l = free_;
  if (l != nullptr) {
    free_ = l->next;
  } else {
    l = pool_.emplace_back(std::make_unique<Lookup>()).get();
  }
  l->observable.type.assign(key.type.data(), key.type.size());
  l->observable.value.assign(key.value.data(), key.value.size());
  l->next = nullptr;
  return l;
}

void LookupDispatcher::AbandonAll(Lookup* first) {
  if (first == nullptr) return;
  Lookup* last = first;
  for (Lookup* l = first; l != nullptr; l = l->next) {
    table_.Abandon(l->observable.type, l->observable.value, "error:cancelled");
    last = l;
  }
  absl::MutexLock lock(&mu_);
  Recycle(first, last);
}

absl::Span<const VerdictTable::Key> LookupDispatcher::SettleFromCache(
    absl::Span<const VerdictTable::Key> keys) {
  thread_local std::vector<VerdictTable::Settling> settling;
  thread_local std::vector<bool> hit;
  thread_local std::vector<VerdictTable::Key> left;
  settling.clear();
  hit.assign(keys.size(), false);
  options_.cache->ReadBatch(keys, !details_.empty(),
                            [&](absl::Span<const PersistentCache::Hit> hits) {
                              for (const PersistentCache::Hit& h : hits) {
                                hit[h.index] = true;
                                settling.push_back({keys[h.index].type, keys[h.index].value,
                                                    h.settled, h.expiry_ms});
                              }
                              // While the read transaction holds the records' bytes.
                              table_.SettleBatch(settling);
                            });
  stats_.Add(RunCounter::kCacheStoreHits, settling.size());
  stats_.Add(RunCounter::kCacheStoreMisses, keys.size() - settling.size());
  if (settling.empty()) return keys;
  left.clear();
  for (size_t i = 0; i < keys.size(); ++i) {
    if (!hit[i]) left.push_back(keys[i]);
  }
  return left;
}

void LookupDispatcher::SubmitBatch(absl::Span<const VerdictTable::Key> keys) {
  if (keys.empty()) return;
  if (options_.cache != nullptr) {
    keys = SettleFromCache(keys);
    if (keys.empty()) return;
  }
  bool queued = false;
  {
    absl::MutexLock lock(&mu_);
    queued = !stopped_;
    if (queued) {
      for (const VerdictTable::Key& key : keys) {
        Lookup* l = NewLookup(key);
        if (queue_tail_ != nullptr) {
          queue_tail_->next = l;
        } else {
          queue_head_ = l;
        }
        queue_tail_ = l;
      }
    }
  }
  if (queued) stats_.Add(RunCounter::kLookupsQueued, keys.size());
  if (!queued) {
    for (const VerdictTable::Key& key : keys) {
      table_.Abandon(key.type, key.value, "error:cancelled");
    }
    return;
  }
  Pump();
}

void LookupDispatcher::FlushIfIdle(absl::FunctionRef<bool()> still_stuck) {
  size_t unsettled = 0;
  {
    absl::MutexLock lock(&mu_);
    if (stopped_ || queue_head_ != nullptr || in_flight_ == 0) return;
    unsettled = in_flight_;
  }
  if (source_.Collecting() == unsettled && still_stuck()) source_.FlushBatch();
}

void LookupDispatcher::Pump() {
  // A source answering inline would recurse Pump → LookupVerdict → OnDone → Pump; the
  // outermost Pump on this thread keeps sending instead.
  thread_local bool pumping = false;
  if (pumping) return;
  pumping = true;
  // A stop request sends no new lookup: the run fails at once (Stop() drops the queue) rather
  // than when the read stage next runs, which may be after every queued lookup is answered.
  if (options_.stop_requested != nullptr && options_.stop_requested->load() &&
      !stopped_flag_.load(std::memory_order_relaxed)) {
    fail_(absl::CancelledError("interrupted"));
  }
  for (;;) {
    // Takes as many as the bound allows under one lock, then sends them without it.
    Lookup* first = nullptr;
    size_t taken = 0;
    {
      absl::MutexLock lock(&mu_);
      if (stopped_) break;
      Lookup* last = nullptr;
      while (queue_head_ != nullptr && in_flight_ + taken < max_in_flight_) {
        last = queue_head_;
        queue_head_ = queue_head_->next;
        if (first == nullptr) first = last;
        ++taken;
      }
      if (taken == 0) break;
      last->next = nullptr;
      if (queue_head_ == nullptr) queue_tail_ = nullptr;
      in_flight_ += taken;
    }
    unanswered_.fetch_add(taken);  // before any of them is sent
    for (Lookup* l = first; l != nullptr;) {
      Lookup* const next = l->next;  // `l` may settle and be recycled once it is sent
      if (stopped_flag_.load(std::memory_order_relaxed)) {
        // Stopped while these were being sent: the rest are not sent.
        size_t left = 0;
        for (Lookup* r = l; r != nullptr; r = r->next) ++left;
        AbandonAll(l);
        absl::MutexLock lock(&mu_);
        in_flight_ -= left;
        unanswered_.fetch_sub(left);
        break;
      }
      stats_.Add(RunCounter::kLookupsSent);
      l->started = std::chrono::steady_clock::now();
      // Called once: the record goes on into the settle queue.
      source_.LookupVerdict(l->observable,
                            [this, l](absl::StatusOr<schema::VerdictResult>&& result) {
                              OnDone(l, std::move(result));
                            });
      l = next;
    }
  }
  pumping = false;
}

void LookupDispatcher::OnDone(Lookup* l, absl::StatusOr<schema::VerdictResult>&& result) {
  const absl::Duration took = absl::FromChrono(std::chrono::steady_clock::now() - l->started);
  // Rejected credentials fail every lookup the same way; a checkpoint signal means the source
  // would wait too long; the circuit breaker trips on a wrong setup: each ends the run at once
  // with this lookup unsettled (not journaled).
  absl::Status tripped;
  if (options_.setup_breaker != nullptr) tripped = options_.setup_breaker->Observe(result);
  const bool fatal = !tripped.ok() ||
                     (!result.ok() &&
                      (transport::CheckpointWait(result.status()).has_value() ||
                       result.status().code() == absl::StatusCode::kUnauthenticated));
  if (fatal) {
    stats_.Add(RunCounter::kLookupsSettled);
    stats_.RecordLatency(took);
    unanswered_.fetch_sub(1);
    fail_(tripped.ok() ? result.status() : tripped);
    const schema::Observable observable = std::move(l->observable);
    {
      absl::MutexLock lock(&mu_);
      --in_flight_;
      Recycle(l, l);
    }
    Pump();
    // Last: once its waiters are told, the run may end and this dispatcher go (the table
    // outlives it).
    table_.Abandon(observable.type, observable.value, ErrorStatusFor(result.status()));
    return;
  }
  // Fills the slots the settle thread has freed since the last answer (see the class comment).
  unanswered_.fetch_sub(1);
  if (room_.load() && room_.exchange(false)) Pump();
  // Last: once the settle thread has it, the run may end and this dispatcher go. The settle
  // thread counts it and frees its in-flight slot once it is journaled.
  absl::MutexLock lock(&settle_mu_);
  settled_queue_.emplace_back(l, took, std::move(result));
}

void LookupDispatcher::SettleLoop() {
  std::vector<Answered> batch;
  std::vector<std::string> errors;  // per answer: "error:<code>" or ""; strings reused
  std::vector<std::string> details;  // per answer: a verdict's details (EncodeDetails) or ""
  std::vector<PipelineOptions::SettledLookup> told;
  std::vector<VerdictTable::Completion> completions;
  std::vector<absl::Duration> took;
  for (;;) {
    {
      absl::MutexLock lock(&settle_mu_);
      settle_mu_.Await(absl::Condition(this, &LookupDispatcher::SettleReady));
      if (settled_queue_.empty()) return;  // stopping, and everything is settled
      batch.swap(settled_queue_);
    }
    // A stop request fails the run before these answers wake their chunks: the lookups the
    // source cancelled on the stop (VerdictSource::StopSending) must never reach the output.
    if (options_.stop_requested != nullptr && options_.stop_requested->load() &&
        !stopped_flag_.load(std::memory_order_relaxed)) {
      fail_(absl::CancelledError("interrupted"));
    }
    // The answers' counts and latencies, a batch at a time (the stats are atomics).
    took.clear();
    for (const Answered& a : batch) took.push_back(a.took);
    stats_.Add(RunCounter::kLookupsSettled, batch.size());
    stats_.RecordLatencies(took);
    if (errors.size() < batch.size()) errors.resize(batch.size());
    if (details.size() < batch.size()) details.resize(batch.size());
    for (size_t i = 0; i < batch.size(); ++i) {
      details[i].clear();
      if (batch[i].result.ok()) {
        errors[i].clear();
        if (const auto* v = std::get_if<schema::Verdict>(&*batch[i].result)) {
          EncodeDetails(details_, *v, details[i]);
        }
      } else {
        errors[i] = ErrorStatusFor(batch[i].result.status());
      }
    }
    if (options_.on_lookups_settled) {
      told.clear();
      for (size_t i = 0; i < batch.size(); ++i) {
        told.push_back({&batch[i].lookup->observable, &batch[i].result, errors[i], details[i]});
      }
      options_.on_lookups_settled(told);
    }
    completions.clear();
    for (size_t i = 0; i < batch.size(); ++i) {
      const schema::Observable& o = batch[i].lookup->observable;
      completions.push_back({o.type, o.value, &batch[i].result, errors[i], details[i]});
    }
    table_.CompleteBatch(completions);
    for (size_t i = 1; i < batch.size(); ++i) batch[i - 1].lookup->next = batch[i].lookup;
    batch.back().lookup->next = nullptr;
    // The freed slots are filled at the next answer; with none to come, here.
    bool queued = false;
    {
      absl::MutexLock lock(&mu_);
      in_flight_ -= batch.size();
      Recycle(batch.front().lookup, batch.back().lookup);
      queued = queue_head_ != nullptr;
    }
    batch.clear();
    if (queued) {
      room_.store(true);
      // No answer to come, or none but for the lookups the source holds in the batch it
      // collects (which the queued ones are to fill): no answer will send them, so this does.
      const size_t unanswered = unanswered_.load();
      if (unanswered == 0 || unanswered == source_.Collecting()) Pump();
    }
    if (after_settle_) after_settle_();
  }
}

}  // namespace enrich::engine::internal
