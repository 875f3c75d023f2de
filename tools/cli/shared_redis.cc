#include "tools/cli/shared_redis.h"

#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <future>
#include <memory>
#include <utility>
#include <vector>

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

// The URL of --redis, with the password from ENRICH_REDIS_PASSWORD.
absl::StatusOr<transport::RedisEndpoint> EndpointFor(const RedisFlags& redis) {
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
  return endpoint;
}

std::string IntelLabel(const CtiaFlags& ctia) {
  return ctia.intel.empty() ? "private" : ctia.intel;
}

// The keys' endpoint and intel of each intel asked: the one intel, or under --intel both each
// side's own (its lookups shared with the other runs that ask that intel alone).
std::vector<std::pair<std::string, std::string>> Sides(const CtiaFlags& ctia) {
  if (ctia.intel != "both") return {{EndpointLabel(ctia), IntelLabel(ctia)}};
  const std::string global = !ctia.global_endpoint.empty() ? ctia.global_endpoint
                             : !ctia.region.empty()       ? absl::StrCat("region:", ctia.region)
                                                          : "embedded-demo";
  return {{EndpointLabel(ctia), std::string(transport::kPrivateIntel)},
          {global, std::string(transport::kGlobalIntel)}};
}

// Names the keys and holds the details of what each intel's client is asked.
transport::SharedLookupOptions LookupOptionsFor(const CtiaFlags& ctia) {
  transport::SharedLookupOptions options;
  options.details = transport::SharedDetailsSpec(DetailsAsked(ctia));
  return options;
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
                                                              int64_t workers, bool global) {
  transport::RedisQuotaOptions options;
  options.expected_workers = workers;
  options.endpoint = global ? Sides(ctia).back().first : EndpointLabel(ctia);
  options.worker_id = WorkerId();
  options.notice = Notice;
  return std::make_unique<transport::RedisQuota>(std::move(options),
                                                 schema::SystemClock::Instance());
}

absl::StatusOr<std::unique_ptr<SharedRedis>> SharedRedis::Start(
    const RedisFlags& redis, const CtiaFlags& ctia, CtiaStack& stack,
    transport::RedisQuota* quota, transport::RedisQuota* global_quota) {
  auto endpoint = EndpointFor(redis);
  if (!endpoint.ok()) return endpoint.status();
  auto shared = std::unique_ptr<SharedRedis>(new SharedRedis());
  shared->client_ = std::make_unique<transport::RedisClient>(stack.executor(), *endpoint);
  if (absl::Status up = Ping(*shared->client_); !up.ok()) {
    if (!redis.optional) {
      return absl::UnavailableError(
          absl::StrCat(up.message(), " (--redis-optional runs without it)"));
    }
    Notice(absl::StrCat(up.message(), "; --redis-optional: looking up alone until it answers"));
  }
  transport::SharedLookupOptions options = LookupOptionsFor(ctia);
  options.worker_id = WorkerId();
  options.max_ttl = absl::Seconds(redis.max_cache_ttl_seconds);
  shared->lookups_ = std::make_unique<transport::SharedLookups>(
      *shared->client_, options, schema::SystemClock::Instance());
  // Each intel's client behind its own shared lookups (its own keys); under --intel both the
  // merge comes after them, so each side's answer is shared as its client gave it.
  transport::VerdictSource* inner[] = {&stack.client(), stack.global_client()};
  transport::RedisQuota* side_quota[] = {quota, global_quota};
  const auto sides = Sides(ctia);
  for (size_t i = 0; i < sides.size(); ++i) {
    transport::SharedVerdictSourceOptions source_options;
    source_options.endpoint = sides[i].first;
    source_options.intel = sides[i].second;
    source_options.negative_ttl = absl::Seconds(redis.negative_ttl_seconds);
    source_options.notice = Notice;
    if (transport::RedisQuota* q = side_quota[i]; q != nullptr) {
      // Whether the quota sets the pace: a stuck worker then hands its batch over.
      source_options.quota_waits = [q] { return q->counters().waits; };
    }
    shared->sources_.push_back(std::make_unique<transport::SharedVerdictSource>(
        *inner[i], *shared->lookups_, std::move(source_options)));
  }
  if (shared->sources_.size() == 2) {
    shared->merged_ = stack.MergeOf(*shared->sources_[0], *shared->sources_[1]);
  }
  for (transport::RedisQuota* q : {quota, global_quota}) {
    if (q == nullptr) continue;
    q->Attach(*shared->client_);
    shared->quotas_.push_back(q);
  }
  return shared;
}

