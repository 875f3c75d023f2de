#include "engine/shard.h"

#include <algorithm>

#include "absl/numeric/int128.h"
#include "absl/strings/ascii.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"

namespace enrich::engine {

absl::StatusOr<Shard> ParseShard(absl::string_view text) {
  const size_t slash = text.find('/');
  uint32_t k = 0;
  uint32_t n = 0;
  const auto digits = [](absl::string_view s) {
    return !s.empty() && s.size() <= 9 &&
           std::all_of(s.begin(), s.end(), [](char c) { return absl::ascii_isdigit(c); });
  };
  if (slash == absl::string_view::npos || !digits(text.substr(0, slash)) ||
      !digits(text.substr(slash + 1)) || !absl::SimpleAtoi(text.substr(0, slash), &k) ||
      !absl::SimpleAtoi(text.substr(slash + 1), &n)) {
    return absl::InvalidArgumentError(absl::StrCat(
        "--shard \"", text, "\": expected K/N, this worker's 0-based index K of N workers "
                            "(e.g. --shard 0/4 .. --shard 3/4)"));
  }
  if (n == 0 || n > kMaxShards) {
    return absl::InvalidArgumentError(
        absl::StrCat("--shard ", text, ": N must be 1 .. ", kMaxShards));
  }
  if (k >= n) {
    return absl::InvalidArgumentError(absl::StrCat("--shard ", text,
                                                   ": K must be less than N (0-based: 0/", n,
                                                   " .. ", n - 1, "/", n, ")"));
  }
  return Shard{k, n};
}

std::string ShardName(const Shard& shard) { return absl::StrCat(shard.index, "/", shard.count); }

ByteRange ShardRange(uint64_t size, const Shard& shard) {
  // 128-bit products: size × N does not overflow for any file size.
  const auto at = [&](uint64_t k) {
    return absl::Uint128Low64(absl::uint128(size) * k / shard.count);
  };
  return ByteRange{at(shard.index), at(uint64_t{shard.index} + 1)};
}

}  // namespace enrich::engine
