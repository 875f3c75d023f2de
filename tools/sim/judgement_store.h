#ifndef ENRICH_TOOLS_SIM_JUDGEMENT_STORE_H_
#define ENRICH_TOOLS_SIM_JUDGEMENT_STORE_H_

#include <cstddef>
#include <optional>
#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_map.h"
#include "absl/functional/function_ref.h"
#include "absl/strings/string_view.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "schema/judgement.h"
#include "schema/observable.h"
#include "schema/verdict_rule.h"

namespace enrich::sim {

// ctia-sim's judgement storage: the part of CTIA's Elasticsearch index the verdict and
// judgement routes need.
//
// Judgements are grouped by `schema::MatchKey(observable)` (CTIA matches type and value
// case-insensitively, reference/ctia-api.md §1.2) and indexed by short id
// ("judgement-<uuid>"). Stored judgements keep their short id in `Judgement::id`; the router
// turns it into a long id when it answers. Writes are visible to the next read (CTIA with
// `wait_for=true`).
//
// Memory: one hash-map entry per distinct observable plus one per id; a million judgements
// take a few hundred MB.
//
// Thread safety: every method may be called from any thread; reads share a reader lock.
class JudgementStore {
 public:
  // Stores `j`, whose `id` must be a short id not already stored (the caller generates it).
  // Returns false, storing nothing, when the id is already present.
  bool Insert(schema::Judgement j);
  // Inserts many under one lock; returns how many were stored (duplicates are skipped).
  size_t InsertAll(std::vector<schema::Judgement> judgements);

  std::optional<schema::Judgement> Find(absl::string_view short_id) const;
  // Removes the judgement; false when there was none.
  bool Erase(absl::string_view short_id);
  // Sets `valid_time.end_time = now` and appends `reason` (ctia `revoke-request`, §2.4).
  // Returns the updated judgement, nullopt when there is none.
  std::optional<schema::Judgement> Expire(absl::string_view short_id, absl::Time now,
                                          absl::string_view reason);

  // CTIA's verdict for `observable` (§2.4): the winner among the stored judgements of that
  // observable for which `visible` returns true, per `schema::SelectVerdictJudgement`.
  // `visible` runs under the store's reader lock and must not call back into the store.
  std::optional<schema::Judgement> SelectVerdict(
      const schema::Observable& observable, absl::Time now, const schema::VerdictQuery& query,
      absl::FunctionRef<bool(const schema::Judgement&)> visible) const;

  // Every stored judgement of `observable` visible to the caller, in insertion order.
  std::vector<schema::Judgement> ListByObservable(
      const schema::Observable& observable,
      absl::FunctionRef<bool(const schema::Judgement&)> visible) const;

  size_t size() const;
  // Removes every judgement.
  void Clear();

 private:
  bool InsertLocked(schema::Judgement j) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  mutable absl::Mutex mu_;
  absl::flat_hash_map<schema::Observable, std::vector<schema::Judgement>> by_observable_
      ABSL_GUARDED_BY(mu_);
  // short id → match key of its observable.
  absl::flat_hash_map<std::string, schema::Observable> by_id_ ABSL_GUARDED_BY(mu_);
};

}  // namespace enrich::sim

#endif  // ENRICH_TOOLS_SIM_JUDGEMENT_STORE_H_
