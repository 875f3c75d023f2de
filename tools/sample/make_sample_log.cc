// make-sample-log: writes a synthetic proxy-log CSV for demos and load tests.
//
// Columns: timestamp,client_ip,domain,url,user_agent,bytes. Exactly min(rows, unique) distinct
// domains appear: part of them are the embedded ctia-sim's demo observables (so a demo run
// shows every kind of verdict), the rest `host<k>.example.org`. Some user agents need CSV
// quoting (commas, quotes), and one row in 997 has an empty domain. Deterministic per --seed.

#include <cstdio>
#include <exception>
#include <numeric>
#include <random>
#include <string>
#include <vector>

#include "CLI/CLI.hpp"
#include "absl/container/flat_hash_set.h"
#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "absl/time/time.h"
#include "engine/csv.h"
#include "tools/sim/sim_server.h"

namespace {

const char* const kUserAgents[] = {
    "curl/8.4.0",
    "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0",
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:121.0) Gecko/20100101 Firefox/121.0",
    "python-requests/2.31.0",
    "Agent \"quoted\" 1.0",
};

int Main(int argc, char** argv) {
  CLI::App app{"Writes a synthetic proxy-log CSV (for the demo and for load tests).",
               "make-sample-log"};
  uint64_t rows = 100000;
  uint64_t unique = 5000;
  uint64_t seed = 1;
  std::string output;
  app.add_option("--rows", rows, "Data rows to write")->default_val(100000);
  app.add_option("--unique", unique, "Distinct domains (at most --rows)")->default_val(5000)
      ->check(CLI::PositiveNumber);
  app.add_option("--seed", seed, "Random seed")->default_val(1);
  app.add_option("-o,--output", output, "Output CSV file ('-' = stdout)")->required();
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return app.exit(e) == 0 ? 0 : 2;
  }

  // Demo domains, once each (several have more than one judgement), compared as CTIA does.
  std::vector<std::string> demo;
  absl::flat_hash_set<std::string> demo_seen;
  for (const auto& j : enrich::sim::DemoJudgements(absl::Now())) {
    if (j.observable.type == "domain" &&
        demo_seen.insert(absl::AsciiStrToLower(j.observable.value)).second) {
      demo.push_back(j.observable.value);
    }
  }
  auto domain_of = [&](uint64_t k) {
    return k < demo.size() ? demo[k] : absl::StrCat("host", k, ".example.org");
  };

  std::FILE* out = output == "-" ? stdout : std::fopen(output.c_str(), "wb");
  if (out == nullptr) {
    std::perror(("make-sample-log: " + output).c_str());
    return 1;
  }
  std::mt19937_64 rng(seed);
  std::uniform_real_distribution<double> uniform(0.0, 1.0);
  // A stride coprime to `unique` visits every domain once in the first `unique` rows.
  uint64_t stride = 7919;
  while (std::gcd(stride, unique) != 1) ++stride;
  const absl::Time start = absl::FromUnixSeconds(1764000000);
  std::string buf = "timestamp,client_ip,domain,url,user_agent,bytes\n";
  for (uint64_t i = 0; i < rows; ++i) {
    uint64_t k;
    if (i < unique) {
      k = (i * stride) % unique;
    } else {
      const double r = uniform(rng);
      k = static_cast<uint64_t>(static_cast<double>(unique) * r * r);  // skewed: few hot domains
      if (k >= unique) k = unique - 1;
    }
    const std::string domain = (i % 997 == 996 && i >= unique) ? "" : domain_of(k);
    absl::StrAppend(&buf, absl::FormatTime("%Y-%m-%dT%H:%M:%SZ", start + absl::Seconds(i / 50),
                                           absl::UTCTimeZone()),
                    ",10.", (i >> 16) & 255, ".", (i >> 8) & 255, ".", i & 255, ",", domain, ",");
    enrich::engine::AppendCsvField(
        buf, domain.empty() ? "" : absl::StrCat("https://", domain, "/path/", i % 13, "?q=", i));
    buf.push_back(',');
    enrich::engine::AppendCsvField(buf, kUserAgents[rng() % std::size(kUserAgents)]);
    absl::StrAppend(&buf, ",", 200 + rng() % 50000, "\n");
    if (buf.size() > (1 << 20)) {
      std::fwrite(buf.data(), 1, buf.size(), out);
      buf.clear();
    }
  }
  std::fwrite(buf.data(), 1, buf.size(), out);
  const bool ok = std::ferror(out) == 0;
  if (out != stdout) std::fclose(out);
  if (!ok) {
    std::fprintf(stderr, "make-sample-log: write to %s failed\n", output.c_str());
    return 1;
  }
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  try {
    return Main(argc, argv);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "make-sample-log: internal error: %s\n", e.what());
    return 1;
  }
}
