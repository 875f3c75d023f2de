#ifndef ENRICH_TOOLS_CLI_SHARED_REDIS_H_
#define ENRICH_TOOLS_CLI_SHARED_REDIS_H_

// `run --redis URL`: the workers' shared verdict cache and single flight (transport/redis/) set
// up in front of the run's CTIA stack, on its io threads, and the org's quota shared by the
// workers (RedisQuota, asked by the stack's client once per request: made before the stack,
// attached once Redis is up). The password comes from the
// ENRICH_REDIS_PASSWORD environment variable, never from the command line.

#include <cstdint>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"
#include "boost/asio/any_io_executor.hpp"
#include "schema/observable.h"
#include "transport/io_threads.h"
#include "transport/redis/redis_client.h"
#include "transport/redis/redis_quota.h"
#include "transport/redis/shared_lookups.h"
#include "transport/redis/shared_verdict_source.h"
#include "transport/verdict_source.h"
#include "tools/cli/ctia_stack.h"

namespace enrich::cli {

struct RedisFlags {
  std::string url;        // --redis; empty = no shared cache
  bool optional = false;  // --redis-optional: unreachable at start → run alone (and rejoin)
  double max_cache_ttl_seconds = 86400;
  double negative_ttl_seconds = 3600;  // --negative-ttl: how long a no-verdict is shared
};

class SharedRedis {
 public:
  // The shared quota for the CTIA stack's client (CtiaFlags::shared_quota), or with `global`
  // for its Global-Intel client under --intel both (CtiaFlags::global_shared_quota: that
  // host's own budget groups); it outlives the stack and the SharedRedis that attaches it.
  // Notices go to stderr. `workers`: how many are known to share the quota from the start
  // (N of --shard K/N).
  static std::unique_ptr<transport::RedisQuota> MakeQuota(const CtiaFlags& ctia, int64_t workers,
                                                          bool global = false);

  // Connects (PING, bounded by the client's timeout) and puts the shared cache in front of
  // each intel's client of `stack`: `ctia` as the stack was started with (its details, e.g.
  // CtiaFlagsForRun's), which the shared values hold and their keys name. Under --intel both
  // each side shares its own lookups and verdicts() merges them. Errors: InvalidArgument
  // (usage, exit 2) for a bad URL or a password in it; Unavailable when Redis cannot be
  // reached and not `optional` (the message names the URL without its password and says
  // --redis-optional).
  // With `optional`, an unreachable Redis is said on stderr and the run looks up alone until
  // Redis answers.
  static absl::StatusOr<std::unique_ptr<SharedRedis>> Start(
      const RedisFlags& redis, const CtiaFlags& ctia, CtiaStack& stack,
      transport::RedisQuota* quota = nullptr, transport::RedisQuota* global_quota = nullptr);

  transport::VerdictSource& verdicts() {
    if (merged_ != nullptr) return *merged_;
    return *sources_.front();
  }
  // Waits until the answers written so far are in Redis, then closes the connection (its
  // reconnect timer would keep the io threads running): call when the run asks nothing more,
  // before the CTIA stack stops its io threads. Idempotent.
  void Close();
  // "shared cache (redis://…): N answers from other workers, M asked here, K asked alone,
  // H handed to other workers, T taken from others, stuck S times mid-run" (the partial
  // batches, shared_handoff.h),
  // then "; shared quota: G requests granted, W waits, A paced alone" with a quota.
  std::string Summary() const;

 private:
  SharedRedis() = default;
  std::string closed_summary_;
  std::unique_ptr<transport::RedisClient> client_;
  std::vector<transport::RedisQuota*> quotas_;  // attached to client_; not owned
  std::unique_ptr<transport::SharedLookups> lookups_;
  std::vector<std::unique_ptr<transport::SharedVerdictSource>> sources_;  // per intel asked
  std::unique_ptr<transport::DualIntelSource> merged_;  // under --intel both
};

// `plan --redis URL`: whether the workers' shared cache holds the answer to an observable now
// (EXISTS of the key a run with the same flags reads), asked synchronously from the plan's
// pipeline threads, on io threads of its own.
class SharedCacheProbe {
 public:
  // Errors as SharedRedis::Start's; with `optional`, an unreachable Redis is said on stderr and
  // the probe answers "not held" for every observable.
  static absl::StatusOr<std::unique_ptr<SharedCacheProbe>> Start(const RedisFlags& redis,
                                                                  const CtiaFlags& ctia);
  ~SharedCacheProbe();
  bool Holds(const schema::Observable& observable);

 private:
  SharedCacheProbe() = default;
  std::vector<std::pair<std::string, std::string>> sides_;  // endpoint and intel of each
  std::unique_ptr<transport::IoThreads> io_;
  std::unique_ptr<transport::RedisClient> client_;
  std::unique_ptr<transport::SharedLookups> lookups_;  // names the keys
};

}  // namespace enrich::cli

#endif  // ENRICH_TOOLS_CLI_SHARED_REDIS_H_
