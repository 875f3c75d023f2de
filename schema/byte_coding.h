#ifndef ENRICH_SCHEMA_BYTE_CODING_H_
#define ENRICH_SCHEMA_BYTE_CODING_H_

// The byte-level pieces of the engine's binary encodings (verdict records, verdict details, the
// journal, the persistent cache's keys): LEB128 varints, strings with a varint length, and
// little-endian fixed-width integers; ByteReader reads them back front to back and turns any
// overrun or unterminated varint into ok() == false instead of reading past the end.
// Header-only: every function is a few instructions on a hot path.

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <string>

#include "absl/strings/string_view.h"

namespace enrich::schema {

// Unsigned LEB128: 7 bits a byte, low bits first, high bit set on all but the last byte.
inline void PutVarint(std::string& out, uint64_t v) {
  while (v >= 0x80) {
    out.push_back(static_cast<char>((v & 0x7f) | 0x80));
    v >>= 7;
  }
  out.push_back(static_cast<char>(v));
}

// A varint length, then the bytes.
inline void PutString(std::string& out, absl::string_view s) {
  PutVarint(out, s.size());
  out.append(s.data(), s.size());
}

// `bytes` (1-8) low bytes of `v`, little-endian, at `p`; returns the byte after them.
inline char* StoreLE(char* p, uint64_t v, int bytes) {
  for (int i = 0; i < bytes; ++i) p[i] = static_cast<char>((v >> (8 * i)) & 0xff);
  return p + bytes;
}

// The little-endian integer of `bytes` (1-8) bytes at `p`.
inline uint64_t LoadLE(const char* p, int bytes) {
  uint64_t v = 0;
  for (int i = 0; i < bytes; ++i) v |= static_cast<uint64_t>(static_cast<uint8_t>(p[i])) << (8 * i);
  return v;
}

inline void PutInt64(std::string& out, int64_t v) {
  char b[8];
  StoreLE(b, static_cast<uint64_t>(v), 8);
  out.append(b, 8);
}

inline int64_t GetInt64(const char* p) { return static_cast<int64_t>(LoadLE(p, 8)); }

// Reads an encoding front to back; any read past the end makes ok() false and returns zero or
// an empty view from then on.
class ByteReader {
 public:
  explicit ByteReader(absl::string_view data) : rest_(data) {}

  bool ok() const { return ok_; }
  bool done() const { return rest_.empty(); }
  absl::string_view rest() const { return rest_; }

  uint64_t Varint() {
    uint64_t v = 0;
    for (int shift = 0; shift < 64 && ok_; shift += 7) {
      if (rest_.empty()) break;
      const auto b = static_cast<uint8_t>(rest_.front());
      rest_.remove_prefix(1);
      v |= static_cast<uint64_t>(b & 0x7f) << shift;
      if ((b & 0x80) == 0) return v;
    }
    ok_ = false;
    return 0;
  }
  absl::string_view Bytes(size_t n) {
    if (!ok_ || rest_.size() < n) {
      ok_ = false;
      return {};
    }
    absl::string_view b = rest_.substr(0, n);
    rest_.remove_prefix(n);
    return b;
  }
  // A varint length and its bytes, as a view of the input.
  absl::string_view String() {
    const uint64_t n = Varint();
    return ok_ ? Bytes(static_cast<size_t>(n)) : absl::string_view();
  }
  uint8_t Byte() {
    absl::string_view b = Bytes(1);
    return b.empty() ? 0 : static_cast<uint8_t>(b[0]);
  }
  // A little-endian integer of `bytes` (1-8) bytes.
  uint64_t Fixed(int bytes) {
    absl::string_view b = Bytes(static_cast<size_t>(bytes));
    return b.empty() ? 0 : LoadLE(b.data(), bytes);
  }
  int64_t Int64() { return static_cast<int64_t>(Fixed(8)); }
  // Consumes `prefix` if the input goes on with exactly it; else ok() becomes false.
  bool Skip(absl::string_view prefix) {
    if (!ok_ || rest_.substr(0, prefix.size()) != prefix) {
      ok_ = false;
    } else {
      rest_.remove_prefix(prefix.size());
    }
    return ok_;
  }

 private:
  absl::string_view rest_;
  bool ok_ = true;
};

}  // namespace enrich::schema

#endif  // ENRICH_SCHEMA_BYTE_CODING_H_
