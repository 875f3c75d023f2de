// The CSV block scans against the exact scalar scans they stand in for, on make-sample-log rows
// (quoted user agents with commas and doubled quotes, as the sample has them):
//  - ChunkReader cutting 8 MiB of input into 1 MiB chunks: record ends found 64 bytes at a time
//    with bit masks (set_block_scan(true), the default) vs the exact quote-to-quote scan;
//  - CsvRecords parsing one 1 MiB chunk into fields: the structural index of
//    engine/internal/csv_structural.h (set_vector_scan(true), the default) vs ScanCsvField of
//    engine/internal/csv_scan.h on every field;
//  - the floor under both: memchr finding every LF of the chunk (not CSV: quoted LFs would
//    count).
// Before timing, both ChunkReader modes must give the same chunks, which together are the input
// and end on record ends, and both CsvRecords modes must give every generated row's fields
// (unescaped) on the right line. Items are records, bytes input bytes.
//
//   cmake -S . -B build-release -G Ninja -DCMAKE_BUILD_TYPE=Release -DENRICH_BUILD_BENCH=ON
//   ninja -C build-release csv_scan_bench && build-release/bench/csv_scan_bench

#include <algorithm>
#include <cstdint>
#include <cstring>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "bench/engine/sample_rows.h"
#include "engine/byte_io.h"
#include "engine/chunk_reader.h"
#include "engine/csv_records.h"
#include <benchmark/benchmark.h>

namespace enrich::engine {
namespace {

constexpr size_t kChunkSize = size_t{1} << 20;  // the pipeline's default chunk
constexpr size_t kInputRows = 52'000;           // about 8 MiB of sample rows

// A ByteSource over bytes held by the caller.
class MemorySource final : public ByteSource {
 public:
  explicit MemorySource(absl::string_view bytes) : bytes_(bytes) {}
  absl::StatusOr<size_t> Read(char* buf, size_t n) override {
    const size_t k = std::min(n, bytes_.size() - pos_);
    std::memcpy(buf, bytes_.data() + pos_, k);
    pos_ += k;
    return k;
  }
  uint64_t raw_bytes_read() const override { return pos_; }
  std::optional<uint64_t> raw_size() const override { return bytes_.size(); }
  Compression compression() const override { return Compression::kNone; }
  const std::string& name() const override { return name_; }

