#include "engine/internal/value_memo.h"

#include <gtest/gtest.h>

#include <random>
#include <string>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/container/flat_hash_set.h"

namespace enrich::engine::internal {
namespace {

// Against a flat_hash_map: random values of every length 0..80 (many repeated, many that differ
// in one byte only), over many Resets (each a new generation over the same slots), with Reset
// sizes too small for what comes (the memo grows) and large enough.
TEST(ValueMemoTest, FindsWhatAMapFindsOverResetsAndGrowth) {
  std::mt19937 rng(43);
  ValueMemo memo;
  for (int round = 0; round < 300; ++round) {
    // The values live in `pool` for the round (the memo keeps views).
    std::vector<std::string> pool;
    const size_t distinct = 1 + rng() % 400;
    for (size_t i = 0; i < distinct; ++i) {
      std::string v(rng() % 81, 'a');
      for (char& c : v) c = static_cast<char>(rng() % 4 == 0 ? rng() % 256 : 'a' + rng() % 3);
      pool.push_back(v);
      if (!v.empty() && rng() % 3 == 0) {
        v[rng() % v.size()] ^= 1;  // a near twin
        pool.push_back(v);
      }
    }
    const size_t lookups = 1 + rng() % 1500;
    memo.Reset(rng() % 2 == 0 ? lookups : rng() % 20);
    absl::flat_hash_map<std::string, uint32_t> expected;
    for (size_t i = 0; i < lookups; ++i) {
      const std::string& v = pool[rng() % pool.size()];
      auto [value, added] = memo.FindOrAdd(v);
      auto it = expected.find(v);
      ASSERT_EQ(added, it == expected.end()) << "round " << round << ", value of " << v.size();
      if (added) {
        *value = static_cast<uint32_t>(i + 1);
        expected.emplace(v, *value);
      } else {
        ASSERT_EQ(*value, it->second) << "round " << round;
      }
    }
    EXPECT_EQ(memo.size(), expected.size());
  }
}

// The kept view is what `store` returns, and a value found again is found by its bytes.
TEST(ValueMemoTest, KeepsTheViewStoreReturns) {
  ValueMemo memo;
  memo.Reset(4);
  std::string arena = "example.org";
  std::string temporary = "example.org";
  auto [value, added] = memo.FindOrAdd(temporary, [&](absl::string_view) {
    return absl::string_view(arena);
  });
  ASSERT_TRUE(added);
  *value = 7;
  temporary.assign("xxxxxxx.xxx");  // the memo must not look at it any more
  auto [again, added_again] = memo.FindOrAdd("example.org");
  EXPECT_FALSE(added_again);
  EXPECT_EQ(*again, 7u);
  EXPECT_TRUE(memo.FindOrAdd("xxxxxxx.xxx").second);
}

// Every byte of a value counts: values of one length that differ in any one byte hash apart
// (a hash that skipped bytes would put every such pair in one slot chain).
TEST(ValueMemoTest, HashCountsEveryByte) {
  for (size_t length = 1; length <= 70; ++length) {
    const std::string base(length, 'q');
    absl::flat_hash_set<uint64_t> hashes = {MemoHash(base)};
    for (size_t at = 0; at < length; ++at) {
      std::string v = base;
      v[at] = 'r';
      EXPECT_TRUE(hashes.insert(MemoHash(v)).second) << "length " << length << ", byte " << at;
    }
  }
}

}  // namespace
}  // namespace enrich::engine::internal
