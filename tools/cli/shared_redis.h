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
};

class SharedRedis {
 public:
  // The shared quota for the CTIA stack's client (CtiaFlags::shared_quota); it outlives the
  // stack and the SharedRedis that attaches it. Notices go to stderr. `workers`: how many are
  // known to share the quota from the start (N of --shard K/N).
  static std::unique_ptr<transport::RedisQuota> MakeQuota(const CtiaFlags& ctia,
                                                          int64_t workers);

  // Connects (PING, bounded by the client's timeout). Errors: InvalidArgument (usage, exit 2)
  // for a bad URL, a password in it, or flags whose answers the shared cache cannot hold
  // (--fields, --judgements, --intel both); Unavailable when Redis cannot be reached and not
  // `optional` (the message names the URL without its password and says --redis-optional).
  // With `optional`, an unreachable Redis is said on stderr and the run looks up alone until
  // Redis answers.
  static absl::StatusOr<std::unique_ptr<SharedRedis>> Start(
      const RedisFlags& redis, const CtiaFlags& ctia, bool asks_details,
      boost::asio::any_io_executor executor, transport::VerdictSource& inner,
      transport::RedisQuota* quota = nullptr);

  transport::VerdictSource& verdicts() { return *source_; }
  // Waits until the answers written so far are in Redis, then closes the connection (its
  // reconnect timer would keep the io threads running): call when the run asks nothing more,
  // before the CTIA stack stops its io threads. Idempotent.
  void Close();
  // "shared cache (redis://…): N answers from other workers, M asked here, K asked alone,
  // H handed to the last worker, T taken from others" (the last partial batches),
  // then "; shared quota: G requests granted, W waits, A paced alone" with a quota.
  std::string Summary() const;

 private:
  SharedRedis() = default;
  std::string closed_summary_;
  std::unique_ptr<transport::RedisClient> client_;
  transport::RedisQuota* quota_ = nullptr;  // attached to client_; not owned
  std::unique_ptr<transport::SharedLookups> lookups_;
  std::unique_ptr<transport::SharedVerdictSource> source_;
};

// `plan --redis URL`: whether the workers' shared cache holds the answer to an observable now
// (EXISTS of the key a run with the same flags reads), asked synchronously from the plan's
// pipeline threads, on io threads of its own.
class SharedCacheProbe {
 public:
  // Errors as SharedRedis::Start's; with `optional`, an unreachable Redis is said on stderr and
  // the probe answers "not held" for every observable.
  static absl::StatusOr<std::unique_ptr<SharedCacheProbe>> Start(const RedisFlags& redis,
                                                                  const CtiaFlags& ctia,
                                                                  bool asks_details);
  ~SharedCacheProbe();
  bool Holds(const schema::Observable& observable);

 private:
  SharedCacheProbe() = default;
  std::string endpoint_, intel_;
  std::unique_ptr<transport::IoThreads> io_;
  std::unique_ptr<transport::RedisClient> client_;
  std::unique_ptr<transport::SharedLookups> lookups_;  // names the keys
};

}  // namespace enrich::cli

#endif  // ENRICH_TOOLS_CLI_SHARED_REDIS_H_