void SharedRedis::Close() {
  if (client_ == nullptr) return;
  // Lookups taken from other workers answered and shared; this worker leaves the running set.
  for (const auto& source : sources_) source->Close();
  // The last answers are shared in the background: Redis answers in order, so once a PING
  // sent now is answered, every answer written before it is in Redis (bounded by the client's
  // timeout; skipped when Redis is down).
  if (client_->up()) (void)Ping(*client_);
  closed_summary_ = Summary();
  for (transport::RedisQuota* q : quotas_) q->Detach();
  merged_.reset();
  sources_.clear();
  lookups_.reset();
  client_.reset();
}

std::string SharedRedis::Summary() const {
  if (client_ == nullptr) return closed_summary_;
  int64_t from_others = 0, asked = 0, alone = 0, handed = 0, taken = 0, stuck = 0;
  for (const auto& source : sources_) {
    const transport::SharedSourceCounters& c = source->counters();
    from_others += c.shared.load();
    asked += c.asked.load();
    alone += c.alone.load();
    handed += c.handed.load();
    taken += c.taken.load();
    stuck += c.stuck.load();
  }
  std::string summary = absl::StrCat(
      "shared cache (", client_->name(), "): ", from_others, " answers from other workers, ",
      asked, " asked here, ", alone, " asked alone, ", handed, " handed to other workers, ",
      taken, " taken from others, stuck ", stuck, " times mid-run");
  if (!quotas_.empty()) {
    transport::RedisQuotaCounters sum;
    for (const transport::RedisQuota* quota : quotas_) {
      const transport::RedisQuotaCounters q = quota->counters();
      sum.granted += q.granted;
      sum.waits += q.waits;
      sum.alone += q.alone;
    }
    absl::StrAppend(&summary, "; shared quota: ", sum.granted, " requests granted, ", sum.waits,
                    " waits, ", sum.alone, " paced alone");
  }
  return summary;
}

absl::StatusOr<std::unique_ptr<SharedCacheProbe>> SharedCacheProbe::Start(
    const RedisFlags& redis, const CtiaFlags& ctia) {
  auto endpoint = EndpointFor(redis);
  if (!endpoint.ok()) return endpoint.status();
  auto probe = std::unique_ptr<SharedCacheProbe>(new SharedCacheProbe());
  probe->sides_ = Sides(ctia);
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
      *probe->client_, LookupOptionsFor(ctia), schema::SystemClock::Instance());
  return probe;
}

SharedCacheProbe::~SharedCacheProbe() {
  lookups_.reset();
  client_.reset();  // before its io threads stop
  if (io_ != nullptr) io_->Stop();
}

bool SharedCacheProbe::Holds(const schema::Observable& observable) {
  // Held when every intel asked holds it (under --intel both, each side its own answer).
  std::vector<std::string> command = {"EXISTS"};
  for (const auto& [endpoint, intel] : sides_) {
    command.push_back(lookups_->ValueKey({endpoint, intel, observable.type, observable.value}));
  }
  const auto sides = static_cast<int64_t>(sides_.size());
  std::promise<bool> held;
  client_->Command(command, [&held, sides](absl::StatusOr<transport::RedisReply> r) {
    held.set_value(r.ok() && r->integer == sides);
  });
  return held.get_future().get();  // bounded: the client fails it after its timeout
}

}  // namespace enrich::cli
