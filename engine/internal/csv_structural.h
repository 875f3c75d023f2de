#ifndef ENRICH_ENGINE_INTERNAL_CSV_STRUCTURAL_H_
#define ENRICH_ENGINE_INTERNAL_CSV_STRUCTURAL_H_

#include <cstddef>
#include <cstdint>
#include <cstring>

#if defined(__SSE2__)
#include <emmintrin.h>
#endif

namespace enrich::engine::internal {

// Finds the bytes that matter to CSV outside quotes (the delimiter, LF and the quote) in a
// buffer, 64 bytes at a time: SSE2 compares give a bit mask per 64-byte window, and the next
// such byte is the lowest set bit. The same window also tells which bytes are not ASCII (top
// bit set), so a record of ASCII bytes skips the UTF-8 check. CsvRecords uses it for records
// without quotes (the common case) and falls back to ScanCsvField (csv_scan.h) for the others.
//
// Reads only bytes of [0, n). Not thread-safe; cheap to construct.
class CsvStructuralScanner {
 public:
  CsvStructuralScanner(const char* p, size_t n, char delim) : p_(p), n_(n), delim_(delim) {}

  // The position of the first delimiter, LF or quote at or after `from` (≤ n), or n if there
  // is none. Sets `non_ascii` if a byte of [from, that position) has its top bit set (leaves
  // it alone otherwise).
  size_t Next(size_t from, bool& non_ascii) {
    for (;;) {
      if (from >= n_) return n_;
      if (from < window_ || from >= window_ + 64) Load(from);
      const unsigned shift = static_cast<unsigned>(from - window_);
      const uint64_t hits = structural_ >> shift;
      if (hits != 0) {
        const unsigned k = static_cast<unsigned>(__builtin_ctzll(hits));
        // The non-ASCII bytes before the hit: bits [shift, shift + k) of the window.
        const uint64_t below = k == 64 ? ~uint64_t{0} : (uint64_t{1} << k) - 1;
        if ((non_ascii_ >> shift) & below) non_ascii = true;
        return from + k;
      }
      if (non_ascii_ >> shift) non_ascii = true;
      from = window_ + 64;
    }
  }

 private:
  // Fills the masks of the window at `at`; bytes past n_ read as zero (no match, ASCII).
  void Load(size_t at) {
    window_ = at;
    const char* src = p_ + at;
    alignas(16) char tail[64];
    if (n_ - at < 64) {
      std::memset(tail, 0, sizeof tail);
      std::memcpy(tail, src, n_ - at);
      src = tail;
    }
#if defined(__SSE2__)
    const __m128i d = _mm_set1_epi8(delim_);
    const __m128i lf = _mm_set1_epi8('\n');
    const __m128i q = _mm_set1_epi8('"');
    uint64_t s = 0;
    uint64_t h = 0;
    for (int k = 0; k < 4; ++k) {
      const __m128i v = _mm_loadu_si128(reinterpret_cast<const __m128i*>(src + 16 * k));
      const __m128i m = _mm_or_si128(_mm_or_si128(_mm_cmpeq_epi8(v, d), _mm_cmpeq_epi8(v, lf)),
                                     _mm_cmpeq_epi8(v, q));
      s |= static_cast<uint64_t>(static_cast<uint32_t>(_mm_movemask_epi8(m))) << (16 * k);
      h |= static_cast<uint64_t>(static_cast<uint32_t>(_mm_movemask_epi8(v))) << (16 * k);
    }
    structural_ = s;
    non_ascii_ = h;
#else
    uint64_t s = 0;
    uint64_t h = 0;
    for (unsigned k = 0; k < 64; ++k) {
      const char c = src[k];
      s |= static_cast<uint64_t>(c == delim_ || c == '\n' || c == '"') << k;
      h |= static_cast<uint64_t>((static_cast<unsigned char>(c) & 0x80) != 0) << k;
    }
    structural_ = s;
    non_ascii_ = h;
#endif
  }

  const char* const p_;
  const size_t n_;
  const char delim_;
  size_t window_ = SIZE_MAX;  // start of the loaded window; SIZE_MAX = none
  uint64_t structural_ = 0;   // bit k: byte window_ + k is the delimiter, LF or a quote
  uint64_t non_ascii_ = 0;    // bit k: byte window_ + k has its top bit set
};

}  // namespace enrich::engine::internal

#endif  // ENRICH_ENGINE_INTERNAL_CSV_STRUCTURAL_H_
