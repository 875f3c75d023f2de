// The Router's read family: GET /ctia/{type}/{value}/verdict (the lookup every enrichment
// makes, and its fast encoder) and GET /ctia/{type}/{value}/judgements with paging and sort.

#include "tools/sim/router.h"

#include <algorithm>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "rapidjson/stringbuffer.h"
#include "schema/json_codec.h"
#include "schema/observable.h"
#include "schema/time_format.h"
#include "schema/verdict.h"
#include "schema/verdict_rule.h"
#include "tools/sim/internal/judgement_listing.h"
#include "tools/sim/internal/request_params.h"
#include "tools/sim/internal/sim_responses.h"
#include "tools/sim/synthetic.h"

namespace enrich::sim {
namespace {

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
    std::optional<schema::Verdict> v = SyntheticVerdict(
        observable.type, observable.value, options_.synthetic_percent, PublicBase());
    // A short-lived one ends at synthetic_short_end_; once that has passed it is answered as
    // renewed until 2525 (the same judgement, extended), never as a verdict already ended.
    if (v.has_value() && options_.synthetic_short_percent > 0 &&
        clock_.Now() < synthetic_short_end_ &&
        SyntheticShortLived(observable.type, observable.value, options_.synthetic_short_percent)) {
      v->valid_time.end_time = synthetic_short_end_;
    }
    return v;
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
  std::vector<schema::FieldError> errors;
  const ListQuery q = ParseListQuery(query, errors);
  if (!errors.empty()) return ValidationError(errors);
  if (q.search_after.empty() && q.offset + q.limit > kMaxResultWindow) {
    return Json(400, StringObject(
                         {{"type", "ES Invalid Request"},
                          {"message",
                           absl::StrCat("Result window is too large, from + size must be less "
                                        "than or equal to: [10000] but was [",
                                        q.offset + q.limit, "].")},
                          {"class", "clojure.lang.ExceptionInfo"}}));
  }
  const std::vector<SortKey> keys = SortKeysOf(q);
  std::vector<schema::Judgement> list = store_.ListByObservable(
      schema::Observable{route.type, DecodeSegment(raw_value)}, [&](const schema::Judgement& j) {
        if (q.from.has_value() && j.created < *q.from) return false;
        if (q.to.has_value() && !(j.created < *q.to)) return false;
        return Visible(j, who);
      });
  SortJudgements(list, keys);
  const int64_t total = static_cast<int64_t>(list.size());
  const size_t begin = q.search_after.empty() ? static_cast<size_t>(std::min(q.offset, total))
                                              : SearchAfterStart(list, keys, q.search_after);
  const size_t end = std::min(list.size(), begin + static_cast<size_t>(q.limit));

  rapidjson::StringBuffer buf;
  Writer w(buf);
  w.StartArray();
  for (size_t i = begin; i < end; ++i) schema::WriteJudgementJson(WithLongId(list[i]), true, w);
  w.EndArray();
  SimResponse r = Json(200, Done(buf));
  AddPageHeaders(q, keys, list, begin, end, r);
  return r;
}

}  // namespace enrich::sim
