#ifndef ENRICH_ENGINE_CHUNK_READER_H_
#define ENRICH_ENGINE_CHUNK_READER_H_

// The pipeline's first stage: reads the input (engine/byte_io.h) in chunks of about
// --chunk-size bytes cut on record boundaries (CSV quoting aware), in order, on one thread.

#include "engine/byte_io.h"

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace enrich::engine {

// How records end: CSV records end at a newline outside quotes (RFC 4180; a quote opens a
// quoted field only at the start of a field, as CsvReader reads it), NDJSON records at any
// newline.
enum class RecordFormat { kCsv, kNdjson };

// Whole records of an input, a chunk at a time.
struct Chunk {
  std::string bytes;        // one or more complete records (the last may lack a terminator)
  uint64_t first_line = 1;  // 1-based physical line of the first byte
  uint64_t index = 0;       // 0, 1, 2, ... in input order
  bool starts_input = false;  // the first chunk (a UTF-8 BOM, if any, is at its start)
};

// The error for a record longer than `limit` bytes that starts on `line` of `name`:
// "<name>:<line>: a record longer than <limit> starts here<detail>; --max-record-bytes sets the
// limit", the limit as "64 MiB" when it is a whole number of MiB, else "<n> bytes".
absl::Status RecordTooLongError(absl::string_view name, uint64_t line, size_t limit,
                                absl::string_view detail);
// The detail for a CSV record still inside a quoted field at the limit or at the end of input.
inline constexpr absl::string_view kOpenQuoteHint = " (a quote that is never closed?)";

// Splits a byte stream into chunks of about `chunk_size` bytes that end on record boundaries,
// so each chunk can be parsed on its own. A chunk boundary never falls inside a quoted field or
// between the CR and LF of a CRLF. A record longer than `chunk_size` makes a longer chunk, up
// to `max_record_size`: past it the input is taken as broken (most often a CSV quote that is
// never closed, which would otherwise make the rest of the input one record held in memory).
// This bounds memory, not each record exactly: a longer record that ends within the bytes read
// so far is handed out (the pipeline checks every record against the limit).
//
// Not thread-safe (the pipeline's serial input stage). Does not own `source`.
class ChunkReader {
 public:
  static constexpr size_t kDefaultMaxRecordSize = size_t{64} << 20;

  ChunkReader(ByteSource& source, RecordFormat format, char delimiter, size_t chunk_size,
              size_t max_record_size = kDefaultMaxRecordSize);

  // Fills `chunk` with the next records. Returns false at end of input (chunk untouched).
  // Errors: the source's read errors; a record longer than `max_record_size` (InvalidArgument
  // "<input>:<line>: a record longer than 64 MiB starts here (...)", RecordTooLongError).
  absl::StatusOr<bool> Next(Chunk& chunk);

  // Before the first Next(): reads ahead (keeping every byte for Next()) to the input's first
  // byte that is neither whitespace nor part of a leading UTF-8 BOM, and returns it; nullopt
  // when there is none (an empty or blank input, or blank beyond max_record_size). For format
  // detection: `{` starts NDJSON (set_format). Errors: the source's read errors.
  absl::StatusOr<std::optional<char>> PeekFirstDataByte();
  // How records end, until the first Next().
  void set_format(RecordFormat format) { format_ = format; }

  // Before the first Next(): hands out only the records that start at input offsets in
  // [begin, end) (a shard, engine/shard.h). The records before `begin` are read and scanned (a
  // CSV record's start depends on the quoting of every byte before it) but not handed out; no
  // record starting at `end` or later is handed out, and the input past the last one handed out
  // is not read. With `first_record_apart` the input's first record (a CSV header) comes
  // first, alone in a chunk, whatever the range (then the range's records, without it). Chunks keep the input's line
  // numbers; Chunk::starts_input only for a chunk at offset 0.
  void set_range(uint64_t begin, uint64_t end, bool first_record_apart);

  // Bytes handed out in chunks so far.
  uint64_t bytes_read() const { return bytes_out_; }

  // CSV record ends are found 64 bytes at a time with bit masks where quoting is well formed,
  // and with the exact quote-to-quote scan elsewhere. Both give the same chunks (tested); off
  // is for those tests.
  void set_block_scan(bool on) { block_scan_ = on; }

 private:
  // Scans buf_[scan_pos_, end) and returns the offset just past the last record boundary found
  // so far (0 if none), updating the quote state and line counts. Scan() scans what is filled.
  size_t Scan(size_t end);
  size_t Scan() { return Scan(filled_); }
  // CSV: scans whole 64-byte blocks from `i` while every quote in them toggles the quoting as
  // the exact rules do; returns where it stopped (a block it leaves to ScanExact, or fewer than
  // 64 bytes before `end`). Updates the same state as ScanExact.
  size_t ScanBlocks(size_t i, size_t end);
  // CSV: scans buf_[i, end) by the exact rules, updating the quote state, boundary and lines.
  void ScanExact(size_t i, size_t end);
  // Reads up to `want` more bytes after the filled part (sets eof_ at the end of input).
  absl::Status ReadMore(size_t want);
  // Once, before the first chunk: reads the first bytes, and skips a UTF-8 BOM when scanning.
  absl::Status Start();
  // Scans buf_[scan_pos_] (one byte) by the format's rules.
  void ScanByte();
  // Scans on one byte at a time, reading as needed, until a record ends at scan_pos_ (true) or
  // the input ends (false). With `keep` false the bytes scanned are dropped as it goes (they
  // are not handed out). Errors: the source's; a kept record longer than max_record_size_.
  absl::StatusOr<bool> ScanToRecordEnd(bool keep);
  // Drops buf_[0, n), where n is scan_pos_ or boundary_, counting its lines.
  void Drop(size_t n);
  // Range: drops what comes before the range's first record (set_range).
  absl::Status SkipToRangeBegin();
  // Range: hands out buf_[0, cut) as the next chunk.
  void HandOut(Chunk& chunk, size_t cut);

  ByteSource& source_;
  RecordFormat format_;
  const char delimiter_;
  const size_t chunk_size_;
  const size_t max_record_size_;
  std::string buf_;          // buf_[0, filled_): unsent bytes, buf_[0] starts a record; the
                             // rest is room to read into (not zero-filled)
  size_t filled_ = 0;
  size_t scan_pos_ = 0;      // buf_[0, scan_pos_) has been scanned
  size_t boundary_ = 0;      // last boundary in the scanned part
  uint64_t lines_before_boundary_ = 0;  // newlines in buf_[0, boundary_)
  uint64_t lines_after_boundary_ = 0;   // newlines in buf_[boundary_, scan_pos_)
  bool in_quotes_ = false;
  bool after_quote_ = false;  // just saw the closing quote (a second one means a doubled quote)
  bool at_field_start_ = true;
  bool eof_ = false;
  bool started_ = false;
  bool block_scan_ = true;
  uint64_t next_line_ = 1;
  uint64_t next_index_ = 0;
  uint64_t bytes_out_ = 0;
  uint64_t base_ = 0;  // input offset of buf_[0]
  // set_range: [range_begin_, range_end_); the first record apart until handed out.
  uint64_t range_begin_ = 0;
  uint64_t range_end_ = UINT64_MAX;
  bool ranged_ = false;
  bool head_apart_ = false;
  bool range_done_ = false;  // the range's last record was handed out
};

}  // namespace enrich::engine

#endif  // ENRICH_ENGINE_CHUNK_READER_H_
