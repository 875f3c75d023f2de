#ifndef ENRICH_ENGINE_PERSISTENT_CACHE_H_
#define ENRICH_ENGINE_PERSISTENT_CACHE_H_

// `run --cache DIR`: settled lookups kept across runs in an LMDB environment (liblmdb), behind
// the run's in-memory verdict table and in front of the lookups: a table miss is read here
// first (one read transaction per batch of misses), and a record found settles the entry with
// no request. Lookups the source settles are written back, a batch per write transaction, by a
// writer thread of the cache's own (never the pipeline's threads).
//
// What is kept: verdicts until valid_time.end_time capped by max_ttl (--max-cache-ttl), "no
// verdict" for negative_ttl (--negative-ttl; zero: never), failures never.
//
// Layout of DIR (LMDB's data.mdb and lock.mdb), four sub-databases:
//   meta      "format" → kCacheFormat; "types" → the observable type names the type numbers
//             of the keys stand for, one a line (this build's list when the cache was made)
//   scopes    "<endpoint> <intel>[ details=<spec>]" → scope number (4 bytes LE)
//   prefixes  prefix number (1 byte) → judgement id prefix (verdict_record.h's IdPrefixes,
//             appended under the write transaction, so every process numbers them alike)
//   verdicts  key → record: key = varint scope number, then EncodeKey(type, value) with the
//             type's number mapped to its place in meta's "types"; record = EncodeRecord
// LMDB: readers never block the writer nor each other, pages are copy-on-write (a crash
// leaves the last committed state, no recovery step), several processes may open one DIR (its
// lock file), and a lookup touches O(log n) pages of a memory map: opening costs what is used.
//
// A damaged cache (not an LMDB file, a truncated data file, another format, MDB_CORRUPTED) is
// reported by Open (DataLoss naming DIR) and never served; a single record that does not decode
// is deleted and its observable looked up again.

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "absl/functional/function_ref.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "absl/types/span.h"
#include "engine/pipeline.h"
#include "schema/verdict_record.h"
#include "engine/verdict_table.h"

namespace enrich::engine {

inline constexpr absl::string_view kCacheFormat = "ctia-enrich verdict cache 1";

struct PersistentCacheOptions {
  std::string dir;
  // What the answers are answers to: endpoint, intel, and the details the run keeps.
  std::string endpoint;
  std::string intel;
  std::string details;  // DetailsSpec::Describe(); empty = none
  absl::Duration max_ttl = absl::Hours(24);
  absl::Duration negative_ttl = absl::Hours(1);  // zero: no-verdict answers are not kept
  size_t write_batch = 4096;                      // settled lookups per write transaction
  absl::Duration write_every = absl::Milliseconds(100);
  size_t map_bytes = size_t{16} << 30;            // address space reserved, not disk
  // Told once when the cache stops being used mid-run (damage found), with the reason.
  std::function<void(absl::string_view)> notice;
};

struct PersistentCacheCounters {
  std::atomic<uint64_t> hits{0};
  std::atomic<uint64_t> misses{0};    // not there, expired, or lacking the run's details
  std::atomic<uint64_t> expired{0};   // of the misses
  std::atomic<uint64_t> writes{0};    // records committed
  std::atomic<uint64_t> dropped{0};   // bad records deleted
};

class PersistentCache {
 public:
  // Opens (creating DIR and the environment if absent). DataLoss "cache DIR is damaged: ..."
  // for a damaged one; other errors (permissions, a file at DIR) name DIR too.
  static absl::StatusOr<std::unique_ptr<PersistentCache>> Open(PersistentCacheOptions options);
  ~PersistentCache();  // commits what is queued, then closes
  PersistentCache(const PersistentCache&) = delete;
  PersistentCache& operator=(const PersistentCache&) = delete;

  struct Hit {
    size_t index;  // into the keys given
    Settled settled;
    int64_t expiry_ms;
  };
  // Reads `keys` in one read transaction and calls `found` once with the hits (views valid
  // during the call only), before the transaction ends. `details`: the run keeps details, so a
  // verdict stored without them is a miss. Thread-safe.
  void ReadBatch(absl::Span<const VerdictTable::Key> keys, bool details,
                 absl::FunctionRef<void(absl::Span<const Hit>)> found);
  // Queues the answers worth keeping for the writer thread (copies them). Thread-safe.
  void Write(absl::Span<const PipelineOptions::SettledLookup> settled);
  // Returns once everything queued before the call is committed (or dropped on an error).
  void Flush();

  const PersistentCacheCounters& counters() const { return counters_; }
  bool usable() const { return usable_.load(); }

  struct Env;  // the LMDB environment (persistent_cache.cc)

 private:
  struct Pending;
  struct Writer;
  explicit PersistentCache(PersistentCacheOptions options);
  absl::Status Init();
  void WriterLoop();
  void CommitBatch(std::vector<Pending>& batch, std::vector<std::string>& drops);
  // Key bytes of `type`/`value` into `out`; false when too long for an LMDB key.
  bool MakeKey(absl::string_view type, absl::string_view value, std::string& out) const;
  void Disable(absl::string_view why);

  const PersistentCacheOptions options_;
  std::unique_ptr<Env> env_;
  PersistentCacheCounters counters_;
  std::atomic<bool> usable_{true};
  std::unique_ptr<Writer> writer_;
};

// `ctia-enrich cache stats|prune|clear DIR`.
struct CacheGroupStats {
  std::string scope;  // "<endpoint> <intel>[ details=...]"
  std::string type;
  uint64_t verdicts = 0;
  uint64_t no_verdicts = 0;
  uint64_t expired = 0;  // of both
};
struct CacheStats {
  std::vector<CacheGroupStats> groups;  // by scope, then type
  uint64_t entries = 0;
  uint64_t expired = 0;
  uint64_t bad = 0;             // records that do not decode
  uint64_t file_bytes = 0;      // data.mdb on disk
  int64_t soonest_expiry_ms = 0;  // 0 when empty
  int64_t latest_expiry_ms = 0;
};
absl::StatusOr<CacheStats> ReadCacheStats(const std::string& dir, absl::Time now);
std::string CacheStatsText(const std::string& dir, const CacheStats& s, absl::Time now);
std::string CacheStatsJson(const std::string& dir, const CacheStats& s);
// Deletes expired (and undecodable) records; returns how many.
absl::StatusOr<uint64_t> PruneCache(const std::string& dir, absl::Time now);
// Deletes every record; returns how many there were.
absl::StatusOr<uint64_t> ClearCache(const std::string& dir);

}  // namespace enrich::engine

#endif  // ENRICH_ENGINE_PERSISTENT_CACHE_H_
