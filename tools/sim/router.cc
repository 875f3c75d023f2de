// The Router's core: Handle (fault rules, CTIA headers, counting), the dispatch under /ctia
// after authentication and the rate limiter, judgement ids, counters, reset and seeding.

#include "tools/sim/router.h"

#include <algorithm>
#include <cstdio>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "rapidjson/stringbuffer.h"
#include "schema/time_format.h"
#include "tools/sim/internal/request_params.h"
#include "tools/sim/internal/sim_responses.h"
#include "tools/sim/ndjson_seed.h"

namespace enrich::sim {
namespace {

// GET /ctia/version's body (reference §12.3).
std::string VersionBody() {
  rapidjson::StringBuffer buf;
  Writer w(buf);
  w.StartObject();
  Key(w, "base");
  Str(w, "/ctia");
  Key(w, "ctim-version");
  Str(w, kCtimVersion);
  Key(w, "beta");
  w.Bool(true);
  Key(w, "ctia-build");
  Str(w, kCtiaVersion);
  Key(w, "ctia-config");
  Str(w, kCtiaConfig);
  Key(w, "ctia-supported_features");
  w.StartArray();
  w.EndArray();
  w.EndObject();
  return Done(buf);
}

}  // namespace

Router::Router(const SimOptions& options, JudgementStore& store)
    : options_(options),
      clock_(*options.clock),
      synthetic_short_end_(absl::FromUnixSeconds(absl::ToUnixSeconds(clock_.Now())) +
                           options.synthetic_short_valid),
      store_(store),
      tokens_(clock_, options.token_ttl),
      limiter_(options.rate_limit, options.rate_limit_window, options.rate_limit_customs),
      faults_(options.fault_seed),
      green_visible_(options.green_visible_to_everyone),
      graphql_on_(options.graphql),
      token_check_at_send_(options.token_check_at_send),
      limit_header_(absl::StrCat("X-RateLimit-", options.rate_limit_header_group, "-Limit")),
      remaining_header_(
          absl::StrCat("X-RateLimit-", options.rate_limit_header_group, "-Remaining")),
      id_random_(std::random_device{}()) {
  InstallStandingFaults();
}

void Router::InstallStandingFaults() {
  if (options_.hang_percent > 0) {
    FaultRule hang;
    hang.kind = FaultKind::kHang;
    hang.path_prefix = "/ctia/";
    hang.percentage = options_.hang_percent;
    hang.lookups_only = true;
    faults_.Add(std::move(hang));
  }
  if (options_.html_404) {
    FaultRule not_ctia;
    not_ctia.kind = FaultKind::kHtml404;
    not_ctia.path_prefix = "/ctia/";
    not_ctia.lookups_only = true;
    faults_.Add(std::move(not_ctia));
  }
  if (options_.slow_percent > 0) {
    FaultRule slow;
    slow.kind = FaultKind::kLatency;
    slow.path_prefix = "/ctia/";
    slow.percentage = options_.slow_percent;
    slow.latency = options_.slow;
    slow.lookups_only = true;
    faults_.Add(std::move(slow));
  }
}

void Router::SetPublicBase(std::string base) {
  absl::MutexLock lock(&mu_);
  public_base_ = std::move(base);
}

std::string Router::PublicBase() const {
  absl::MutexLock lock(&mu_);
  return public_base_;
}

std::string Router::NewShortId() {
  uint64_t hi = 0;
  uint64_t lo = 0;
  {
    absl::MutexLock lock(&mu_);
    hi = id_random_();
    lo = id_random_();
  }
  // RFC 4122 version 4, variant 1.
  hi = (hi & 0xffffffffffff0fffULL) | 0x0000000000004000ULL;
  lo = (lo & 0x3fffffffffffffffULL) | 0x8000000000000000ULL;
  char text[37];
  std::snprintf(text, sizeof(text), "%08x-%04x-%04x-%04x-%012llx",
                static_cast<unsigned>(hi >> 32), static_cast<unsigned>((hi >> 16) & 0xffff),
                static_cast<unsigned>(hi & 0xffff), static_cast<unsigned>(lo >> 48),
                static_cast<unsigned long long>(lo & 0xffffffffffffULL));
  return absl::StrCat("judgement-", text);
}

std::string Router::LongId(absl::string_view short_id) const {
  // ctim `make-long-id-str` (reference §5.2).
  return absl::StrCat(PublicBase(), "/ctia/judgement/", short_id);
}

schema::Judgement Router::WithLongId(schema::Judgement j) const {
  j.id = LongId(j.id);
  return j;
}

SimCounters Router::Counters() const {
  SimCounters c;
  c.token_requests = counters_.token_requests.load();
  c.verdict_requests = counters_.verdict_requests.load();
  c.judgement_posts = counters_.judgement_posts.load();
  c.bulk_posts = counters_.bulk_posts.load();
  c.unauthorized = counters_.unauthorized.load();
  c.total = counters_.total.load();
  c.judgement_reads = counters_.judgement_reads.load();
  c.judgement_deletes = counters_.judgement_deletes.load();
  c.forbidden = counters_.forbidden.load();
  c.client_errors = counters_.client_errors.load();
  c.graphql_requests = counters_.graphql_requests.load();
  c.graphql_observables = counters_.graphql_observables.load();
  c.judgements_created = counters_.judgements_created.load();
  c.external_id_lookups = counters_.external_id_lookups.load();
  return c;
}

LookupTally Router::Lookups() const {
  absl::MutexLock lock(&tally_mu_);
  return tally_;
}

void Router::TallyLookup(const Identity& who, const schema::Observable& observable) {
  if (!options_.test_api) return;
  absl::MutexLock lock(&tally_mu_);
  ++tally_[who.client_id][absl::StrCat(observable.type, ":", observable.value)];
}

EndpointCounts Router::CountsByEndpoint() const {
  static constexpr std::array<absl::string_view, kEndpoints> kNames = {
      "token",      "verdict",          "judgements", "judgement_post", "judgement_get",
      "judgement_delete", "judgement_expire", "bulk_post", "bulk_get", "graphql",
      "status",     "version",          "judgement_external_id", "other"};
  EndpointCounts out;
  for (size_t e = 0; e < kEndpoints; ++e) {
    for (int s = 0; s < kStatusSlots; ++s) {
      const uint64_t n = by_status_[e][s].load(std::memory_order_relaxed);
      if (n > 0) out[std::string(kNames[e])][s] = n;
    }
  }
  return out;
}

Router::Endpoint Router::Classify(absl::string_view method, absl::string_view path) {
  if (path == "/iroh/oauth2/token") return Endpoint::kToken;
  if (!absl::ConsumePrefix(&path, "/ctia/")) return Endpoint::kOther;
  const Segments seg = absl::StrSplit(path, '/');
  if (seg.size() == 1) {
    if (seg[0] == "judgement" && method == "POST") return Endpoint::kJudgementPost;
    if (seg[0] == "bulk") return method == "POST" ? Endpoint::kBulkPost : Endpoint::kBulkGet;
    if (seg[0] == "graphql") return Endpoint::kGraphql;
    if (seg[0] == "status") return Endpoint::kStatus;
    if (seg[0] == "version") return Endpoint::kVersion;
    return Endpoint::kOther;
  }
  if (seg.size() == 2 && seg[0] == "judgement") {
    return method == "DELETE" ? Endpoint::kJudgementDelete : Endpoint::kJudgementGet;
  }
  if (seg.size() == 3 && seg[0] == "judgement" && seg[2] == "expire") {
    return Endpoint::kJudgementExpire;
  }
  if (seg.size() == 3 && seg[0] == "judgement" && seg[1] == "external_id") {
    return Endpoint::kJudgementExternalId;
  }
  if (seg.size() == 3 && seg[2] == "verdict") return Endpoint::kVerdict;
  if (seg.size() == 3 && seg[2] == "judgements") return Endpoint::kJudgements;
  return Endpoint::kOther;
}

void Router::Reset() {
  store_.Clear();
  faults_.Clear();
  InstallStandingFaults();
  graphql_on_.store(options_.graphql);
  token_check_at_send_.store(options_.token_check_at_send);
  limiter_.Reset();
  clock_.Release();
  for (auto& row : by_status_) {
    for (auto& n : row) n.store(0, std::memory_order_relaxed);
  }
  for (std::atomic<uint64_t>* c :
       {&counters_.token_requests, &counters_.verdict_requests, &counters_.judgement_posts,
        &counters_.bulk_posts, &counters_.unauthorized, &counters_.total,
        &counters_.judgement_reads, &counters_.judgement_deletes, &counters_.forbidden,
        &counters_.client_errors, &counters_.graphql_requests, &counters_.graphql_observables,
        &counters_.judgements_created, &counters_.external_id_lookups}) {
    c->store(0);
  }
  absl::MutexLock lock(&tally_mu_);
  tally_.clear();
}

absl::StatusOr<size_t> Router::LoadNdjson(const std::string& path) {
  // Batches bound the memory of a seed file of any size (the store is compact; a batch of
  // decoded judgements is not).
  constexpr size_t kBatch = 4096;
  size_t stored = 0;
  std::vector<schema::Judgement> batch;
  auto flush = [&] {
    stored += StoreWithDefaults(std::move(batch), nullptr);
    batch.clear();
  };
  absl::Status status = ForEachJudgementNdjson(path, clock_.Now(), [&](schema::Judgement j) {
    batch.push_back(std::move(j));
    if (batch.size() == kBatch) flush();
  });
  flush();
  if (!status.ok()) return status;
  return stored;
}

void Router::Count(const SimResponse& response, Endpoint endpoint) {
  switch (endpoint) {
    case Endpoint::kToken: ++counters_.token_requests; break;
    case Endpoint::kVerdict: ++counters_.verdict_requests; break;
    case Endpoint::kJudgementPost: ++counters_.judgement_posts; break;
    case Endpoint::kBulkPost: ++counters_.bulk_posts; break;
    case Endpoint::kGraphql: ++counters_.graphql_requests; break;
    default: break;
  }
  const int slot = response.status >= 0 && response.status < kStatusSlots ? response.status : 0;
  by_status_[static_cast<size_t>(endpoint)][slot].fetch_add(1, std::memory_order_relaxed);
  ++counters_.total;
  if (response.status == 401) ++counters_.unauthorized;
  if (response.status == 403) ++counters_.forbidden;
  if (response.status >= 400 && response.status < 500) ++counters_.client_errors;
}

SimResponse Router::Handle(const SimRequest& request) {
  absl::string_view target = request.target;
  const size_t q = target.find('?');
  const absl::string_view path = target.substr(0, q);
  const absl::string_view query =
      q == absl::string_view::npos ? absl::string_view() : target.substr(q + 1);
  if (absl::StartsWith(path, kTestPrefix)) {
    // The control API is not CTIA: no CTIA headers, no counting, never faulted.
    return options_.test_api ? HandleTestApi(request, path) : HtmlNotFound();
  }
  const Endpoint endpoint = Classify(request.method, path);
  bool ctia_headers = true;
  std::optional<FaultRule> fault = faults_.Pick(path);
  SimResponse response =
      fault.has_value()
          ? Faulted(*fault, request, path, query, &ctia_headers)
          : Route(request, path, query,
                  token_check_at_send_.load(std::memory_order_relaxed) ? options_.latency
                                                                       : absl::ZeroDuration());
  if (!fault.has_value()) response.delay = options_.latency;
  if (ctia_headers) {
    // ctia: src/ctia/http/server.clj (nosniff), middleware/version.clj (reference §2.2, §12.3).
    response.headers.reserve(response.headers.size() + 4);
    response.headers.emplace_back("X-Content-Type-Options", "nosniff");
    response.headers.emplace_back("X-Ctia-Version", std::string(kCtiaVersion));
    response.headers.emplace_back("X-Ctia-Config", std::string(kCtiaConfig));
    response.headers.emplace_back("X-Ctim-Version", std::string(kCtimVersion));
  }
  Count(response, endpoint);
  return response;
}

SimResponse Router::Faulted(const FaultRule& fault, const SimRequest& request,
                            absl::string_view path, absl::string_view query,
                            bool* ctia_headers) {
  switch (fault.kind) {
    case FaultKind::kStatus500:
      // ctia's unknown-exception handler (reference §9.3).
      return Json(500, StringObject({{"type", "unknown-exception"},
                                     {"class", "java.lang.RuntimeException"}}));
    case FaultKind::kHtml502:
      *ctia_headers = false;
      return ProxyHtml(502, "Bad Gateway");
    case FaultKind::kHtml503:
      *ctia_headers = false;
      return ProxyHtml(503, "Service Temporarily Unavailable");
    case FaultKind::kHtml504:
      *ctia_headers = false;
      return ProxyHtml(504, "Gateway Time-out");
    case FaultKind::kHtml404:
      *ctia_headers = false;
      return HtmlNotFound();
    case FaultKind::kStatus413:
      *ctia_headers = false;
      return ProxyHtml(413, "Request Entity Too Large");
    case FaultKind::kStatus414:
      *ctia_headers = false;
      return ProxyHtml(414, "Request-URI Too Large");
    case FaultKind::kBurst429:
      return TooManyRequests(fault.retry_after_seconds);
    case FaultKind::kTokenFail:
      *ctia_headers = false;
      return Json(fault.status, StringObject({{"error", "server_error"},
                                              {"error_description",
                                               "The token endpoint failed (injected fault)"}}));
    case FaultKind::kHang: {
      *ctia_headers = false;
      SimResponse r;
      r.status = 0;
      r.delivery = SimResponse::Delivery::kHang;
      r.hang = fault.hang;
      return r;
    }
    case FaultKind::kLatency: {
      SimResponse r = Route(request, path, query,
                            token_check_at_send_.load(std::memory_order_relaxed)
                                ? fault.latency
                                : absl::ZeroDuration());
      r.delay = fault.latency;
      return r;
    }
    case FaultKind::kCloseMidResponse:
    case FaultKind::kTruncatedBody: {
      SimResponse r = Route(request, path, query, absl::ZeroDuration());
      r.delivery = fault.kind == FaultKind::kCloseMidResponse
                       ? SimResponse::Delivery::kCloseMidResponse
                       : SimResponse::Delivery::kTruncatedBody;
      return r;
    }
  }
  return Route(request, path, query, absl::ZeroDuration());
}

SimResponse Router::Route(const SimRequest& request, absl::string_view path,
                          absl::string_view query, absl::Duration token_delay) {
  if (path == "/iroh/oauth2/token") {
    return request.method == "POST" ? HandleToken(request) : HtmlNotFound();
  }
  if (path == "/ctia" || absl::StartsWith(path, "/ctia/")) {
    return HandleCtia(request, path, query, token_delay);
  }
  return HtmlNotFound();
}

// ---- /ctia ----------------------------------------------------------------------------------

SimResponse Router::HandleCtia(const SimRequest& request, absl::string_view path,
                               absl::string_view query, absl::Duration token_delay) {
  const Segments seg = absl::StrSplit(path.substr(1), '/');
  const absl::string_view method = request.method;

  if (seg.size() == 2 && seg[1] == "version") {
    return method == "GET" ? Json(200, VersionBody()) : HtmlNotFound();
  }

  Caller caller = Authenticate(request, token_delay);
  if (caller.refusal.has_value()) return *std::move(caller.refusal);
  const Identity& who = *caller.identity;

  // Rate limiting runs after authentication (reference §8.2, §9.1, §12.5).
  std::optional<RateLimiter::Decision> limited;
  if (limiter_.enabled() &&
      std::find(options_.unlimited_client_ids.begin(), options_.unlimited_client_ids.end(),
                who.client_id) == options_.unlimited_client_ids.end()) {
    RateLimiter::Decision d =
        options_.rate_limit_per_client
            ? limiter_.Admit(std::vector<std::string>{who.client_id}, clock_.Now())
            : limiter_.Admit(who.groups, clock_.Now());
    if (!d.allowed) return TooManyRequests(d.retry_after_seconds);
    limited = d;
  }
  SimResponse response = DispatchCtia(who, request, seg, query);
  if (limited.has_value() && options_.rate_limit_header_group != "NONE") {
    response.headers.emplace_back(limit_header_, absl::StrCat(limited->limit));
    if (options_.rate_limit_remaining) {
      response.headers.emplace_back(remaining_header_, absl::StrCat(limited->remaining));
    }
  }
  return response;
}

SimResponse Router::DispatchCtia(const Identity& who, const SimRequest& request,
                                 absl::Span<const absl::string_view> seg,
                                 absl::string_view query) {
  const absl::string_view method = request.method;
  const bool verdict_route = seg.size() == 4 && seg[3] == "verdict" && method == "GET";
  for (absl::string_view s : seg) {
    if (!IsRouteSegment(s)) return HtmlNotFound();
  }
  if (seg.size() == 2 && seg[1] == "status" && method == "GET") {
    return Json(200, StringObject({{"status", "ok"}}));
  }
  if (seg.size() == 2 && seg[1] == "judgement" && method == "POST") {
    return HandlePostJudgement(who, request);
  }
  if (seg.size() == 2 && seg[1] == "bulk" && method == "POST") return HandleBulk(who, request);
  if (seg.size() == 2 && seg[1] == "bulk" && method == "GET") return HandleBulkGet(who, query);
  if (seg.size() == 2 && seg[1] == "graphql" && method == "POST" &&
      graphql_on_.load(std::memory_order_relaxed)) {
    return HandleGraphql(who, request);
  }
  if (seg.size() == 4 && seg[1] == "judgement" && seg[2] == "external_id" && method == "GET") {
    return HandleJudgementsByExternalId(who, seg[3]);
  }
  if (seg.size() == 3 && seg[1] == "judgement" && (method == "GET" || method == "DELETE")) {
    return HandleJudgementById(who, request, seg[2], query, false);
  }
  if (seg.size() == 4 && seg[1] == "judgement" && seg[3] == "expire" && method == "POST") {
    return HandleJudgementById(who, request, seg[2], query, true);
  }
  if (verdict_route) return HandleVerdict(who, seg[1], seg[2], query);
  if (seg.size() == 4 && seg[3] == "judgements" && method == "GET") {
    return HandleListJudgements(who, seg[1], seg[2], query);
  }
  return HtmlNotFound();
}

// ---- programmatic seeding -----------------------------------------------------------------

std::vector<std::string> Router::AddJudgements(std::vector<schema::Judgement> judgements) {
  std::vector<std::string> ids;
  StoreWithDefaults(std::move(judgements), &ids);
  return ids;
}

size_t Router::StoreWithDefaults(std::vector<schema::Judgement> judgements,
                                 std::vector<std::string>* long_ids) {
  const absl::Time now = clock_.Now();
  const SimClient* owner = options_.clients.empty() ? nullptr : &options_.clients.front();
  if (long_ids != nullptr) long_ids->reserve(judgements.size());
  for (schema::Judgement& j : judgements) {
    std::string short_id = ShortIdOf(j.id);
    j.id = absl::StartsWith(short_id, "judgement-") ? std::move(short_id) : NewShortId();
    if (j.created == absl::InfinitePast()) j.created = now;
    // A default-constructed ValidTime holds the Unix epoch: treat it as "not given".
    const absl::Time unset = absl::Time();
    if (j.valid_time.start_time == unset || j.valid_time.start_time == absl::InfinitePast()) {
      j.valid_time.start_time = now;
    }
    if (j.valid_time.end_time == unset || j.valid_time.end_time == absl::InfinitePast()) {
      j.valid_time.end_time = schema::EndOfTime();
    }
    if (j.timestamp == absl::InfinitePast()) j.timestamp = now;
    if (j.tlp.empty()) j.tlp = "green";
    if (owner != nullptr) {
      if (j.owner.empty()) j.owner = owner->login.empty() ? owner->id : owner->login;
      if (j.groups.empty()) j.groups = {owner->org};
    }
    if (long_ids != nullptr) long_ids->push_back(LongId(j.id));
  }
  return store_.InsertAll(std::move(judgements));
}

}  // namespace enrich::sim
