#ifndef ENRICH_TRANSPORT_REDIS_SHARED_LOOKUPS_H_
#define ENRICH_TRANSPORT_REDIS_SHARED_LOOKUPS_H_

// The lookups several workers share through Redis: a verdict cache with TTLs (in front of each
// worker's own cache), and single flight across workers, so two workers never pay for the same
// lookup. Sits between the engine's resolve step and the CTIA client; built on RedisClient.
//
// Single flight is a lease per observable: `SET lease:<key> <worker> NX PX <lease>`, taken in
// the same Lua script that reads the cache (one round trip: the answer, or the lease, or how
// long the holder's lease still runs). A worker that finds the lease held waits by asking the
// same script again with backoff (AwaitAnswer) until the holder has written the answer, or the
// lease has expired and the script hands the lease to it (the takeover). Polling was chosen
// over Pub/Sub or keyspace notifications: it needs no second connection in subscribe mode and
// no server configuration (notify-keyspace-events is often locked on managed Redis), it
// survives a reconnect without resubscribing or missing a message between the read and the
// subscribe, and a waiter costs one small script call per poll while the waits are short (one
// CTIA lookup) and few (bounded by the lookups in flight). The price is up to one poll interval
// (poll_max) of extra latency for a waiter, small against the quota's pace.
//
// Keys hash-tag the lookup ("{...}") so a value and its lease live in one Redis Cluster slot.
//
// Hand-off (shared_handoff.h): a worker that gives a lookup to another worker re-sets its
// lease to "<worker>#handed" for a fresh lease length and stops renewing it (HandOver); its
// own waiter then sees the lease as another's (kHeld) and takes the lookup over when it
// expires. The taker re-sets the lease to itself only while it is still the hander's and no
// answer is stored (Adopt), and renews it from then on like a lease it claimed.

#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "schema/clock.h"
#include "schema/verdict.h"
#include "schema/verdict_details.h"
#include "transport/redis/redis_client.h"
#include "transport/redis/shared_verdict_codec.h"

namespace enrich::transport {

struct SharedLookupOptions {
  std::string prefix = "enrich:v2";  // of every key; a new encoding version takes a new prefix
  // The details every value holds (SharedDetailsSpec of what the client asks), named in every
  // key (SharedKeyText): runs that keep other details share no values.
  schema::DetailsSpec details;
  std::string worker_id;             // unique per worker process (host:pid:start)
  // How long one lookup may take before another worker takes it over (the lease's PX), unless
  // its holder is alive: the leases a worker holds are renewed every lease / 3 until settled or
  // released (a lookup may wait long for the shared quota). Longer
  // than a lookup with its retries, short enough that a crashed worker costs little.
  absl::Duration lease = absl::Seconds(30);
  absl::Duration max_ttl = absl::Hours(24);  // cap of every cached entry's TTL
  absl::Duration poll_initial = absl::Milliseconds(20);  // AwaitAnswer's first wait
  absl::Duration poll_max = absl::Milliseconds(250);     // AwaitAnswer's longest wait
};

// The answer of Claim() and AwaitAnswer().
struct SharedClaim {
  enum class Kind {
    kCached,  // `cached` holds the answer: nothing to ask
    kLeased,  // this worker holds the lease: look it up, then Settle() or Release()
    kHeld,    // another worker holds the lease for `retry_after` more: AwaitAnswer()
  };
  Kind kind = Kind::kLeased;
  bool from_handoff = false;  // kLeased: the lease was another worker's hand-off ("#handed")
  std::optional<schema::VerdictResult> cached;
  absl::Duration retry_after;
};

// What this worker saw (thread-safe counters).
struct SharedLookupCounters {
  std::atomic<int64_t> hits{0};       // answers read from Redis
  std::atomic<int64_t> leases{0};     // leases taken (lookups this worker asks CTIA)
  std::atomic<int64_t> held{0};       // claims that found another worker's lease
  std::atomic<int64_t> takeovers{0};  // leases taken after waiting (the holder's expired)
  std::atomic<int64_t> corrupt{0};    // entries that did not decode: deleted, never served
};

// Thread-safe; callbacks run on the RedisClient's strand and must not block. Every call fails
// with RedisUnavailable (IsRedisUnavailable) when Redis is not there: the caller then looks up
// on its own, as without Redis.
class SharedLookups {
 public:
  using ClaimCallback = std::function<void(absl::StatusOr<SharedClaim>)>;
  using DoneCallback = std::function<void(absl::Status)>;

