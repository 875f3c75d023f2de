#include "tools/cli/shared_redis.h"

#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <future>
#include <memory>
#include <utility>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "schema/clock.h"
#include "transport/redis/redis_endpoint.h"

namespace enrich::cli {
namespace {

void Notice(absl::string_view message) {
  std::fprintf(stderr, "ctia-enrich: %.*s\n", static_cast<int>(message.size()), message.data());
}

// What the cached answers are answers to: the deployment and the intel asked.
std::string EndpointLabel(const CtiaFlags& ctia) {
  if (!ctia.endpoint.empty()) return ctia.endpoint;
  if (!ctia.region.empty()) return absl::StrCat("region:", ctia.region);
  return "embedded-demo";
}

std::string WorkerId() {
  char host[256] = {0};
  ::gethostname(host, sizeof(host) - 1);
  return absl::StrCat(host, ":", ::getpid(), ":", absl::ToUnixNanos(absl::Now()));
}

// The URL of --redis, with the password from ENRICH_REDIS_PASSWORD; usage errors for what the
// shared cache cannot be used with.
absl::StatusOr<transport::RedisEndpoint> EndpointFor(const RedisFlags& redis,
                                                     const CtiaFlags& ctia, bool asks_details) {
  auto endpoint = transport::ParseRedisUrl(redis.url);
  if (!endpoint.ok()) return endpoint.status();
  if (!endpoint->password.empty()) {
    return absl::InvalidArgumentError(absl::StrCat(
        "--redis ", endpoint->Redacted(),
        ": a password does not belong on the command line; set ENRICH_REDIS_PASSWORD"));
  }
  if (const char* pw = std::getenv("ENRICH_REDIS_PASSWORD"); pw != nullptr && *pw != '\0') {
    endpoint->password = pw;
  }
  if (asks_details || ctia.intel == "both") {
    return absl::InvalidArgumentError(
        "--redis shares verdicts only (not yet the details of --fields or --judgements, nor "
        "--intel both); run without one or the other");
  }
  return endpoint;
}

std::string IntelLabel(const CtiaFlags& ctia) {
  return ctia.intel.empty() ? "private" : ctia.intel;
}

absl::Status Ping(transport::RedisClient& client) {
  std::promise<absl::Status> got;
  client.Command({"PING"}, [&got](absl::StatusOr<transport::RedisReply> r) {
    got.set_value(r.status());
  });
  return got.get_future().get();  // bounded: the client fails it after its timeout
}

}  // namespace

std::unique_ptr<transport::RedisQuota> SharedRedis::MakeQuota(const CtiaFlags& ctia,
                                                              int64_t workers) {
  transport::RedisQuotaOptions options;
  options.expected_workers = workers;
  options.endpoint = EndpointLabel(ctia);
  options.worker_id = WorkerId();
  options.notice = Notice;
  return std::make_unique<transport::RedisQuota>(std::move(options),
                                                 schema::SystemClock::Instance());
}

absl::StatusOr<std::unique_ptr<SharedRedis>> SharedRedis::Start(
    const RedisFlags& redis, const CtiaFlags& ctia, bool asks_details,
    boost::asio::any_io_executor executor, transport::VerdictSource& inner,
    transport::RedisQuota* quota) {
  auto endpoint = EndpointFor(redis, ctia, asks_details);
  if (!endpoint.ok()) return endpoint.status();
  auto shared = std::unique_ptr<SharedRedis>(new SharedRedis());
  shared->client_ = std::make_unique<transport::RedisClient>(executor, *endpoint);
  if (absl::Status up = Ping(*shared->client_); !up.ok()) {
    if (!redis.optional) {
      return absl::UnavailableError(
          absl::StrCat(up.message(), " (--redis-optional runs without it)"));
    }
    Notice(absl::StrCat(up.message(), "; --redis-optional: looking up alone until it answers"));
  }
  transport::SharedLookupOptions options;
  options.worker_id = WorkerId();
  options.max_ttl = absl::Seconds(redis.max_cache_ttl_seconds);
  shared->lookups_ = std::make_unique<transport::SharedLookups>(
      *shared->client_, options, schema::SystemClock::Instance());
  transport::SharedVerdictSourceOptions source_options;
  source_options.endpoint = EndpointLabel(ctia);
  source_options.intel = IntelLabel(ctia);
  source_options.notice = Notice;
  shared->source_ = std::make_unique<transport::SharedVerdictSource>(
      inner, *shared->lookups_, std::move(source_options));
  if (quota != nullptr) {
    quota->Attach(*shared->client_);
    shared->quota_ = quota;
  }
  return shared;
}

void SharedRedis::Close() {
  if (client_ == nullptr) return;
  // Lookups taken from other workers answered and shared; this worker leaves the running set.
  source_->Close();
  // The last answers are shared in the background: Redis answers in order, so once a PING
  // sent now is answered, every answer written before it is in Redis (bounded by the client's
  // timeout; skipped when Redis is down).
  if (client_->up()) (void)Ping(*client_);
  closed_summary_ = Summary();
  if (quota_ != nullptr) quota_->Detach();
  source_.reset();
  lookups_.reset();
  client_.reset();
}

std::string SharedRedis::Summary() const {
  if (client_ == nullptr) return closed_summary_;
  const auto& c = source_->counters();
  std::string summary =
      absl::StrCat("shared cache (", client_->name(), "): ", c.shared.load(),
                   " answers from other workers, ", c.asked.load(), " asked here, ",
                   c.alone.load(), " asked alone, ", c.handed.load(),
                   " handed to the last worker, ", c.taken.load(), " taken from others, ",
                   c.deferred_flushes.load(), " partial batches sent a tick late");
  if (quota_ != nullptr) {
    const transport::RedisQuotaCounters q = quota_->counters();
    absl::StrAppend(&summary, "; shared quota: ", q.granted, " requests granted, ", q.waits,
                    " waits, ", q.alone, " paced alone");
  }
  return summary;
}

absl::StatusOr<std::unique_ptr<SharedCacheProbe>> SharedCacheProbe::Start(
    const RedisFlags& redis, const CtiaFlags& ctia, bool asks_details) {
  auto endpoint = EndpointFor(redis, ctia, asks_details);
  if (!endpoint.ok()) return endpoint.status();
  auto probe = std::unique_ptr<SharedCacheProbe>(new SharedCacheProbe());
  probe->endpoint_ = EndpointLabel(ctia);
  probe->intel_ = IntelLabel(ctia);
  probe->io_ = std::make_unique<transport::IoThreads>(1);
  probe->client_ = std::make_unique<transport::RedisClient>(probe->io_->executor(), *endpoint);
  if (absl::Status up = Ping(*probe->client_); !up.ok()) {
    if (!redis.optional) {
      return absl::UnavailableError(
          absl::StrCat(up.message(), " (--redis-optional plans without it)"));
    }
    Notice(absl::StrCat(up.message(), "; --redis-optional: counting no answer as shared"));
  }
  probe->lookups_ = std::make_unique<transport::SharedLookups>(
      *probe->client_, transport::SharedLookupOptions{}, schema::SystemClock::Instance());
  return probe;
}

SharedCacheProbe::~SharedCacheProbe() {
  lookups_.reset();
  client_.reset();  // before its io threads stop
  if (io_ != nullptr) io_->Stop();
}

bool SharedCacheProbe::Holds(const schema::Observable& observable) {
  const transport::SharedLookupKey key{endpoint_, intel_, observable.type, observable.value};
  std::promise<bool> held;
  client_->Command({"EXISTS", lookups_->ValueKey(key)},
                   [&held](absl::StatusOr<transport::RedisReply> r) {
                     held.set_value(r.ok() && r->integer == 1);
                   });
  return held.get_future().get();  // bounded: the client fails it after its timeout
}

}  // namespace enrich::cli
