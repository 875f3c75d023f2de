#include "engine/verdict_table.h"

#include <algorithm>
#include <cstring>
#include <utility>

#include "absl/container/flat_hash_map.h"
#include "absl/container/flat_hash_set.h"
#include "absl/hash/hash.h"

namespace enrich::engine {
namespace {

constexpr size_t kArenaBlock = 16 << 10;

int64_t ToMs(absl::Time t) { return absl::ToUnixMillis(t); }

// An entry: a state byte (kSettled or kPending), the key bytes (EncodeKey) with a varint
// length, and a settled entry's answer right after them (a record of verdict_record.h), so a
// hit reads one place. A settled entry lives in the shard's arena; a new pending one on the
// heap, owned by the shard's pending map, until its answer makes a settled copy. The hash
// set's slot is the entry's address.
enum : char { kPending = 0, kSettled = 1 };

absl::string_view KeyOf(const char* entry) {
  const char* p = entry + 1;
  size_t n = 0;
  for (int shift = 0;; shift += 7) {
    const auto b = static_cast<uint8_t>(*p++);
    n |= static_cast<size_t>(b & 0x7f) << shift;
    if ((b & 0x80) == 0) break;
  }
  return absl::string_view(p, n);
}
bool IsPending(const char* entry) { return entry[0] == kPending; }
// The record of a settled entry.
const char* AnswerOf(const char* entry) {
  const absl::string_view key = KeyOf(entry);
  return key.data() + key.size();
}
// Bytes of an entry of `key` with `record` (empty for a pending one).
size_t EntrySize(absl::string_view key, absl::string_view record) {
  size_t len = 1;
  for (size_t n = key.size(); n >= 0x80; n >>= 7) ++len;
  return 1 + len + key.size() + record.size();
}
// Writes the entry of `key` with `record` (empty: pending) at `at`, EntrySize() bytes.
void WriteEntry(char* at, absl::string_view key, absl::string_view record) {
  char* p = at;
  *p++ = record.empty() ? kPending : kSettled;
  for (size_t n = key.size();; n >>= 7) {
    *p++ = static_cast<char>((n & 0x7f) | (n >= 0x80 ? 0x80 : 0));
    if (n < 0x80) break;
  }
  std::memcpy(p, key.data(), key.size());
  if (!record.empty()) std::memcpy(p + key.size(), record.data(), record.size());
}

// A key with its hash computed once: it picks the shard and probes the shard's set.
struct HashedKey {
  absl::string_view key;
  size_t hash;
};
// A probe that matches nothing and prefetches the bytes of every stored key it is compared
// with: run for a batch of keys before their real probes, it overlaps the cache misses of their
// key comparisons (the stored keys live in the arena, away from the slots).
struct PrefetchProbe {
  size_t hash;
};
size_t HashOf(absl::string_view key) { return absl::Hash<absl::string_view>()(key); }
struct EntryHash {
  using is_transparent = void;
  size_t operator()(const char* entry) const { return HashOf(KeyOf(entry)); }
  size_t operator()(const HashedKey& k) const { return k.hash; }
  size_t operator()(const PrefetchProbe& k) const { return k.hash; }
};
struct EntryEq {
  using is_transparent = void;
  bool operator()(const char* a, const char* b) const { return a == b || KeyOf(a) == KeyOf(b); }
  bool operator()(const char* a, const HashedKey& b) const { return KeyOf(a) == b.key; }
  bool operator()(const HashedKey& a, const char* b) const { return a.key == KeyOf(b); }
  bool operator()(const char* stored, const PrefetchProbe&) const {
    // The key and the record after it: a verdict's entry spans two cache lines.
    __builtin_prefetch(stored);
    __builtin_prefetch(stored + 64);
    return false;
  }
  bool operator()(const PrefetchProbe& p, const char* stored) const { return (*this)(stored, p); }
};

HashedKey Hashed(absl::string_view key) { return {key, HashOf(key)}; }

Settled ToSettled(const char* answer, const IdPrefixes& prefixes) {
  Settled s;
  DecodeStoredRecord(answer, prefixes, s);  // the table wrote it
  return s;
}

}  // namespace

using Waiters = std::vector<std::pair<SettleListener*, uint32_t>>;

// The listeners of a pending entry (kept beside the set, only while the entry is pending): the
// first, and the others if any joined.
struct VerdictTable::Waiting {
  SettleListener* first = nullptr;
  uint32_t first_slot = 0;
  std::unique_ptr<Waiters> more;

