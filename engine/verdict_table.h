#ifndef ENRICH_ENGINE_VERDICT_TABLE_H_
#define ENRICH_ENGINE_VERDICT_TABLE_H_

// The run's verdict cache between extraction and the transport: one entry per observable, single
// flight. Justified by bench/engine/verdict_table_bench.cc: 128-key batches of cached keys at
// 0.52M/s (1 thread) and 0.89M/s (2) vs 0.29M/s and 0.39M/s with one flat_hash_map + Mutex;
// 75 vs 213 heap bytes per entry at 100k entries (137 before compact records); 2 shared CPUs,
// loaded. Resolve rates with compact records (BM_ResolveHit / BM_ResolveBatchHit, 100k
// entries, back to back with the build before them, load average 6.4): one key at a time
// 2.55M/s (1 thread) and 2.91M/s (2) vs 3.40M/s and 2.97M/s with keys and ids as text (the key
// is composed with its type number and the record decoded on each hit); 128-key batches
// 5.96M/s and 6.46M/s vs 8.09M/s and 7.74M/s. The all-cached run (cached_vs_duckdb.sh, 1M rows,
// 100k uniques, 3 alternations, load average 6.4-7.2): 1.13, 0.72, 1.00 s (CPU 0.70, 0.60,
// 0.84 s) vs 1.33, 0.60, 0.80 s (CPU 0.83, 0.54, 0.51 s): the medians 25% apart, the first
// pair the other way; to be measured again on a quiet machine.

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/functional/function_ref.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "absl/types/span.h"
#include "engine/verdict_record.h"
#include "schema/clock.h"
#include "schema/verdict.h"

namespace enrich::engine {

// Told when a pending observable settles. Implemented by the pipeline's chunks.
class SettleListener {
 public:
  virtual ~SettleListener() = default;
  // Called once per registration, on the thread that completed the lookup (an Asio thread or
  // the caller of Complete), without any table lock held. `slot` is the value given to Resolve.
  virtual void OnSettled(uint32_t slot, const Settled& settled) = 0;
};

// The run's verdict cache: one entry per unique (type, normalized value), in a sharded hash map
// with a mutex per shard. An entry is pending (with the listeners waiting for it), a verdict, no
// verdict, or failed. Concurrent resolves of the same key cause exactly one lookup (single
// flight). Verdicts expire at min(valid_time.end_time, now + max_ttl); "no verdict" answers are
// cached for min(negative_ttl, max_ttl) and failures for failed_ttl; an expired entry resolves
// as a miss again.
//
// Each entry lives in a per-shard append-only arena: its key (EncodeKey) and the address of its
// answer, a record of engine/verdict_record.h (judgement id as prefix number and UUID, details
// only when the run keeps them); the shard's hash set holds the entry's address (8 bytes a
// slot), and a pending entry's listeners sit in a map beside it only while it is pending. So
// the table's memory grows with unique observables only (bytes_used() reports it). Measured by
// bench/engine/verdict_table_bench.cc, BM_BytesPerEntry at 1M entries, half verdicts with UUID
// ids: 75 B per entry against 170 B with a 48-byte slot (key view and entry) and ids as text;
// bench/engine/memory_uniques.sh, peak RSS of run beyond 64 MiB: 89 B per unique at 1M, 91 B
// at 5M, against 248 B and 258 B (2 shared CPUs, loaded).
//
// Thread safety: all methods may be called from any thread concurrently.
class VerdictTable {
 public:
  struct Options {
    size_t shards = 64;  // rounded up to a power of two
    absl::Duration max_ttl = absl::Hours(24);
    absl::Duration negative_ttl = absl::Hours(1);
    absl::Duration failed_ttl = absl::InfiniteDuration();  // failures stay for the run
  };

  VerdictTable(const schema::Clock& clock, Options options);
  explicit VerdictTable(const schema::Clock& clock) : VerdictTable(clock, Options()) {}
  ~VerdictTable();
  VerdictTable(const VerdictTable&) = delete;
  VerdictTable& operator=(const VerdictTable&) = delete;

  enum class Resolution {
    kHit,     // `settled` holds the answer
    kJoined,  // a lookup is in flight; `listener` will be told
    kMiss,    // the caller must look the key up and call Complete; `listener` will be told
  };
  struct ResolveResult {
    Resolution resolution;
    Settled settled;  // kHit only
  };
  // Looks `type`/`value` (already normalized) up. On kJoined and kMiss, registers
  // (`listener`, `slot`); the listener must outlive the settlement.
  ResolveResult Resolve(absl::string_view type, absl::string_view value, SettleListener* listener,
                        uint32_t slot);

  // Resolve() of several keys: key i registers (`listener`, `first_slot` + i) and its result goes
  // to results[i] (`results` holds keys.size() elements). Each shard's lock is taken once per
  // call, so the probes of a batch overlap their memory accesses.
  struct Key {
    absl::string_view type;
    absl::string_view value;
  };
  void ResolveBatch(absl::Span<const Key> keys, SettleListener* listener, uint32_t first_slot,
                    ResolveResult* results);

