// ctia-enrich: enrich log exports with CTIA verdicts. Subcommands: run, plan (what run would
// send, sending nothing), bench (each reads --config FILE, config_file.h), publish
// (publish_command.h) and cache (the upkeep of run --cache DIR, cache_command.h).

#include <cstdio>
#include <exception>

#include "CLI/CLI.hpp"
#include "absl/synchronization/mutex.h"
#include "tools/cli/bench_command.h"
#include "tools/cli/cache_command.h"
#include "tools/cli/config_file.h"
#include "tools/cli/help_text.h"
#include "tools/cli/publish_command.h"
#include "tools/cli/plan_command.h"
#include "tools/cli/run_command.h"

int main(int argc, char** argv) {
  // Debian's Abseil is built without NDEBUG, so by default every absl::Mutex::Lock also runs the
  // debug deadlock detector, which takes one process-wide lock: the verdict table's shards and
  // the transport's locks would all serialize on it.
  absl::SetMutexDeadlockDetectionMode(absl::OnDeadlockCycle::kIgnore);
  try {
    CLI::App app{
        "ctia-enrich: adds Cisco Threat Intelligence API (CTIA) verdicts to every row of a log "
        "export.\n\nCredentials come from the environment, never from the command line:\n"
        "  CTIA_CLIENT_ID, CTIA_CLIENT_SECRET   OAuth2 client credentials of a CTIA API client\n"
        "Without --endpoint, `run` starts an embedded ctia-sim with demo data (offline demo).",
        "ctia-enrich"};
    app.set_version_flag("--version", "ctia-enrich 0.1.0");
    app.require_subcommand(1);
    enrich::cli::RunFlags run_flags;
    CLI::App* run = enrich::cli::AddRunCommand(app, run_flags);
    enrich::cli::BenchFlags bench_flags;
    CLI::App* bench = enrich::cli::AddBenchCommand(app, bench_flags);
    enrich::cli::PublishFlags publish_flags;
    CLI::App* publish = enrich::cli::AddPublishCommand(app, publish_flags);
    auto run_config = enrich::cli::ConfigFile::Attach(*run, "run");
    auto bench_config = enrich::cli::ConfigFile::Attach(*bench, "bench");
    auto publish_config = enrich::cli::ConfigFile::Attach(*publish, "publish");
    enrich::cli::PlanFlags plan_flags;
    CLI::App* plan = enrich::cli::AddPlanCommand(app, plan_flags);
    auto plan_config = enrich::cli::ConfigFile::Attach(*plan, "run");  // run's settings file
    enrich::cli::CacheFlags cache_flags;
    CLI::App* cache = enrich::cli::AddCacheCommand(app, cache_flags);
    plan->footer(enrich::cli::PlanHelpFooter());
    run->footer(enrich::cli::RunHelpFooter());
    bench->footer(enrich::cli::BenchHelpFooter());
    try {
      app.parse(argc, argv);
    } catch (const CLI::ParseError& e) {
      const int code = app.exit(e);
      return code == 0 ? 0 : 2;
    }
    for (const auto* config :
         {run_config.get(), bench_config.get(), plan_config.get(), publish_config.get()}) {
      if (config->print_settings()) {
        std::fputs(config->EffectiveSettings().c_str(), stdout);
        return 0;
      }
    }
    if (run->parsed()) return enrich::cli::RunEnrich(run_flags);
    if (bench->parsed()) return enrich::cli::RunBench(bench_flags);
    if (publish->parsed()) return enrich::cli::RunPublish(publish_flags);
    if (plan->parsed()) return enrich::cli::RunPlan(plan_flags);
    if (cache->parsed()) return enrich::cli::RunCache(cache_flags);
    return 2;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "ctia-enrich: internal error: %s\n", e.what());
    return 1;
  }
}
