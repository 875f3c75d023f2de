// LatencyHistogram::Record (transport/latency_histogram.h), called once per answer on the
// client's path: its bucket is found by a binary search over the 162 bucket edges. Measured
// against the floor every Record pays without a bucket search (the four atomic updates of
// count, sum, min and max), on latencies spread like a run's answers (log-uniform, 100 µs to
// 3 s). The difference is what the search costs per answer, next to the client's ~4 µs of CPU
// per request (bench/transport/client_vs_wrk.sh). Items are recorded latencies.
//
//   cmake -S . -B build-release -G Ninja -DCMAKE_BUILD_TYPE=Release -DENRICH_BUILD_BENCH=ON
//   ninja -C build-release latency_histogram_bench && build-release/bench/latency_histogram_bench

#include "transport/latency_histogram.h"

#include <atomic>
#include <cmath>
#include <cstdint>
#include <random>
#include <vector>

#include "absl/time/time.h"
#include <benchmark/benchmark.h>

namespace enrich::transport {
namespace {

std::vector<absl::Duration> Latencies() {
  std::mt19937_64 rng(7);
  std::uniform_real_distribution<double> exponent(std::log(100e3), std::log(3e9));  // ns
  std::vector<absl::Duration> out(4096);
  for (absl::Duration& d : out) {
    d = absl::Nanoseconds(static_cast<int64_t>(std::exp(exponent(rng))));
  }
  return out;
}

void BM_Record(benchmark::State& state) {
  const std::vector<absl::Duration> latencies = Latencies();
  LatencyHistogram histogram;
  size_t i = 0;
  for (auto _ : state) {
    histogram.Record(latencies[i++ & 4095]);
  }
  benchmark::DoNotOptimize(histogram.count());
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_Record);

// The same atomic updates without the bucket search.
void BM_AtomicsOnly(benchmark::State& state) {
  const std::vector<absl::Duration> latencies = Latencies();
  std::atomic<uint64_t> count{0};
  std::atomic<int64_t> sum{0};
  std::atomic<int64_t> min{INT64_MAX};
  std::atomic<int64_t> max{0};
  size_t i = 0;
  for (auto _ : state) {
    const int64_t ns = absl::ToInt64Nanoseconds(latencies[i++ & 4095]);
    sum.fetch_add(ns, std::memory_order_relaxed);
    int64_t seen = min.load(std::memory_order_relaxed);
    while (ns < seen && !min.compare_exchange_weak(seen, ns, std::memory_order_relaxed)) {
    }
    seen = max.load(std::memory_order_relaxed);
    while (ns > seen && !max.compare_exchange_weak(seen, ns, std::memory_order_relaxed)) {
    }
    count.fetch_add(1, std::memory_order_release);
  }
  benchmark::DoNotOptimize(count.load());
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_AtomicsOnly);

}  // namespace
}  // namespace enrich::transport
