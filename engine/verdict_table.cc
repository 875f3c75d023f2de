#include "engine/verdict_table.h"

#include <algorithm>
#include <cstring>
#include <utility>

#include "absl/hash/hash.h"

namespace enrich::engine {
namespace {

enum State : uint8_t { kPending, kVerdict, kNoVerdict, kFailed };

constexpr size_t kArenaBlock = 16 << 10;

int64_t ToMs(absl::Time t) { return absl::ToUnixMillis(t); }

// Key bytes: type, unit separator, value. The separator cannot occur in a CTIA type name.
void ComposeKey(std::string& out, absl::string_view type, absl::string_view value) {
  out.clear();
  out.reserve(type.size() + 1 + value.size());
  out.append(type.data(), type.size());
  out.push_back('\x1f');
  out.append(value.data(), value.size());
}

// A key with its hash computed once: it picks the shard and probes the shard's map.
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
struct KeyHash {
  using is_transparent = void;
  size_t operator()(absl::string_view k) const { return absl::Hash<absl::string_view>()(k); }
  size_t operator()(const HashedKey& k) const { return k.hash; }
  size_t operator()(const PrefetchProbe& k) const { return k.hash; }
};
struct KeyEq {
  using is_transparent = void;
  bool operator()(absl::string_view a, absl::string_view b) const { return a == b; }
  bool operator()(absl::string_view a, const HashedKey& b) const { return a == b.key; }
  bool operator()(const HashedKey& a, absl::string_view b) const { return a.key == b; }
  bool operator()(absl::string_view stored, const PrefetchProbe&) const {
    __builtin_prefetch(stored.data());
    return false;
  }
  bool operator()(const PrefetchProbe& p, absl::string_view stored) const {
    return (*this)(stored, p);
  }
};

HashedKey Hashed(absl::string_view key) { return {key, absl::Hash<absl::string_view>()(key)}; }

}  // namespace

using Waiters = std::vector<std::pair<SettleListener*, uint32_t>>;

// The listeners taken from a pending entry: the first, and the others if any joined.
struct TakenWaiters {
  SettleListener* first = nullptr;
  uint32_t first_slot = 0;
  std::unique_ptr<Waiters> more;

  void Tell(const Settled& settled) const {
    if (first != nullptr) first->OnSettled(first_slot, settled);
    if (more != nullptr) {
      for (const auto& [listener, slot] : *more) listener->OnSettled(slot, settled);
    }
  }
};

// 32 bytes; with its 16-byte key view, a 48-byte slot. Details, when a run keeps them, share
// the judgement id's arena text (has_details), so they cost an entry no field of its own.
static_assert(sizeof(SettleListener*) == sizeof(int64_t));
struct VerdictTable::Entry {
  Entry() = default;
  Entry(Entry&& o) noexcept { *this = std::move(o); }
  Entry& operator=(Entry&& o) noexcept {
    std::swap(expiry_ms, o.expiry_ms);
    std::swap(valid_until_ms, o.valid_until_ms);
    std::swap(text, o.text);
    std::swap(text_len, o.text_len);
    std::swap(state, o.state);
    std::swap(disposition, o.disposition);
    std::swap(has_details, o.has_details);
    return *this;
  }
  ~Entry() {
    if (state == kPending) delete waiters;
  }

  // Makes the entry pending with one listener (the lookup's own: no allocation for it).
  void StartPending(SettleListener* listener, uint32_t slot) {
    state = kPending;
    first_listener = listener;
    text_len = slot;
    waiters = nullptr;
  }
  // Registers one more listener of a pending entry.
  void AddWaiter(SettleListener* listener, uint32_t slot) {
    if (first_listener == nullptr) {
      first_listener = listener;
      text_len = slot;
      return;
    }
    if (waiters == nullptr) waiters = new Waiters();
    waiters->emplace_back(listener, slot);
  }
  bool HasWaiters() const { return state == kPending && first_listener != nullptr; }
  // Takes the listeners of a pending entry (the entry keeps state kPending, no waiters).
  TakenWaiters TakeWaiters() {
    TakenWaiters taken;
    if (state != kPending) return taken;
    taken.first = std::exchange(first_listener, nullptr);
    taken.first_slot = text_len;
    taken.more.reset(std::exchange(waiters, nullptr));
    return taken;
  }

