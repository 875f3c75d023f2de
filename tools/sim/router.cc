#include "tools/sim/router.h"

#include <algorithm>
#include <cstdio>
#include <map>
#include <optional>
#include <variant>

#include "absl/container/inlined_vector.h"
#include "absl/strings/ascii.h"
#include "absl/strings/escaping.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "rapidjson/document.h"
#include "rapidjson/error/en.h"
#include "rapidjson/stringbuffer.h"
#include "rapidjson/writer.h"
#include "schema/json_codec.h"
#include "schema/observable.h"
#include "schema/path_encoding.h"
#include "schema/time_format.h"
#include "schema/verdict.h"
#include "schema/verdict_rule.h"
#include "tools/sim/fault_injector.h"
#include "tools/sim/graphql_subset.h"

namespace enrich::sim {
namespace {

using Writer = rapidjson::Writer<rapidjson::StringBuffer>;
// The segments of a request path; inline for every route, so routing allocates nothing.
using Segments = absl::InlinedVector<absl::string_view, 8>;

constexpr absl::string_view kJson = "application/json;charset=utf-8";
constexpr absl::string_view kHtml = "text/html;charset=utf-8";
constexpr absl::string_view kCtiaVersion = "ctia-sim-0.1.0";
constexpr absl::string_view kCtimVersion = "1.3.29";
constexpr absl::string_view kCtiaConfig = "ctia-sim";
constexpr absl::string_view kTransientPrefix = "transient:";
// Elasticsearch's max-result-window, which CTIA surfaces as a 400 (reference §4).
constexpr int64_t kMaxResultWindow = 10000;
// Deepest JSON nesting accepted in a request body. Parsing is iterative (no recursion on
// input), but echoing an item back (bulk errors) recurses, so depth is bounded up front.
constexpr int kMaxJsonDepth = 64;
constexpr absl::string_view kTestPrefix = "/__test__/";

// ---- small JSON helpers -------------------------------------------------------------------

void Key(Writer& w, absl::string_view k) {
  w.Key(k.data(), static_cast<rapidjson::SizeType>(k.size()));
}
void Str(Writer& w, absl::string_view s) {
  w.String(s.data(), static_cast<rapidjson::SizeType>(s.size()));
}
std::string Done(const rapidjson::StringBuffer& buf) {
  return std::string(buf.GetString(), buf.GetSize());
}

// {"k1":"v1","k2":"v2",...}: most of CTIA's error bodies.
std::string StringObject(std::initializer_list<std::pair<absl::string_view, absl::string_view>> kv) {
  rapidjson::StringBuffer buf;
  Writer w(buf);
  w.StartObject();
  for (const auto& [k, v] : kv) {
    Key(w, k);
    Str(w, v);
  }
  w.EndObject();
  return Done(buf);
}

SimResponse Json(int status, std::string body) {
  SimResponse r;
  r.status = status;
  r.content_type = std::string(kJson);
  r.body = std::move(body);
  return r;
}

// True when JSON string escaping leaves `s` unchanged: printable ASCII without '"' or '\\'.
bool JsonPlain(absl::string_view s) {
  for (char c : s) {
    if (c < 0x20 || c > 0x7e || c == '"' || c == '\\') return false;
  }
  return true;
}

}  // namespace

// schema::EncodeVerdict(v), written straight into one string without a JSON writer when every
// string needs no escaping and the valid time is the synthetic one (2020-01-01 to the end of
// time), the common answer of --synthetic; otherwise schema::EncodeVerdict itself.
std::string EncodeVerdictFast(const schema::Verdict& v) {
  static const absl::Time kSyntheticStart = absl::FromUnixSeconds(1577836800);
  static const std::string kStartText = schema::FormatIsoTime(kSyntheticStart);
  static const std::string kEndText = schema::FormatIsoTime(schema::EndOfTime());
  const absl::string_view name = schema::DispositionName(v.disposition);
  if (v.valid_time.start_time != kSyntheticStart ||
      v.valid_time.end_time != schema::EndOfTime() || !JsonPlain(name) ||
      !JsonPlain(v.observable.type) || !JsonPlain(v.observable.value) ||
      !JsonPlain(v.judgement_id)) {
    return schema::EncodeVerdict(v);
  }
  std::string out;
  out.reserve(200 + v.observable.value.size() + v.judgement_id.size());
  absl::StrAppend(&out, "{\"type\":\"verdict\",\"disposition\":", static_cast<int>(v.disposition),
                  ",\"disposition_name\":\"", name, "\",\"observable\":{\"type\":\"",
                  v.observable.type, "\",\"value\":\"", v.observable.value);
  absl::StrAppend(&out, "\"},\"judgement_id\":\"", v.judgement_id,
                  "\",\"valid_time\":{\"start_time\":\"", kStartText, "\",\"end_time\":\"",
                  kEndText, "\"}}");
  return out;
}

namespace {

SimResponse Empty(int status) {
  SimResponse r;
  r.status = status;
  return r;
}

// CTIA's unknown-route answer is an HTML page (ctia: src/ctia/http/middleware/unknown.clj).
SimResponse HtmlNotFound() {
  SimResponse r;
  r.status = 404;
  r.content_type = std::string(kHtml);
  r.body =
      "<!DOCTYPE html>\n<html><head><title>404 Not Found</title></head><body>"
      "<h1>404 Not Found</h1><p>The requested resource was not found.</p></body></html>\n";
  return r;
}

// Prismatic schema errors mirror the body shape: "valid_time.start_time" becomes
// {"valid_time":{"start_time":...}} (reference §1.4, §5.4). A field "" means the whole value.
void WriteErrorsValue(Writer& w, const std::vector<schema::FieldError>& errors) {
  for (const schema::FieldError& e : errors) {
    if (e.field.empty()) {
      Str(w, e.explanation);
      return;
    }
  }
  std::map<std::string, std::vector<std::pair<std::string, std::string>>> nested;
  std::vector<std::string> order;
  for (const schema::FieldError& e : errors) {
    const size_t dot = e.field.find('.');
    std::string top = e.field.substr(0, dot);
    std::string sub = dot == std::string::npos ? "" : e.field.substr(dot + 1);
    if (!nested.contains(top)) order.push_back(top);
    nested[top].emplace_back(std::move(sub), e.explanation);
  }
  w.StartObject();
  for (const std::string& top : order) {
    Key(w, top);
    const auto& subs = nested[top];
    if (subs.size() == 1 && subs[0].first.empty()) {
      Str(w, subs[0].second);
      continue;
    }
    w.StartObject();
    for (const auto& [sub, explanation] : subs) {
      if (sub.empty()) continue;
      Key(w, sub);
      Str(w, explanation);
    }
    w.EndObject();
  }
  w.EndObject();
}

SimResponse ValidationError(const std::vector<schema::FieldError>& errors) {
  rapidjson::StringBuffer buf;
  Writer w(buf);
  w.StartObject();
  Key(w, "errors");
  WriteErrorsValue(w, errors);
  w.EndObject();
  return Json(400, Done(buf));
}

// compojure-api's request-parsing handler (reference §1.4).
SimResponse JsonParseError(const rapidjson::Document& doc) {
  return Json(400, StringObject({{"type", "json-parse-exception"},
                                 {"message", absl::StrCat(rapidjson::GetParseError_En(
                                                              doc.GetParseError()),
                                                          " at offset ", doc.GetErrorOffset())}}));
}

// Nesting depth of `v` (a scalar is 0), computed without recursion.
int JsonDepth(const rapidjson::Value& v) {
  std::vector<std::pair<const rapidjson::Value*, int>> todo{{&v, 0}};
  int deepest = 0;
  while (!todo.empty()) {
    auto [value, depth] = todo.back();
    todo.pop_back();
    if (value->IsArray()) {
      deepest = std::max(deepest, depth + 1);
      for (const rapidjson::Value& e : value->GetArray()) todo.emplace_back(&e, depth + 1);
    } else if (value->IsObject()) {
      deepest = std::max(deepest, depth + 1);
      for (auto m = value->MemberBegin(); m != value->MemberEnd(); ++m) {
        todo.emplace_back(&m->value, depth + 1);
      }
    }
  }
  return deepest;
}

// Parses a request body with RapidJSON's iterative parser (deep nesting cannot exhaust the
// stack). Returns the refusal for invalid or too deeply nested JSON.
std::optional<SimResponse> ParseJsonBody(absl::string_view body, rapidjson::Document& doc) {
  doc.Parse<rapidjson::kParseIterativeFlag>(body.data(), body.size());
  if (doc.HasParseError()) return JsonParseError(doc);
  if (JsonDepth(doc) > kMaxJsonDepth) {
    return Json(400, StringObject({{"type", "json-parse-exception"},
                                   {"message", absl::StrCat("JSON nested deeper than ",
                                                            kMaxJsonDepth, " levels")}}));
  }
  return std::nullopt;
}

// 429 of CTIA's limiter (reference §9.1): note the space in the body, and no charset.
SimResponse TooManyRequests(int64_t retry_after_seconds) {
  SimResponse r;
  r.status = 429;
  r.content_type = "application/json";
  r.body = R"({"error": "Too Many Requests"})";
  r.headers.emplace_back("Retry-After", absl::StrCat(retry_after_seconds));
  return r;
}

// What a front proxy (nginx) sends for its own errors: HTML, no CTIA headers.
SimResponse ProxyHtml(int status, absl::string_view reason) {
  SimResponse r;
  r.status = status;
  r.content_type = "text/html";
  r.body = absl::StrCat("<html>\r\n<head><title>", status, " ", reason,
                        "</title></head>\r\n<body>\r\n<center><h1>", status, " ", reason,
                        "</h1></center>\r\n<hr><center>nginx</center>\r\n</body>\r\n</html>\r\n");
  return r;
}

SimResponse MissingCapability(absl::string_view capability, const Identity& who) {
  return Json(403, StringObject({{"message", "Missing capability"},
                                 {"error", "missing_capability"},
                                 {"capabilities", capability},
                                 {"owner", who.login}}));
}

// The Clojure printout of a failed enum check: (not (#{"a" "b"} "x")).
std::string NotInSet(const std::vector<absl::string_view>& allowed, absl::string_view value) {
  std::string set;
  for (absl::string_view a : allowed) absl::StrAppend(&set, set.empty() ? "" : " ", "\"", a, "\"");
  return absl::StrCat("(not (#{", set, "} \"", value, "\"))");
}

// ---- URL helpers --------------------------------------------------------------------------

// Ring's percent-decode leaves malformed escapes as they are; ours rejects them, so fall back
// to the raw text in that case (reference §1.3: decoding is percent-decoding only, `+` stays).
std::string DecodeSegment(absl::string_view raw) {
  if (raw.find('%') == absl::string_view::npos) return std::string(raw);  // the common case
  absl::StatusOr<std::string> decoded = schema::PercentDecode(raw);
  return decoded.ok() ? *std::move(decoded) : std::string(raw);
}

// application/x-www-form-urlencoded component: '+' is a space, then percent-decoding.
std::string FormDecode(absl::string_view raw) {
  std::string spaced(raw);
  std::replace(spaced.begin(), spaced.end(), '+', ' ');
  return DecodeSegment(spaced);
}

using Params = std::vector<std::pair<std::string, std::string>>;

Params ParseForm(absl::string_view text) {
  Params out;
  for (absl::string_view part : absl::StrSplit(text, '&', absl::SkipEmpty())) {
    std::pair<absl::string_view, absl::string_view> kv =
        absl::StrSplit(part, absl::MaxSplits('=', 1));
    out.emplace_back(FormDecode(kv.first), FormDecode(kv.second));
  }
  return out;
}

// compojure/clout match a `:param` with [^/,;?]+ on the raw path (reference §1.3).
bool IsRouteSegment(absl::string_view s) {
  return !s.empty() && s.find(',') == absl::string_view::npos &&
         s.find(';') == absl::string_view::npos;
}

std::string ShortIdOf(absl::string_view id) {
  const size_t slash = id.rfind('/');
  return std::string(slash == absl::string_view::npos ? id : id.substr(slash + 1));
}

// from/to of the verdict and list routes (ctia `DateRangeParams`, reference §2.1).
std::optional<absl::Time> ParseDateParam(absl::string_view name, absl::string_view value,
                                         std::vector<schema::FieldError>& errors) {
  absl::StatusOr<absl::Time> t = schema::ParseIsoTime(value);
  if (!t.ok()) {
    errors.push_back({std::string(name), absl::StrCat("(not (instance? java.util.Date \"",
                                                      value, "\"))")});
    return std::nullopt;
  }
  return *t;
}

// ---- judgement listing (reference §4) -----------------------------------------------------

using SortValue = std::variant<int64_t, std::string>;

SortValue SortField(const schema::Judgement& j, absl::string_view field) {
  auto millis = [](absl::Time t) { return absl::ToUnixMillis(t); };
  if (field == "id") return j.id;
  if (field == "timestamp") return millis(j.timestamp);
  if (field == "created") return millis(j.created);
  if (field == "disposition") return static_cast<int64_t>(j.disposition);
  if (field == "priority") return j.priority;
  if (field == "confidence") return j.confidence;
  if (field == "severity") return j.severity;
  if (field == "tlp") return j.tlp;
  if (field == "source") return j.source;
  if (field == "source_uri") return j.source_uri;
  if (field == "reason") return j.reason;
  if (field == "valid_time.start_time") return millis(j.valid_time.start_time);
  if (field == "valid_time.end_time") return millis(j.valid_time.end_time);
  if (field == "observable.type") return absl::AsciiStrToLower(j.observable.type);
  if (field == "observable.value") return absl::AsciiStrToLower(j.observable.value);
  // schema_version, revision, language: the same for every judgement ctia-sim stores.
  return int64_t{0};
}

struct SortKey {
  std::string field;
  bool descending = false;
};

// ctia `JudgementSortByParams` enum (ctia: src/ctia/entity/judgement/schemas.clj).
const std::vector<absl::string_view>& JudgementSortByValues() {
  static const auto* values = new std::vector<absl::string_view>{
      "id", "schema_version", "revision", "timestamp", "language", "tlp", "source",
      "source_uri", "disposition", "priority", "confidence", "severity",
      "valid_time.start_time", "valid_time.end_time", "reason", "observable.type",
      "observable.value", "valid_time.start_time,timestamp",
      "disposition:asc,valid_time.start_time:desc",
      "disposition:asc,valid_time.start_time:desc,timestamp:desc"};
  return *values;
}

std::vector<SortKey> ParseSortBy(absl::string_view sort_by, bool descending_default) {
  std::vector<SortKey> keys;
  for (absl::string_view part : absl::StrSplit(sort_by, ',', absl::SkipEmpty())) {
    SortKey k;
    bool descending = descending_default;
    if (absl::ConsumeSuffix(&part, ":desc")) {
      descending = true;
    } else if (absl::ConsumeSuffix(&part, ":asc")) {
      descending = false;
    }
    k.field = std::string(part);
    k.descending = descending;
    keys.push_back(std::move(k));
  }
  return keys;
}

// Sort values as X-Sort prints them: an EDN vector, strings quoted.
std::string EdnVector(const std::vector<SortValue>& values) {
  std::vector<std::string> parts;
  for (const SortValue& v : values) {
    if (const int64_t* n = std::get_if<int64_t>(&v)) {
      parts.push_back(absl::StrCat(*n));
    } else {
      parts.push_back(absl::StrCat("\"", absl::CEscape(std::get<std::string>(v)), "\""));
    }
  }
  return absl::StrCat("[", absl::StrJoin(parts, " "), "]");
}

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

std::string SortValueText(const SortValue& v) {
  if (const int64_t* n = std::get_if<int64_t>(&v)) return absl::StrCat(*n);
  return std::get<std::string>(v);
}

}  // namespace

std::string SimResponse::Header(absl::string_view name) const {
  for (const auto& [k, v] : headers) {
    if (absl::EqualsIgnoreCase(k, name)) return v;
  }
  return "";
}

Router::Router(const SimOptions& options, JudgementStore& store)
    : options_(options),
      clock_(*options.clock),
      store_(store),
      tokens_(clock_, options.token_ttl),
      limiter_(options.rate_limit, options.rate_limit_window, options.rate_limit_customs),
      faults_(options.fault_seed),
      green_visible_(options.green_visible_to_everyone),
      limit_header_(absl::StrCat("X-RateLimit-", options.rate_limit_header_group, "-Limit")),
      remaining_header_(
          absl::StrCat("X-RateLimit-", options.rate_limit_header_group, "-Remaining")),
      id_random_(std::random_device{}()) {}

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
      "status",     "version",          "other"};
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
  if (seg.size() == 3 && seg[2] == "verdict") return Endpoint::kVerdict;
  if (seg.size() == 3 && seg[2] == "judgements") return Endpoint::kJudgements;
  return Endpoint::kOther;
}

