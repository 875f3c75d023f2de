#include "tools/cli/cache_command.h"

#include <cstdio>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "engine/persistent_cache.h"

namespace enrich::cli {
namespace {

constexpr char kCacheHelp[] = R"(Upkeep of a persistent verdict cache (run --cache DIR).

  stats DIR   entries per endpoint, intel and observable type (verdict / no verdict /
              expired), records that do not decode, size on disk, soonest and latest expiry;
              --json for one JSON object
  prune DIR   deletes the expired records (and any that do not decode); prints how many
  clear DIR   deletes every record; prints how many

Runs may use DIR meanwhile. Expired records are never served (a run looks them up again and
overwrites them); prune only gives their space back to later writes (data.mdb never shrinks).

Examples:
  ctia-enrich cache stats /var/cache/ctia-enrich
  ctia-enrich cache stats --json /var/cache/ctia-enrich | jq .entries
  ctia-enrich cache prune /var/cache/ctia-enrich      # e.g. from a daily timer

Exit codes: 0 done; 1 no cache in DIR or it cannot be read; 2 usage, or a damaged cache.)";

int Failed(const absl::Status& s) {
  std::fprintf(stderr, "ctia-enrich: %s\n", std::string(s.message()).c_str());
  return absl::IsDataLoss(s) ? 2 : 1;
}

}  // namespace

CLI::App* AddCacheCommand(CLI::App& app, CacheFlags& flags) {
  CLI::App* cache = app.add_subcommand(
      "cache", "Show, prune or clear a persistent verdict cache (run --cache DIR)");
  cache->add_option("action", flags.action, "stats | prune | clear")
      ->required()
      ->check(CLI::IsMember({"stats", "prune", "clear"}));
  cache->add_option("dir", flags.dir, "The cache directory given to run --cache")->required();
  cache->add_flag("--json", flags.json, "stats: one JSON object on stdout");
  cache->footer(kCacheHelp);
  return cache;
}

int RunCache(const CacheFlags& flags) {
  const absl::Time now = absl::Now();
  if (flags.action == "stats") {
    auto stats = engine::ReadCacheStats(flags.dir, now);
    if (!stats.ok()) return Failed(stats.status());
    const std::string text = flags.json ? engine::CacheStatsJson(flags.dir, *stats)
                                        : engine::CacheStatsText(flags.dir, *stats, now);
    std::fputs(text.c_str(), stdout);
    return 0;
  }
  if (flags.action == "prune") {
    auto dropped = engine::PruneCache(flags.dir, now);
    if (!dropped.ok()) return Failed(dropped.status());
    std::printf("cache %s: %llu expired records deleted\n", flags.dir.c_str(),
                static_cast<unsigned long long>(*dropped));
    return 0;
  }
  auto cleared = engine::ClearCache(flags.dir);
  if (!cleared.ok()) return Failed(cleared.status());
  std::printf("cache %s: %llu records deleted\n", flags.dir.c_str(),
              static_cast<unsigned long long>(*cleared));
  return 0;
}

}  // namespace enrich::cli