  int64_t expiry_ms = 0;  // settled entries only
  // A pending entry keeps its first listener in the fields that hold a settled entry's answer.
  union {
    int64_t valid_until_ms = 0;      // kVerdict
    SettleListener* first_listener;  // kPending: the first listener, or null
  };
  union {
    // settled: judgement id (kVerdict) or error (kFailed), in the arena; with has_details, a
    // u32 length of the judgement id, the id, then the details
    const char* text = nullptr;
    Waiters* waiters;  // kPending: the listeners after the first (owned), or null
  };
  uint32_t text_len = 0;  // settled: of `text`; kPending: the first listener's slot
  uint8_t state = kPending;
  int8_t disposition = 0;
  uint8_t has_details = 0;  // kVerdict: `text` holds details after the judgement id

  Settled ToSettled() const {
    Settled s;
    switch (state) {
      case kVerdict:
        s.kind = Settled::Kind::kVerdict;
        s.disposition = disposition;
        s.valid_until_ms = valid_until_ms;
        if (has_details == 0) {
          s.judgement_id = absl::string_view(text, text_len);
        } else {
          uint32_t id_len = 0;
          std::memcpy(&id_len, text, sizeof id_len);
          s.judgement_id = absl::string_view(text + sizeof id_len, id_len);
          s.details = absl::string_view(text + sizeof id_len + id_len,
                                        text_len - sizeof id_len - id_len);
        }
        break;
      case kFailed:
        s.kind = Settled::Kind::kFailed;
        s.error = absl::string_view(text, text_len);
        break;
      default:
        s.kind = Settled::Kind::kNoVerdict;
        break;
    }
    return s;
  }
};

struct VerdictTable::Shard {
  absl::Mutex mu;
  absl::flat_hash_map<absl::string_view, Entry, KeyHash, KeyEq> map ABSL_GUARDED_BY(mu);
  std::vector<std::unique_ptr<char[]>> blocks ABSL_GUARDED_BY(mu);
  std::vector<std::unique_ptr<char[]>> big_blocks ABSL_GUARDED_BY(mu);
  size_t block_used ABSL_GUARDED_BY(mu) = kArenaBlock;  // of blocks.back()
  size_t arena_bytes ABSL_GUARDED_BY(mu) = 0;

  // Copies `bytes` into the arena; the view stays valid for the shard's lifetime.
  absl::string_view Copy(absl::string_view bytes) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu) {
    if (bytes.empty()) return absl::string_view();
    if (bytes.size() > kArenaBlock / 4) {  // big: a block of its own
      char* big = big_blocks.emplace_back(new char[bytes.size()]).get();
      std::memcpy(big, bytes.data(), bytes.size());
      arena_bytes += bytes.size();
      return absl::string_view(big, bytes.size());
    }
    if (block_used + bytes.size() > kArenaBlock) {
      blocks.emplace_back(new char[kArenaBlock]);
      arena_bytes += kArenaBlock;
      block_used = 0;
    }
    char* p = blocks.back().get() + block_used;
    std::memcpy(p, bytes.data(), bytes.size());
    block_used += bytes.size();
    return absl::string_view(p, bytes.size());
  }
};

VerdictTable::VerdictTable(const schema::Clock& clock, Options options)
    : clock_(clock), options_(options) {
  static_assert(sizeof(Entry) == 32, "a bigger entry costs every run memory per unique");
  size_t n = 1;
  while (n < std::max<size_t>(options_.shards, 1)) n <<= 1;
  shards_.reserve(n);
  for (size_t i = 0; i < n; ++i) shards_.push_back(std::make_unique<Shard>());
}