void Router::Reset() {
  store_.Clear();
  faults_.Clear();
  limiter_.Reset();
  clock_.Release();
  for (auto& row : by_status_) {
    for (auto& n : row) n.store(0, std::memory_order_relaxed);
  }
  for (std::atomic<uint64_t>* c :
       {&counters_.token_requests, &counters_.verdict_requests, &counters_.judgement_posts,
        &counters_.bulk_posts, &counters_.unauthorized, &counters_.total,
        &counters_.judgement_reads, &counters_.judgement_deletes, &counters_.forbidden,
        &counters_.client_errors, &counters_.graphql_requests, &counters_.graphql_observables}) {
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
  SimResponse response = fault.has_value()
                             ? Faulted(*fault, request, path, query, &ctia_headers)
                             : Route(request, path, query);
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
      SimResponse r = Route(request, path, query);
      r.delay = fault.latency;
      return r;
    }
    case FaultKind::kCloseMidResponse:
    case FaultKind::kTruncatedBody: {
      SimResponse r = Route(request, path, query);
      r.delivery = fault.kind == FaultKind::kCloseMidResponse
                       ? SimResponse::Delivery::kCloseMidResponse
                       : SimResponse::Delivery::kTruncatedBody;
      return r;
    }
  }
  return Route(request, path, query);
}

