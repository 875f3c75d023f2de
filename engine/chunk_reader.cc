#include "engine/chunk_reader.h"

#include "engine/internal/byte_count.h"

#include <algorithm>
#include <cstring>
#include <tuple>

#if defined(__SSE2__)
#include <emmintrin.h>
#endif

#include "absl/strings/str_cat.h"

namespace enrich::engine {

absl::Status RecordTooLongError(absl::string_view name, uint64_t line, size_t limit,
                                absl::string_view detail) {
  const bool mib = limit % (size_t{1} << 20) == 0;
  return absl::InvalidArgumentError(absl::StrCat(
      name, ":", line, ": a record longer than ", mib ? limit >> 20 : limit,
      mib ? " MiB" : " bytes", " starts here", detail, "; --max-record-bytes sets the limit"));
}

ChunkReader::ChunkReader(ByteSource& source, RecordFormat format, char delimiter,
                         size_t chunk_size, size_t max_record_size)
    : source_(source),
      format_(format),
      delimiter_(delimiter),
      chunk_size_(std::max<size_t>(chunk_size, 1)),
      max_record_size_(max_record_size) {}

namespace {

// Bit k: byte k of the 64 bytes at `p` equals `byte`.
uint64_t ByteMask(const char* p, char byte) {
  uint64_t mask = 0;
#if defined(__SSE2__)
  const __m128i b = _mm_set1_epi8(byte);
  for (int k = 0; k < 4; ++k) {
    const __m128i v = _mm_loadu_si128(reinterpret_cast<const __m128i*>(p + 16 * k));
    mask |= uint64_t{static_cast<uint32_t>(_mm_movemask_epi8(_mm_cmpeq_epi8(v, b)))}
            << (16 * static_cast<unsigned>(k));
  }
#else
  for (unsigned k = 0; k < 64; ++k) mask |= uint64_t{p[k] == byte} << k;
#endif
  return mask;
}

// The set bits of `x`, one loop turn each: a block holds few line ends (and the build targets
// CPUs without a popcount instruction, where __builtin_popcountll is a library call).
uint64_t CountBits(uint64_t x) {
  uint64_t n = 0;
  for (; x != 0; x &= x - 1) ++n;
  return n;
}

// Bit k: the parity of bits 0..k of `x`.
uint64_t PrefixXor(uint64_t x) {
  x ^= x << 1;
  x ^= x << 2;
  x ^= x << 4;
  x ^= x << 8;
  x ^= x << 16;
  x ^= x << 32;
  return x;
}

}  // namespace

size_t ChunkReader::Scan(size_t end) {
  const char* p = buf_.data();
  size_t i = scan_pos_;
  if (format_ == RecordFormat::kNdjson) {
    for (;;) {
      const void* nl = std::memchr(p + i, '\n', end - i);
      if (nl == nullptr) break;
      i = static_cast<size_t>(static_cast<const char*>(nl) - p) + 1;
      lines_before_boundary_ += lines_after_boundary_ + 1;
      lines_after_boundary_ = 0;
      boundary_ = i;
    }
    scan_pos_ = end;
    return boundary_;
  }
  // CSV: whole 64-byte blocks with bit masks while every quote toggles the quoting (well-formed
  // quoting); a block where a quote is data goes to the exact scan, and so does the tail.
  while (block_scan_ && end - i >= 64) {
    i = ScanBlocks(i, end);
    if (end - i < 64) break;
    ScanExact(i, i + 64);
    i += 64;
  }
  ScanExact(i, end);
  scan_pos_ = end;
  return boundary_;
}

size_t ChunkReader::ScanBlocks(size_t i, size_t end) {
  // In well-formed CSV every quote toggles between inside and outside a quoted field, so the
  // bytes inside are a prefix XOR of the quote mask. That holds as long as each quote that
  // opens (toggles to inside) is one the exact rules open: right after the delimiter, an LF or
  // a closing quote (a doubled quote), or where the state says a field starts. A block with
  // any other opening quote (a quote that is data) is left to the exact scan. Blocks without
  // a quote need no delimiter mask: only the last byte's says whether a quote may open next.
  const char* p = buf_.data();
  const char delim = delimiter_;
  uint64_t inside = in_quotes_ ? ~uint64_t{0} : 0;           // all bits: the carried state
  uint64_t opens = at_field_start_ || after_quote_ ? 1 : 0;  // bit 0: a quote may open at i
  uint64_t lines = lines_after_boundary_;
  bool scanned = false;
  for (; end - i >= 64; i += 64) {
    const uint64_t quote = ByteMask(p + i, '"');
    const uint64_t lf = ByteMask(p + i, '\n');
    uint64_t block_in = inside;  // bit k: inside quotes after byte k
    if (quote != 0) {
      block_in ^= PrefixXor(quote);
      const uint64_t separators = quote | lf | ByteMask(p + i, delim);
      if ((quote & block_in & ~((separators << 1) | opens)) != 0) break;
    }
    const uint64_t ends = lf & ~block_in;  // LFs outside quotes end records
    if (ends != 0) {
      const unsigned last = 63 - static_cast<unsigned>(__builtin_clzll(ends));
      const uint64_t upto = last == 63 ? ~uint64_t{0} : (uint64_t{2} << last) - 1;
      const uint64_t before = CountBits(lf & upto);
      lines_before_boundary_ += lines + before;
      lines = CountBits(lf & ~upto);
      boundary_ = i + last + 1;
    } else {
      lines += CountBits(lf);
    }
    inside = (block_in >> 63) != 0 ? ~uint64_t{0} : 0;
    const char last = p[i + 63];
    opens = last == '"' || last == '\n' || last == delim ? 1 : 0;
    scanned = true;
  }
  if (scanned) {
    // The state after the last byte of the last block scanned.
    const char last = p[i - 1];
    in_quotes_ = inside != 0;
    after_quote_ = !in_quotes_ && last == '"';
    at_field_start_ = !in_quotes_ && (last == '\n' || last == delim);
  }
  lines_after_boundary_ = lines;
  return i;
}

void ChunkReader::ScanExact(size_t i, size_t end) {
  // The same rules as CsvReader (a quote opens a quoted field only at a field start; a quote
  // right after a closing quote is a doubled quote, back inside the field), jumping from quote
  // to quote with memchr: between two quotes only newlines matter.
  const char* p = buf_.data();
  bool in_quotes = in_quotes_;
  bool after_quote = after_quote_;
  bool at_field_start = at_field_start_;
  uint64_t lines = lines_after_boundary_;
  const char delim = delimiter_;
  while (i < end) {
    const char* q = static_cast<const char*>(std::memchr(p + i, '"', end - i));
    const size_t stop = q == nullptr ? end : static_cast<size_t>(q - p);
    if (in_quotes) {
      lines += static_cast<uint64_t>(internal::CountByte(p + i, stop - i, '\n'));
      if (q == nullptr) {
        i = end;
        break;
      }
      in_quotes = false;  // the closing quote (or the first of a doubled one)
      after_quote = true;
      i = stop + 1;
      continue;
    }
    if (stop > i) {
      // Unquoted bytes: every newline ends a record.
      const uint64_t newlines =
          static_cast<uint64_t>(internal::CountByte(p + i, stop - i, '\n'));
      if (newlines > 0) {
        const char* last = static_cast<const char*>(memrchr(p + i, '\n', stop - i));
        lines_before_boundary_ += lines + newlines;
        lines = 0;
        boundary_ = static_cast<size_t>(last - p) + 1;
      }
      after_quote = false;
      at_field_start = p[stop - 1] == delim || p[stop - 1] == '\n';
    }
    if (q == nullptr) {
      i = end;
      break;
    }
    // A quote outside a quoted field: it opens one at a field start or right after a closing
    // quote (a doubled quote); elsewhere it is data.
    in_quotes = at_field_start || after_quote;
    after_quote = false;
    at_field_start = false;
    i = stop + 1;
  }
  in_quotes_ = in_quotes;
  after_quote_ = after_quote;
  at_field_start_ = at_field_start;
  lines_after_boundary_ = lines;
}

absl::Status ChunkReader::ReadMore(size_t want) {
  // Grown only when too small: a buffer handed back by a chunk keeps its size, so its bytes are
  // overwritten by the read instead of zero-filled first.
  if (buf_.size() < filled_ + want) buf_.resize(filled_ + want);
  absl::StatusOr<size_t> n = source_.Read(buf_.data() + filled_, want);
  if (!n.ok()) return n.status();
  filled_ += *n;
  if (*n == 0) eof_ = true;
  return absl::OkStatus();
}

absl::StatusOr<std::optional<char>> ChunkReader::PeekFirstDataByte() {
  constexpr char kBom[] = "\xEF\xBB\xBF";
  size_t i = 0;
  for (;;) {
    // A BOM is only recognized whole: with fewer than 3 bytes read, read on first.
    if (filled_ >= 3 || eof_) {
      if (i == 0 && filled_ >= 3 && std::memcmp(buf_.data(), kBom, 3) == 0) i = 3;
      for (; i < filled_; ++i) {
        const char c = buf_[i];
        if (c != ' ' && c != '\t' && c != '\r' && c != '\n') return c;
      }
      if (eof_ || filled_ > max_record_size_) return std::nullopt;
    }
    if (absl::Status s = ReadMore(std::max<size_t>(chunk_size_, 64 << 10)); !s.ok()) return s;
  }
}

void ChunkReader::set_range(uint64_t begin, uint64_t end, bool first_record_apart) {
  ranged_ = true;
  range_begin_ = begin;
  range_end_ = std::max(begin, end);
  // Shard 0 too: its range may be empty (fewer bytes than shards), and it writes the header.
  head_apart_ = first_record_apart;
}

absl::Status ChunkReader::Start() {
  while (!eof_ && filled_ < 3) {
    if (absl::Status s = ReadMore(std::max<size_t>(chunk_size_, 64 << 10)); !s.ok()) return s;
  }
  if (filled_ >= 3 && std::memcmp(buf_.data(), "\xEF\xBB\xBF", 3) == 0) scan_pos_ = 3;
  started_ = true;
  return absl::OkStatus();
}

void ChunkReader::ScanByte() {
  if (format_ == RecordFormat::kNdjson) {
    if (buf_[scan_pos_] == '\n') {
      lines_before_boundary_ += lines_after_boundary_ + 1;
      lines_after_boundary_ = 0;
      boundary_ = scan_pos_ + 1;
    }
  } else {
    ScanExact(scan_pos_, scan_pos_ + 1);
  }
  ++scan_pos_;
}

absl::StatusOr<bool> ChunkReader::ScanToRecordEnd(bool keep) {
  constexpr size_t kWindow = 256;
  for (;;) {
    while (scan_pos_ < filled_) {
      const char* p = buf_.data();
      if (format_ == RecordFormat::kNdjson) {
        const void* nl = std::memchr(p + scan_pos_, '\n', filled_ - scan_pos_);
        if (nl == nullptr) {
          scan_pos_ = filled_;  // no line end: nothing to count
          break;
        }
        scan_pos_ = static_cast<size_t>(static_cast<const char*>(nl) - p);
        ScanByte();
        return true;
      }
      // CSV: a window at a time by the exact rules; the window where a record ends is scanned
      // again from its start, a byte at a time, for the first end in it.
      const size_t from = scan_pos_;
      const size_t end = std::min(filled_, from + kWindow);
      const auto saved = std::make_tuple(in_quotes_, after_quote_, at_field_start_, boundary_,
                                         lines_before_boundary_, lines_after_boundary_);
      ScanExact(from, end);
      if (boundary_ == std::get<3>(saved)) {
        scan_pos_ = end;
        continue;
      }
      std::tie(in_quotes_, after_quote_, at_field_start_, boundary_, lines_before_boundary_,
               lines_after_boundary_) = saved;
      for (;;) {
        ScanByte();
        // A boundary before this byte is at most scan_pos_ - 1: this byte ended a record.
        if (boundary_ == scan_pos_) return true;
      }
    }
    if (eof_) return false;
    if (!keep) {
      Drop(scan_pos_);
    } else if (scan_pos_ - boundary_ > max_record_size_ + 1) {
      return RecordTooLongError(source_.name(), next_line_ + lines_before_boundary_,
                                max_record_size_,
                                format_ == RecordFormat::kCsv && in_quotes_ ? kOpenQuoteHint : "");
    }
    if (absl::Status s = ReadMore(std::max<size_t>(chunk_size_, 64 << 10)); !s.ok()) return s;
  }
}

void ChunkReader::Drop(size_t n) {
  next_line_ += lines_before_boundary_ + (n == scan_pos_ ? lines_after_boundary_ : 0);
  if (n == scan_pos_) lines_after_boundary_ = 0;
  lines_before_boundary_ = 0;
  boundary_ = 0;
  scan_pos_ -= n;
  std::memmove(buf_.data(), buf_.data() + n, filled_ - n);
  filled_ -= n;
  base_ += n;
}

absl::Status ChunkReader::SkipToRangeBegin() {
  // The records that end before byte begin - 1 are before the range: their bytes are scanned
  // for the quoting state and dropped. The range's first record starts after the first record
  // end at byte begin - 1 or later (that is, at `begin` or later).
  const uint64_t stop = range_begin_ - 1;
  while (base_ + scan_pos_ < stop) {
    if (scan_pos_ == filled_) {
      if (eof_) break;
      Drop(scan_pos_);
      if (absl::Status s = ReadMore(std::max<size_t>(chunk_size_, 64 << 10)); !s.ok()) return s;
      continue;
    }
    Scan(static_cast<size_t>(std::min<uint64_t>(filled_, stop - base_)));
  }
  Drop(scan_pos_);
  absl::StatusOr<bool> ended = ScanToRecordEnd(/*keep=*/false);
  if (!ended.ok()) return ended.status();
  Drop(scan_pos_);  // at a record end (a boundary), or the input's end: nothing in the range
  return absl::OkStatus();
}

void ChunkReader::HandOut(Chunk& chunk, size_t cut) {
  chunk.index = next_index_++;
  chunk.first_line = next_line_;
  chunk.starts_input = base_ == 0;
  // Hand the buffer itself to the chunk and keep only the tail past the cut (less than a
  // record, usually): one small copy instead of copying the chunk out. The chunk's old
  // buffer becomes the read buffer, its bytes overwritten as they are read.
  chunk.bytes.swap(buf_);
  const size_t tail = filled_ - cut;
  if (buf_.size() < tail) buf_.resize(tail);
  std::memcpy(buf_.data(), chunk.bytes.data() + cut, tail);
  chunk.bytes.resize(cut);
  filled_ = tail;
  if (tail == 0) {
    next_line_ += lines_before_boundary_ + (cut == boundary_ ? 0 : lines_after_boundary_);
    scan_pos_ = 0;
    lines_after_boundary_ = 0;
  } else {
    next_line_ += lines_before_boundary_;
    scan_pos_ -= cut;
  }
  // Past the boundary the state is that of a record start, scanned up to scan_pos_.
  boundary_ = 0;
  lines_before_boundary_ = 0;
  bytes_out_ += chunk.bytes.size();
  base_ += cut;
}

absl::StatusOr<bool> ChunkReader::Next(Chunk& chunk) {
  if (range_done_) return false;
  if (ranged_ && !started_) {
    if (absl::Status s = Start(); !s.ok()) return s;
  }
  if (head_apart_) {
    // The input's first record (a CSV header) alone, before the range.
    head_apart_ = false;
    absl::StatusOr<bool> ended = ScanToRecordEnd(/*keep=*/true);
    if (!ended.ok()) return ended.status();
    if (filled_ == 0) return false;
    range_done_ = !*ended;  // the input is that one record
    HandOut(chunk, *ended ? boundary_ : filled_);
    return true;
  }
  if (ranged_ && base_ < range_begin_) {
    if (absl::Status s = SkipToRangeBegin(); !s.ok()) return s;
  }
  if (base_ >= range_end_) {
    range_done_ = true;  // no record starts in the range, or its last one was handed out
    return false;
  }
  for (;;) {
    // Read until the buffer holds a chunk's worth (or the input ends), and at first at least
    // the 3 bytes of a possible BOM.
    while (!eof_ && (filled_ < chunk_size_ || (!started_ && filled_ < 3))) {
      const size_t old = filled_;
      const size_t target = std::max<size_t>(chunk_size_, started_ ? 1 : 3);
      const size_t want =
          std::max(target > old ? target - old : 1, std::min<size_t>(chunk_size_, 64 << 10));
      if (absl::Status s = ReadMore(want); !s.ok()) return s;
    }
    if (!started_ && filled_ >= 3 && std::memcmp(buf_.data(), "\xEF\xBB\xBF", 3) == 0) {
      scan_pos_ = 3;  // the BOM is not part of the first field
    }
    started_ = true;
    size_t cut = 0;
    const uint64_t limit = range_end_ - base_;  // ranged: where the range ends in buf_
    if (ranged_ && filled_ >= limit) {
      // The range ends in the buffer: its last record is the one that starts before `limit`.
      // (Only a BOM is scanned past `limit` already: it holds no record end.)
      cut = scan_pos_ < limit ? Scan(static_cast<size_t>(limit)) : boundary_;
      if (cut < limit) {
        absl::StatusOr<bool> ended = ScanToRecordEnd(/*keep=*/true);
        if (!ended.ok()) return ended.status();
        cut = *ended ? boundary_ : filled_;
      }
      if (cut == 0) return false;  // an empty input
      range_done_ = true;
    } else {
      cut = Scan();
      if (eof_) {
        if (filled_ == 0) return false;
        cut = filled_;  // the last record may lack its terminator
      } else if (cut == 0) {
        // One record longer than the buffer: read more (the buffer grows by chunk_size_),
        // unless it is past the limit: then the input is broken, and holding the rest of it in
        // memory would not mend it.
        // (The buffer may end with the CR of a CRLF: the record itself may be a byte shorter.)
        if (filled_ > max_record_size_ && filled_ - max_record_size_ > 1) {
          return RecordTooLongError(
              source_.name(), next_line_, max_record_size_,
              format_ == RecordFormat::kCsv && in_quotes_ ? kOpenQuoteHint : "");
        }
        if (absl::Status s = ReadMore(chunk_size_); !s.ok()) return s;
        continue;
      }
    }
    HandOut(chunk, cut);
    return true;
  }
}

}  // namespace enrich::engine
