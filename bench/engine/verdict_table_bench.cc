// VerdictTable: resolves per second on a filled table (the all-cached path of `run`), and the
// memory each entry costs, measured from the allocator (mallinfo2) as well as from the table's
// own bytes_used(). Every resolve is checked against the answer stored before timing starts.
//
//   cmake -S . -B build-release -G Ninja -DCMAKE_BUILD_TYPE=Release -DENRICH_BUILD_BENCH=ON
//   ninja -C build-release verdict_table_bench && build-release/bench/verdict_table_bench

#include "engine/verdict_table.h"
#include "schema/clock.h"
#include "schema/verdict.h"

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <memory>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
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
  v.judgement_id =
      absl::StrCat("http://ctia-sim.bench/ctia/judgement/judgement-", i, "-4b8e-a3c1-0123456789ab");
  v.valid_time.end_time = absl::FromUnixSeconds(17'356'000'000);
  return schema::VerdictResult(v);
}

std::unique_ptr<VerdictTable> Filled(size_t n) {
  VerdictTable::Options options;
  options.max_ttl = absl::Hours(24 * 365);
  options.negative_ttl = absl::Hours(24 * 365);
  auto table = std::make_unique<VerdictTable>(schema::SystemClock::Instance(), options);
  for (size_t i = 0; i < n; ++i) table->Restore("domain", Domain(i), AnswerFor(i), "", absl::Now());
  return table;
}

// Every key must resolve as a hit with the answer stored for it.
bool Check(VerdictTable& table, const std::vector<std::string>& keys) {
  NoListener none;
  for (size_t i = 0; i < keys.size(); ++i) {
    VerdictTable::ResolveResult r = table.Resolve("domain", keys[i], &none, 0);
    if (r.resolution != VerdictTable::Resolution::kHit) return false;
    const bool verdict = i % 2 == 0;
    if ((r.settled.kind == Settled::Kind::kVerdict) != verdict) return false;
    if (verdict && r.settled.disposition != static_cast<int8_t>(1 + i % 5)) return false;
  }
  return true;
}

constexpr size_t kEntries = 100'000;

// As ctia-enrich's main does: Debian's Abseil runs the debug deadlock detector otherwise.
[[maybe_unused]] const bool kNoDeadlockDetection = [] {
  absl::SetMutexDeadlockDetectionMode(absl::OnDeadlockCycle::kIgnore);
  return true;
}();

struct Filled100k {
  std::vector<std::string> keys;
  std::unique_ptr<VerdictTable> table;
  bool ok = false;
};
// Built once, on first use (thread-safe static initialization), shared by the threads.
const Filled100k& Shared() {
  static const Filled100k* const shared = [] {
    auto* s = new Filled100k();
    for (size_t i = 0; i < kEntries; ++i) s->keys.push_back(Domain(i));
    s->table = Filled(kEntries);
    s->ok = Check(*s->table, s->keys);
    return s;
  }();
  return *shared;
}

// Resolve() of cached keys, in a scattered order (as rows reach the table), from 1 and 2
// threads sharing one table.
void BM_ResolveHit(benchmark::State& state) {
  const Filled100k& shared = Shared();
  if (!shared.ok) state.SkipWithError("wrong answer from the table");
  NoListener none;
  size_t i = static_cast<size_t>(state.thread_index()) * 7919;
  uint64_t bytes = 0;
  for (auto _ : state) {
    i = (i + 7919) % kEntries;
    VerdictTable::ResolveResult r = shared.table->Resolve("domain", shared.keys[i], &none, 0);
    benchmark::DoNotOptimize(r);
    bytes += shared.keys[i].size();
  }
  state.SetItemsProcessed(state.iterations());
  state.SetBytesProcessed(static_cast<int64_t>(bytes));
}
BENCHMARK(BM_ResolveHit)->Threads(1)->Threads(2)->UseRealTime();

// ResolveBatch() of 128 scattered cached keys at a time, as the pipeline resolves a chunk's new
// observables; items are keys.
void BM_ResolveBatchHit(benchmark::State& state) {
  const Filled100k& shared = Shared();
  if (!shared.ok) state.SkipWithError("wrong answer from the table");
  NoListener none;
  constexpr size_t kBatch = 128;
  std::vector<VerdictTable::Key> keys(kBatch);
  std::vector<VerdictTable::ResolveResult> results(kBatch);
  size_t i = static_cast<size_t>(state.thread_index()) * 7919;
  for (auto _ : state) {
    for (VerdictTable::Key& k : keys) {
      i = (i + 7919) % kEntries;
      k = {"domain", shared.keys[i]};
    }
    shared.table->ResolveBatch(keys, &none, 0, results.data());
    for (const VerdictTable::ResolveResult& r : results) {
      if (r.resolution != VerdictTable::Resolution::kHit) state.SkipWithError("not a hit");
    }
  }
  state.SetItemsProcessed(state.iterations() * static_cast<int64_t>(kBatch));
}
BENCHMARK(BM_ResolveBatchHit)->Threads(1)->Threads(2)->UseRealTime();

// Memory of a table of N settled entries: the allocator's bytes in use, per entry.
void BM_BytesPerEntry(benchmark::State& state) {
  const size_t n = static_cast<size_t>(state.range(0));
  size_t heap = 0, reported = 0;
  for (auto _ : state) {
    const size_t before = mallinfo2().uordblks;
    std::unique_ptr<VerdictTable> table = Filled(n);
    heap = mallinfo2().uordblks - before;
    reported = table->bytes_used();
    if (table->size() != n) state.SkipWithError("entries missing");
  }
  state.counters["entries"] = static_cast<double>(n);
  state.counters["heap_B_per_entry"] = static_cast<double>(heap) / static_cast<double>(n);
  state.counters["bytes_used_per_entry"] = static_cast<double>(reported) / static_cast<double>(n);
  state.SetItemsProcessed(state.iterations() * static_cast<int64_t>(n));
}
BENCHMARK(BM_BytesPerEntry)
    ->Arg(100'000)
    ->Arg(1'000'000)
    ->Unit(benchmark::kMillisecond)
    ->Iterations(1);

}  // namespace
}  // namespace enrich::engine
