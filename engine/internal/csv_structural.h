#ifndef ENRICH_ENGINE_INTERNAL_CSV_STRUCTURAL_H_
#define ENRICH_ENGINE_INTERNAL_CSV_STRUCTURAL_H_

// The structural index CsvRecords reads a chunk's one-line records from (parse stage). Justified
// by bench/engine/csv_scan_bench.cc: CsvRecords parses a 1 MiB chunk of sample rows at 1.36
// GB/s with it vs 0.51 GB/s with ScanCsvField on every field (memchr to each LF: 7.6 GB/s);
// 2 shared CPUs, loaded.

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <memory>
#include <utility>

#if defined(__SSE2__)
#include <emmintrin.h>
#endif

namespace enrich::engine::internal {

// The positions of the bytes that matter to CSV outside quotes (the delimiter, LF and the
// quote) in a chunk, found 64 bytes at a time (SSE2 compares give a bit mask per 64-byte block,
// and each set bit becomes a position), and which 64-byte blocks hold a byte that is not ASCII
// (top bit set), so a record of ASCII bytes skips the UTF-8 check. CsvRecords reads records
// without quotes (the common case) by walking the positions, and falls back to ScanCsvField
// (csv_scan.h) for the others.
//
// Reads only bytes of [0, n). Not thread-safe; keeps its buffers across Build calls.
class CsvStructuralIndex {
 public:
  // Indexes [p, p + n). n must be below 2^32 (positions are 32-bit).
  void Build(const char* p, size_t n, char delim) {
    count_ = 0;
    const size_t blocks = (n + 63) / 64;
    if (high_capacity_ < (blocks + 63) / 64) {
      high_capacity_ = (blocks + 63) / 64;
      high_bits_ = std::make_unique<uint64_t[]>(high_capacity_);
    }
    std::memset(high_bits_.get(), 0, ((blocks + 63) / 64) * sizeof(uint64_t));
    for (size_t b = 0; b < blocks; ++b) {
      const size_t at = b * 64;
      bool high = false;
      uint64_t structural = Masks(p + at, n - at, delim, high);
      if (high) high_bits_[b / 64] |= uint64_t{1} << (b % 64);
      Reserve(count_ + 64);
      uint32_t* out = positions_.get() + count_;
      size_t k = 0;
      // Every set bit, in order: a delimiter, LF or quote at at + ctz.
      for (; structural != 0; structural &= structural - 1) {
        out[k++] = static_cast<uint32_t>(at + static_cast<size_t>(__builtin_ctzll(structural)));
      }
      count_ += k;
    }
  }

  const uint32_t* positions() const { return positions_.get(); }
  size_t count() const { return count_; }

  // Whether a byte of [begin, end) may have its top bit set (true when its 64-byte block has
  // one: a superset, which only costs a UTF-8 check).
  bool MayHaveNonAscii(size_t begin, size_t end) const {
    if (begin >= end) return false;
    for (size_t b = begin / 64; b <= (end - 1) / 64; ++b) {
      if ((high_bits_[b / 64] >> (b % 64)) & 1) return true;
    }
    return false;
  }

 private:
  // The structural mask of the (up to) 64 bytes at `src`, `left` of them readable (bytes past
  // them read as zero: no match, ASCII); sets `high` if one of them has its top bit set.
  static uint64_t Masks(const char* src, size_t left, char delim, bool& high) {
    alignas(16) char tail[64];
    if (left < 64) {
      std::memset(tail, 0, sizeof tail);
      std::memcpy(tail, src, left);
      src = tail;
    }
    uint64_t s = 0;
#if defined(__SSE2__)
    const __m128i d = _mm_set1_epi8(delim);
    const __m128i lf = _mm_set1_epi8('\n');
    const __m128i q = _mm_set1_epi8('"');
    __m128i any = _mm_setzero_si128();
    for (int k = 0; k < 4; ++k) {
      const __m128i v = _mm_loadu_si128(reinterpret_cast<const __m128i*>(src + 16 * k));
      const __m128i m = _mm_or_si128(_mm_or_si128(_mm_cmpeq_epi8(v, d), _mm_cmpeq_epi8(v, lf)),
                                     _mm_cmpeq_epi8(v, q));
      s |= static_cast<uint64_t>(static_cast<uint32_t>(_mm_movemask_epi8(m))) << (16 * k);
      any = _mm_or_si128(any, v);
    }
    high = _mm_movemask_epi8(any) != 0;
#else
    unsigned char any = 0;
    for (unsigned k = 0; k < 64; ++k) {
      const char c = src[k];
      s |= static_cast<uint64_t>(c == delim || c == '\n' || c == '"') << k;
      any |= static_cast<unsigned char>(c);
    }
    high = (any & 0x80) != 0;
#endif
    return s;
  }

  // Room for `n` positions, keeping those found.
  void Reserve(size_t n) {
    if (n <= capacity_) return;
    const size_t grown = std::max(n, capacity_ * 2);
    auto bigger = std::make_unique<uint32_t[]>(grown);
    if (count_ > 0) std::memcpy(bigger.get(), positions_.get(), count_ * sizeof(uint32_t));
    positions_ = std::move(bigger);
    capacity_ = grown;
  }

  std::unique_ptr<uint32_t[]> positions_;
  size_t count_ = 0;
  size_t capacity_ = 0;
  std::unique_ptr<uint64_t[]> high_bits_;  // bit b: block b has a non-ASCII byte
  size_t high_capacity_ = 0;               // words of high_bits_
};

}  // namespace enrich::engine::internal

#endif  // ENRICH_ENGINE_INTERNAL_CSV_STRUCTURAL_H_