VerdictTable::~VerdictTable() = default;

size_t VerdictTable::ShardIndex(size_t hash) const {
  // The map probes with bits 7 and up of the same hash; take the shard from the high ones.
  return (hash >> 48) & (shards_.size() - 1);
}

VerdictTable::ResolveResult VerdictTable::Resolve(absl::string_view type, absl::string_view value,
                                                  SettleListener* listener, uint32_t slot) {
  thread_local std::string key;
  ComposeKey(key, type, value);
  const size_t hash = Hashed(key).hash;
  Shard& shard = *shards_[ShardIndex(hash)];
  const int64_t now_ms = ToMs(clock_.Now());
  absl::MutexLock lock(&shard.mu);
  return ResolveInShard(shard, key, hash, now_ms, listener, slot);
}

// A batch of keys composed back to back, their hashes, and their indices grouped by shard (a
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
    b.composed.append(k.type.data(), k.type.size());
    b.composed.push_back('\x1f');
    b.composed.append(k.value.data(), k.value.size());
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
    // their slots, then all of their stored keys, before probing the first, so the misses
    // overlap instead of queueing.
    size_t end = at;
    for (; end < b.order.size() && ShardIndex(b.hashes[b.order[end]]) == s; ++end) {
      const uint32_t i = b.order[end];
      shard.map.prefetch(HashedKey{b.key(i), b.hashes[i]});
    }
    for (size_t k = at; k < end; ++k) shard.map.find(PrefetchProbe{b.hashes[b.order[k]]});
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
  auto it = shard.map.find(HashedKey{key, hash});
  if (it == shard.map.end()) {
    it = shard.map.emplace(shard.Copy(key), Entry()).first;
  } else if (it->second.state != kPending) {
    if (it->second.expiry_ms > now_ms) {
      // The caller formats the judgement id next: start loading it (ids are ~80 bytes).
      __builtin_prefetch(it->second.text);
      __builtin_prefetch(it->second.text + 64);
      return {Resolution::kHit, it->second.ToSettled()};
    }
    // Expired: look it up again (below).
  } else {
    it->second.AddWaiter(listener, slot);
    return {Resolution::kJoined, Settled()};
  }
  it->second.StartPending(listener, slot);
  return {Resolution::kMiss, Settled()};
}

void VerdictTable::Store(Shard& shard, Entry& e, const Settled& s, absl::Time expiry) {
  e.expiry_ms = ToMs(expiry);
  e.valid_until_ms = 0;
  e.text = nullptr;
  e.text_len = 0;
  e.has_details = 0;
  switch (s.kind) {
    case Settled::Kind::kVerdict: {
      e.state = kVerdict;
      e.disposition = s.disposition;
      e.valid_until_ms = s.valid_until_ms;
      absl::string_view text = s.judgement_id;
      thread_local std::string with_details;
      if (!s.details.empty()) {
        const auto id_len = static_cast<uint32_t>(s.judgement_id.size());
        with_details.assign(reinterpret_cast<const char*>(&id_len), sizeof id_len);
        with_details.append(s.judgement_id.data(), s.judgement_id.size());
        with_details.append(s.details.data(), s.details.size());
        text = with_details;
        e.has_details = 1;
      }
      absl::string_view stored = shard.Copy(text);
      e.text = stored.data();
      e.text_len = static_cast<uint32_t>(stored.size());
      break;
    }
    case Settled::Kind::kNoVerdict:
      e.state = kNoVerdict;
      break;
    case Settled::Kind::kFailed: {
      e.state = kFailed;
      absl::string_view err = shard.Copy(s.error);
      e.text = err.data();
      e.text_len = static_cast<uint32_t>(err.size());
      break;
    }
  }
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
  ComposeKey(key, type, value);
  const HashedKey hashed = Hashed(key);
  Shard& shard = *shards_[ShardIndex(hashed.hash)];
  TakenWaiters waiters;
  Settled stored;
  {
    absl::MutexLock lock(&shard.mu);
    auto it = shard.map.find(hashed);
    if (it == shard.map.end()) it = shard.map.emplace(shard.Copy(key), Entry()).first;
    Entry& e = it->second;
    waiters = e.TakeWaiters();
    Store(shard, e, s, expiry);
    stored = e.ToSettled();
  }
  waiters.Tell(stored);
  return stored;
}

