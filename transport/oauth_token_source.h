#ifndef ENRICH_TRANSPORT_OAUTH_TOKEN_SOURCE_H_
#define ENRICH_TRANSPORT_OAUTH_TOKEN_SOURCE_H_

// OAuth2 client-credentials tokens for CTIA (the real TokenSource): fetched through a
// ConnectionPool to the token endpoint, cached and renewed ahead of expiry.

#include "schema/clock.h"
#include "transport/connection_pool.h"
#include "transport/token_source.h"

#include <cstdint>
#include <deque>
#include <memory>
#include <string>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"

namespace enrich::transport {

// OAuth2 client credentials. Never logged, never put in an error message.
struct ClientCredentials {
  std::string client_id;
  std::string client_secret;
};

struct TokenSourceOptions {
  // A token is renewed once this fraction of its `expires_in` has passed (600 s → 480 s).
  double refresh_fraction = 0.8;
  // While the renewal is in progress, callers keep getting the current token until this
  // fraction of its lifetime; after it they wait for the new one.
  double serve_fraction = 0.9;
  // Token requests per fetch when the endpoint fails transiently (transport errors, 5xx, 429,
  // a 200 without a usable token); capped exponential backoff with full jitter in between
  // (429: its Retry-After).
  int max_attempts = 5;
  absl::Duration base_backoff = absl::Milliseconds(500);
  absl::Duration max_backoff = absl::Seconds(10);
  uint64_t rng_seed = 0x70c3;
};

// IROH OAuth2 client-credentials token source (reference/ctia-api.md §8.3):
// `POST <token_path>` with Basic auth, form body `grant_type=client_credentials`.
//
// Keeps one token and renews it when `refresh_fraction` of its `expires_in` has passed. Single
// flight: one fetch at a time however many callers ask; callers that arrive while a renewal
// is in progress get the current token at once (until `serve_fraction` of its lifetime), the
// others wait for the fetch. So N concurrent callers cause one token request.
// Errors: 400/401 from the token endpoint (invalid_client, unauthorized_client, ...) →
// Unauthenticated, fatal for this credential: "the token endpoint <url> rejected API client
// '<id>': <error> (...)", never the secret; it is not retried. Transient failures are retried
// (max_attempts, backoff) before the waiters get Unavailable with the cause; a failure is not
// cached: the next GetToken() fetches again. A renewal that fails while the current token has
// not expired leaves that token in use.
// The token path is sent as given (it is not prefixed with the pool origin's path).
// Thread safety: all methods thread-safe; callbacks run on the pool's io thread or inline.
// The source must outlive its pending callbacks and backoff timers.
class OAuthTokenSource final : public TokenSource {
 public:
  OAuthTokenSource(ConnectionPool& pool, std::string token_path, ClientCredentials credentials,
                   const schema::Clock& clock, TokenSourceOptions options = {});
  ~OAuthTokenSource() override;

  void GetToken(Callback done) override;
  void Invalidate(absl::string_view token) override;
  // The cached token while it is fresh (before its renewal is due).
  bool CachedToken(std::string* token) override;
  absl::Time ExpiresAt(absl::string_view token) override;

  uint64_t token_requests() const;  // HTTP requests to the token endpoint

 private:
  struct Retry;
  void Fetch();
  void OnFetched(absl::StatusOr<HttpResponse> response);

  ConnectionPool& pool_;
  const std::string token_path_;
  const ClientCredentials credentials_;
  const schema::Clock& clock_;
  const TokenSourceOptions options_;
  std::unique_ptr<Retry> retry_;  // the fetch's attempts and backoff timer (one fetch at a time)

  mutable absl::Mutex mu_;
  std::string token_ ABSL_GUARDED_BY(mu_);
  absl::Time refresh_at_ ABSL_GUARDED_BY(mu_) = absl::InfinitePast();
  absl::Time serve_until_ ABSL_GUARDED_BY(mu_) = absl::InfinitePast();
  absl::Time expires_at_ ABSL_GUARDED_BY(mu_) = absl::InfinitePast();
  // The token the current one replaced (or the one last invalidated), for ExpiresAt().
  std::string previous_token_ ABSL_GUARDED_BY(mu_);
  absl::Time previous_expires_at_ ABSL_GUARDED_BY(mu_) = absl::InfinitePast();
  absl::Time fetch_started_ ABSL_GUARDED_BY(mu_) = absl::InfinitePast();
  bool fetching_ ABSL_GUARDED_BY(mu_) = false;
  std::deque<Callback> waiters_ ABSL_GUARDED_BY(mu_);
  uint64_t token_requests_ ABSL_GUARDED_BY(mu_) = 0;
};

}  // namespace enrich::transport

#endif  // ENRICH_TRANSPORT_OAUTH_TOKEN_SOURCE_H_
