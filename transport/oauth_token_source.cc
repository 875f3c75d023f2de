#include "transport/oauth_token_source.h"

#include "schema/redact.h"
#include "transport/internal/retry_policy.h"
#include "transport/rate_limiter.h"

#include <algorithm>
#include <optional>
#include <random>
#include <utility>

#include "absl/status/status.h"
#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "boost/asio/steady_timer.hpp"
#include "rapidjson/document.h"

namespace enrich::transport {
namespace {

namespace net = boost::asio;

// Tokens last 600 s by default (reference/ctia-api.md §8.3); used when `expires_in` is absent.
constexpr absl::Duration kDefaultLifetime = absl::Seconds(600);

const rapidjson::Value* StringMember(const rapidjson::Value& obj, const char* name) {
  auto it = obj.FindMember(name);
  if (it == obj.MemberEnd() || !it->value.IsString()) return nullptr;
  return &it->value;
}

absl::string_view View(const rapidjson::Value& v) {
  return absl::string_view(v.GetString(), v.GetStringLength());
}

struct TokenGrant {
  std::string access_token;
  absl::Duration lifetime;
};

// Parses `{"access_token": "...", "expires_in": 600, ...}` (§8.3).
absl::StatusOr<TokenGrant> ParseTokenBody(absl::string_view body) {
  rapidjson::Document doc;
  doc.Parse(body.data(), body.size());
  if (doc.HasParseError() || !doc.IsObject()) {
    return absl::UnavailableError("token endpoint answered 200 with a body that is not JSON");
  }
  const rapidjson::Value* token = StringMember(doc, "access_token");
  if (token == nullptr || token->GetStringLength() == 0) {
    return absl::UnavailableError("token endpoint answered 200 without an access_token");
  }
  TokenGrant grant{std::string(View(*token)), kDefaultLifetime};
  if (auto it = doc.FindMember("expires_in"); it != doc.MemberEnd()) {
    if (!it->value.IsNumber() || it->value.GetDouble() <= 0) {
      return absl::UnavailableError("token endpoint answered 200 with a bad expires_in");
    }
    grant.lifetime = absl::Seconds(it->value.GetDouble());
  }
  return grant;
}

// The RFC 6749 §5.2 error of a rejected token request: "invalid_client (description)".
std::string OAuthError(absl::string_view body) {
  rapidjson::Document doc;
  doc.Parse(body.data(), body.size());
  if (doc.HasParseError() || !doc.IsObject()) return "no JSON error body";
  std::string out;
  if (const rapidjson::Value* e = StringMember(doc, "error")) out = std::string(View(*e));
  if (const rapidjson::Value* d = StringMember(doc, "error_description")) {
    absl::StrAppend(&out, out.empty() ? "" : " (", View(*d), out.empty() ? "" : ")");
  }
  return out.empty() ? "no error field" : out;
}

}  // namespace

// The attempts of one fetch. Touched only by the fetch in progress (fetching_ is true), one
// step at a time, so it needs no lock of its own.
struct OAuthTokenSource::Retry {
  Retry(const net::any_io_executor& executor, const TokenSourceOptions& source_options)
      : options(source_options), timer(executor), rng(source_options.rng_seed) {}
  void Reset() {
    policy.emplace(
        internal::RetryOptions{options.max_attempts, options.base_backoff, options.max_backoff,
                               /*max_retry_after=*/options.max_backoff},
        /*idempotent=*/true, [this](absl::Duration upper) {
          const int64_t max_ns = std::max<int64_t>(absl::ToInt64Nanoseconds(upper), 0);
          return absl::Nanoseconds(std::uniform_int_distribution<int64_t>(0, max_ns)(rng));
        });
  }
  const TokenSourceOptions options;
  std::optional<internal::RetryPolicy> policy;
  net::steady_timer timer;
  std::mt19937_64 rng;
};

OAuthTokenSource::OAuthTokenSource(ConnectionPool& pool, std::string token_path,
                                   ClientCredentials credentials, const schema::Clock& clock,
                                   TokenSourceOptions options)
    : pool_(pool),
      token_path_(std::move(token_path)),
      credentials_(std::move(credentials)),
      clock_(clock),
      options_(options),
      retry_(std::make_unique<Retry>(pool.executor(), options)) {}

OAuthTokenSource::~OAuthTokenSource() { retry_->timer.cancel(); }

void OAuthTokenSource::GetToken(Callback done) {
  std::string cached;
  bool start_fetch = false;
  {
    absl::MutexLock lock(&mu_);
    const absl::Time now = clock_.Now();
    if (!token_.empty() && now < refresh_at_) {
      cached = token_;
    } else {
      if (!fetching_) {
        fetching_ = true;
        start_fetch = true;
        retry_->Reset();
      }
      // A renewal is due: the current token still serves while it has time left.
      if (!token_.empty() && now < serve_until_) {
        cached = token_;
      } else {
        waiters_.push_back(std::move(done));
      }
    }
  }
  if (start_fetch) Fetch();  // asynchronous: the pool never calls back inline
  if (!cached.empty()) done(std::move(cached));
}

bool OAuthTokenSource::CachedToken(std::string* token) {
  absl::MutexLock lock(&mu_);
  if (token_.empty() || clock_.Now() >= refresh_at_) return false;  // GetToken() renews
  token->assign(token_);
  return true;
}

absl::Time OAuthTokenSource::ExpiresAt(absl::string_view token) {
  absl::MutexLock lock(&mu_);
  if (!token_.empty() && token == token_) return expires_at_;
  if (!previous_token_.empty() && token == previous_token_) return previous_expires_at_;
  return absl::InfinitePast();
}

void OAuthTokenSource::Invalidate(absl::string_view token) {
  absl::MutexLock lock(&mu_);
  // A 401 for an older token must not throw away a newer one fetched meanwhile.
  if (!token_.empty() && token == token_) {
    previous_token_.swap(token_);
    previous_expires_at_ = expires_at_;
    token_.clear();
    refresh_at_ = absl::InfinitePast();
    serve_until_ = absl::InfinitePast();
    expires_at_ = absl::InfinitePast();
  }
}

uint64_t OAuthTokenSource::token_requests() const {
  absl::MutexLock lock(&mu_);
  return token_requests_;
}

void OAuthTokenSource::Fetch() {
  // §8.3: Basic auth with the raw "id:secret" (as the IROH SDK sends it), form body.
  HttpRequest request;
  request.method = "POST";
  request.target = token_path_;
  request.headers = {
      {"Authorization",
       absl::StrCat("Basic ", absl::Base64Escape(absl::StrCat(credentials_.client_id, ":",
                                                              credentials_.client_secret)))},
      {"Content-Type", "application/x-www-form-urlencoded"},
      {"Accept", "application/json"},
  };
  request.body = "grant_type=client_credentials";
  request.idempotent = true;  // a second token request only mints a second token
  {
    absl::MutexLock lock(&mu_);
    ++token_requests_;
    fetch_started_ = clock_.Now();  // the token's lifetime counts from its own request
  }
  pool_.Send(std::move(request),
             [this](absl::StatusOr<HttpResponse> response) { OnFetched(std::move(response)); });
}

void OAuthTokenSource::OnFetched(absl::StatusOr<HttpResponse> response) {
  const std::string where = absl::StrCat(pool_.origin().Origin(), token_path_);
  absl::StatusOr<TokenGrant> grant;
  if (!response.ok()) {
    grant = absl::UnavailableError(
        absl::StrCat("token request to ", where, " failed: ", response.status().message()));
  } else if (response->status == 200) {
    grant = ParseTokenBody(response->body);
  } else if (response->status == 400 || response->status == 401) {
    // RFC 6749 §5.2: invalid_client, unauthorized_client, ... The credential is wrong or
    // revoked; asking again cannot help.
    // The server's text is echoed: redacted where it quotes the secret, never our own words.
    grant = absl::UnauthenticatedError(absl::StrCat(
        "the token endpoint ", where, " rejected API client '", credentials_.client_id, "': ",
        schema::RedactSecret(OAuthError(response->body), credentials_.client_secret),
        " (the client id or secret is wrong, or the client was revoked)"));
  } else {
    grant = absl::UnavailableError(
        absl::StrCat("token request to ", where, ": http ", response->status));
  }

  if (absl::IsUnavailable(grant.status())) {
    // Transient: ask again after a backoff, unless the attempts are spent.
    internal::AttemptFailure failure;
    failure.error = grant.status();
    if (response.ok()) {
      failure.http_status = response->status;
      failure.malformed_ok = response->status == 200;  // a 200 without a usable token
      if (response->status == 429) failure.retry_after = RetryAfterFromHeaders(*response);
    }
    const internal::RetryDecision decision = retry_->policy->OnFailure(failure);
    if (decision.action == internal::RetryAction::kRetry) {
      retry_->timer.expires_after(absl::ToChronoNanoseconds(decision.delay));
      retry_->timer.async_wait([this](const boost::system::error_code& ec) {
        if (ec == net::error::operation_aborted) return;  // the source is going away
        Fetch();
      });
      return;
    }
    if (retry_->policy->attempts() > 1) {
      grant = absl::UnavailableError(absl::StrCat(grant.status().message(), " (after ",
                                                  retry_->policy->attempts(), " attempts)"));
    }
  }

  std::deque<Callback> waiters;
  absl::StatusOr<std::string> result;
  {
    absl::MutexLock lock(&mu_);
    fetching_ = false;
    waiters.swap(waiters_);
    if (grant.ok()) {
      if (!token_.empty()) {
        previous_token_.swap(token_);
        previous_expires_at_ = expires_at_;
      }
      token_ = grant->access_token;
      refresh_at_ = fetch_started_ + grant->lifetime * options_.refresh_fraction;
      serve_until_ = fetch_started_ + grant->lifetime * options_.serve_fraction;
      expires_at_ = fetch_started_ + grant->lifetime;
      result = token_;
    } else if (absl::IsUnavailable(grant.status()) && !token_.empty() &&
               clock_.Now() < expires_at_) {
      // A failed early refresh: the current token is still good; the next call tries again.
      result = token_;
    } else {
      result = grant.status();
    }
  }
  for (Callback& waiter : waiters) waiter(result);
}

}  // namespace enrich::transport