  void Add(SettleListener* listener, uint32_t slot) {
    if (first == nullptr) {
      first = listener;
      first_slot = slot;
      return;
    }
    if (more == nullptr) more = std::make_unique<Waiters>();
    more->emplace_back(listener, slot);
  }
  bool empty() const { return first == nullptr && more == nullptr; }
  void Tell(const Settled& settled) const {
    if (first != nullptr) first->OnSettled(first_slot, settled);
    if (more != nullptr) {
      for (const auto& [listener, slot] : *more) listener->OnSettled(slot, settled);
    }
  }
};

// A pending entry's listeners and, for a new key, the entry's bytes (an expired entry made
// pending again stays in the arena).
struct VerdictTable::Pending {
  Waiting waiting;
  std::unique_ptr<char[]> owned;
  size_t owned_size = 0;
};

struct VerdictTable::Shard {
  absl::Mutex mu;
  // Entries by key: an 8-byte slot each; key and answer in the entry.
  absl::flat_hash_set<const char*, EntryHash, EntryEq> set ABSL_GUARDED_BY(mu);
  // Pending entries, by entry.
  absl::flat_hash_map<const char*, Pending> pending ABSL_GUARDED_BY(mu);
  size_t pending_bytes ABSL_GUARDED_BY(mu) = 0;  // of the owned entries
  std::vector<std::unique_ptr<char[]>> blocks ABSL_GUARDED_BY(mu);
  std::vector<std::unique_ptr<char[]>> big_blocks ABSL_GUARDED_BY(mu);
  size_t block_used ABSL_GUARDED_BY(mu) = kArenaBlock;  // of blocks.back()
  size_t arena_bytes ABSL_GUARDED_BY(mu) = 0;

  // `n` bytes of the arena, valid for the shard's lifetime.
  char* Alloc(size_t n) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu) {
    if (n > kArenaBlock / 4) {  // big: a block of its own
      arena_bytes += n;
      return big_blocks.emplace_back(new char[n]).get();
    }
    if (block_used + n > kArenaBlock) {
      blocks.emplace_back(new char[kArenaBlock]);
      arena_bytes += kArenaBlock;
      block_used = 0;
    }
    char* p = blocks.back().get() + block_used;
    block_used += n;
    return p;
  }
  // A new pending entry for `key` (not in the set), in the set, with (`listener`, `slot`).
  void AddPending(absl::string_view key, SettleListener* listener, uint32_t slot)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu) {
    const size_t size = EntrySize(key, {});
    auto owned = std::make_unique<char[]>(size);
    WriteEntry(owned.get(), key, {});
    set.insert(owned.get());
    Pending& p = pending[owned.get()];
    p.owned = std::move(owned);
    p.owned_size = size;
    pending_bytes += size;
    p.waiting.Add(listener, slot);
  }
  // Drops pending entry `e`'s bookkeeping (and its bytes if owned: `e` must be out of the set
  // first), moving its listeners to `taken` if not null.
  void DropPending(const char* e, Waiting* taken) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu) {
    auto it = pending.find(e);
    if (it == pending.end()) return;
    if (taken != nullptr) *taken = std::move(it->second.waiting);
    pending_bytes -= it->second.owned_size;
    pending.erase(it);
  }
};

VerdictTable::VerdictTable(const schema::Clock& clock, Options options)
    : clock_(clock), options_(options) {
  size_t n = 1;
  while (n < std::max<size_t>(options_.shards, 1)) n <<= 1;
  shards_.reserve(n);
  for (size_t i = 0; i < n; ++i) shards_.push_back(std::make_unique<Shard>());
}

VerdictTable::~VerdictTable() = default;

size_t VerdictTable::ShardIndex(size_t hash) const {
  // The set probes with bits 7 and up of the same hash; take the shard from the high ones.
  return (hash >> 48) & (shards_.size() - 1);
}

VerdictTable::ResolveResult VerdictTable::Resolve(absl::string_view type, absl::string_view value,
                                                  SettleListener* listener, uint32_t slot) {
  thread_local std::string key;
  key.clear();
  EncodeKey(type, value, key);
  const size_t hash = Hashed(key).hash;
  Shard& shard = *shards_[ShardIndex(hash)];
  const int64_t now_ms = ToMs(clock_.Now());
  absl::MutexLock lock(&shard.mu);
  return ResolveInShard(shard, key, hash, now_ms, listener, slot);
}

