#ifndef ENRICH_TRANSPORT_TOKEN_SOURCE_H_
#define ENRICH_TRANSPORT_TOKEN_SOURCE_H_

// The interface the CTIA clients get bearer tokens through (OAuthTokenSource in the product,
// fixed tokens in tests).

#include <functional>
#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"

namespace enrich::transport {

// Supplies bearer tokens for CTIA requests.
class TokenSource {
 public:
  virtual ~TokenSource() = default;
  using Callback = std::function<void(absl::StatusOr<std::string>)>;
  // Calls `done` exactly once with a token believed valid, or with the error that prevented
  // getting one (Unauthenticated for bad credentials: fatal for the run). `done` may run inline
  // (cached token) or on an io thread.
  virtual void GetToken(Callback done) = 0;
  // Tells the source that `token` was rejected (HTTP 401): the next GetToken() fetches a new
  // one unless a newer token is already cached.
  virtual void Invalidate(absl::string_view token) = 0;
  // A token believed valid, copied into `*token` (its capacity reused), when one is at hand
  // without waiting and without anything to start (such as a renewal that is due); false:
  // call GetToken(). Thread-safe.
  virtual bool CachedToken(std::string* token) {
    (void)token;
    return false;
  }
  // When `token` (the current token or the one it replaced) stops being valid, as far as the
  // source knows: InfiniteFuture for tokens that do not expire, InfinitePast for a token it
  // no longer knows (older ones). Lets a 401 be told apart: a token that expired while its
  // request was in flight (refresh and resend) from one rejected while still valid. Call it
  // before Invalidate(). Thread-safe.
  virtual absl::Time ExpiresAt(absl::string_view token) {
    (void)token;
    return absl::InfiniteFuture();
  }
};

}  // namespace enrich::transport

#endif  // ENRICH_TRANSPORT_TOKEN_SOURCE_H_
