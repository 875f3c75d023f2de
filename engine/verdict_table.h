#ifndef ENRICH_ENGINE_VERDICT_TABLE_H_
#define ENRICH_ENGINE_VERDICT_TABLE_H_

// The run's verdict cache between extraction and the transport: one entry per observable, single
// flight. Justified by bench/engine/verdict_table_bench.cc: 128-key batches of cached keys at
// 0.52M/s (1 thread) and 0.89M/s (2) vs 0.29M/s and 0.39M/s with one flat_hash_map + Mutex;
// 64 vs 213 heap bytes per entry at 100k entries (137 with keys and ids as text); 2 shared CPUs,
// loaded. Resolve rates (BM_ResolveHit / BM_ResolveBatchHit, 100k entries, medians of 5
// repetitions, alternated with the build whose entries held keys and ids as text, A B A B A B;
// load average 1.4-3.7): one key at a time 1.90M/s (1 thread) and 2.00M/s (2) vs 1.78M/s and
// 2.00M/s; 128-key batches 4.90M/s and 4.01M/s vs 4.02M/s and 2.91M/s (the medians of the
// three pairs; a second round at load 2.2-3.2 gave 1.54 vs 1.55, 2.61 vs 2.50, 3.35 vs 2.88
// and 6.05 vs 5.24M/s). A hit reads one place, the entry with its key and record side by side,
// decodes the record unchecked and finds the type's number by first letter and length. The
// all-cached run (cached_vs_duckdb.sh's contender: 1M rows, 100k unique domains, --resume with
// every verdict journaled, 5 alternations, load average 1.6): 0.38, 0.46, 0.49, 0.45, 0.58 s
// (CPU 0.67-0.85 s, median 0.73) vs 0.60, 0.42, 0.56, 0.54, 0.67 s (CPU 0.70-0.90 s, median
// 0.86): medians 0.46 vs 0.56 s, byte-identical outputs.

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
#include "schema/clock.h"
#include "schema/verdict.h"
#include "schema/verdict_details.h"
#include "schema/verdict_record.h"

namespace enrich::engine {

// The compact records and details live in schema/ (one encoding for this table, the
// persistent cache, the journal and the Redis-shared cache in transport/); the engine names
// them as its own.
using schema::AppendUuidText;
using schema::DecodeDetails;
using schema::DecodeKey;
using schema::DecodeRecord;
using schema::DecodeStoredRecord;
using schema::DetailField;
using schema::DetailFieldName;
using schema::DetailsSpec;
using schema::DetailsView;
using schema::EncodeDetails;
using schema::EncodeKey;
using schema::EncodeRecord;
using schema::IdPrefixes;
using schema::IsJudgementField;
using schema::JudgementBriefView;
using schema::JudgementIdRef;
using schema::kDetailFieldCount;
using schema::kJudgementFieldCount;
using schema::kUuidBytes;
using schema::ParseDetailFields;
using schema::RecordAt;
using schema::RecordExpiryMs;
using schema::RecordSize;
using schema::Settled;
using schema::SplitUuidId;

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
// Each settled entry lives in a per-shard append-only arena: a state byte, its key (EncodeKey),
// then its answer, a record of schema/verdict_record.h (judgement id as prefix number and UUID,
// details only when the run keeps them); the shard's hash set holds the entry's address (8
// bytes a slot). A new key's pending entry is on the heap, with its listeners in a map beside
// the set, until its answer makes the settled copy take its slot. So the table's memory grows
// with unique observables only (bytes_used() reports it). Measured by
// bench/engine/verdict_table_bench.cc, BM_BytesPerEntry at 1M entries, half verdicts with UUID
// ids: 68 B per entry (75 B with the answer's address in the entry) against 170 B with a
// 48-byte slot (key view and entry) and ids as text;
// bench/engine/memory_flat.sh's UNIQUES, peak RSS of run beyond 64 MiB, with the answer's address
// in the entry: 89 B per unique at 1M, 91 B at 5M, against 248 B and 258 B (2 shared CPUs,
// loaded).
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
  // Stores store_at(i) (the answer and its expiry) as the answer of key_at(i), for i < n, one
  // lock per shard; tells each key's listeners once every lock is released (CompleteBatch and
  // SettleBatch).
  void SettleEach(size_t n, absl::FunctionRef<Key(size_t)> key_at,
                  absl::FunctionRef<std::pair<Settled, absl::Time>(size_t)> store_at);
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
