#ifndef ENRICH_TRANSPORT_REDIS_SHARED_VERDICT_SOURCE_H_
#define ENRICH_TRANSPORT_REDIS_SHARED_VERDICT_SOURCE_H_

// A VerdictSource in front of the CTIA client that first asks the workers' shared cache in
// Redis (SharedLookups): an answer another worker paid for is used as is, an observable another
// worker is looking up is waited for, and only a lookup whose lease this worker holds goes to
// CTIA, its answer then shared. The engine's own verdict table stays in front of it.
//
// Redis lost (any call failing with RedisUnavailable): the lookup goes to CTIA directly, as
// without Redis; no lookup waits for Redis or fails because of it. `notice` says once when
// the worker goes on alone and once when Redis is back.

#include <atomic>
#include <cstdint>
#include <functional>
#include <string>

#include "absl/strings/string_view.h"
#include "transport/redis/shared_lookups.h"
#include "transport/verdict_source.h"

namespace enrich::transport {

struct SharedVerdictSourceOptions {
  std::string endpoint;  // the CTIA base URL (part of every key)
  std::string intel;     // the lookup shape (part of every key), e.g. "private"
  absl::Duration negative_ttl = absl::Hours(1);  // how long a no-verdict is shared
  std::function<void(absl::string_view)> notice;  // lost / back messages; may be empty
};

struct SharedSourceCounters {
  std::atomic<int64_t> shared{0};     // answered from Redis (another worker paid)
  std::atomic<int64_t> asked{0};      // asked of CTIA under this worker's lease
  std::atomic<int64_t> alone{0};      // asked of CTIA without Redis (Redis unavailable)
};

// Thread-safe. Outlives every lookup it was given (as the inner source does).
class SharedVerdictSource : public VerdictSource {
 public:
  SharedVerdictSource(VerdictSource& inner, SharedLookups& lookups,
                      SharedVerdictSourceOptions options);

  void LookupVerdict(const schema::Observable& observable, Callback done) override;
  void StopSending() override { inner_.StopSending(); }
  // Lookups still asking Redis are held unsent too: Collecting() counts them, and a flush
  // asked for while some are there reaches the inner source's batch once the last of them
  // has left (answered from Redis, or handed to the inner source).
  void FlushBatch() override;
  size_t Collecting() const override;

  const SharedSourceCounters& counters() const { return counters_; }

 private:
  void OnClaim(const schema::Observable& observable, const SharedLookupKey& key,
               absl::StatusOr<SharedClaim> claim, Callback done);
  void AskUnderLease(const schema::Observable& observable, const SharedLookupKey& key,
                     Callback done);
  void AskAlone(const schema::Observable& observable, const absl::Status& why, Callback done);
  void MarkBack();
  // A lookup leaves the Redis stage (after being handed to the inner source, if it was).
  void Unstage();

  VerdictSource& inner_;
  SharedLookups& lookups_;
  const SharedVerdictSourceOptions options_;
  SharedSourceCounters counters_;
  std::atomic<bool> alone_{false};
  std::atomic<int64_t> staged_{0};          // lookups asking Redis
  std::atomic<bool> flush_pending_{false};  // FlushBatch() came while some were staged
};

}  // namespace enrich::transport

#endif  // ENRICH_TRANSPORT_REDIS_SHARED_VERDICT_SOURCE_H_
