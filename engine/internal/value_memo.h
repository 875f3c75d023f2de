#ifndef ENRICH_ENGINE_INTERNAL_VALUE_MEMO_H_
#define ENRICH_ENGINE_INTERNAL_VALUE_MEMO_H_

// The parse stage's per-chunk memo of each column's raw values (engine/pipeline.cc extracts and
// resolves each distinct value once per chunk). Justified by bench/engine/value_memo_bench.cc:
// on a 1 MiB chunk of sample rows, 97M values/s vs 28M with absl::flat_hash_map keyed the same
// way (domain column), 83M vs 62M (client_ip), 65M vs 32M (url); 2 shared CPUs, loaded.

#include <algorithm>
#include <array>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <memory>
#include <utility>
#include <vector>

#include "absl/hash/hash.h"
#include "absl/numeric/int128.h"
#include "absl/strings/string_view.h"

namespace enrich::engine::internal {

// Two secrets of this process for MemoHash, from Abseil's per-process hash seed: crafted
// values cannot be made to collide without them (a log's values come from outside).
inline const std::array<uint64_t, 2>& MemoSecrets() {
  static const std::array<uint64_t, 2> secrets = {absl::Hash<uint64_t>()(0x9e3779b97f4a7c15ull),
                                                  absl::Hash<uint64_t>()(0xc2b2ae3d27d4eb4full)};
  return secrets;
}

// A hash of `bytes` for ValueMemo: every byte counts, but it is made for short values (a log
// column's domains, IPs, hashes): two 8-byte loads and two 64x64->128-bit multiplies up to 16
// bytes, one more multiply per further 16 bytes, keyed by MemoSecrets(). Differs from process to
// process; not for storage.
inline uint64_t MemoHash(absl::string_view bytes) {
  const std::array<uint64_t, 2>& k = MemoSecrets();
  auto load8 = [](const char* p) {
    uint64_t v;
    std::memcpy(&v, p, 8);
    return v;
  };
  auto mix = [](uint64_t a, uint64_t b) {
    const absl::uint128 r = absl::uint128(a) * b;
    return absl::Uint128Low64(r) ^ absl::Uint128High64(r);
  };
  const char* p = bytes.data();
  const char* const end = p + bytes.size();
  size_t n = bytes.size();
  uint64_t seed = k[0] ^ n;
  uint64_t a = 0;
  uint64_t b = 0;
  if (n > 16) {
    // 16-byte steps while more than 16 bytes are left, then the last 16 bytes.
    for (; n > 16; p += 16, n -= 16) seed = mix(load8(p) ^ k[1], load8(p + 8) ^ seed);
    a = load8(end - 16);
    b = load8(end - 8);
  } else if (n >= 8) {
    a = load8(p);
    b = load8(end - 8);
  } else if (n >= 4) {
    uint32_t lo;
    uint32_t hi;
    std::memcpy(&lo, p, 4);
    std::memcpy(&hi, p + n - 4, 4);
    a = lo;
    b = hi;
  } else if (n > 0) {
    a = static_cast<uint64_t>(static_cast<unsigned char>(p[0])) << 16 |
        static_cast<uint64_t>(static_cast<unsigned char>(p[n / 2])) << 8 |
        static_cast<uint64_t>(static_cast<unsigned char>(p[n - 1]));
  }
  return mix(a ^ k[1], b ^ seed) ^ mix(seed, k[0] ^ k[1]);
}

// Values (byte strings, not copied: views that must stay valid while they are in the memo)
// mapped to a uint32_t each, for one chunk at a time: the pipeline's "each distinct raw value of
// a column once per chunk". Made to stay in the caches: a probe reads a 2-byte control word per
// slot (the generation that filled it and 8 bits of the hash; a chunk's values fit a few dozen
// KiB of them), a matching slot's index into the values, and the values' views and numbers are
// appended in order to a dense array. Reset() empties it without a clearing pass (a slot of
// another generation is empty; the control words are zeroed once every 255 Resets).
//
// Not thread-safe.
class ValueMemo {
 public:
  // Empties the memo, with room for about `expected` values before it grows.
  void Reset(size_t expected) {
    size_t capacity = 16;
    while (capacity < 2 * expected) capacity <<= 1;
    if (capacity > capacity_) {
      Allocate(capacity);
    } else if (++generation_ > kMaxGeneration) {
      std::memset(control_.get(), 0, capacity_ * sizeof(uint16_t));
      generation_ = 1;
    }
    entries_.clear();
  }

  // The value of `key` and false, or `key` added with value 0 and true: the memo keeps the view
  // `store(key)` returns (bytes equal to key's, valid until the next Reset). The pointer is
  // valid until the next FindOrAdd or Reset.
  std::pair<uint32_t*, bool> FindOrAdd(absl::string_view key) {
    return FindOrAdd(key, [](absl::string_view k) { return k; });
  }
  template <typename Store>
  std::pair<uint32_t*, bool> FindOrAdd(absl::string_view key, Store store) {
    if (2 * (entries_.size() + 1) > capacity_) Grow();
    const uint64_t hash = MemoHash(key);
    const auto want = static_cast<uint16_t>(generation_ << 8 | hash >> 56);
    const size_t mask = capacity_ - 1;
    for (size_t i = static_cast<size_t>(hash) & mask;; i = (i + 1) & mask) {
      const uint16_t control = control_[i];
      if ((control >> 8) != generation_) {
        control_[i] = want;
        index_[i] = static_cast<uint32_t>(entries_.size());
        entries_.push_back({store(key).data(), static_cast<uint32_t>(key.size()), 0});
        return {&entries_.back().value, true};
      }
      if (control == want) {
        Entry& e = entries_[index_[i]];
        if (e.size == key.size() && (key.empty() || std::memcmp(e.data, key.data(), e.size) == 0)) {
          return {&e.value, false};
        }
      }
    }
  }

  size_t size() const { return entries_.size(); }

 private:
  static constexpr uint32_t kMaxGeneration = 255;
  struct Entry {
    const char* data;
    uint32_t size;
    uint32_t value;
  };

  // Empty slots for `capacity` values (zero control words: empty in every generation).
  void Allocate(size_t capacity) {
    capacity_ = capacity;
    control_ = std::make_unique<uint16_t[]>(capacity_);
    index_ = std::make_unique<uint32_t[]>(capacity_);
    generation_ = 1;
  }

  // Twice the room, the values added again (their order and numbers kept).
  void Grow() {
    Allocate(capacity_ == 0 ? 16 : 2 * capacity_);
    const size_t mask = capacity_ - 1;
    for (size_t k = 0; k < entries_.size(); ++k) {
      const uint64_t hash = MemoHash(absl::string_view(entries_[k].data, entries_[k].size));
      size_t i = static_cast<size_t>(hash) & mask;
      while ((control_[i] >> 8) == generation_) i = (i + 1) & mask;
      control_[i] = static_cast<uint16_t>(generation_ << 8 | hash >> 56);
      index_[i] = static_cast<uint32_t>(k);
    }
  }

  std::unique_ptr<uint16_t[]> control_;
  std::unique_ptr<uint32_t[]> index_;
  size_t capacity_ = 0;  // a power of two (or 0)
  uint32_t generation_ = 1;
  std::vector<Entry> entries_;  // in the order added; index_ holds their positions
};

}  // namespace enrich::engine::internal

#endif  // ENRICH_ENGINE_INTERNAL_VALUE_MEMO_H_
