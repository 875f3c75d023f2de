#include "tools/cli/bench_command.h"

#include <algorithm>
#include <atomic>
#include <cstdio>
#include <fstream>
#include <future>
#include <memory>
#include <string>
#include <vector>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/synchronization/notification.h"
#include "absl/time/clock.h"
#include "schema/observable.h"

namespace enrich::cli {
namespace {

absl::StatusOr<std::vector<schema::Observable>> LoadObservables(const BenchFlags& flags) {
  std::vector<schema::Observable> out;
  if (flags.synthetic > 0) {
    out.reserve(static_cast<size_t>(flags.synthetic));
    for (int i = 0; i < flags.synthetic; ++i) {
      out.push_back({"ip", absl::StrCat("10.", (i >> 16) & 255, ".", (i >> 8) & 255, ".", i & 255)});
    }
    return out;
  }
  if (flags.observables.empty()) return std::vector<schema::Observable>{{"ip", "10.0.0.1"}};
  std::ifstream in(flags.observables);
  if (!in) {
    return absl::InvalidArgumentError(
        absl::StrCat("--observables ", flags.observables, ": cannot open"));
  }
  std::string line;
  for (int number = 1; std::getline(in, line); ++number) {
    absl::string_view text = absl::StripAsciiWhitespace(line);
    if (text.empty() || text.front() == '#') continue;
    std::vector<std::string> fields = absl::StrSplit(text, absl::MaxSplits(',', 1));
    if (fields.size() == 2 && !fields[0].empty() && !fields[1].empty()) {
      out.push_back({fields[0], fields[1]});
    } else if (fields.size() == 1) {
      const bool ip = text.find_first_not_of("0123456789.") == absl::string_view::npos;
      out.push_back({ip ? "ip" : "domain", std::string(text)});
    } else {
      return absl::InvalidArgumentError(absl::StrCat("--observables ", flags.observables, ":",
                                                     number, ": expected type,value or value"));
    }
  }
  if (out.empty()) {
    return absl::InvalidArgumentError(
        absl::StrCat("--observables ", flags.observables, ": no observables in it"));
  }
  return out;
}

// Closed loop: each finished lookup starts the next one until the deadline.
class Driver : public std::enable_shared_from_this<Driver> {
 public:
  Driver(transport::BeastCtiaClient& client, std::vector<schema::Observable> observables,
         absl::Time deadline)
      : client_(client), observables_(std::move(observables)), deadline_(deadline) {}

  void Start(int in_flight) {
    running_ = in_flight;
    for (int i = 0; i < in_flight; ++i) Next();
  }
  void Wait() { done_.WaitForNotification(); }

  std::atomic<uint64_t> verdicts{0}, no_verdicts{0}, errors{0};
  std::string first_error;
  std::atomic<bool> error_seen{false};

 private:
  void Next() {
    const size_t n = next_.fetch_add(1, std::memory_order_relaxed);
    // The clock is read every 64th lookup (the run ends within 64 lookups of its deadline).
    if (stopped_.load(std::memory_order_relaxed) || (n % 64 == 0 && absl::Now() >= deadline_)) {
      stopped_.store(true, std::memory_order_relaxed);
      if (--running_ == 0) done_.Notify();
      return;
    }
    const size_t i = n % observables_.size();
    // A plain pointer (no allocation for the callback, no reference count): RunBench keeps the
    // driver until the client has shut down.
    client_.LookupVerdict(observables_[i], [self = this](absl::StatusOr<schema::VerdictResult> r) {
      if (!r.ok()) {
        self->errors.fetch_add(1, std::memory_order_relaxed);
        if (!self->error_seen.exchange(true)) self->first_error = r.status().ToString();
      } else if (std::holds_alternative<schema::Verdict>(*r)) {
        self->verdicts.fetch_add(1, std::memory_order_relaxed);
      } else {
        self->no_verdicts.fetch_add(1, std::memory_order_relaxed);
      }
      self->Next();
    });
  }

