// Sharded runs (`run --shard K/N`, `plan --shard K/N`): worker K of N takes the records that
// start in the K-th of N equal byte ranges of an uncompressed input file, so that N workers
// together read every record exactly once, and the N outputs concatenated in order (K = 0 .. N-1)
// are byte for byte the output of one run over the whole file (the CSV header is written by
// shard 0 alone). A record starts at byte 0 or just after a record's line end: a newline for
// NDJSON, a newline outside quotes for CSV (so every shard scans the bytes before its range
// for the quoting state: ChunkReader::set_range).

#ifndef ENRICH_ENGINE_SHARD_H_
#define ENRICH_ENGINE_SHARD_H_

#include <cstdint>
#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace enrich::engine {

struct Shard {
  uint32_t index = 0;  // K: 0-based
  uint32_t count = 1;  // N
};

// The bytes [begin, end) of an input whose records a shard takes (those starting there).
struct ByteRange {
  uint64_t begin = 0;
  uint64_t end = 0;
};

// "K/N" with 0 <= K < N (decimal, N at most kMaxShards). Errors (InvalidArgument) say what is
// wrong: `--shard 4/4: K must be less than N (0-based: 0/4 .. 3/4)`.
absl::StatusOr<Shard> ParseShard(absl::string_view text);
inline constexpr uint32_t kMaxShards = 100000;

// "K/N".
std::string ShardName(const Shard& shard);

// Shard K of N of an input of `size` bytes: [K·size/N, (K+1)·size/N) (rounded down): the
// ranges of shards 0 .. N-1 cover [0, size) without overlap.
ByteRange ShardRange(uint64_t size, const Shard& shard);

}  // namespace enrich::engine

#endif  // ENRICH_ENGINE_SHARD_H_
