// NormalizeObservable over a realistic mix of log values, checked against the expected output
// before anything is timed. Compared in the same process with the floor every normalization
// pays anyway: trimming and copying the value into a lower-cased std::string.
//
//   cmake -S . -B build-norm -G Ninja -DENRICH_BUILD_BENCH=ON
//   ninja -C build-norm normalize_bench && build-norm/bench/normalize_bench

#include "schema/normalize.h"

#include <cstdint>
#include <cstdio>
#include <random>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include <benchmark/benchmark.h>

namespace enrich::schema {
namespace {

struct Row {
  std::string type;  // the column's type; "auto" benchmarks ignore it
  std::string raw;
  Observable want;
};

// Randomly upper-cases ASCII letters: log sources disagree on case.
std::string Scramble(absl::string_view s, std::mt19937& rng) {
  std::string out(s);
  for (char& c : out) {
    if (rng() % 4 == 0) c = absl::ascii_toupper(static_cast<unsigned char>(c));
  }
  return out;
}

std::string Defang(absl::string_view s) {
  std::string out;
  for (char c : s) {
    if (c == '.') {
      out += "[.]";
    } else {
      out.push_back(c);
    }
  }
  return out;
}

std::string Hex(std::mt19937& rng, size_t digits) {
  static constexpr char kHex[] = "0123456789abcdef";
  std::string out;
  for (size_t i = 0; i < digits; ++i) out.push_back(kHex[rng() % 16]);
  return out;
}

// Proportions after proxy/DNS/EDR exports: mostly domains and URLs, then IPs and hashes; a few
// defanged values (threat reports pasted into a sheet) and IDNs.
std::vector<Row> MakeRows() {
  static constexpr const char* kWords[] = {"update", "cdn",    "login",  "mail", "api",
                                           "static", "portal", "secure", "img",  "tracker"};
  static constexpr const char* kSites[] = {"example", "contoso",  "fabrikam", "northwind",
                                           "adatum",  "tailspin", "wingtip",  "litware"};
  static constexpr const char* kTlds[] = {"com", "net", "org", "io", "de", "co.uk"};
  std::mt19937 rng(42);
  auto pick = [&rng](const auto& list) { return list[rng() % std::size(list)]; };
  std::vector<Row> rows;
  for (int i = 0; i < 4096; ++i) {
    const std::string domain =
        absl::StrCat(pick(kWords), rng() % 100, ".", pick(kSites), ".", pick(kTlds));
    const unsigned kind = rng() % 100;
    if (kind < 38) {  // domain
      std::string raw = Scramble(domain, rng);
      if (rng() % 5 == 0) raw.push_back('.');
      if (rng() % 20 == 0) raw = Defang(raw);
      rows.push_back({"domain", raw, {"domain", domain}});
    } else if (kind < 40) {  // IDN
      static constexpr std::pair<const char*, const char*> kIdns[] = {
          {"Bücher.de", "xn--bcher-kva.de"},
          {"münchen.example", "xn--mnchen-3ya.example"},
          {"faß.de", "xn--fa-hia.de"}};
      const auto& [unicode, ascii] = pick(kIdns);
      const std::string sub = absl::StrCat(pick(kWords), ".");
      rows.push_back({"domain", sub + unicode, {"domain", sub + ascii}});
    } else if (kind < 62) {  // URL
      const std::string tail =
          absl::StrCat("/Path/", rng() % 1000, "/index.php?id=", rng(), "&Ref=", pick(kWords));
      const bool https = rng() % 2 == 0;
      std::string raw = absl::StrCat(https ? "HTTPS" : "http", "://", Scramble(domain, rng), tail);
      if (rng() % 20 == 0)
        raw = absl::StrCat(https ? "hxxps" : "hxxp", "://", Defang(domain), tail);
      rows.push_back(
          {"url", raw, {"url", absl::StrCat(https ? "https" : "http", "://", domain, tail)}});
    } else if (kind < 80) {  // IPv4
      const std::string ip =
          absl::StrCat(rng() % 224, ".", rng() % 256, ".", rng() % 256, ".", rng() % 256);
      rows.push_back({"ip", rng() % 20 == 0 ? Defang(ip) : ip, {"ip", ip}});
    } else if (kind < 85) {  // IPv6, written out in full and upper-case
      const unsigned group = 1 + rng() % 0xfffe;
      const unsigned host = 1 + rng() % 0xfffe;
      rows.push_back(
          {"ipv6",
           absl::AsciiStrToUpper(
               absl::StrCat("2001:0db8:", absl::Hex(group, absl::kZeroPad4),
                            ":0000:0000:0000:0000:", absl::Hex(host, absl::kZeroPad4))),
           {"ipv6", absl::StrCat("2001:db8:", absl::Hex(group), "::", absl::Hex(host))}});
    } else {  // hashes
      const size_t digits = kind < 90 ? 32 : kind < 93 ? 40 : 64;
      const char* type = digits == 32 ? "md5" : digits == 40 ? "sha1" : "sha256";
      const std::string hash = Hex(rng, digits);
      rows.push_back({type, rng() % 2 == 0 ? absl::AsciiStrToUpper(hash) : hash, {type, hash}});
    }
  }
  return rows;
}

// Built once and checked: a benchmark of wrong answers is worthless.
const std::vector<Row>* CheckedRows(std::string* error) {
  static const std::vector<Row>* rows = new std::vector<Row>(MakeRows());
  for (const Row& row : *rows) {
    for (const char* type : {row.type.c_str(), "auto"}) {
      absl::StatusOr<Observable> got = NormalizeObservable(type, row.raw);
      if (!got.ok() || !(*got == row.want)) {
        *error = absl::StrCat(type, " `", row.raw, "` → ",
                              got.ok() ? got->type + " " + got->value : got.status().ToString(),
                              ", want ", row.want.type, " ", row.want.value);
        return nullptr;
      }
    }
  }
  return rows;
}

template <typename Fn>
void RunOverRows(benchmark::State& state, Fn fn) {
  std::string error;
  const std::vector<Row>* rows = CheckedRows(&error);
  if (rows == nullptr) {
    state.SkipWithError(error.c_str());
    return;
  }
  int64_t bytes = 0;
  for (const Row& row : *rows) bytes += static_cast<int64_t>(row.raw.size());
  for (auto _ : state) {
    for (const Row& row : *rows) fn(row);
  }
  state.SetItemsProcessed(state.iterations() * static_cast<int64_t>(rows->size()));
  state.SetBytesProcessed(state.iterations() * bytes);
}

// The column's type is known (`--column url:url`): the common case.
void BM_NormalizeTyped(benchmark::State& state) {
  RunOverRows(state, [](const Row& row) {
    benchmark::DoNotOptimize(NormalizeObservable(row.type, row.raw));
  });
}
BENCHMARK(BM_NormalizeTyped);

// `auto`: detection first.
void BM_NormalizeAuto(benchmark::State& state) {
  RunOverRows(state, [](const Row& row) {
    benchmark::DoNotOptimize(NormalizeObservable("auto", row.raw));
  });
}
BENCHMARK(BM_NormalizeAuto);

// The floor: trim + lower-cased copy into a fresh string.
void BM_BaselineTrimLowerCopy(benchmark::State& state) {
  RunOverRows(state, [](const Row& row) {
    benchmark::DoNotOptimize(absl::AsciiStrToLower(absl::StripAsciiWhitespace(row.raw)));
  });
}
BENCHMARK(BM_BaselineTrimLowerCopy);

}  // namespace
}  // namespace enrich::schema