 private:
  absl::string_view bytes_;
  size_t pos_ = 0;
  std::string name_ = "<bench>";
};

struct Input {
  std::vector<bench::SampleRow> rows;
  std::string csv;  // header + rows
};
const Input& SampleInput() {
  static const Input* const input = [] {
    auto* in = new Input();
    in->rows = bench::MakeSampleRows(0, kInputRows, 100'000);
    in->csv = bench::SampleCsv(in->rows, /*header=*/true);
    return in;
  }();
  return *input;
}

// The chunks of the whole input, or empty on an error.
std::vector<Chunk> ReadChunks(absl::string_view input, bool block_scan) {
  MemorySource source(input);
  ChunkReader reader(source, RecordFormat::kCsv, ',', kChunkSize);
  reader.set_block_scan(block_scan);
  std::vector<Chunk> chunks;
  for (Chunk chunk;;) {
    absl::StatusOr<bool> more = reader.Next(chunk);
    if (!more.ok()) return {};
    if (!*more) break;
    chunks.push_back(chunk);
  }
  return chunks;
}

// Both modes give the same chunks, which make up the input and each end on a record end
// (every generated row ends with its `bytes` number and LF).
bool ChunksAreRight(const Input& in) {
  const std::vector<Chunk> block = ReadChunks(in.csv, true);
  const std::vector<Chunk> exact = ReadChunks(in.csv, false);
  if (block.size() != exact.size() || block.size() < 2) return false;
  std::string joined;
  for (size_t i = 0; i < block.size(); ++i) {
    if (block[i].bytes != exact[i].bytes || block[i].first_line != exact[i].first_line) {
      return false;
    }
    if (block[i].bytes.back() != '\n') return false;
    joined += block[i].bytes;
  }
  return joined == in.csv;
}

void BM_ChunkReader(benchmark::State& state) {
  const Input& in = SampleInput();
  const bool block_scan = state.range(0) == 1;
  state.SetLabel(block_scan ? "block scan" : "exact scan");
  if (!ChunksAreRight(in)) {
    state.SkipWithError("chunks differ from the input's records");
    return;
  }
  for (auto _ : state) {
    MemorySource source(in.csv);
    ChunkReader reader(source, RecordFormat::kCsv, ',', kChunkSize);
    reader.set_block_scan(block_scan);
    Chunk chunk;
    while (reader.Next(chunk).value_or(false)) benchmark::DoNotOptimize(chunk.bytes.data());
  }
  state.SetItemsProcessed(state.iterations() * static_cast<int64_t>(in.rows.size() + 1));
  state.SetBytesProcessed(state.iterations() * static_cast<int64_t>(in.csv.size()));
}
BENCHMARK(BM_ChunkReader)->Arg(1)->Arg(0)->Unit(benchmark::kMillisecond);

// The first chunk of the input, and the rows it holds (after the header).
struct FirstChunk {
  Chunk chunk;
  size_t rows = 0;
};
const FirstChunk& SampleChunk() {
  static const FirstChunk* const first = [] {
    auto* f = new FirstChunk();
    f->chunk = ReadChunks(SampleInput().csv, false).at(0);
    f->rows = static_cast<size_t>(std::count(f->chunk.bytes.begin(), f->chunk.bytes.end(), '\n'));
    f->rows -= 1;  // the header (no generated field holds an LF)
    return f;
  }();
  return *first;
}

// Every record of `parsed` is the header or the generated row of its line, field by field.
bool RecordsAreRight(const CsvRecords& parsed, const FirstChunk& first) {
  const std::vector<bench::SampleRow>& rows = SampleInput().rows;
  const std::vector<CsvRecordView>& records = parsed.records();
  if (records.size() != first.rows + 1) return false;
  for (size_t i = 0; i < records.size(); ++i) {
    const CsvRecordView& r = records[i];
    if (r.malformed || r.field_count != 6 || r.line != i + 1) return false;
    if (i == 0) {
      if (parsed.field(r, 0) != "timestamp" || parsed.field(r, 5) != "bytes") return false;
      continue;
    }
    const bench::SampleRow& row = rows[i - 1];
    const std::string* want[] = {&row.timestamp, &row.client_ip,  &row.domain,
                                 &row.url,       &row.user_agent, &row.bytes};
    for (uint32_t f = 0; f < 6; ++f) {
      if (parsed.field(r, f) != *want[f]) return false;
    }
  }
  return true;
}

void BM_CsvRecords(benchmark::State& state) {
  const FirstChunk& first = SampleChunk();
  const bool vector_scan = state.range(0) == 1;
  state.SetLabel(vector_scan ? "vector scan" : "field scan");
  CsvRecords parsed;
  parsed.set_vector_scan(vector_scan);
  parsed.Parse(first.chunk.bytes, first.chunk.first_line, first.chunk.starts_input, ',');
  if (!RecordsAreRight(parsed, first)) {
    state.SkipWithError("records differ from the generated rows");
    return;
  }
  for (auto _ : state) {
    parsed.Parse(first.chunk.bytes, first.chunk.first_line, first.chunk.starts_input, ',');
    benchmark::DoNotOptimize(parsed.records().data());
  }
  state.SetItemsProcessed(state.iterations() * static_cast<int64_t>(first.rows + 1));
  state.SetBytesProcessed(state.iterations() * static_cast<int64_t>(first.chunk.bytes.size()));
}
BENCHMARK(BM_CsvRecords)->Arg(1)->Arg(0)->Unit(benchmark::kMicrosecond);

// The floor: memchr to every LF of the chunk (no quoting, no fields).
void BM_MemchrLines(benchmark::State& state) {
  const FirstChunk& first = SampleChunk();
  const std::string& bytes = first.chunk.bytes;
  auto count_lines = [&] {
    size_t lines = 0;
    const char* p = bytes.data();
    const char* const end = p + bytes.size();
    while (const void* lf = std::memchr(p, '\n', static_cast<size_t>(end - p))) {
      ++lines;
      p = static_cast<const char*>(lf) + 1;
    }
    return lines;
  };
  if (count_lines() != first.rows + 1) {
    state.SkipWithError("line count differs from the generated rows");
    return;
  }
  for (auto _ : state) benchmark::DoNotOptimize(count_lines());
  state.SetItemsProcessed(state.iterations() * static_cast<int64_t>(first.rows + 1));
  state.SetBytesProcessed(state.iterations() * static_cast<int64_t>(bytes.size()));
}
BENCHMARK(BM_MemchrLines)->Unit(benchmark::kMicrosecond);

}  // namespace
}  // namespace enrich::engine