void VerdictTable::CompleteBatch(absl::Span<const Completion> done) {
  const absl::Time now = clock_.Now();
  const KeyBatch& b = GroupByShard(done.size(), [&](size_t i) {
    return Key{done[i].type, done[i].value};
  });
  // The listeners of each settled key and its stored answer, told once every lock is released.
  thread_local std::vector<std::pair<TakenWaiters, Settled>> told;
  told.clear();
  ForEachShardGroup(b, [&](Shard& shard, size_t begin,
                           size_t end) ABSL_NO_THREAD_SAFETY_ANALYSIS {  // shard.mu is held
    for (size_t k = begin; k < end; ++k) {
      const uint32_t i = b.order[k];
      const auto [s, expiry] = ToStore(*done[i].result, done[i].error_text, done[i].details, now);
      const HashedKey hashed{b.key(i), b.hashes[i]};
      auto it = shard.map.find(hashed);
      if (it == shard.map.end()) {
        it = shard.map.emplace(shard.Copy(hashed.key), Entry()).first;
      }
      Entry& e = it->second;
      TakenWaiters waiters = e.TakeWaiters();
      Store(shard, e, s, expiry);
      if (waiters.first != nullptr || waiters.more != nullptr) {
        told.emplace_back(std::move(waiters), e.ToSettled());
      }
    }
  });
  for (const auto& [waiters, stored] : told) waiters.Tell(stored);
  told.clear();
}

void VerdictTable::Abandon(absl::string_view type, absl::string_view value,
                           absl::string_view error_text) {
  std::string key;
  ComposeKey(key, type, value);
  const HashedKey hashed = Hashed(key);
  Shard& shard = *shards_[ShardIndex(hashed.hash)];
  TakenWaiters waiters;
  {
    absl::MutexLock lock(&shard.mu);
    auto it = shard.map.find(hashed);
    if (it == shard.map.end() || it->second.state != kPending) return;
    waiters = it->second.TakeWaiters();
    // The key bytes stay in the arena; only the slot goes.
    shard.map.erase(it);
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
      const HashedKey hashed{b.key(i), b.hashes[i]};
      auto it = shard.map.find(hashed);
      if (it == shard.map.end()) it = shard.map.emplace(shard.Copy(hashed.key), Entry()).first;
      // Pending with listeners: its lookup will settle it.
      if (it->second.HasWaiters()) continue;
      Settled settled = r.settled;
      if (settled.kind == Settled::Kind::kVerdict) settled.valid_until_ms = ToMs(r.valid_end);
      Store(shard, it->second, settled, ExpiryOf(settled.kind, r.valid_end, r.settled_at));
    }
  });
}

void VerdictTable::Reserve(size_t entries) {
  const size_t per_shard = entries / shards_.size() + 1;
  for (const auto& shard : shards_) {
    absl::MutexLock lock(&shard->mu);
    shard->map.reserve(shard->map.size() + per_shard);
  }
}

size_t VerdictTable::size() const {
  size_t n = 0;
  for (const auto& shard : shards_) {
    absl::MutexLock lock(&shard->mu);
    n += shard->map.size();
  }
  return n;
}

size_t VerdictTable::bytes_used() const {
  size_t n = sizeof(*this) + shards_.size() * sizeof(Shard);
  for (const auto& shard : shards_) {
    absl::MutexLock lock(&shard->mu);
    // flat_hash_map: one slot plus one control byte per bucket.
    n += shard->map.capacity() * (sizeof(std::pair<const absl::string_view, Entry>) + 1);
    n += shard->arena_bytes;
  }
  return n;
}

}  // namespace enrich::engine
