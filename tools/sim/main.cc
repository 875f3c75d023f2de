// ctia-sim: a local CTIA-compatible server for the demo, the tests and the benchmarks.

#include <algorithm>
#include <csignal>
#include <cstdint>
#include <cstdio>
#include <exception>
#include <iostream>
#include <string>
#include <thread>
#include <vector>

#include <CLI/CLI.hpp>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_split.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "schema/json_codec.h"
#include "tools/sim/sim_config.h"
#include "tools/sim/sim_server.h"

namespace {

// The FILE of `--config FILE` / `--config=FILE`, read before the flags so that flags given
// on the command line overwrite what the file set. Empty when absent or when help is asked.
std::string ConfigPathFromArgs(int argc, char** argv) {
  std::string path;
  for (int i = 1; i < argc; ++i) {
    const std::string arg = argv[i];
    if (arg == "-h" || arg == "--help") return "";
    if (arg == "--config" && i + 1 < argc) path = argv[i + 1];
    if (arg.rfind("--config=", 0) == 0) path = arg.substr(9);
  }
  return path;
}

// --port, --bind, --threads, TLS, --public-base, connection limits and --latency-ms.
void AddServerFlags(CLI::App& app, enrich::sim::SimSettings& s) {
  app.add_option("--port", s.options.port, "TCP port to listen on; 0 picks a free one")
      ->capture_default_str();
  app.add_option("--bind", s.options.bind, "Address to listen on")->capture_default_str();
  app.add_option("--threads", s.options.threads,
                 "Number of I/O threads (default: the number of CPUs)")
      ->capture_default_str()
      ->check(CLI::Range(1, 256));
  app.add_option("--tls-cert", s.tls_cert_file,
                 "Serve HTTPS with this PEM certificate chain (server certificate first, then "
                 "intermediates); needs --tls-key. Clients trust it through its CA, e.g. "
                 "ctia-enrich --ca-file CA.pem. Default: plain HTTP");
  app.add_option("--tls-key", s.tls_key_file,
                 "PEM private key of the --tls-cert certificate; a key that does not match it "
                 "is an error naming both files");
  app.add_option("--public-base", s.options.public_base,
                 "Base URL of long judgement ids, e.g. https://private.intel.amp.cisco.com:443 "
                 "(default: http://BIND:PORT)");
  app.add_option("--header-limit", s.options.header_limit,
                 "Largest request header block in bytes; larger gets 431 and the connection is "
                 "closed")
      ->capture_default_str()
      ->check(CLI::Range(1024, 1 << 20));
  app.add_option("--body-limit", s.options.body_limit,
                 "Largest request body in bytes; a larger Content-Length gets 413 before the "
                 "body is read, and the connection is closed")
      ->capture_default_str()
      ->check(CLI::Range(size_t{1024}, size_t{1} << 32));
  app.add_option("--idle-timeout", s.idle_timeout_seconds,
                 "Seconds an idle keep-alive connection (or a stalled request) is kept open")
      ->capture_default_str()
      ->check(CLI::Range(1, 86400));
  app.add_option("--latency-ms", s.latency_ms,
                 "Milliseconds every answer waits before it is sent, as from a server across a "
                 "network (e.g. 20 for a nearby CTIA region); benchmarks use it so round trips, "
                 "not the sim's own CPU, set the pace. An injected latency fault replaces it")
      ->capture_default_str()
      ->check(CLI::Range(0, 3600000));
  app.add_flag("--no-graphql", [&s](int64_t) { s.options.graphql = false; },
               "Answer as a CTIA without GraphQL: POST /ctia/graphql gets the HTML 404 of an "
               "unknown route (after the token check, as every /ctia route); the REST routes are "
               "unchanged. TOML server.graphql = false; test API: POST /__test__/knobs "
               "{\"graphql\": false}");
}

// --client, --token-ttl: who may get a token, and for how long.
void AddAuthFlags(CLI::App& app, enrich::sim::SimSettings& s) {
  app.add_option("--client", s.client_flags,
                 "API client accepted by the token endpoint, as ID:SECRET[:ORG] (ORG defaults "
                 "to org-1; scope private-intel). Repeatable. When given, replaces the default "
                 "client, which is id 'client', secret 'secret', org 'org-1'");
  app.add_option("--token-ttl", s.token_ttl_seconds,
                 "Lifetime of issued access tokens, in seconds (expires_in)")
      ->capture_default_str()
      ->check(CLI::Range(1, 86400 * 365));
  app.add_flag("--token-check-at-send", s.options.token_check_at_send,
               "Check the bearer token when the answer is sent, after its latency (--latency-ms, "
               "--slow-ms, a latency fault), not when the request arrives: with a short "
               "--token-ttl and slow answers a request sent with a valid token gets 401 "
               "{\"error\":\"jwt_expired\",...}, as from CTIA when a token expires in flight. "
               "TOML auth.token_check_at_send; test API: POST /__test__/knobs "
               "{\"token_check_at_send\": true}");
}

// "PCT:SECONDS" of --synthetic-short-valid into `percent` and `valid`; false when malformed.
bool ParseShortValid(const std::string& text, int* percent, absl::Duration* valid) {
  const std::vector<std::string> parts = absl::StrSplit(text, ':');
  int pct = 0;
  int64_t seconds = 0;
  if (parts.size() != 2 || !absl::SimpleAtoi(parts[0], &pct) || pct < 0 || pct > 100 ||
      !absl::SimpleAtoi(parts[1], &seconds) || seconds <= 0) {
    return false;
  }
  *percent = pct;
  *valid = absl::Seconds(seconds);
  return true;
}

// --seed, --no-demo, --bulk-max, --visibility, --synthetic, --synthetic-short-valid: what the
// store holds and answers.
void AddDataFlags(CLI::App& app, enrich::sim::SimSettings& s) {
  app.add_option("--seed", s.seed_file,
                 "NDJSON file of judgements to load at start, one per line in the form POST "
                 "/ctia/judgement takes; loaded in addition to the demo data unless --no-demo");
  app.add_flag("--no-demo", s.no_demo,
               "Start without the built-in demo judgements (about 40 on example domains, "
               "documentation IP ranges, URLs and hashes)");
  app.add_option("--bulk-max", s.options.bulk_max,
                 "Most entities one POST /ctia/bulk may carry; more gets CTIA's 400")
      ->capture_default_str()
      ->check(CLI::PositiveNumber);
  app.add_option("--visibility", s.visibility,
                 "CTIA's max-record-visibility: 'everyone' lets every caller see TLP white and "
                 "green judgements (CTIA's default); 'group' limits them to the owner's groups")
      ->capture_default_str()
      ->check(CLI::IsMember({"everyone", "group"}));
  app.add_option("--synthetic", s.options.synthetic_percent,
                 "Synthetic mode: answer the verdict of any observable without a stored "
                 "judgement from a hash, with N percent of observables having a verdict "
                 "(no storage, for benchmarks). h = FNV-1a 64 of TYPE + NUL + lowercase(VALUE); "
                 "verdict iff h % 100 < N; disposition = 1 + (h >> 8) % 5; observable value "
                 "lowercased; judgement id from h (see SyntheticVerdict in synthetic.h); "
                 "valid_time 2020-01-01T00:00:00.000Z..2525-01-01T00:00:00.000Z. Stored "
                 "judgements still win; requests with from/to see stored judgements only")
      ->check(CLI::Range(0, 100));
  app.add_option_function<std::string>(
         "--synthetic-short-valid",
         [&s](const std::string& v) {
           ParseShortValid(v, &s.options.synthetic_short_percent,
                           &s.options.synthetic_short_valid);
         },
         "PCT:SECONDS. With --synthetic N: the verdicts of the observables with h % 100 < PCT "
         "(h as for --synthetic; PCT <= N makes them PCT percent of all observables, each with "
         "a verdict) end SECONDS after ctia-sim starts (at a whole second) instead of in 2525, "
         "so a cache of them expires; from then on they are answered renewed (the same "
         "judgement, valid until 2525 as the others). E.g. --synthetic 50 "
         "--synthetic-short-valid 10:60: half the observables have a verdict, a tenth of all "
         "of them valid for a minute. Default: none")
      ->check([](const std::string& v) {
        int pct = 0;
        absl::Duration valid;
        return ParseShortValid(v, &pct, &valid)
                   ? std::string()
                   : std::string("expected PCT:SECONDS, PCT 0..100 and SECONDS > 0, got '") +
                         v + "'";
      });
}

// --rate-limit and its companions (reference §9.1, §12.5).
void AddRateLimitFlags(CLI::App& app, enrich::sim::SimSettings& s) {
  app.add_option("--rate-limit", s.rate_limit,
                 "Per-org rate limit as N/WINDOW, e.g. 18000/1h (CTIA's default when on), "
                 "5/10s for tests; WINDOW is seconds or a duration (s, m, h). Sliding log per "
                 "org, counted after authentication on /ctia routes; over the limit: 429 with "
                 "Retry-After and {\"error\": \"Too Many Requests\"}. Default: off");
  app.add_option("--rate-limit-org", s.rate_limit_customs,
                 "Per-org limit that replaces N for that org, as ORG=N (CTIA's "
                 "limits.group.customs). Repeatable");
  app.add_option("--unlimited-client", s.options.unlimited_client_ids,
                 "Client id never rate limited (and sent no limit header). Repeatable");
  app.add_option("--rate-limit-header", s.options.rate_limit_header_group,
                 "Middle part of the rate-limit header name: GROUP sends "
                 "X-RateLimit-GROUP-Limit (CTIA), ORG sends X-RateLimit-ORG-Limit (IROH), NONE "
                 "sends no X-RateLimit-* header, only Retry-After on 429s (a gateway in front of "
                 "CTIA)")
      ->capture_default_str()
      ->check(CLI::IsMember({"GROUP", "ORG", "NONE"}));
  app.add_option_function<std::string>(
         "--rate-limit-per",
         [&s](const std::string& per) { s.options.rate_limit_per_client = per == "client"; },
         "What --rate-limit counts: 'org' (CTIA: the caller's group) or 'client' (each client "
         "id apart, as a gateway's per-credential limit; --rate-limit-org then names client "
         "ids). Default: org")
      ->check(CLI::IsMember({"org", "client"}));
  app.add_flag("--rate-limit-remaining", s.options.rate_limit_remaining,
               "Also send X-RateLimit-<GROUP>-Remaining (CTIA leaves it off)");
}

// --test-api, --fault-seed: the test control API and its faults.
void AddTestFlags(CLI::App& app, enrich::sim::SimSettings& s) {
  app.add_flag("--test-api", s.options.test_api,
               "Serve the test control API under /__test__/ (fault injection, fake clock, "
               "reset, load, counters, lookups per client, visibility, token expiry, and the "
               "graphql and token_check_at_send switches at /__test__/knobs). Never "
               "enable it on a shared network: it needs no token");
  app.add_option("--fault-seed", s.options.fault_seed,
                 "Seed of the generator that draws fault percentages and latency tails "
                 "(--hang-percent and --slow-percent included: the same seed and the same "
                 "order of requests give the same faults)")
      ->capture_default_str();
  app.add_option("--hang-percent", s.options.hang_percent,
                 "Share (0..100, fractions allowed, e.g. 0.05) of lookups (GET .../verdict and "
                 "POST /ctia/graphql) never answered: the connection stays open and silent until "
                 "the client closes it (or 5 minutes pass). Drawn per request from --fault-seed. "
                 "TOML test.hang_percent; test API: a fault rule {\"kind\": \"hang\", "
                 "\"percentage\": P, \"lookups_only\": true}")
      ->check(CLI::Range(0.0, 100.0));
  app.add_flag("--html-404", s.options.html_404,
               "Answer every lookup (GET .../verdict and POST /ctia/graphql) with the HTML 404 "
               "of an unknown route, as a server that is not CTIA at the client's base URL (a "
               "wrong --endpoint path); the token endpoint still works. TOML test.html_404; "
               "test API: a fault rule {\"kind\": \"html404\", \"lookups_only\": true}");
  app.add_option("--slow-percent", s.options.slow_percent,
                 "Share (0..100) of lookups answered after --slow-ms instead of --latency-ms "
                 "(slow tails), drawn per request from --fault-seed. TOML test.slow_percent; test "
                 "API: a fault rule {\"kind\": \"latency\", \"percentage\": P, \"ms\": N, "
                 "\"lookups_only\": true}")
      ->check(CLI::Range(0.0, 100.0));
  app.add_option("--slow-ms", s.slow_ms, "Delay of the --slow-percent answers, in milliseconds")
      ->capture_default_str()
      ->check(CLI::Range(0, 3600000));
}

// --print-synthetic TYPE:VALUE: the body --synthetic would answer, for checking benchmarks.
int PrintSynthetic(const std::string& type_value, const enrich::sim::SimOptions& options) {
  const std::pair<std::string, std::string> tv =
      absl::StrSplit(type_value, absl::MaxSplits(':', 1));
  std::optional<enrich::schema::Verdict> v = enrich::sim::SyntheticVerdict(
      tv.first, tv.second, options.synthetic_percent < 0 ? 100 : options.synthetic_percent,
      options.public_base);
  std::cout << (v.has_value() ? enrich::schema::EncodeVerdict(*v) : "no verdict") << "\n";
  return 0;
}

// Starts the server with `options`, loads the demo and seed data, prints the listening line
// and serves until SIGINT or SIGTERM.
int Serve(const enrich::sim::SimOptions& options, const enrich::sim::SimSettings& settings) {
  // Block the stop signals before any thread starts so only sigwait below receives them.
  sigset_t stop_signals;
  sigemptyset(&stop_signals);
  sigaddset(&stop_signals, SIGINT);
  sigaddset(&stop_signals, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &stop_signals, nullptr);

  enrich::sim::SimServer server(options);
  absl::StatusOr<uint16_t> port = server.Start();
  if (!port.ok()) {
    std::cerr << "ctia-sim: " << port.status().message() << "\n";
    return 1;
  }
  if (!settings.no_demo) server.AddJudgements(enrich::sim::DemoJudgements(absl::Now()));
  if (!settings.seed_file.empty()) {
    const absl::Time start = absl::Now();
    absl::StatusOr<size_t> loaded = server.LoadNdjson(settings.seed_file);
    if (!loaded.ok()) {
      std::cerr << "ctia-sim: --seed: " << loaded.status().message() << "\n";
      server.Stop();
      return 2;
    }
    std::cerr << "ctia-sim: --seed: " << *loaded << " judgements from " << settings.seed_file
              << " in " << absl::StrFormat("%.2f", absl::ToDoubleSeconds(absl::Now() - start))
              << " s\n";
  }
  std::cerr << "ctia-sim: " << server.JudgementCount() << " judgements loaded\n";
  std::cout << "ctia-sim listening on " << server.base_url() << std::endl;

  int signal_number = 0;
  sigwait(&stop_signals, &signal_number);
  std::cerr << "ctia-sim: stopping (signal " << signal_number << ")\n";
  server.Stop();
  return 0;
}

int Run(int argc, char** argv) {
  enrich::sim::SimSettings settings;
  enrich::sim::SimOptions& options = settings.options;
  options.port = 8080;
  options.threads = static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
  const std::string config_file = ConfigPathFromArgs(argc, argv);
  if (!config_file.empty()) {
    if (absl::Status loaded = enrich::sim::LoadSimConfig(config_file, settings); !loaded.ok()) {
      std::cerr << "ctia-sim: --config: " << loaded.message() << "\n";
      return 2;
    }
  }
  std::string print_synthetic;
  std::string config_flag = config_file;

  CLI::App app{
      "ctia-sim: a local server that answers like the Cisco Threat Intelligence API (CTIA) and "
      "its IROH token endpoint.\n"
      "Routes: POST /iroh/oauth2/token; GET /ctia/{type}/{value}/verdict and .../judgements; "
      "POST /ctia/judgement; GET|DELETE /ctia/judgement/{id}; POST /ctia/judgement/{id}/expire; "
      "POST /ctia/bulk; GET /ctia/bulk?judgements=ID...; POST /ctia/graphql (subset: aliased "
      "observable(type:, value:) { verdict { ... judgement { ... } } judgements(first:, "
      "orderBy:) { nodes { ... } } }); GET /ctia/status; GET /ctia/version.\n"
      "Once listening it prints one line, 'ctia-sim listening on http://HOST:PORT' "
      "(https:// with --tls-cert), and runs until SIGINT or SIGTERM.\n"
      "Every option can also be set in a TOML file given with --config (see "
      "configs/sim-local.toml); options given on the command line override the file."};
  app.add_option("--config", config_flag,
                 "TOML file of settings ([server], [auth], [data], [rate_limit], [test]; "
                 "configs/sim-local.toml lists every key). Read first; command-line options "
                 "override it. Unknown keys and bad values are errors naming file, line and key");
  AddServerFlags(app, settings);
  AddAuthFlags(app, settings);
  AddDataFlags(app, settings);
  AddRateLimitFlags(app, settings);
  AddTestFlags(app, settings);
  app.add_option("--print-synthetic", print_synthetic,
                 "Print the verdict body --synthetic N would answer for TYPE:VALUE (with "
                 "--public-base as id base), or 'no verdict', and exit; for checking benchmark "
                 "answers");
  bool print_settings = false;
  app.add_flag("--print-settings", print_settings,
               "Print the effective settings (file, then flags) as TOML and exit; client "
               "secrets are shown as <redacted>");
  CLI11_PARSE(app, argc, argv);
  if (print_settings) {
    std::cout << enrich::sim::FormatSimSettings(settings);
    return 0;
  }

  if (!print_synthetic.empty()) return PrintSynthetic(print_synthetic, options);

  absl::StatusOr<enrich::sim::SimOptions> finished = enrich::sim::FinishSimOptions(settings);
  if (!finished.ok()) {
    std::cerr << "ctia-sim: " << finished.status().message() << "\n";
    return 2;
  }
  return Serve(*finished, settings);
}

}  // namespace

int main(int argc, char** argv) {
  // Debian's Abseil is built without NDEBUG, so by default every absl::Mutex::Lock also runs
  // the debug deadlock detector, which takes one process-wide lock: the io threads would
  // serialize on it for the token, store and clock locks of every request.
  absl::SetMutexDeadlockDetectionMode(absl::OnDeadlockCycle::kIgnore);
  try {
    return Run(argc, argv);
  } catch (const std::exception& e) {
    std::cerr << "ctia-sim: fatal: " << e.what() << "\n";
    return 1;
  }
}