SimResponse Router::Route(const SimRequest& request, absl::string_view path,
                          absl::string_view query) {
  if (path == "/iroh/oauth2/token") {
    return request.method == "POST" ? HandleToken(request) : HtmlNotFound();
  }
  if (path == "/ctia" || absl::StartsWith(path, "/ctia/")) return HandleCtia(request, path, query);
  return HtmlNotFound();
}

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

// ---- /ctia ----------------------------------------------------------------------------------

SimResponse Router::HandleCtia(const SimRequest& request, absl::string_view path,
                               absl::string_view query) {
  const Segments seg = absl::StrSplit(path.substr(1), '/');
  const absl::string_view method = request.method;

  if (seg.size() == 2 && seg[1] == "version") {
    if (method != "GET") return HtmlNotFound();
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
    return Json(200, Done(buf));
  }

  // Authentication (reference §8.2, §12.4): rjwt takes the token with ^Bearer\s+(.*)$; without
  // one, CTIA's wrap-authenticated refuses every /ctia route, unknown ones included.
  absl::string_view auth = request.authorization;
  if (!absl::ConsumePrefix(&auth, "Bearer") || auth.empty() ||
      !absl::ascii_isspace(static_cast<unsigned char>(auth[0]))) {
    return Json(401, StringObject({{"error", "not_authenticated"},
                                   {"message", "Only authenticated users allowed"}}));
  }
  TokenRegistry::Lookup lookup = tokens_.Find(absl::StripAsciiWhitespace(auth));
  if (lookup.state == TokenRegistry::Lookup::State::kUnknown) {
    if (LooksLikeJwt(absl::StripAsciiWhitespace(auth))) {
      // A well-formed JWT this server did not sign (rjwt `jwt_invalid_signature`, §8.2).
      return Json(401, StringObject({{"error", "jwt_invalid_signature"},
                                     {"error_description", "Invalid Signature"},
                                     {"level", "warn"}}));
    }
    return Json(401, StringObject({{"error", "jwt_decode_failed_exception"},
                                   {"error_description", "JWT decode failed"},
                                   {"level", "warn"}}));
  }
  if (lookup.state == TokenRegistry::Lookup::State::kExpired) {
    return Json(401, StringObject({{"error", "jwt_expired"},
                                   {"error_description",
                                    absl::StrCat("This JWT max lifetime has expired ",
                                                 HumanDuration(lookup.expired_for), " ago")}}));
  }
  const Identity& who = *lookup.identity;

  // Rate limiting runs after authentication (reference §8.2, §9.1, §12.5).
  std::optional<RateLimiter::Decision> limited;
  if (limiter_.enabled() &&
      std::find(options_.unlimited_client_ids.begin(), options_.unlimited_client_ids.end(),
                who.client_id) == options_.unlimited_client_ids.end()) {
    RateLimiter::Decision d = limiter_.Admit(who.groups, clock_.Now());
    if (!d.allowed) return TooManyRequests(d.retry_after_seconds);
    limited = d;
  }
  SimResponse response = DispatchCtia(who, request, seg, query);
  if (limited.has_value()) {
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
  if (seg.size() == 2 && seg[1] == "graphql" && method == "POST") {
    return HandleGraphql(who, request);
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

// ---- GET /ctia/{type}/{value}/verdict (reference §1.3, §2) ---------------------------------

Router::ObservableRoute Router::CheckObservableRoute(const Identity& who,
                                                     absl::string_view entity,
                                                     absl::string_view capability,
                                                     absl::string_view raw_type) const {
  ObservableRoute route;
  if (!HasCapability(who.scopes, entity, Access::kRead)) {
    route.refusal = MissingCapability(capability, who);
    return route;
  }
  route.type = DecodeSegment(raw_type);
  if (!schema::IsKnownObservableType(route.type)) {
    route.refusal = ValidationError(
        {{"observable_type", NotInSet(schema::KnownObservableTypes(), route.type)}});
  }
  return route;
}

bool Router::Visible(const schema::Judgement& j, const Identity& who) const {
  return IsVisible(j, who, green_visible_.load(std::memory_order_relaxed));
}

std::optional<schema::Verdict> Router::VerdictFor(const Identity& who,
                                                  const schema::Observable& observable,
                                                  const schema::VerdictQuery& query) const {
  std::optional<schema::Judgement> winner = store_.SelectVerdict(
      observable, clock_.Now(), query,
      [&](const schema::Judgement& j) { return Visible(j, who); });
  if (winner.has_value()) return schema::VerdictFromJudgement(WithLongId(*std::move(winner)));
  if (options_.synthetic_percent >= 0 && !query.from.has_value() && !query.to.has_value()) {
    return SyntheticVerdict(observable.type, observable.value, options_.synthetic_percent,
                            PublicBase());
  }
  return std::nullopt;
}

SimResponse Router::HandleVerdict(const Identity& who, absl::string_view raw_type,
                                  absl::string_view raw_value, absl::string_view query) {
  ObservableRoute route = CheckObservableRoute(who, "verdict", "read-verdict", raw_type);
  if (route.refusal.has_value()) return *std::move(route.refusal);
  const std::string& type = route.type;
  schema::VerdictQuery vq;
  std::vector<schema::FieldError> errors;
  for (const auto& [k, v] : ParseForm(query)) {
    if (k == "from") {
      vq.from = ParseDateParam(k, v, errors);
    } else if (k == "to") {
      vq.to = ParseDateParam(k, v, errors);
    } else {
      errors.push_back({k, "disallowed-key"});
    }
  }
  if (!errors.empty()) return ValidationError(errors);
  const schema::Observable observable{type, DecodeSegment(raw_value)};
  TallyLookup(who, observable);
  std::optional<schema::Verdict> verdict = VerdictFor(who, observable, vq);
  if (!verdict.has_value()) {
    return Json(404, StringObject({{"message", schema::kNoVerdictMessage}}));
  }
  return Json(200, EncodeVerdictFast(*verdict));
}

// ---- GET /ctia/{type}/{value}/judgements (reference §4) ------------------------------------

SimResponse Router::HandleListJudgements(const Identity& who, absl::string_view raw_type,
                                         absl::string_view raw_value, absl::string_view query) {
  ObservableRoute route = CheckObservableRoute(who, "judgement", "list-judgements", raw_type);
  if (route.refusal.has_value()) return *std::move(route.refusal);
  const std::string& type = route.type;
  int64_t limit = 100;  // ductile `default-limit`
  int64_t offset = 0;
  std::optional<absl::Time> from;
  std::optional<absl::Time> to;
  std::string sort_by;
  bool descending = false;
  std::vector<std::string> search_after;
  std::vector<schema::FieldError> errors;
  auto read_int = [&](const std::string& k, const std::string& v, int64_t* out) {
    if (!absl::SimpleAtoi(v, out) || *out < 0) {
      errors.push_back({k, absl::StrCat("(not (integer? \"", v, "\"))")});
    }
  };
  for (const auto& [k, v] : ParseForm(query)) {
    if (k == "limit") {
      read_int(k, v, &limit);
    } else if (k == "offset") {
      read_int(k, v, &offset);
    } else if (k == "from") {
      from = ParseDateParam(k, v, errors);
    } else if (k == "to") {
      to = ParseDateParam(k, v, errors);
    } else if (k == "sort_by") {
      const auto& allowed = JudgementSortByValues();
      if (std::find(allowed.begin(), allowed.end(), v) == allowed.end()) {
        errors.push_back({k, NotInSet(allowed, v)});
      }
      sort_by = v;
    } else if (k == "sort_order") {
      if (v != "asc" && v != "desc") errors.push_back({k, NotInSet({"asc", "desc"}, v)});
      descending = v == "desc";
    } else if (k == "search_after") {
      search_after.push_back(v);
    } else if (k != "fields") {
      errors.push_back({k, "disallowed-key"});
    }
  }
  if (!errors.empty()) return ValidationError(errors);
  if (search_after.empty() && offset + limit > kMaxResultWindow) {
    return Json(400, StringObject(
                         {{"type", "ES Invalid Request"},
                          {"message",
                           absl::StrCat("Result window is too large, from + size must be less "
                                        "than or equal to: [10000] but was [",
                                        offset + limit, "].")},
                          {"class", "clojure.lang.ExceptionInfo"}}));
  }
  // Default order: the store's default-sort "timestamp,created,id" (reference §4).
  std::vector<SortKey> keys = ParseSortBy(sort_by.empty() ? "timestamp,created,id" : sort_by,
                                          descending);
  std::vector<schema::Judgement> list = store_.ListByObservable(
      schema::Observable{type, DecodeSegment(raw_value)}, [&](const schema::Judgement& j) {
        if (from.has_value() && j.created < *from) return false;
        if (to.has_value() && !(j.created < *to)) return false;
        return Visible(j, who);
      });
  auto values_of = [&](const schema::Judgement& j) {
    std::vector<SortValue> values;
    for (const SortKey& k : keys) values.push_back(SortField(j, k.field));
    return values;
  };
  // Negative when a sorts before b.
  auto compare = [&](const std::vector<SortValue>& a, const std::vector<SortValue>& b) {
    for (size_t i = 0; i < keys.size(); ++i) {
      if (a[i] == b[i]) continue;
      const bool less = a[i] < b[i];
      return (less != keys[i].descending) ? -1 : 1;
    }
    return 0;
  };
  std::stable_sort(list.begin(), list.end(), [&](const auto& a, const auto& b) {
    return compare(values_of(a), values_of(b)) < 0;
  });
  const int64_t total = static_cast<int64_t>(list.size());
  size_t begin = static_cast<size_t>(std::min(offset, total));
  if (!search_after.empty()) {
    // The cursor holds the last hit's sort values; resume strictly after it.
    begin = 0;
    while (begin < list.size()) {
      std::vector<SortValue> v = values_of(list[begin]);
      std::vector<std::string> text;
      for (const SortValue& sv : v) text.push_back(SortValueText(sv));
      text.resize(search_after.size());
      bool after = false;
      for (size_t i = 0; i < search_after.size() && i < keys.size(); ++i) {
        if (text[i] == search_after[i]) continue;
        SortValue cursor = std::holds_alternative<int64_t>(v[i])
                               ? SortValue(int64_t{0})
                               : SortValue(search_after[i]);
        if (std::holds_alternative<int64_t>(v[i])) {
          int64_t n = 0;
          (void)absl::SimpleAtoi(search_after[i], &n);
          cursor = n;
        }
        after = (cursor < v[i]) != keys[i].descending;
        break;
      }
      if (after) break;
      ++begin;
    }
  }
  const size_t end = std::min(list.size(), begin + static_cast<size_t>(limit));

  rapidjson::StringBuffer buf;
  Writer w(buf);
  w.StartArray();
  for (size_t i = begin; i < end; ++i) schema::WriteJudgementJson(WithLongId(list[i]), true, w);
  w.EndArray();
  SimResponse r = Json(200, Done(buf));
  r.headers.emplace_back("X-Total-Hits", absl::StrCat(total));
  // ductile `pagination/response`: X-Next is {limit, offset+limit, search_after = the last
  // hit's sort values}, form-encoded; it is present when the offset page leaves hits behind,
  // or when a search_after page came back full (reference §4; ctia's offset-test pins it).
  std::vector<SortValue> last;
  if (end > begin) {
    last = values_of(list[end - 1]);
    r.headers.emplace_back("X-Sort", EdnVector(last));
  }
  const bool more = search_after.empty() ? total > offset + limit
                                         : end - begin == static_cast<size_t>(limit);
  if (more) {
    std::string next = absl::StrCat("limit=", limit, "&offset=", offset + limit);
    for (const SortValue& v : last) {
      absl::StrAppend(&next, "&search_after=", schema::FormEncode(SortValueText(v)));
    }
    r.headers.emplace_back("X-Next", std::move(next));
  }
  if (search_after.empty() && offset > 0 && offset + limit < kMaxResultWindow) {
    r.headers.emplace_back("X-Previous", absl::StrCat("limit=", limit, "&offset=",
                                                      std::max<int64_t>(0, offset - limit)));
  }
  return r;
}

// ---- judgement creation (reference §5) ----------------------------------------------------

namespace {

// Either a judgement ready to store or CTIA's refusal.
struct Realized {
  schema::Judgement judgement;
  std::string transient_id;  // the "transient:..." id the caller gave, if any
  int status = 0;            // 0 = ok; else the HTTP status of the refusal
  std::string body;          // refusal: the full response body of POST /ctia/judgement
  std::string error;         // refusal: bulk per-item fields
  std::string msg;
  std::string type;
};

Realized Realize(const rapidjson::Value& input, const Identity& who, absl::Time now) {
  Realized out;
  schema::NewJudgementDecode d = schema::DecodeNewJudgement(input, now);
  bool mismatch = false;
  std::vector<schema::FieldError> errors;
  for (schema::FieldError& e : d.errors) {
    if (e.field == "disposition_name" && e.explanation == "mismatch") {
      mismatch = true;
    } else {
      errors.push_back(std::move(e));
    }
  }
  // The observable type is the same closed enum as in the verdict path (reference §1.1).
  const bool has_observable_error =
      std::any_of(errors.begin(), errors.end(),
                  [](const schema::FieldError& e) { return e.field == "observable"; });
  if (input.IsObject() && !has_observable_error && input.HasMember("observable") &&
      !schema::IsKnownObservableType(d.judgement.observable.type)) {
    errors.push_back({"observable.type", NotInSet(schema::KnownObservableTypes(),
                                                  d.judgement.observable.type)});
  }
  if (!errors.empty()) {
    out.status = 400;
    out.body = ValidationError(errors).body;
    out.error = "Entity validation error";
    out.type = "invalid-entity";
    std::vector<std::string> parts;
    for (const auto& e : errors) parts.push_back(absl::StrCat(e.field, ": ", e.explanation));
    out.msg = absl::StrJoin(parts, "; ");
    return out;
  }
  if (mismatch) {
    // Sic "dispositon" (ctia: src/ctia/entity/judgement/schemas.clj, reference §5.4).
    constexpr absl::string_view kMismatch =
        "Mismatched disposition and dispositon_name for judgement";
    out.status = 400;
    rapidjson::StringBuffer buf;
    Writer w(buf);
    w.StartObject();
    Key(w, "error");
    Str(w, kMismatch);
    Key(w, "judgement");
    input.Accept(w);
    w.EndObject();
    out.body = Done(buf);
    out.error = std::string(kMismatch);
    out.type = "invalid-entity";
    out.msg = "disposition and disposition_name disagree";
    return out;
  }
  schema::Judgement& j = d.judgement;
  if (!j.id.empty()) {
    // Only transient ids are free; real ids need capability specify-id (reference §5.2).
    if (!absl::StartsWith(j.id, kTransientPrefix)) {
      out.status = 403;
      out.body = StringObject({{"message", "Missing capability"},
                               {"error", "missing_capability"},
                               {"capabilities", "specify-id"},
                               {"owner", who.login}});
      out.error = "missing_capability";
      out.type = "missing_capability";
      out.msg = "Missing capability: specify-id";
      return out;
    }
    out.transient_id = j.id;
  }
  j.created = now;
  j.owner = who.login;
  j.groups = who.groups;
  if (j.tlp.empty()) j.tlp = "green";  // ctia.access-control.default-tlp
  out.judgement = std::move(j);
  return out;
}

}  // namespace

Router::CreateBody Router::ParseCreateBody(const Identity& who,
                                           const SimRequest& request) const {
  CreateBody body;
  if (!HasCapability(who.scopes, "judgement", Access::kWrite)) {
    body.refusal = MissingCapability("create-judgement", who);
    return body;
  }
  body.refusal = ParseJsonBody(request.body, body.doc);
  return body;
}

SimResponse Router::HandlePostJudgement(const Identity& who, const SimRequest& request) {
  CreateBody body = ParseCreateBody(who, request);
  if (body.refusal.has_value()) return *std::move(body.refusal);
  const rapidjson::Document& doc = body.doc;
  Realized r = Realize(doc, who, clock_.Now());
  if (r.status != 0) return Json(r.status, std::move(r.body));
  schema::Judgement& j = r.judgement;
  j.id = NewShortId();
  store_.Insert(j);
  std::string long_id = LongId(j.id);
  j.id = long_id;
  SimResponse response = Json(201, schema::EncodeJudgement(j, true));
  response.headers.emplace_back("Location", std::move(long_id));
  return response;
}

// ---- POST /ctia/bulk (reference §6.1) -------------------------------------------------------

SimResponse Router::HandleBulk(const Identity& who, const SimRequest& request) {
  CreateBody body = ParseCreateBody(who, request);
  if (body.refusal.has_value()) return *std::move(body.refusal);
  const rapidjson::Document& doc = body.doc;
  if (!doc.IsObject()) return ValidationError({{"", "(not (map? a-bulk))"}});
  std::vector<schema::FieldError> errors;
  size_t entities = 0;
  for (auto it = doc.MemberBegin(); it != doc.MemberEnd(); ++it) {
    const std::string key(it->name.GetString(), it->name.GetStringLength());
    if (key != "judgements") {
      // ctia-sim stores judgements only; other entity kinds are refused by name.
      errors.push_back({key, "disallowed-key"});
    } else if (!it->value.IsArray()) {
      errors.push_back({key, "(not (sequential? a-judgement-list))"});
    } else {
      entities += it->value.Size();
    }
  }
  if (!errors.empty()) return ValidationError(errors);
  if (entities > options_.bulk_max) {
    // `validate-bulk-size!`: the body is a bare JSON string.
    return Json(400, absl::StrCat("\"Bulk max number of entities: ", options_.bulk_max, "\""));
  }
  const absl::Time now = clock_.Now();
  std::vector<schema::Judgement> to_store;
  rapidjson::StringBuffer buf;
  Writer w(buf);
  w.StartObject();
  std::vector<std::pair<std::string, std::string>> tempids;
  if (auto it = doc.FindMember("judgements"); it != doc.MemberEnd()) {
    Key(w, "judgements");
    w.StartArray();
    for (const rapidjson::Value& item : it->value.GetArray()) {
      Realized r = Realize(item, who, now);
      if (r.status != 0) {
        w.StartObject();
        Key(w, "error");
        Str(w, r.error);
        Key(w, "msg");
        Str(w, r.msg);
        Key(w, "type");
        Str(w, r.type);
        Key(w, "entity");
        item.Accept(w);
        w.EndObject();
        continue;
      }
      r.judgement.id = NewShortId();
      const std::string long_id = LongId(r.judgement.id);
      if (!r.transient_id.empty()) tempids.emplace_back(r.transient_id, long_id);
      Str(w, long_id);
      to_store.push_back(std::move(r.judgement));
    }
    w.EndArray();
  }
  if (!tempids.empty()) {
    Key(w, "tempids");
    w.StartObject();
    for (const auto& [tmp, id] : tempids) {
      Key(w, tmp);
      Str(w, id);
    }
    w.EndObject();
  }
  w.EndObject();
  store_.InsertAll(std::move(to_store));
  return Json(201, Done(buf));
}

// ---- GET|DELETE /ctia/judgement/{id}, POST .../expire (reference §5.3) ---------------------

SimResponse Router::HandleJudgementById(const Identity& who, const SimRequest& request,
                                        absl::string_view raw_id, absl::string_view query,
                                        bool expire) {
  const bool write = expire || request.method == "DELETE";
  if (!HasCapability(who.scopes, "judgement", write ? Access::kWrite : Access::kRead)) {
    return MissingCapability(expire              ? "create-judgement"
                             : request.method == "DELETE" ? "delete-judgement"
                                                          : "read-judgement",
                             who);
  }
  std::string reason;
  std::vector<schema::FieldError> errors;
  bool has_reason = false;
  for (const auto& [k, v] : ParseForm(query)) {
    if (expire && k == "reason") {
      reason = v;
      has_reason = true;
    } else if (k != "wait_for") {
      errors.push_back({k, "disallowed-key"});
    }
  }
  if (expire && !has_reason) errors.push_back({"reason", "missing-required-key"});
  if (!errors.empty()) return ValidationError(errors);
  // Short or (percent-encoded) long id.
  const std::string short_id = ShortIdOf(DecodeSegment(raw_id));
  std::optional<schema::Judgement> found = store_.Find(short_id);
  if (!found.has_value() || !Visible(*found, who)) {
    return Empty(404);
  }
  if (expire) {
    std::optional<schema::Judgement> updated = store_.Expire(short_id, clock_.Now(), reason);
    if (!updated.has_value()) return Empty(404);
    return Json(200, schema::EncodeJudgement(WithLongId(*std::move(updated)), true));
  }
  if (request.method == "DELETE") {
    ++counters_.judgement_deletes;
    return Empty(store_.Erase(short_id) ? 204 : 404);
  }
  ++counters_.judgement_reads;
  return Json(200, schema::EncodeJudgement(WithLongId(*std::move(found)), true));
}

// ---- GET /ctia/bulk?judgements=... (reference §6.2) ---------------------------------------

SimResponse Router::HandleBulkGet(const Identity& who, absl::string_view query) {
  if (!HasCapability(who.scopes, "judgement", Access::kRead)) {
    return MissingCapability("read-judgement", who);
  }
  std::vector<std::string> ids;
  std::vector<schema::FieldError> errors;
  for (auto& [k, v] : ParseForm(query)) {
    if (k == "judgements") {
      ids.push_back(std::move(v));
    } else {
      errors.push_back({k, "disallowed-key"});  // ctia-sim stores judgements only
    }
  }
  if (!errors.empty()) return ValidationError(errors);
  if (ids.size() > options_.bulk_max) {
    return Json(400, absl::StrCat("\"Bulk max number of entities: ", options_.bulk_max, "\""));
  }
  rapidjson::StringBuffer buf;
  Writer w(buf);
  w.StartObject();
  Key(w, "judgements");
  w.StartArray();
  for (const std::string& id : ids) {
    // Missing ids are left out; ones the caller may not read come back as null
    // (reference §6.2).
    std::optional<schema::Judgement> found = store_.Find(ShortIdOf(id));
    if (!found.has_value()) continue;
    if (Visible(*found, who)) {
      schema::WriteJudgementJson(WithLongId(*std::move(found)), true, w);
    } else {
      w.Null();
    }
  }
  w.EndArray();
  w.EndObject();
  return Json(200, Done(buf));
}

// ---- POST /ctia/graphql (reference §9.4) ----------------------------------------------------

namespace {

SimResponse GraphqlError(absl::string_view message) {
  rapidjson::StringBuffer buf;
  Writer w(buf);
  w.StartObject();
  Key(w, "errors");
  w.StartArray();
  w.StartObject();
  Key(w, "message");
  Str(w, message);
  w.EndObject();
  w.EndArray();
  Key(w, "data");
  w.Null();
  w.EndObject();
  return Json(400, Done(buf));
}

void WriteGraphqlVerdict(Writer& w, const std::vector<GraphqlField>& selection,
                         const schema::Verdict& v) {
  w.StartObject();
  for (const GraphqlField& f : selection) {
    Key(w, f.name);
    if (f.name == "type") {
      Str(w, "verdict");
    } else if (f.name == "disposition") {
      w.Int(static_cast<int>(v.disposition));
    } else if (f.name == "disposition_name") {
      Str(w, schema::DispositionName(v.disposition));
    } else if (f.name == "judgement_id") {
      Str(w, v.judgement_id);
    } else if (f.name == "observable") {
      w.StartObject();
      for (const GraphqlField& g : f.selection) {
        Key(w, g.name);
        Str(w, g.name == "type" ? v.observable.type : v.observable.value);
      }
      w.EndObject();
    } else {  // valid_time: the parser admits no other field
      w.StartObject();
      for (const GraphqlField& g : f.selection) {
        Key(w, g.name);
        Str(w, schema::FormatIsoTime(g.name == "start_time" ? v.valid_time.start_time
                                                            : v.valid_time.end_time));
      }
      w.EndObject();
    }
  }
  w.EndObject();
}

}  // namespace

SimResponse Router::HandleGraphql(const Identity& who, const SimRequest& request) {
  if (!HasCapability(who.scopes, "verdict", Access::kRead)) {
    return MissingCapability("read-verdict", who);
  }
  rapidjson::Document doc;
  if (std::optional<SimResponse> bad = ParseJsonBody(request.body, doc); bad.has_value()) {
    rapidjson::Document error;
    error.Parse(bad->body.c_str());
    return GraphqlError(error.IsObject() && error.HasMember("message")
                            ? error["message"].GetString()
                            : "Invalid JSON body");
  }
  if (!doc.IsObject() || !doc.HasMember("query") || !doc["query"].IsString()) {
    return GraphqlError("The body must be a JSON object with a \"query\" string");
  }
  const rapidjson::Value* variables = nullptr;
  if (auto it = doc.FindMember("variables"); it != doc.MemberEnd() && !it->value.IsNull()) {
    if (!it->value.IsObject()) return GraphqlError("\"variables\" must be a JSON object");
    variables = &it->value;
  }
  absl::StatusOr<std::vector<GraphqlObservable>> parsed = ParseGraphqlObservables(
      absl::string_view(doc["query"].GetString(), doc["query"].GetStringLength()), variables);
  if (!parsed.ok()) return GraphqlError(parsed.status().message());
  counters_.graphql_observables.fetch_add(parsed->size(), std::memory_order_relaxed);
  for (const GraphqlObservable& o : *parsed) TallyLookup(who, schema::Observable{o.type, o.value});
  rapidjson::StringBuffer buf;
  Writer w(buf);
  w.StartObject();
  Key(w, "data");
  w.StartObject();
  for (const GraphqlObservable& o : *parsed) {
    Key(w, o.response_key);
    w.StartObject();
    for (const GraphqlField& f : o.selection) {
      Key(w, f.name);
      if (f.name == "type") {
        Str(w, o.type);
      } else if (f.name == "value") {
        Str(w, o.value);
      } else {
        // The same rule as the verdict route, without a date range (reference §2.4); the
        // type argument is a plain string, so an unknown type simply has no verdict.
        std::optional<schema::Verdict> v =
            VerdictFor(who, schema::Observable{o.type, o.value}, schema::VerdictQuery{});
        if (v.has_value()) {
          WriteGraphqlVerdict(w, f.selection, *v);
        } else {
          w.Null();
        }
      }
    }
    w.EndObject();
  }
  w.EndObject();
  w.EndObject();
  return Json(200, Done(buf));
}

// ---- /__test__/ control API (reference §12.6) ---------------------------------------------

SimResponse Router::HandleTestApi(const SimRequest& request, absl::string_view path) {
  absl::string_view what = path.substr(kTestPrefix.size());
  const absl::string_view method = request.method;
  auto bad = [](absl::string_view message) {
    return Json(400, StringObject({{"error", message}}));
  };
  auto ok = [](std::string body) { return Json(200, std::move(body)); };
  rapidjson::Document doc;
  if (method == "POST" && !request.body.empty()) {
    if (std::optional<SimResponse> refusal = ParseJsonBody(request.body, doc)) return *refusal;
  } else {
    doc.SetObject();
  }
  auto string_field = [&](const char* key) -> std::optional<std::string> {
    if (!doc.IsObject()) return std::nullopt;
    auto it = doc.FindMember(key);
    if (it == doc.MemberEnd() || !it->value.IsString()) return std::nullopt;
    return std::string(it->value.GetString(), it->value.GetStringLength());
  };
  if (what == "faults" && method == "POST") {
    std::vector<FaultRule> rules;
    const rapidjson::Value* list = &doc;
    if (doc.IsObject() && doc.HasMember("rules")) list = &doc["rules"];
    if (list->IsArray()) {
      for (const rapidjson::Value& item : list->GetArray()) {
        absl::StatusOr<FaultRule> rule = FaultRuleFromJson(item);
        if (!rule.ok()) return bad(rule.status().message());
        rules.push_back(*std::move(rule));
      }
    } else {
      absl::StatusOr<FaultRule> rule = FaultRuleFromJson(*list);
      if (!rule.ok()) return bad(rule.status().message());
      rules.push_back(*std::move(rule));
    }
    for (FaultRule& r : rules) faults_.Add(std::move(r));
    return ok(absl::StrCat("{\"rules\":", faults_.size(), "}"));
  }
  if (what == "faults" && method == "DELETE") {
    faults_.Clear();
    return ok("{\"rules\":0}");
  }
  if (what == "clock" && (method == "POST" || method == "GET")) {
    if (method == "POST") {
      if (!doc.IsObject()) return bad("expected a JSON object");
      if (std::optional<std::string> fixed = string_field("fixed")) {
        absl::StatusOr<absl::Time> t = schema::ParseIsoTime(*fixed);
        if (!t.ok()) return bad(absl::StrCat("fixed: ", t.status().message()));
        clock_.SetFixed(*t);
      } else if (auto it = doc.FindMember("advance_ms"); it != doc.MemberEnd()) {
        if (!it->value.IsNumber()) return bad("advance_ms: not a number");
        clock_.Advance(absl::Milliseconds(it->value.GetDouble()));
      } else if (doc.HasMember("release")) {
        clock_.Release();
      } else {
        return bad("expected \"fixed\" (ISO-8601), \"advance_ms\" or \"release\"");
      }
    }
    return ok(StringObject({{"now", schema::FormatIsoTime(clock_.Now())}}));
  }
  if (what == "reset" && method == "POST") {
    Reset();
    return ok("{\"reset\":true}");
  }
  if (what == "load" && method == "POST") {
    std::optional<std::string> file = string_field("path");
    if (!file.has_value()) return bad("path: missing");
    absl::StatusOr<size_t> loaded = LoadNdjson(*file);
    if (!loaded.ok()) return bad(loaded.status().message());
    return ok(absl::StrCat("{\"loaded\":", *loaded, ",\"judgements\":", store_.size(), "}"));
  }
  if (what == "counters" && method == "GET") {
    rapidjson::StringBuffer buf;
    Writer w(buf);
    w.StartObject();
    Key(w, "total");
    w.Uint64(counters_.total.load());
    Key(w, "endpoints");
    w.StartObject();
    for (const auto& [endpoint, statuses] : CountsByEndpoint()) {
      Key(w, endpoint);
      w.StartObject();
      for (const auto& [status, n] : statuses) {
        Key(w, absl::StrCat(status));
        w.Uint64(n);
      }
      w.EndObject();
    }
    w.EndObject();
    Key(w, "graphql_observables");
    w.Uint64(counters_.graphql_observables.load());
    w.EndObject();
    return ok(Done(buf));
  }
  if (what == "lookups" && method == "GET") {
    rapidjson::StringBuffer buf;
    Writer w(buf);
    w.StartObject();
    for (const auto& [client, observables] : Lookups()) {
      Key(w, client);
      w.StartObject();
      for (const auto& [observable, n] : observables) {
        Key(w, observable);
        w.Uint64(n);
      }
      w.EndObject();
    }
    w.EndObject();
    return ok(Done(buf));
  }
  if (what == "visibility" && method == "POST") {
    std::optional<std::string> v = string_field("max_record_visibility");
    if (v != "everyone" && v != "group") {
      return bad("max_record_visibility: expected \"everyone\" or \"group\"");
    }
    SetGreenVisibleToEveryone(*v == "everyone");
    return ok(StringObject({{"max_record_visibility", *v}}));
  }
  if (what == "tokens" && method == "POST") {
    if (doc.IsObject() && doc.HasMember("expire_all")) {
      tokens_.ExpireAll();
      return ok("{\"expired\":\"all\"}");
    }
    std::optional<std::string> token = string_field("expire");
    if (!token.has_value()) return bad("expected \"expire_all\" or \"expire\": TOKEN");
    if (!tokens_.ExpireToken(*token)) return Json(404, StringObject({{"error", "unknown token"}}));
    return ok("{\"expired\":1}");
  }
  return Json(404, StringObject({{"error", "unknown test API route"}}));
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
