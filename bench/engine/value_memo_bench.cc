// ValueMemo (engine/internal/value_memo.h), the pipeline's "each distinct raw value of a column
// once per chunk", against absl::flat_hash_map<absl::string_view, uint32_t> keyed the same way
// (the raw bytes, views into the chunk), cleared and reserved per chunk as the memo is Reset.
// A chunk is the ~5,400 rows of a 1 MiB chunk of a make-sample-log log with 100k distinct
// domains; each benchmark runs one column of it: domain (few distinct, skewed), client_ip and
// url (nearly all distinct). Before timing, every candidate's per-row numbers are checked
// against a std::unordered_map<std::string, uint32_t>. Items are values, bytes their bytes.
//
//   cmake -S . -B build-release -G Ninja -DCMAKE_BUILD_TYPE=Release -DENRICH_BUILD_BENCH=ON
//   ninja -C build-release value_memo_bench && build-release/bench/value_memo_bench

#include "engine/internal/value_memo.h"

#include <cstdint>
#include <string>
#include <unordered_map>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/strings/string_view.h"
#include "bench/engine/sample_rows.h"
#include <benchmark/benchmark.h>

namespace enrich::engine::internal {
namespace {

constexpr uint64_t kChunkRows = 5'400;  // a 1 MiB chunk of sample rows
constexpr uint64_t kUnique = 100'000;
constexpr uint64_t kFirstRow = 500'000;  // a chunk well into the log: the skewed part

const char* const kColumnNames[] = {"domain", "client_ip", "url"};

struct Column {
  std::vector<std::string> values;  // the chunk's cells, in row order
  std::vector<uint32_t> want;       // per row: the number of the value's first row in the chunk
  uint64_t bytes = 0;
};

Column MakeColumn(int which) {
  Column c;
  for (bench::SampleRow& row : bench::MakeSampleRows(kFirstRow, kChunkRows, kUnique)) {
    std::string& v = which == 0 ? row.domain : which == 1 ? row.client_ip : row.url;
    c.bytes += v.size();
    c.values.push_back(std::move(v));
  }
  std::unordered_map<std::string, uint32_t> reference;
  for (size_t i = 0; i < c.values.size(); ++i) {
    c.want.push_back(reference.emplace(c.values[i], static_cast<uint32_t>(i)).first->second);
  }
  return c;
}

const Column& ColumnOf(int which) {
  static const std::vector<Column>* const columns = [] {
    auto* all = new std::vector<Column>();
    for (int w = 0; w < 3; ++w) all->push_back(MakeColumn(w));
    return all;
  }();
  return (*columns)[static_cast<size_t>(which)];
}

// One chunk through the memo: each row's value gets the number of its first row.
void MemoChunk(ValueMemo& memo, const Column& c, std::vector<uint32_t>& out) {
  memo.Reset(c.values.size());
  for (size_t i = 0; i < c.values.size(); ++i) {
    auto [value, added] = memo.FindOrAdd(c.values[i]);
    if (added) *value = static_cast<uint32_t>(i);
    out[i] = *value;
  }
}

// The same through a flat_hash_map with the hash `Hash`.
template <typename Hash>
void MapChunk(absl::flat_hash_map<absl::string_view, uint32_t, Hash>& map, const Column& c,
              std::vector<uint32_t>& out) {
  map.clear();
  map.reserve(c.values.size());
  for (size_t i = 0; i < c.values.size(); ++i) {
    out[i] = map.try_emplace(c.values[i], static_cast<uint32_t>(i)).first->second;
  }
}

// MemoHash in a flat_hash_map: separates the memo's hash from its table.
struct MemoHasher {
  size_t operator()(absl::string_view v) const { return MemoHash(v); }
};

// Runs `chunk` on the column given by the benchmark's argument: once checked, then timed.
template <typename Chunk>
void RunColumn(benchmark::State& state, Chunk chunk) {
  const Column& c = ColumnOf(static_cast<int>(state.range(0)));
  state.SetLabel(kColumnNames[state.range(0)]);
  std::vector<uint32_t> out(c.values.size());
  chunk(c, out);
  if (out != c.want) {
    state.SkipWithError("numbers differ from the reference map's");
    return;
  }
  for (auto _ : state) {
    chunk(c, out);
    benchmark::DoNotOptimize(out.data());
    benchmark::ClobberMemory();
  }
  state.SetItemsProcessed(state.iterations() * static_cast<int64_t>(c.values.size()));
  state.SetBytesProcessed(state.iterations() * static_cast<int64_t>(c.bytes));
}

void BM_ValueMemo(benchmark::State& state) {
  ValueMemo memo;
  RunColumn(state, [&](const Column& c, std::vector<uint32_t>& out) { MemoChunk(memo, c, out); });
}
BENCHMARK(BM_ValueMemo)->DenseRange(0, 2);

void BM_FlatHashMap(benchmark::State& state) {
  absl::flat_hash_map<absl::string_view, uint32_t> map;
  RunColumn(state, [&](const Column& c, std::vector<uint32_t>& out) { MapChunk(map, c, out); });
}
BENCHMARK(BM_FlatHashMap)->DenseRange(0, 2);

void BM_FlatHashMapMemoHash(benchmark::State& state) {
  absl::flat_hash_map<absl::string_view, uint32_t, MemoHasher> map;
  RunColumn(state, [&](const Column& c, std::vector<uint32_t>& out) { MapChunk(map, c, out); });
}
BENCHMARK(BM_FlatHashMapMemoHash)->DenseRange(0, 2);

}  // namespace
}  // namespace enrich::engine::internal
