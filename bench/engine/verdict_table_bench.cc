// VerdictTable (its sharded map with a mutex per shard, arena-held keys and batched probes)
// against what it replaces: one absl::flat_hash_map<std::string, answer> behind one absl::Mutex,
// holding the same 100k entries under the same composed keys (type, 0x1f, value), with the same
// expiry check per hit. Measured: resolves per second of cached keys (the all-cached path of
// `run`) from 1 and 2 threads, one key and 128 keys per lock, and the memory each entry costs
// from the allocator (mallinfo2, mapped blocks included) as well as from the table's own
// bytes_used(). Before timing, every key of both is resolved and checked against the answer
// stored for it. Items are keys, bytes their value bytes.
//
//   cmake -S . -B build-release -G Ninja -DCMAKE_BUILD_TYPE=Release -DENRICH_BUILD_BENCH=ON
//   ninja -C build-release verdict_table_bench && build-release/bench/verdict_table_bench

#include "engine/verdict_table.h"
#include "schema/clock.h"
#include "schema/verdict.h"

#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <memory>
#include <optional>
#include <string>
#include <tuple>
#include <variant>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_map.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "absl/types/span.h"
#include <benchmark/benchmark.h>
#include <malloc.h>

namespace enrich::engine {
namespace {

class NoListener final : public SettleListener {
 public:
  void OnSettled(uint32_t, const Settled&) override { std::abort(); }  // never pending here
};

// Keys as make-sample-log writes them; half get a verdict, as ctia-sim --synthetic 50.
std::string Domain(size_t i) { return absl::StrCat("host", i, ".example.org"); }

absl::StatusOr<schema::VerdictResult> AnswerFor(size_t i) {
  if (i % 2 == 1) return schema::VerdictResult(schema::NoVerdict{});
  schema::Verdict v;
  v.disposition = static_cast<schema::Disposition>(1 + i % 5);
  // A UUID id as CTIA (and ctia-sim --synthetic) makes them.
  v.judgement_id = absl::StrFormat(
      "http://ctia-sim.bench/ctia/judgement/judgement-%08x-4b8e-4a3c-a123-0123456789ab", i);
  v.valid_time.end_time = absl::FromUnixSeconds(17'356'000'000);
  return schema::VerdictResult(v);
}

constexpr absl::Duration kTtl = absl::Hours(24 * 365);

std::unique_ptr<VerdictTable> Filled(size_t n) {
  VerdictTable::Options options;
  options.max_ttl = kTtl;
  options.negative_ttl = kTtl;
  auto table = std::make_unique<VerdictTable>(schema::SystemClock::Instance(), options);
  for (size_t i = 0; i < n; ++i) table->Restore("domain", Domain(i), AnswerFor(i), "", absl::Now());
  return table;
}

// The alternative to VerdictTable for settled answers: one flat_hash_map behind one mutex,
// keyed as the table keys (type, 0x1f, value), each hit checked against its expiry.
class LockedMap {
 public:
  void Put(absl::string_view type, absl::string_view value,
           const absl::StatusOr<schema::VerdictResult>& result, absl::Time now) {
    Answer a;
    a.expiry_ms = absl::ToUnixMillis(now + kTtl);
    if (const auto* v = std::get_if<schema::Verdict>(&*result)) {
      a.kind = Settled::Kind::kVerdict;
      a.disposition = static_cast<int8_t>(v->disposition);
      a.valid_until_ms = absl::ToUnixMillis(v->valid_time.end_time);
      a.expiry_ms = std::min(a.expiry_ms, a.valid_until_ms);
      a.judgement_id = v->judgement_id;
    }
    absl::MutexLock lock(&mu_);
    map_.insert_or_assign(Compose(type, value), std::move(a));
  }

  // The answer of `key` if it is cached and not expired.
  std::optional<Settled> Find(const VerdictTable::Key& key) {
    const int64_t now_ms = absl::ToUnixMillis(schema::SystemClock::Instance().Now());
    absl::MutexLock lock(&mu_);
    return FindLocked(key, now_ms);
  }

  // Find() of several keys under one lock.
  void FindBatch(absl::Span<const VerdictTable::Key> keys, std::optional<Settled>* out) {
    const int64_t now_ms = absl::ToUnixMillis(schema::SystemClock::Instance().Now());
    absl::MutexLock lock(&mu_);
    for (size_t i = 0; i < keys.size(); ++i) out[i] = FindLocked(keys[i], now_ms);
  }

  size_t size() {
    absl::MutexLock lock(&mu_);
    return map_.size();
  }

 private:
  struct Answer {
    Settled::Kind kind = Settled::Kind::kNoVerdict;
    int8_t disposition = 0;
    int64_t valid_until_ms = 0;
    int64_t expiry_ms = 0;
    std::string judgement_id;
  };

  static const std::string& Compose(absl::string_view type, absl::string_view value) {
    thread_local std::string key;
    key.assign(type.data(), type.size());
    key.push_back('\x1f');
    key.append(value.data(), value.size());
    return key;
  }

  std::optional<Settled> FindLocked(const VerdictTable::Key& key, int64_t now_ms)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    auto it = map_.find(Compose(key.type, key.value));
    if (it == map_.end() || now_ms >= it->second.expiry_ms) return std::nullopt;
    Settled s;
    s.kind = it->second.kind;
    s.disposition = it->second.disposition;
    s.valid_until_ms = it->second.valid_until_ms;
    s.judgement_id = it->second.judgement_id;
    return s;
  }

  absl::Mutex mu_;
  absl::flat_hash_map<std::string, Answer> map_ ABSL_GUARDED_BY(mu_);
};

std::unique_ptr<LockedMap> FilledMap(size_t n) {
  auto map = std::make_unique<LockedMap>();
  for (size_t i = 0; i < n; ++i) map->Put("domain", Domain(i), AnswerFor(i), absl::Now());
  return map;
}

// Every key must resolve (`find(i)`, nullopt for a miss) to the answer stored for it.
template <typename Find>
bool Check(size_t n, Find find) {
  for (size_t i = 0; i < n; ++i) {
    const std::optional<Settled> s = find(i);
    if (!s.has_value()) return false;
    const bool verdict = i % 2 == 0;
    if ((s->kind == Settled::Kind::kVerdict) != verdict) return false;
    if (verdict && (s->disposition != static_cast<int8_t>(1 + i % 5) ||
                    s->judgement_id != std::get<schema::Verdict>(*AnswerFor(i)).judgement_id)) {
      return false;
    }
  }
  return true;
}

constexpr size_t kEntries = 100'000;
constexpr size_t kStep = 7919;  // coprime to kEntries: a scattered walk over every key

// As ctia-enrich's main does: Debian's Abseil runs the debug deadlock detector otherwise.
[[maybe_unused]] const bool kNoDeadlockDetection = [] {
  absl::SetMutexDeadlockDetectionMode(absl::OnDeadlockCycle::kIgnore);
  return true;
}();

struct Filled100k {
  std::vector<std::string> keys;
  std::unique_ptr<VerdictTable> table;
  std::unique_ptr<LockedMap> map;
  bool table_ok = false;
  bool map_ok = false;
};
// Built and checked once, on first use (thread-safe static initialization), shared by the
// threads.
const Filled100k& Shared() {
  static const Filled100k* const shared = [] {
    auto* s = new Filled100k();
    for (size_t i = 0; i < kEntries; ++i) s->keys.push_back(Domain(i));
    s->table = Filled(kEntries);
    s->map = FilledMap(kEntries);
    NoListener none;
    s->table_ok = Check(kEntries, [&](size_t i) -> std::optional<Settled> {
      VerdictTable::ResolveResult r = s->table->Resolve("domain", s->keys[i], &none, 0);
      if (r.resolution != VerdictTable::Resolution::kHit) return std::nullopt;
      return r.settled;
    });
    s->map_ok = Check(kEntries, [&](size_t i) { return s->map->Find({"domain", s->keys[i]}); });
    return s;
  }();
  return *shared;
}

// Whether the structure a benchmark times gave the right answers (else the benchmark fails).
bool CheckedBeforeTiming(benchmark::State& state, bool checked) {
  if (!checked) state.SkipWithError("wrong answer before timing");
  return checked;
}

// Runs `resolve(i)` (one key; false if it is not a hit) over the cached keys in a scattered
// order, as rows reach the table.
template <typename Resolve>
void ResolveEach(benchmark::State& state, bool checked, Resolve resolve) {
  const Filled100k& shared = Shared();
  if (!CheckedBeforeTiming(state, checked)) return;
  size_t i = static_cast<size_t>(state.thread_index()) * kStep;
  uint64_t bytes = 0;
  for (auto _ : state) {
    i = (i + kStep) % kEntries;
    if (!resolve(i)) state.SkipWithError("not a hit");
    bytes += shared.keys[i].size();
  }
  state.SetItemsProcessed(state.iterations());
  state.SetBytesProcessed(static_cast<int64_t>(bytes));
}

// Resolve() of cached keys, from 1 and 2 threads sharing one table.
void BM_ResolveHit(benchmark::State& state) {
  const Filled100k& shared = Shared();
  NoListener none;
  ResolveEach(state, shared.table_ok, [&](size_t i) {
    VerdictTable::ResolveResult r = shared.table->Resolve("domain", shared.keys[i], &none, 0);
    benchmark::DoNotOptimize(r);
    return r.resolution == VerdictTable::Resolution::kHit;
  });
}
BENCHMARK(BM_ResolveHit)->Threads(1)->Threads(2)->UseRealTime();

// The same on one flat_hash_map behind one mutex.
void BM_LockedMapHit(benchmark::State& state) {
  const Filled100k& shared = Shared();
  ResolveEach(state, shared.map_ok, [&](size_t i) {
    std::optional<Settled> s = shared.map->Find({"domain", shared.keys[i]});
    benchmark::DoNotOptimize(s);
    return s.has_value();
  });
}
BENCHMARK(BM_LockedMapHit)->Threads(1)->Threads(2)->UseRealTime();

constexpr size_t kBatch = 128;

// Runs `resolve_batch(keys)` (false if one is not a hit) on batches of kBatch scattered cached
// keys, as the pipeline resolves a chunk's new observables.
template <typename ResolveBatch>
void ResolveBatches(benchmark::State& state, bool checked, ResolveBatch resolve_batch) {
  const Filled100k& shared = Shared();
  if (!CheckedBeforeTiming(state, checked)) return;
  std::vector<VerdictTable::Key> keys(kBatch);
  size_t i = static_cast<size_t>(state.thread_index()) * kStep;
  uint64_t bytes = 0;
  for (auto _ : state) {
    for (VerdictTable::Key& k : keys) {
      i = (i + kStep) % kEntries;
      k = {"domain", shared.keys[i]};
      bytes += shared.keys[i].size();
    }
    if (!resolve_batch(keys)) state.SkipWithError("not a hit");
  }
  state.SetItemsProcessed(state.iterations() * static_cast<int64_t>(kBatch));
  state.SetBytesProcessed(static_cast<int64_t>(bytes));
}

// ResolveBatch() of 128 keys at a time; items are keys.
void BM_ResolveBatchHit(benchmark::State& state) {
  const Filled100k& shared = Shared();
  NoListener none;
  std::vector<VerdictTable::ResolveResult> results(kBatch);
  ResolveBatches(state, shared.table_ok, [&](const std::vector<VerdictTable::Key>& keys) {
    shared.table->ResolveBatch(keys, &none, 0, results.data());
    return std::all_of(results.begin(), results.end(), [](const VerdictTable::ResolveResult& r) {
      return r.resolution == VerdictTable::Resolution::kHit;
    });
  });
}
BENCHMARK(BM_ResolveBatchHit)->Threads(1)->Threads(2)->UseRealTime();

// The same on the locked map, its mutex taken once per batch.
void BM_LockedMapBatchHit(benchmark::State& state) {
  const Filled100k& shared = Shared();
  std::vector<std::optional<Settled>> results(kBatch);
  ResolveBatches(state, shared.map_ok, [&](const std::vector<VerdictTable::Key>& keys) {
    shared.map->FindBatch(keys, results.data());
    return std::all_of(results.begin(), results.end(),
                       [](const std::optional<Settled>& s) { return s.has_value(); });
  });
}
BENCHMARK(BM_LockedMapBatchHit)->Threads(1)->Threads(2)->UseRealTime();

// The allocator's bytes in use: small blocks and those it maps on their own (a large hash
// array is one of those).
size_t HeapInUse() {
  const struct mallinfo2 m = mallinfo2();
  return m.uordblks + m.hblkhd;
}

// Memory of N settled entries built by `fill(n)` (returning the entries held and the
// structure's own count of its bytes, 0 if none): the allocator's bytes in use, per entry.
template <typename Fill>
void BytesPerEntry(benchmark::State& state, Fill fill) {
  const size_t n = static_cast<size_t>(state.range(0));
  size_t heap = 0;
  size_t reported = 0;
  for (auto _ : state) {
    const size_t before = HeapInUse();
    auto [entries, bytes_used, keep] = fill(n);
    heap = HeapInUse() - before;
    reported = bytes_used;
    if (entries != n) state.SkipWithError("entries missing");
  }
  state.counters["entries"] = static_cast<double>(n);
  state.counters["heap_B_per_entry"] = static_cast<double>(heap) / static_cast<double>(n);
  state.counters["bytes_used_per_entry"] = static_cast<double>(reported) / static_cast<double>(n);
  state.SetItemsProcessed(state.iterations() * static_cast<int64_t>(n));
}

void BM_BytesPerEntry(benchmark::State& state) {
  BytesPerEntry(state, [](size_t n) {
    std::shared_ptr<VerdictTable> table = Filled(n);
    return std::make_tuple(table->size(), table->bytes_used(), table);
  });
}
BENCHMARK(BM_BytesPerEntry)
    ->Arg(100'000)
    ->Arg(1'000'000)
    ->Unit(benchmark::kMillisecond)
    ->Iterations(1);

void BM_LockedMapBytesPerEntry(benchmark::State& state) {
  BytesPerEntry(state, [](size_t n) {
    std::shared_ptr<LockedMap> map = FilledMap(n);
    return std::make_tuple(map->size(), size_t{0}, map);
  });
}
BENCHMARK(BM_LockedMapBytesPerEntry)
    ->Arg(100'000)
    ->Arg(1'000'000)
    ->Unit(benchmark::kMillisecond)
    ->Iterations(1);

}  // namespace
}  // namespace enrich::engine
