// The access tokens ctia-sim's token endpoint has issued, and their expiry. The Router
// issues tokens from it and looks up the bearer of every authenticated /ctia request.

#ifndef ENRICH_TOOLS_SIM_TOKEN_REGISTRY_H_
#define ENRICH_TOOLS_SIM_TOKEN_REGISTRY_H_

#include <cstddef>
#include <memory>
#include <random>
#include <string>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_map.h"
#include "absl/strings/string_view.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "schema/clock.h"
#include "tools/sim/access_control.h"

namespace enrich::sim {

// The access tokens ctia-sim has issued (reference/ctia-api.md §12.1: opaque random tokens are
// acceptable when the server tracks expiry itself; clients treat tokens as opaque).
//
// A token is 32 bytes from std::random_device (the OS CSPRNG on Linux) as 64 hex digits.
// Expiry follows the injected clock: a token is expired when now >= expiry.
//
// Thread safety: every method may be called from any thread.
class TokenRegistry {
 public:
  // `clock` is not owned and must outlive the registry.
  TokenRegistry(const schema::Clock& clock, absl::Duration ttl);

  struct Issued {
    std::string access_token;
    absl::Duration expires_in;
  };
  // Issues a new token for `identity`, valid for the configured ttl from now.
  Issued Issue(const Identity& identity);

  struct Lookup {
    enum class State { kValid, kUnknown, kExpired };
    State state = State::kUnknown;
    std::shared_ptr<const Identity> identity;  // set when kValid (shared, not copied)
    absl::Duration expired_for;   // now - expiry, when kExpired
  };
  Lookup Find(absl::string_view access_token) const;
  // The same as of `at` instead of now: the check of a token when the answer is sent, `at` =
  // now + the answer's delay (SimOptions::token_check_at_send).
  Lookup FindAt(absl::string_view access_token, absl::Time at) const;

  // Makes every issued token expire now (test knob: "revoke all tokens").
  void ExpireAll();
  // Makes one token expire now; false when it is unknown.
  bool ExpireToken(absl::string_view access_token);
  size_t size() const;

 private:
  struct Entry {
    std::shared_ptr<const Identity> identity;
    absl::Time expiry;
  };
  // Drops tokens that expired long ago so a long run does not grow without bound; tokens that
  // expired recently stay to be answered with jwt_expired.
  void PruneLocked(absl::Time now) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  const schema::Clock& clock_;
  const absl::Duration ttl_;
  mutable absl::Mutex mu_;
  std::random_device random_ ABSL_GUARDED_BY(mu_);
  absl::flat_hash_map<std::string, Entry> tokens_ ABSL_GUARDED_BY(mu_);
  size_t prune_at_ ABSL_GUARDED_BY(mu_) = 1024;
};

// rjwt's `hr-duration`: "1 day 2h 5min 3s" (parts that are zero are left out; "0s" for zero).
std::string HumanDuration(absl::Duration d);

}  // namespace enrich::sim

#endif  // ENRICH_TOOLS_SIM_TOKEN_REGISTRY_H_
