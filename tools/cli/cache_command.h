#ifndef ENRICH_TOOLS_CLI_CACHE_COMMAND_H_
#define ENRICH_TOOLS_CLI_CACHE_COMMAND_H_

// `ctia-enrich cache stats|prune|clear DIR`: the upkeep of a persistent verdict cache that
// `run --cache DIR` reads and writes (engine/persistent_cache.h). Safe while runs use DIR:
// LMDB serializes the writers and readers keep their snapshot.

#include <string>

#include "CLI/CLI.hpp"

namespace enrich::cli {

struct CacheFlags {
  std::string action;  // stats | prune | clear
  std::string dir;
  bool json = false;   // stats --json
};

// Registers `cache` on `app`.
CLI::App* AddCacheCommand(CLI::App& app, CacheFlags& flags);

// Exit code: 0, 1 when DIR holds no cache or cannot be read, 2 for a damaged cache.
int RunCache(const CacheFlags& flags);

}  // namespace enrich::cli

#endif  // ENRICH_TOOLS_CLI_CACHE_COMMAND_H_
