#ifndef ENRICH_TRANSPORT_OAUTH_TOKEN_SOURCE_H_
#define ENRICH_TRANSPORT_OAUTH_TOKEN_SOURCE_H_

#include <cstdint>
#include <deque>
#include <string>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "schema/clock.h"
#include "transport/connection_pool.h"
#include "transport/token_source.h"

namespace enrich::transport {

// OAuth2 client credentials. Never logged, never put in an error message.
struct ClientCredentials {
  std::string client_id;
  std::string client_secret;
};

// IROH OAuth2 client-credentials token source (reference/ctia-api.md §8.3):
// `POST <token_path>` with Basic auth, form body `grant_type=client_credentials`.
//
// Keeps one token; refreshes it when `refresh_fraction` of its `expires_in` has passed (so a
// 600 s token is renewed after 480 s). Single flight: while a fetch is in progress, further
// callers wait for it, so N concurrent callers cause one token request.
// Errors: 400/401 from the token endpoint → Unauthenticated("token endpoint rejected client id
// '<id>': <error>") without the secret; other failures → Unavailable with the cause.
// A refresh that fails transiently while the cached token has not yet expired hands out the
// cached token; otherwise transient failures are not cached and the next GetToken() fetches again.
// The token path is sent as given (it is not prefixed with the pool origin's path).
// Thread safety: all methods thread-safe; callbacks run on the pool's io thread or inline.
// The source must outlive its pending callbacks.
class OAuthTokenSource final : public TokenSource {
 public:
  OAuthTokenSource(ConnectionPool& pool, std::string token_path, ClientCredentials credentials,
                   const schema::Clock& clock, double refresh_fraction = 0.8);

  void GetToken(Callback done) override;
  void Invalidate(absl::string_view token) override;

  uint64_t token_requests() const;

 private:
  void Fetch();
  void OnFetched(absl::StatusOr<HttpResponse> response);

  ConnectionPool& pool_;
  const std::string token_path_;
  const ClientCredentials credentials_;
  const schema::Clock& clock_;
  const double refresh_fraction_;

  mutable absl::Mutex mu_;
  std::string token_ ABSL_GUARDED_BY(mu_);
  absl::Time refresh_at_ ABSL_GUARDED_BY(mu_) = absl::InfinitePast();
  absl::Time expires_at_ ABSL_GUARDED_BY(mu_) = absl::InfinitePast();
  absl::Time fetch_started_ ABSL_GUARDED_BY(mu_) = absl::InfinitePast();
  bool fetching_ ABSL_GUARDED_BY(mu_) = false;
  std::deque<Callback> waiters_ ABSL_GUARDED_BY(mu_);
  uint64_t token_requests_ ABSL_GUARDED_BY(mu_) = 0;
};

}  // namespace enrich::transport

#endif  // ENRICH_TRANSPORT_OAUTH_TOKEN_SOURCE_H_