  SharedLookups(RedisClient& redis, SharedLookupOptions options, const schema::Clock& clock);
  ~SharedLookups();

  // The cached answer, or the lease, or how long another worker's lease runs.
  void Claim(const SharedLookupKey& key, ClaimCallback callback);
  // Claims again and again (poll_initial doubling to poll_max, never past the lease's end)
  // until the answer is there (kCached) or the lease came to this worker (kLeased).
  void AwaitAnswer(const SharedLookupKey& key, ClaimCallback callback);
  // Writes the answer with `ttl` (not cached when ttl <= 0) and frees this worker's lease (a
  // lease taken over by another worker meanwhile is left to it).
  void Settle(const SharedLookupKey& key, const schema::VerdictResult& result, absl::Duration ttl,
              DoneCallback callback);
  // The lookup failed (failures are never cached): frees this worker's lease so a waiter takes
  // the lookup over at once.
  void Release(const SharedLookupKey& key, DoneCallback callback);

  // Gives the leases of `keys` (those still this worker's) to the hand-off: each is re-set to
  // "<worker>#handed" for a lease length and no longer renewed. Pipelined: a command sent after
  // this call runs after these in Redis. Answers ignored (a lease not re-set expires).
  void HandOver(const std::vector<SharedLookupKey>& keys);
  // Whether a claim takes a lease another worker handed over ("<other>#handed"), as it does at
  // first (SharedClaim::from_handoff): a busy worker asks a handed lookup it needs in its own
  // batch rather than wait for the last worker. Off for a worker that is stuck or whose input
  // has ended (it waits; the busy and the last workers take them); for every shape at once:
  // under --intel both the two sides end together.
  void TakeHandoffs(bool take) { adopt_handoffs_.store(take); }
  // Takes over the lease of `key` that worker `hander` handed over: true when it was still the
  // hander's and no answer is stored (now this worker's, renewed until Settle or Release),
  // false when not (answered, expired or taken over meanwhile: nothing to ask).
  void Adopt(const SharedLookupKey& key, const std::string& hander,
             std::function<void(absl::StatusOr<bool>)> callback);

  // How long an answer stays shared: a verdict until its valid_time.end_time, a no-verdict for
  // `negative_ttl`; both capped by max_ttl; zero (do not cache) for an expired verdict.
  absl::Duration TtlFor(const schema::VerdictResult& result, absl::Duration negative_ttl) const;

  const SharedLookupCounters& counters() const { return counters_; }
  const std::string& worker_id() const { return options_.worker_id; }
  RedisClient& redis() const { return redis_; }
  const SharedLookupOptions& options() const { return options_; }
  std::string ValueKey(const SharedLookupKey& key) const;
  std::string LeaseKey(const SharedLookupKey& key) const;

 private:
  void ClaimOnce(const SharedLookupKey& key, bool retried, ClaimCallback callback);
  // The leases this worker holds (lease keys) and the timer that renews them.
  struct Held;
  void Hold(const SharedLookupKey& key);
  void Unhold(const SharedLookupKey& key);
  bool Adopted(const SharedLookupKey& key) const;
  void Unadopt(const SharedLookupKey& key);
  static void RenewLater(const std::shared_ptr<Held>& held);
  void Poll(SharedLookupKey key, absl::Duration wait, ClaimCallback callback);

  RedisClient& redis_;
  const SharedLookupOptions options_;
  const schema::Clock& clock_;
  SharedLookupCounters counters_;
  std::shared_ptr<Held> held_;
  std::atomic<bool> adopt_handoffs_{true};  // TakeHandoffs()
  // Lease keys adopted (Adopt) and not yet settled or released: a waiter of this worker on one
  // of them (its own lookup of the same observable) keeps waiting for the answer rather than
  // take the lease for its own.
  mutable absl::Mutex adopted_mu_;
  std::set<std::string> adopted_ ABSL_GUARDED_BY(adopted_mu_);
};

}  // namespace enrich::transport

#endif  // ENRICH_TRANSPORT_REDIS_SHARED_LOOKUPS_H_