// A batch of keys encoded back to back, their hashes, and their indices grouped by shard (a
// counting sort). Reused per thread.
struct VerdictTable::KeyBatch {
  std::string composed;
  std::vector<size_t> ends;
  std::vector<size_t> hashes;
  std::vector<uint32_t> order;  // indices, shard by shard
  std::vector<uint32_t> group_end;

  absl::string_view key(size_t i) const {
    const size_t begin = i == 0 ? 0 : ends[i - 1];
    return absl::string_view(composed).substr(begin, ends[i] - begin);
  }
};

VerdictTable::KeyBatch& VerdictTable::GroupByShard(size_t n,
                                                   absl::FunctionRef<Key(size_t)> key_at) const {
  thread_local KeyBatch b;
  b.composed.clear();
  b.ends.clear();
  b.hashes.clear();
  for (size_t i = 0; i < n; ++i) {
    const Key k = key_at(i);
    EncodeKey(k.type, k.value, b.composed);
    b.ends.push_back(b.composed.size());
  }
  const size_t n_shards = shards_.size();
  b.group_end.assign(n_shards, 0);
  for (size_t i = 0; i < n; ++i) {
    b.hashes.push_back(Hashed(b.key(i)).hash);
    ++b.group_end[ShardIndex(b.hashes.back())];
  }
  for (size_t s = 1; s < n_shards; ++s) b.group_end[s] += b.group_end[s - 1];
  b.order.resize(n);
  for (size_t i = n; i-- > 0;) {
    b.order[--b.group_end[ShardIndex(b.hashes[i])]] = static_cast<uint32_t>(i);
  }
  return b;
}

void VerdictTable::ForEachShardGroup(const KeyBatch& b,
                                     absl::FunctionRef<void(Shard&, size_t, size_t)> in_shard) {
  size_t at = 0;
  while (at < b.order.size()) {
    const size_t s = ShardIndex(b.hashes[b.order[at]]);
    Shard& shard = *shards_[s];
    absl::MutexLock lock(&shard.mu);
    // The shard's keys are spread over a table bigger than the caches: start loading all of
    // their slots, then all of their stored entries, before probing the first, so the misses
    // overlap instead of queueing.
    size_t end = at;
    for (; end < b.order.size() && ShardIndex(b.hashes[b.order[end]]) == s; ++end) {
      const uint32_t i = b.order[end];
      shard.set.prefetch(HashedKey{b.key(i), b.hashes[i]});
    }
    for (size_t k = at; k < end; ++k) shard.set.find(PrefetchProbe{b.hashes[b.order[k]]});
    in_shard(shard, at, end);
    at = end;
  }
}

void VerdictTable::ResolveBatch(absl::Span<const Key> keys, SettleListener* listener,
                                uint32_t first_slot, ResolveResult* results) {
  const KeyBatch& b = GroupByShard(keys.size(), [&](size_t i) { return keys[i]; });
  const int64_t now_ms = ToMs(clock_.Now());
  ForEachShardGroup(b, [&](Shard& shard, size_t begin,
                           size_t end) ABSL_NO_THREAD_SAFETY_ANALYSIS {  // shard.mu is held
    for (size_t k = begin; k < end; ++k) {
      const uint32_t i = b.order[k];
      results[i] = ResolveInShard(shard, b.key(i), b.hashes[i], now_ms, listener, first_slot + i);
    }
  });
}

VerdictTable::ResolveResult VerdictTable::ResolveInShard(Shard& shard, absl::string_view key,
                                                         size_t hash, int64_t now_ms,
                                                         SettleListener* listener, uint32_t slot) {
  auto it = shard.set.find(HashedKey{key, hash});
  if (it == shard.set.end()) {
    shard.AddPending(key, listener, slot);
    return {Resolution::kMiss, Settled()};
  }
  const char* e = *it;
  if (IsPending(e)) {
    shard.pending[e].waiting.Add(listener, slot);
    return {Resolution::kJoined, Settled()};
  }
  const char* answer = AnswerOf(e);
  if (RecordExpiryMs(answer) > now_ms) return {Resolution::kHit, ToSettled(answer, prefixes_)};
  // Expired: pending again, in place (its answer's bytes stay until it settles anew).
  const_cast<char*>(e)[0] = kPending;
  shard.pending[e].waiting.Add(listener, slot);
  return {Resolution::kMiss, Settled()};
}