  transport::BeastCtiaClient& client_;
  const std::vector<schema::Observable> observables_;
  const absl::Time deadline_;
  std::atomic<size_t> next_{0};
  std::atomic<bool> stopped_{false};
  std::atomic<int> running_{0};
  absl::Notification done_;
};

double Ms(absl::Duration d) { return absl::ToDoubleMilliseconds(d); }

}  // namespace

CLI::App* AddBenchCommand(CLI::App& app, BenchFlags& flags) {
  CLI::App* bench = app.add_subcommand(
      "bench",
      "Measure verdict-lookup throughput and latency against a server through the same "
      "transport `run` uses.");
  bench->add_option("--target", flags.target, "Server base URL (CTIA, ctia-sim, or nginx)")
      ->required();
  bench->add_option("--duration", flags.duration_seconds, "Seconds to run")
      ->default_val(10)
      ->check(CLI::Range(0.1, 86400.0));
  bench->add_option("--observables", flags.observables,
                    "File with one observable per line: type,value (or a bare IP/domain)");
  bench->add_option("--synthetic", flags.synthetic, "Use N synthetic IPv4 observables")
      ->check(CLI::Range(1, 16777216));
  bench->add_option("--in-flight", flags.in_flight,
                    "Lookups kept outstanding (default --connections x --pipeline-depth x the larger "
                    "of 2 and --batch-size, so every connection carries full batches)")
      ->check(CLI::Range(1, 100000));
  bench->add_flag("--no-auth", flags.ctia.no_auth,
                  "Send no credentials (a fixed-answer server such as nginx)");
  AddCtiaFlags(*bench, flags.ctia);
  return bench;
}

int RunBench(const BenchFlags& flags) {
  auto fail = [](absl::string_view message) {
    std::fprintf(stderr, "ctia-enrich bench: %.*s\n", static_cast<int>(message.size()),
                 message.data());
  };
  absl::StatusOr<std::vector<schema::Observable>> observables = LoadObservables(flags);
  if (!observables.ok()) {
    fail(observables.status().message());
    return 2;
  }
  CtiaFlags ctia = flags.ctia;
  ctia.endpoint = flags.target;
  if (ctia.intel == "both") {
    fail("--intel both: bench measures one endpoint (--target); bench each intel on its own");
    return 2;
  }
  auto stack = CtiaStack::Start(ctia);
  if (!stack.ok()) {
    fail(stack.status().message());
    return ExitCodeFor(stack.status());
  }
  transport::BeastCtiaClient& client = (*stack)->client();

  // Verify before timing: the answer must decode as a verdict or "no verdict".
  std::promise<absl::StatusOr<schema::VerdictResult>> probe;
  client.LookupVerdict((*observables)[0], [&probe](absl::StatusOr<schema::VerdictResult> r) {
    probe.set_value(std::move(r));
  });
  absl::StatusOr<schema::VerdictResult> first = probe.get_future().get();
  if (!first.ok()) {
    fail(absl::StrCat("the first lookup failed, not timing: ", first.status().ToString()));
    return 1;
  }
  const transport::CtiaClientCounters before = client.Snapshot();

  // A GraphQL batch is sent when full (or after its linger), so fewer lookups outstanding than
  // batch size x connections would time the linger, not the server.
  const int in_flight = flags.in_flight > 0 ? flags.in_flight
                                            : ctia.connections * ctia.pipeline_depth *
                                                  std::max(2, ctia.batch_size);
  const absl::Time start = absl::Now();
  auto driver = std::make_shared<Driver>(client, *std::move(observables),
                                         start + absl::Seconds(flags.duration_seconds));
  driver->Start(in_flight);
  driver->Wait();
  const absl::Duration elapsed = absl::Now() - start;
  const transport::CtiaClientCounters c = client.Snapshot();
  const transport::PoolCounters pool = (*stack)->ctia_pool().Snapshot();
  const transport::LatencyHistogram& latency = client.latency();
  (*stack)->Shutdown();

  const double seconds = absl::ToDoubleSeconds(elapsed);
  const uint64_t requests = c.requests - before.requests;
  const uint64_t lookups = driver->verdicts + driver->no_verdicts + driver->errors;
  const double rps = static_cast<double>(requests) / seconds;
  const double ops = static_cast<double>(lookups) / seconds;
  std::printf(
      "target: %s  connections: %d  pipeline depth: %d  in flight: %d  io threads: %d  "
      "duration: %.2f s\n",
      flags.target.c_str(), ctia.connections, ctia.pipeline_depth, in_flight, ctia.io_threads,
      seconds);
  std::printf("requests: %llu  (%.0f requests/s)\n", static_cast<unsigned long long>(requests),
              rps);
  std::printf("observables: %llu  (%.0f observables/s, %.2f observables per request)\n",
              static_cast<unsigned long long>(lookups), ops,
              requests == 0 ? 0.0 : static_cast<double>(lookups) / static_cast<double>(requests));
  std::printf("latency: p50 %.3f ms  p90 %.3f ms  p99 %.3f ms  mean %.3f ms\n",
              Ms(latency.Percentile(0.5)), Ms(latency.Percentile(0.9)),
              Ms(latency.Percentile(0.99)), Ms(latency.Mean()));
  std::printf(
      "statuses: 2xx %llu  4xx %llu  5xx %llu  other %llu  transport errors %llu  429 %llu  "
      "retries %llu\n",
      static_cast<unsigned long long>(c.status_2xx), static_cast<unsigned long long>(c.status_4xx),
      static_cast<unsigned long long>(c.status_5xx),
      static_cast<unsigned long long>(c.status_other),
      static_cast<unsigned long long>(c.transport_errors),
      static_cast<unsigned long long>(c.rate_limited), static_cast<unsigned long long>(c.retries));
  std::printf("results: verdict %llu  no verdict %llu  error %llu  token requests %llu\n",
              static_cast<unsigned long long>(driver->verdicts.load()),
              static_cast<unsigned long long>(driver->no_verdicts.load()),
              static_cast<unsigned long long>(driver->errors.load()),
              static_cast<unsigned long long>((*stack)->token_requests()));
  std::printf("pool: connects %llu  pipelined %llu  resent after close %llu\n",
              static_cast<unsigned long long>(pool.connects),
              static_cast<unsigned long long>(pool.pipelined),
              static_cast<unsigned long long>(pool.stale_retries));
  if (driver->error_seen) std::printf("first error: %s\n", driver->first_error.c_str());
  std::printf(
      "bench_result requests_per_s=%.1f observables_per_s=%.1f p50_ms=%.3f p90_ms=%.3f "
      "p99_ms=%.3f errors=%llu\n",
      rps, ops, Ms(latency.Percentile(0.5)), Ms(latency.Percentile(0.9)),
      Ms(latency.Percentile(0.99)), static_cast<unsigned long long>(driver->errors.load()));
  return driver->errors > 0 ? 1 : 0;
}

}  // namespace enrich::cli
