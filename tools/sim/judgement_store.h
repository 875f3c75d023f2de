// ctia-sim's judgement storage, the part of CTIA's Elasticsearch index the routes need.
// The Router reads and writes it; seeding (demo, NDJSON) fills it through the Router.

#ifndef ENRICH_TOOLS_SIM_JUDGEMENT_STORE_H_
#define ENRICH_TOOLS_SIM_JUDGEMENT_STORE_H_

#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_map.h"
#include "absl/container/flat_hash_set.h"
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
// Judgements are grouped by observable, matched on ASCII-lower-cased type and value (CTIA
// matches case-insensitively, reference/ctia-api.md §1.2), and indexed by short id
// ("judgement-<uuid>"). Stored judgements keep their short id in `Judgement::id`; the router
// turns it into a long id when it answers. Writes are visible to the next read (CTIA with
// `wait_for=true`). Times are kept to the microsecond (CTIA keeps milliseconds).
//
// Memory: built to hold tens of millions of judgements. Each judgement is one packed record
// (about 100 bytes): the uuid of its id as 16 bytes, times as integers, and interned
// references for the strings that repeat (type, source, confidence, severity, tlp, owner,
// groups). Rare fields (a non-uuid id, a value whose stored case differs from its lower-case
// key, source_uri, reason, authorized users/groups, external ids) sit in a side table. The
// indexes are hash sets of 32-bit record numbers (external ids: a map to record lists).
// Records live in fixed-size blocks, so growing never copies them. Erased judgements leave
// their record unused until Clear(). At most 2^32 - 2 judgements.
//
// Thread safety: every method may be called from any thread; reads share a reader lock.
class JudgementStore {
 public:
  JudgementStore();
  ~JudgementStore();
  JudgementStore(const JudgementStore&) = delete;
  JudgementStore& operator=(const JudgementStore&) = delete;

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
  // observable for which `visible` returns true, per `schema::SelectVerdictJudgement`
  // (full ties go to the earlier inserted). `visible` runs under the store's reader lock and
  // must not call back into the store.
  std::optional<schema::Judgement> SelectVerdict(
      const schema::Observable& observable, absl::Time now, const schema::VerdictQuery& query,
      absl::FunctionRef<bool(const schema::Judgement&)> visible) const;

  // Every stored judgement of `observable` visible to the caller, in insertion order.
  std::vector<schema::Judgement> ListByObservable(
      const schema::Observable& observable,
      absl::FunctionRef<bool(const schema::Judgement&)> visible) const;

  // Every stored judgement that carries `external_id` in its external_ids and for which
  // `visible` returns true, in insertion order (CTIA's GET /ctia/judgement/external_id/{xid}).
  // `visible` runs under the reader lock, as for ListByObservable.
  std::vector<schema::Judgement> FindByExternalId(
      absl::string_view external_id,
      absl::FunctionRef<bool(const schema::Judgement&)> visible) const;

  size_t size() const;
  // Removes every judgement and frees their memory.
  void Clear();

 private:
  struct Record;
  struct Rare;
  struct ObservableEntry;
  class Blocks;
  class Strings;
  // Hash and equality of record numbers by the record's uuid, and of observable numbers by
  // (type, lower-case value); both also take the lookup key directly (heterogeneous lookup).
  struct UuidKey {
    uint64_t hi;
    uint64_t lo;
  };
  struct ObservableKey {
    uint32_t type;
    absl::string_view value;  // lower-cased
  };
  struct IdHash {
    using is_transparent = void;
    const JudgementStore* store;
    size_t operator()(uint32_t record) const;
    size_t operator()(const UuidKey& key) const;
  };
  struct IdEq {
    using is_transparent = void;
    const JudgementStore* store;
    bool operator()(uint32_t a, uint32_t b) const { return a == b; }
    bool operator()(uint32_t record, const UuidKey& key) const;
    bool operator()(const UuidKey& key, uint32_t record) const { return (*this)(record, key); }
  };
  struct ObservableHash {
    using is_transparent = void;
    const JudgementStore* store;
    size_t operator()(uint32_t observable) const;
    size_t operator()(const ObservableKey& key) const;
  };
  struct ObservableEq {
    using is_transparent = void;
    const JudgementStore* store;
    bool operator()(uint32_t a, uint32_t b) const { return a == b; }
    bool operator()(uint32_t observable, const ObservableKey& key) const;
    bool operator()(const ObservableKey& key, uint32_t observable) const {
      return (*this)(observable, key);
    }
  };

  bool InsertLocked(schema::Judgement j) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // The record number of `short_id`, nullopt when it is not stored.
  std::optional<uint32_t> FindLocked(absl::string_view short_id) const
      ABSL_SHARED_LOCKS_REQUIRED(mu_);
  // The observable number of `observable`'s match key, nullopt when none is stored.
  std::optional<uint32_t> FindObservableLocked(const schema::Observable& observable) const
      ABSL_SHARED_LOCKS_REQUIRED(mu_);
  schema::Judgement Unpack(uint32_t record) const ABSL_SHARED_LOCKS_REQUIRED(mu_);
  void ResetLocked() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  mutable absl::Mutex mu_;
  std::unique_ptr<Blocks> records_ ABSL_GUARDED_BY(mu_);
  std::unique_ptr<Strings> strings_ ABSL_GUARDED_BY(mu_);
  std::vector<ObservableEntry> observables_ ABSL_GUARDED_BY(mu_);
  std::vector<Rare> rare_ ABSL_GUARDED_BY(mu_);
  absl::flat_hash_set<uint32_t, IdHash, IdEq> by_uuid_ ABSL_GUARDED_BY(mu_);
  // Ids that are not "judgement-<lower-case uuid>" (tests, hand-written seed files).
  absl::flat_hash_map<std::string, uint32_t> by_other_id_ ABSL_GUARDED_BY(mu_);
  // Record numbers per external id (exact, case-sensitive, as CTIA's keyword field).
  absl::flat_hash_map<std::string, std::vector<uint32_t>> by_external_id_ ABSL_GUARDED_BY(mu_);
  absl::flat_hash_set<uint32_t, ObservableHash, ObservableEq> by_observable_
      ABSL_GUARDED_BY(mu_);
  size_t live_ ABSL_GUARDED_BY(mu_) = 0;
};

}  // namespace enrich::sim

#endif  // ENRICH_TOOLS_SIM_JUDGEMENT_STORE_H_
