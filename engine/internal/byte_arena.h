#ifndef ENRICH_ENGINE_INTERNAL_BYTE_ARENA_H_
#define ENRICH_ENGINE_INTERNAL_BYTE_ARENA_H_

// Append-only byte storage whose views stay valid until Clear(): the normalized observables of
// a chunk (engine/internal/chunk_work.h) without one allocation per string.

#include <cstddef>
#include <cstring>
#include <memory>
#include <vector>

#include "absl/strings/string_view.h"

namespace enrich::engine::internal {

// Bytes copied into blocks that never move, so views of them stay valid until Clear(): one
// allocation per block instead of one per string (a chunk's normalized observables).
// Not thread-safe.
class ByteArena {
 public:
  static constexpr size_t kBlock = size_t{64} << 10;

  absl::string_view Copy(absl::string_view bytes) {
    if (bytes.empty()) return absl::string_view();
    if (bytes.size() > kBlock / 4) {  // big: a block of its own, freed by Clear()
      char* big = big_.emplace_back(new char[bytes.size()]).get();
      std::memcpy(big, bytes.data(), bytes.size());
      return absl::string_view(big, bytes.size());
    }
    if (blocks_.empty() || used_ + bytes.size() > kBlock) {
      if (++current_ >= blocks_.size()) {
        blocks_.emplace_back(new char[kBlock]);
        current_ = blocks_.size() - 1;
      }
      used_ = 0;
    }
    char* p = blocks_[current_].get() + used_;
    std::memcpy(p, bytes.data(), bytes.size());
    used_ += bytes.size();
    return absl::string_view(p, bytes.size());
  }

  // Forgets every copy; keeps the blocks of the standard size for reuse.
  void Clear() {
    big_.clear();
    current_ = 0;
    used_ = 0;
  }

 private:
  std::vector<std::unique_ptr<char[]>> blocks_;
  std::vector<std::unique_ptr<char[]>> big_;
  size_t current_ = 0;  // the block being filled (when blocks_ is not empty)
  size_t used_ = 0;     // bytes of blocks_[current_] in use
};

}  // namespace enrich::engine::internal

#endif  // ENRICH_ENGINE_INTERNAL_BYTE_ARENA_H_
