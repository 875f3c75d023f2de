#include "tools/sim/router.h"

#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/ascii.h"
#include "absl/strings/escaping.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "rapidjson/document.h"
#include "tools/sim/internal/request_params.h"
#include "tools/sim/internal/sim_responses.h"

namespace enrich::sim {
namespace {

// header.payload.signature whose first two parts are base64url JSON objects: a JWT that
// decodes, so rjwt gets as far as checking its signature.
bool LooksLikeJwt(absl::string_view token) {
  const std::vector<absl::string_view> parts = absl::StrSplit(token, '.');
  if (parts.size() != 3 || parts[2].empty()) return false;
  for (int i = 0; i < 2; ++i) {
    std::string json;
    if (!absl::WebSafeBase64Unescape(parts[i], &json)) return false;
    rapidjson::Document doc;
    doc.Parse(json.data(), json.size());
    if (doc.HasParseError() || !doc.IsObject()) return false;
  }
  return true;
}

}  // namespace

// ---- POST /iroh/oauth2/token (reference §8.3, §12.1) --------------------------------------

SimResponse Router::HandleToken(const SimRequest& request) {
  auto invalid_client = [](absl::string_view why) {
    return Json(401, StringObject({{"error", "invalid_client"}, {"error_description", why}}));
  };
  absl::string_view auth = absl::StripAsciiWhitespace(request.authorization);
  if (auth.size() < 6 || !absl::EqualsIgnoreCase(auth.substr(0, 6), "Basic ")) {
    return invalid_client("Client authentication failed: HTTP Basic credentials required");
  }
  std::string decoded;
  if (!absl::Base64Unescape(absl::StripAsciiWhitespace(auth.substr(6)), &decoded)) {
    return invalid_client("Client authentication failed: malformed Basic credentials");
  }
  std::pair<absl::string_view, absl::string_view> id_secret =
      absl::StrSplit(decoded, absl::MaxSplits(':', 1));
  const SimClient* client = nullptr;
  for (const SimClient& c : options_.clients) {
    if (c.id == id_secret.first && c.secret == id_secret.second) client = &c;
  }
  if (client == nullptr) {
    return invalid_client("Client authentication failed: unknown client or wrong secret");
  }
  std::optional<std::string> grant;
  for (auto& [k, v] : ParseForm(request.body)) {
    if (k == "grant_type") grant = v;
  }
  if (!grant.has_value()) {
    return Json(400, StringObject({{"error", "invalid_request"},
                                   {"error_description", "Missing parameter: grant_type"}}));
  }
  if (*grant != "client_credentials") {
    return Json(400, StringObject({{"error", "unsupported_grant_type"},
                                   {"error_description",
                                    absl::StrCat("Unsupported grant_type: ", *grant)}}));
  }
  Identity identity;
  identity.client_id = client->id;
  identity.login = client->login.empty() ? client->id : client->login;
  identity.groups = {client->org};
  identity.scopes = client->scopes;
  TokenRegistry::Issued issued = tokens_.Issue(identity);
  rapidjson::StringBuffer buf;
  Writer w(buf);
  w.StartObject();
  Key(w, "access_token");
  Str(w, issued.access_token);
  Key(w, "token_type");
  Str(w, "bearer");
  Key(w, "expires_in");
  w.Int64(absl::ToInt64Seconds(issued.expires_in));
  Key(w, "scope");
  Str(w, absl::StrJoin(client->scopes, " "));
  w.EndObject();
  return Json(200, Done(buf));
}

// ---- the bearer check of /ctia routes (reference §8.2, §12.4) ----------------------------

Router::Caller Router::Authenticate(const SimRequest& request,
                                    absl::Duration token_delay) const {
  auto refuse = [](std::string body) { return Caller{nullptr, Json(401, std::move(body))}; };
  // rjwt takes the token with ^Bearer\s+(.*)$; without one, CTIA's wrap-authenticated refuses
  // every /ctia route, unknown ones included.
  absl::string_view auth = request.authorization;
  if (!absl::ConsumePrefix(&auth, "Bearer") || auth.empty() ||
      !absl::ascii_isspace(static_cast<unsigned char>(auth[0]))) {
    return refuse(StringObject({{"error", "not_authenticated"},
                                {"message", "Only authenticated users allowed"}}));
  }
  // With token_check_at_send the token is checked as of the moment the answer leaves, after
  // its latency: a token that expires in flight gets jwt_expired, as from CTIA.
  const absl::string_view token = absl::StripAsciiWhitespace(auth);
  TokenRegistry::Lookup lookup = token_delay == absl::ZeroDuration()
                                     ? tokens_.Find(token)
                                     : tokens_.FindAt(token, clock_.Now() + token_delay);
  if (lookup.state == TokenRegistry::Lookup::State::kUnknown) {
    if (LooksLikeJwt(token)) {
      // A well-formed JWT this server did not sign (rjwt `jwt_invalid_signature`, §8.2).
      return refuse(StringObject({{"error", "jwt_invalid_signature"},
                                  {"error_description", "Invalid Signature"},
                                  {"level", "warn"}}));
    }
    return refuse(StringObject({{"error", "jwt_decode_failed_exception"},
                                {"error_description", "JWT decode failed"},
                                {"level", "warn"}}));
  }
  if (lookup.state == TokenRegistry::Lookup::State::kExpired) {
    return refuse(StringObject(
        {{"error", "jwt_expired"},
         {"error_description", absl::StrCat("This JWT max lifetime has expired ",
                                            HumanDuration(lookup.expired_for), " ago")}}));
  }
  return Caller{std::move(lookup.identity), std::nullopt};
}

}  // namespace enrich::sim