  // Settles a key returned as kMiss with the lookup's result (a failed status becomes a kFailed
  // entry with ErrorStatusFor-style text `error_text`) and tells every registered listener.
  // Returns the stored answer.
  // `details`: the verdict's details to keep (EncodeDetails), empty for none.
  Settled Complete(absl::string_view type, absl::string_view value,
                   const absl::StatusOr<schema::VerdictResult>& result,
                   absl::string_view error_text = "", absl::string_view details = "");

  // Complete() of several keys, each with its `result` and `error_text`: each shard's lock is
  // taken once per call, the batch's probes overlap their memory accesses, and the listeners
  // are told once every lock is released.
  struct Completion {
    absl::string_view type;
    absl::string_view value;
    const absl::StatusOr<schema::VerdictResult>* result;
    absl::string_view error_text;
    absl::string_view details = {};  // of a verdict (EncodeDetails); empty for none
  };
  void CompleteBatch(absl::Span<const Completion> done);

  // Settles keys returned as kMiss with answers read elsewhere (the persistent cache,
  // engine/persistent_cache.h), each with its own expiry (capped by max_ttl), and tells their
  // listeners once every lock is released. The views need to stay valid during the call only.
  struct Settling {
    absl::string_view type;
    absl::string_view value;
    Settled settled;
    int64_t expiry_ms;  // Unix ms
  };
  void SettleBatch(absl::Span<const Settling> items);

  // Drops a pending key without caching anything (the run is stopping); listeners are told a
  // kFailed answer with `error_text`.
  void Abandon(absl::string_view type, absl::string_view value, absl::string_view error_text);

  // Stores the answer of a lookup settled earlier, at `settled_at` (the resume journal): the
  // expiry counts from then. An existing settled entry is replaced; a pending one is left alone.
  void Restore(absl::string_view type, absl::string_view value,
               const absl::StatusOr<schema::VerdictResult>& result, absl::string_view error_text,
               absl::Time settled_at);

  // One answer for RestoreBatch(): the views must stay valid during the call only.
  struct Restored {
    absl::string_view type;
    absl::string_view value;
    Settled settled;        // kind; kVerdict: disposition, judgement_id, details; kFailed: error
    absl::Time valid_end;   // kVerdict only: valid_time.end_time
    absl::Time settled_at;  // when its lookup settled: the expiry counts from then
  };
  // Restore() of several answers, in order (a later answer for a key replaces an earlier one).
  // Each shard's lock is taken once per call, and the strings are copied into the arena only,
  // so a resume's reload costs a hash, a probe and an insert per entry.
  void RestoreBatch(absl::Span<const Restored> items);

  // Makes room for about `entries` more entries before they come (a resume's reload), so the
  // shards do not grow step by step.
  void Reserve(size_t entries);

  size_t size() const;        // entries, any state
  size_t bytes_used() const;  // hash slots + arena blocks

 private:
  struct Shard;
  struct Waiting;
  struct Pending;
  struct KeyBatch;
  size_t ShardIndex(size_t hash) const;
  // Composes and hashes keys key_at(0..n) and groups them by shard, into a per-thread batch.
  KeyBatch& GroupByShard(size_t n, absl::FunctionRef<Key(size_t)> key_at) const;
  // Calls in_shard(shard, begin, end) with the shard's lock held for each run
  // batch.order[begin, end) of one shard's keys, once their slots and keys are prefetched.
  void ForEachShardGroup(const KeyBatch& batch,
                         absl::FunctionRef<void(Shard&, size_t, size_t)> in_shard);
  // Resolve() of `key` (composed type and value) whose hash is `hash`, in its shard.
  ResolveResult ResolveInShard(Shard& shard, absl::string_view key, size_t hash, int64_t now_ms,
                               SettleListener* listener, uint32_t slot)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(shard.mu);
  // The answer to store for `result` settled at `now`, and when it expires. Views point into
  // `result` and `error_text`.
  std::pair<Settled, absl::Time> ToStore(const absl::StatusOr<schema::VerdictResult>& result,
                                         absl::string_view error_text, absl::string_view details,
                                         absl::Time now) const;
  // When an answer of `kind` settled at `now` expires (`valid_end`: a verdict's end time).
  absl::Time ExpiryOf(Settled::Kind kind, absl::Time valid_end, absl::Time now) const;
  // Stores `settled` as the answer of `key` (composed; its hash `hash`), expiring at `expiry`,
  // in a new entry of the shard's arena (key, then record) that takes the key's slot, made if
  // missing; a pending entry's listeners go to `taken` (if not null). Returns the record.
  const char* Settle(Shard& shard, absl::string_view key, size_t hash, const Settled& settled,
                     absl::Time expiry, Waiting* taken) ABSL_EXCLUSIVE_LOCKS_REQUIRED(shard.mu);

  const schema::Clock& clock_;
  const Options options_;
  std::vector<std::unique_ptr<Shard>> shards_;
  IdPrefixes prefixes_;  // of the judgement ids of every shard
};

}  // namespace enrich::engine

#endif  // ENRICH_ENGINE_VERDICT_TABLE_H_