const char* VerdictTable::Settle(Shard& shard, absl::string_view key, size_t hash,
                                 const Settled& s, absl::Time expiry, Waiting* taken) {
  thread_local std::string record;
  record.clear();
  EncodeRecord(s, ToMs(expiry), prefixes_, record);
  char* fresh = shard.Alloc(EntrySize(key, record));
  WriteEntry(fresh, key, record);
  auto it = shard.set.find(HashedKey{key, hash});
  if (it == shard.set.end()) {
    shard.set.insert(fresh);
  } else {
    const char* old = *it;
    // Same key, same hash: the slot may point at the new copy in place.
    const_cast<const char*&>(*it) = fresh;
    if (IsPending(old)) shard.DropPending(old, taken);
  }
  return AnswerOf(fresh);
}

absl::Time VerdictTable::ExpiryOf(Settled::Kind kind, absl::Time valid_end,
                                  absl::Time now) const {
  const absl::Time cap = now + options_.max_ttl;
  switch (kind) {
    case Settled::Kind::kFailed:
      return now + options_.failed_ttl;
    case Settled::Kind::kVerdict:
      return std::min(valid_end, cap);
    case Settled::Kind::kNoVerdict:
      break;
  }
  return std::min(now + options_.negative_ttl, cap);
}

std::pair<Settled, absl::Time> VerdictTable::ToStore(
    const absl::StatusOr<schema::VerdictResult>& result, absl::string_view error_text,
    absl::string_view details, absl::Time now) const {
  Settled s;
  absl::Time valid_end;
  if (!result.ok()) {
    s.kind = Settled::Kind::kFailed;
    s.error = error_text;
  } else if (const auto* v = std::get_if<schema::Verdict>(&*result)) {
    s.kind = Settled::Kind::kVerdict;
    s.disposition = static_cast<int8_t>(v->disposition);
    s.valid_until_ms = ToMs(v->valid_time.end_time);
    s.judgement_id = v->judgement_id;
    s.details = details;
    valid_end = v->valid_time.end_time;
  } else {
    s.kind = Settled::Kind::kNoVerdict;
  }
  return {s, ExpiryOf(s.kind, valid_end, now)};
}

Settled VerdictTable::Complete(absl::string_view type, absl::string_view value,
                               const absl::StatusOr<schema::VerdictResult>& result,
                               absl::string_view error_text, absl::string_view details) {
  const auto [s, expiry] = ToStore(result, error_text, details, clock_.Now());
  thread_local std::string key;  // once per lookup: no allocation each
  key.clear();
  EncodeKey(type, value, key);
  const HashedKey hashed = Hashed(key);
  Shard& shard = *shards_[ShardIndex(hashed.hash)];
  Waiting waiters;
  Settled stored;
  {
    absl::MutexLock lock(&shard.mu);
    stored = ToSettled(Settle(shard, key, hashed.hash, s, expiry, &waiters), prefixes_);
  }
  waiters.Tell(stored);
  return stored;
}

void VerdictTable::SettleEach(size_t n, absl::FunctionRef<Key(size_t)> key_at,
                              absl::FunctionRef<std::pair<Settled, absl::Time>(size_t)> store_at) {
  const KeyBatch& b = GroupByShard(n, key_at);
  // The listeners of each settled key and its stored answer, told once every lock is released.
  thread_local std::vector<std::pair<Waiting, Settled>> told;
  told.clear();
  ForEachShardGroup(b, [&](Shard& shard, size_t begin,
                           size_t end) ABSL_NO_THREAD_SAFETY_ANALYSIS {  // shard.mu is held
    for (size_t k = begin; k < end; ++k) {
      const uint32_t i = b.order[k];
      const auto [s, expiry] = store_at(i);
      Waiting waiters;
      const char* stored = Settle(shard, b.key(i), b.hashes[i], s, expiry, &waiters);
      if (!waiters.empty()) told.emplace_back(std::move(waiters), ToSettled(stored, prefixes_));
    }
  });
  for (const auto& [waiters, stored] : told) waiters.Tell(stored);
  told.clear();
}

void VerdictTable::CompleteBatch(absl::Span<const Completion> done) {
  const absl::Time now = clock_.Now();
  SettleEach(
      done.size(), [&](size_t i) { return Key{done[i].type, done[i].value}; },
      [&](size_t i) {
        return ToStore(*done[i].result, done[i].error_text, done[i].details, now);
      });
}

