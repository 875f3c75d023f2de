#ifndef ENRICH_BENCH_ENGINE_SAMPLE_ROWS_H_
#define ENRICH_BENCH_ENGINE_SAMPLE_ROWS_H_

// Rows as tools/sample/make_sample_log.cc writes them (timestamp,client_ip,domain,url,
// user_agent,bytes), for the engine's micro-benchmarks: the same shapes and repetition, from a
// fixed seed, without the ctia-sim demo domains (every domain is host<k>.example.org).
// Benchmark-only; header-only so each bench stays one translation unit.

#include <cstdint>
#include <iterator>
#include <numeric>
#include <random>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/time/time.h"
#include "engine/csv.h"

namespace enrich::bench {

struct SampleRow {
  std::string timestamp;
  std::string client_ip;
  std::string domain;
  std::string url;
  std::string user_agent;  // unquoted; some need CSV quoting (commas, quotes)
  std::string bytes;
};

inline constexpr const char* kSampleHeader = "timestamp,client_ip,domain,url,user_agent,bytes\n";

// Rows [first, first + count) of a log of `unique` distinct domains: the first `unique` rows
// visit every domain once, later ones draw a skewed few hot domains; one row in 997 past them
// has an empty domain (and URL).
inline std::vector<SampleRow> MakeSampleRows(uint64_t first, uint64_t count, uint64_t unique) {
  static const char* const kUserAgents[] = {
      "curl/8.4.0",
      "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0",
      "Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:121.0) Gecko/20100101 Firefox/121.0",
      "python-requests/2.31.0",
      "Agent \"quoted\" 1.0",
  };
  std::mt19937_64 rng(first + 1);
  std::uniform_real_distribution<double> uniform(0.0, 1.0);
  uint64_t stride = 7919;
  while (std::gcd(stride, unique) != 1) ++stride;
  const absl::Time start = absl::FromUnixSeconds(1764000000);
  std::vector<SampleRow> rows;
  rows.reserve(count);
  for (uint64_t i = first; i < first + count; ++i) {
    uint64_t k;
    if (i < unique) {
      k = (i * stride) % unique;
    } else {
      const double r = uniform(rng);
      k = static_cast<uint64_t>(static_cast<double>(unique) * r * r);
      if (k >= unique) k = unique - 1;
    }
    SampleRow row;
    row.timestamp = absl::FormatTime("%Y-%m-%dT%H:%M:%SZ", start + absl::Seconds(i / 50),
                                     absl::UTCTimeZone());
    row.client_ip = absl::StrCat("10.", (i >> 16) & 255, ".", (i >> 8) & 255, ".", i & 255);
    if (!(i % 997 == 996 && i >= unique)) {
      row.domain = absl::StrCat("host", k, ".example.org");
      row.url = absl::StrCat("https://", row.domain, "/path/", i % 13, "?q=", i);
    }
    row.user_agent = kUserAgents[rng() % std::size(kUserAgents)];
    row.bytes = absl::StrCat(200 + rng() % 50000);
    rows.push_back(std::move(row));
  }
  return rows;
}

// The rows as CSV records, as make-sample-log writes them (engine::AppendCsvField quotes the
// fields that need it), after the header if `header`.
inline std::string SampleCsv(const std::vector<SampleRow>& rows, bool header) {
  std::string out = header ? kSampleHeader : "";
  for (const SampleRow& row : rows) {
    absl::StrAppend(&out, row.timestamp, ",", row.client_ip, ",", row.domain, ",");
    engine::AppendCsvField(out, row.url);
    out.push_back(',');
    engine::AppendCsvField(out, row.user_agent);
    absl::StrAppend(&out, ",", row.bytes, "\n");
  }
  return out;
}

}  // namespace enrich::bench

#endif  // ENRICH_BENCH_ENGINE_SAMPLE_ROWS_H_