void VerdictTable::SettleBatch(absl::Span<const Settling> items) {
  const absl::Time cap = clock_.Now() + options_.max_ttl;
  SettleEach(
      items.size(), [&](size_t i) { return Key{items[i].type, items[i].value}; },
      [&](size_t i) {
        return std::make_pair(items[i].settled,
                              std::min(absl::FromUnixMillis(items[i].expiry_ms), cap));
      });
}

void VerdictTable::Abandon(absl::string_view type, absl::string_view value,
                           absl::string_view error_text) {
  std::string key;
  EncodeKey(type, value, key);
  const HashedKey hashed = Hashed(key);
  Shard& shard = *shards_[ShardIndex(hashed.hash)];
  Waiting waiters;
  {
    absl::MutexLock lock(&shard.mu);
    auto it = shard.set.find(hashed);
    if (it == shard.set.end() || !IsPending(*it)) return;
    const char* e = *it;
    // An arena entry's bytes stay there; only the slot goes.
    shard.set.erase(it);
    shard.DropPending(e, &waiters);
  }
  Settled s;
  s.kind = Settled::Kind::kFailed;
  s.error = error_text;
  waiters.Tell(s);
}

void VerdictTable::Restore(absl::string_view type, absl::string_view value,
                           const absl::StatusOr<schema::VerdictResult>& result,
                           absl::string_view error_text, absl::Time settled_at) {
  Restored item{type, value, {}, absl::InfinitePast(), settled_at};
  item.settled = ToStore(result, error_text, "", settled_at).first;
  if (result.ok()) {
    if (const auto* v = std::get_if<schema::Verdict>(&*result)) {
      item.valid_end = v->valid_time.end_time;
    }
  }
  RestoreBatch(absl::MakeConstSpan(&item, 1));
}

void VerdictTable::RestoreBatch(absl::Span<const Restored> items) {
  // Grouped by shard in a stable sort: the items' order holds within a key.
  const KeyBatch& b = GroupByShard(
      items.size(), [&](size_t i) { return Key{items[i].type, items[i].value}; });
  ForEachShardGroup(b, [&](Shard& shard, size_t begin,
                           size_t end) ABSL_NO_THREAD_SAFETY_ANALYSIS {  // shard.mu is held
    for (size_t k = begin; k < end; ++k) {
      const uint32_t i = b.order[k];
      const Restored& r = items[i];
      auto it = shard.set.find(HashedKey{b.key(i), b.hashes[i]});
      if (it != shard.set.end() && IsPending(*it)) {
        // Pending with listeners: its lookup will settle it.
        auto p = shard.pending.find(*it);
        if (p != shard.pending.end() && !p->second.waiting.empty()) continue;
      }
      Settled settled = r.settled;
      if (settled.kind == Settled::Kind::kVerdict) settled.valid_until_ms = ToMs(r.valid_end);
      Settle(shard, b.key(i), b.hashes[i], settled,
             ExpiryOf(settled.kind, r.valid_end, r.settled_at), nullptr);
    }
  });
}

void VerdictTable::Reserve(size_t entries) {
  const size_t per_shard = entries / shards_.size() + 1;
  for (const auto& shard : shards_) {
    absl::MutexLock lock(&shard->mu);
    shard->set.reserve(shard->set.size() + per_shard);
  }
}

size_t VerdictTable::size() const {
  size_t n = 0;
  for (const auto& shard : shards_) {
    absl::MutexLock lock(&shard->mu);
    n += shard->set.size();
  }
  return n;
}

size_t VerdictTable::bytes_used() const {
  size_t n = sizeof(*this) + shards_.size() * sizeof(Shard) + prefixes_.bytes_used();
  for (const auto& shard : shards_) {
    absl::MutexLock lock(&shard->mu);
    // Swiss tables: one slot plus one control byte per bucket.
    n += shard->set.capacity() * (sizeof(const char*) + 1);
    n += shard->pending.capacity() * (sizeof(std::pair<const char*, Pending>) + 1) +
         shard->pending_bytes;
    n += shard->arena_bytes + shard->big_blocks.capacity() * sizeof(void*) +
         shard->blocks.capacity() * sizeof(void*);
  }
  return n;
}

}  // namespace enrich::engine
