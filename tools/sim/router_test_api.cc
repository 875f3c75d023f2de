// The Router's test control API under /__test__/ (reference §12.6): fault rules, the server
// clock, reset, NDJSON loading, counters, lookups per client, visibility, token expiry and the
// run-time switches (knobs).
// Not CTIA: served only with SimOptions::test_api, never counted, never faulted.

#include "tools/sim/router.h"

#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "rapidjson/stringbuffer.h"
#include "schema/time_format.h"
#include "tools/sim/fault_rule.h"
#include "tools/sim/internal/sim_responses.h"

namespace enrich::sim {
namespace {

SimResponse Bad(absl::string_view message) {
  return Json(400, StringObject({{"error", message}}));
}

SimResponse Ok(std::string body) { return Json(200, std::move(body)); }

// The string member `key` of `doc`, if `doc` is an object that has one.
std::optional<std::string> StringField(const rapidjson::Document& doc, const char* key) {
  if (!doc.IsObject()) return std::nullopt;
  auto it = doc.FindMember(key);
  if (it == doc.MemberEnd() || !it->value.IsString()) return std::nullopt;
  return std::string(it->value.GetString(), it->value.GetStringLength());
}

// POST /__test__/faults: one rule, an array of rules, or {"rules": [...]}. Adds every rule or,
// when one is invalid, none.
SimResponse AddFaultRules(const rapidjson::Document& doc, FaultInjector& faults) {
  std::vector<FaultRule> rules;
  const rapidjson::Value* list = &doc;
  if (doc.IsObject() && doc.HasMember("rules")) list = &doc["rules"];
  if (list->IsArray()) {
    for (const rapidjson::Value& item : list->GetArray()) {
      absl::StatusOr<FaultRule> rule = FaultRuleFromJson(item);
      if (!rule.ok()) return Bad(rule.status().message());
      rules.push_back(*std::move(rule));
    }
  } else {
    absl::StatusOr<FaultRule> rule = FaultRuleFromJson(*list);
    if (!rule.ok()) return Bad(rule.status().message());
    rules.push_back(*std::move(rule));
  }
  for (FaultRule& r : rules) faults.Add(std::move(r));
  return Ok(absl::StrCat("{\"rules\":", faults.size(), "}"));
}

// GET|POST /__test__/clock: POST {"fixed": ISO} | {"advance_ms": N} | {"release": ...} first;
// both answer {"now": ISO}.
SimResponse ClockRoute(absl::string_view method, const rapidjson::Document& doc,
                       SimClock& clock) {
  if (method == "POST") {
    if (!doc.IsObject()) return Bad("expected a JSON object");
    if (std::optional<std::string> fixed = StringField(doc, "fixed")) {
      absl::StatusOr<absl::Time> t = schema::ParseIsoTime(*fixed);
      if (!t.ok()) return Bad(absl::StrCat("fixed: ", t.status().message()));
      clock.SetFixed(*t);
    } else if (auto it = doc.FindMember("advance_ms"); it != doc.MemberEnd()) {
      if (!it->value.IsNumber()) return Bad("advance_ms: not a number");
      clock.Advance(absl::Milliseconds(it->value.GetDouble()));
    } else if (doc.HasMember("release")) {
      clock.Release();
    } else {
      return Bad("expected \"fixed\" (ISO-8601), \"advance_ms\" or \"release\"");
    }
  }
  return Ok(StringObject({{"now", schema::FormatIsoTime(clock.Now())}}));
}

// GET /__test__/counters: {"total": N, "endpoints": {ENDPOINT: {STATUS: N}}, ...}.
std::string CountersJson(uint64_t total, const EndpointCounts& counts,
                         uint64_t graphql_observables) {
  rapidjson::StringBuffer buf;
  Writer w(buf);
  w.StartObject();
  Key(w, "total");
  w.Uint64(total);
  Key(w, "endpoints");
  w.StartObject();
  for (const auto& [endpoint, statuses] : counts) {
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
  w.Uint64(graphql_observables);
  w.EndObject();
  return Done(buf);
}

// GET /__test__/lookups: {CLIENT: {"TYPE:VALUE": N}}.
std::string LookupsJson(const LookupTally& tally) {
  rapidjson::StringBuffer buf;
  Writer w(buf);
  w.StartObject();
  for (const auto& [client, observables] : tally) {
    Key(w, client);
    w.StartObject();
    for (const auto& [observable, n] : observables) {
      Key(w, observable);
      w.Uint64(n);
    }
    w.EndObject();
  }
  w.EndObject();
  return Done(buf);
}

// POST /__test__/tokens: {"expire_all": ...} or {"expire": TOKEN}.
SimResponse ExpireTokens(const rapidjson::Document& doc, TokenRegistry& tokens) {
  if (doc.IsObject() && doc.HasMember("expire_all")) {
    tokens.ExpireAll();
    return Ok("{\"expired\":\"all\"}");
  }
  std::optional<std::string> token = StringField(doc, "expire");
  if (!token.has_value()) return Bad("expected \"expire_all\" or \"expire\": TOKEN");
  if (!tokens.ExpireToken(*token)) return Json(404, StringObject({{"error", "unknown token"}}));
  return Ok("{\"expired\":1}");
}

// {"graphql": B, "token_check_at_send": B}: the Router's run-time switches.
std::string KnobsJson(bool graphql, bool token_check_at_send) {
  return absl::StrCat("{\"graphql\":", graphql ? "true" : "false",
                      ",\"token_check_at_send\":", token_check_at_send ? "true" : "false", "}");
}

}  // namespace

// POST /__test__/knobs {"graphql": B, "token_check_at_send": B} (each optional) sets the
// switches of SimOptions::graphql and token_check_at_send; GET and POST answer their state.
SimResponse Router::KnobsRoute(absl::string_view method, const rapidjson::Document& doc) {
  if (method == "POST") {
    if (!doc.IsObject()) return Bad("expected a JSON object");
    for (auto m = doc.MemberBegin(); m != doc.MemberEnd(); ++m) {
      const absl::string_view key(m->name.GetString(), m->name.GetStringLength());
      if (key != "graphql" && key != "token_check_at_send") {
        return Bad(absl::StrCat(key, ": unknown key (known: graphql, token_check_at_send)"));
      }
      if (!m->value.IsBool()) return Bad(absl::StrCat(key, ": not true or false"));
    }
    if (auto it = doc.FindMember("graphql"); it != doc.MemberEnd()) {
      SetGraphqlEnabled(it->value.GetBool());
    }
    if (auto it = doc.FindMember("token_check_at_send"); it != doc.MemberEnd()) {
      SetTokenCheckAtSend(it->value.GetBool());
    }
  }
  return Ok(KnobsJson(GraphqlEnabled(), TokenCheckAtSend()));
}

SimResponse Router::HandleTestApi(const SimRequest& request, absl::string_view path) {
  absl::string_view what = path.substr(kTestPrefix.size());
  const absl::string_view method = request.method;
  rapidjson::Document doc;
  if (method == "POST" && !request.body.empty()) {
    if (std::optional<SimResponse> refusal = ParseJsonBody(request.body, doc)) return *refusal;
  } else {
    doc.SetObject();
  }
  if (what == "faults" && method == "POST") return AddFaultRules(doc, faults_);
  if (what == "faults" && method == "DELETE") {
    faults_.Clear();
    return Ok("{\"rules\":0}");
  }
  if (what == "clock" && (method == "POST" || method == "GET")) {
    return ClockRoute(method, doc, clock_);
  }
  if (what == "reset" && method == "POST") {
    Reset();
    return Ok("{\"reset\":true}");
  }
  if (what == "load" && method == "POST") {
    std::optional<std::string> file = StringField(doc, "path");
    if (!file.has_value()) return Bad("path: missing");
    absl::StatusOr<size_t> loaded = LoadNdjson(*file);
    if (!loaded.ok()) return Bad(loaded.status().message());
    return Ok(absl::StrCat("{\"loaded\":", *loaded, ",\"judgements\":", store_.size(), "}"));
  }
  if (what == "counters" && method == "GET") {
    return Ok(CountersJson(counters_.total.load(), CountsByEndpoint(),
                           counters_.graphql_observables.load()));
  }
  if (what == "lookups" && method == "GET") return Ok(LookupsJson(Lookups()));
  if (what == "visibility" && method == "POST") {
    std::optional<std::string> v = StringField(doc, "max_record_visibility");
    if (v != "everyone" && v != "group") {
      return Bad("max_record_visibility: expected \"everyone\" or \"group\"");
    }
    SetGreenVisibleToEveryone(*v == "everyone");
    return Ok(StringObject({{"max_record_visibility", *v}}));
  }
  if (what == "tokens" && method == "POST") return ExpireTokens(doc, tokens_);
  if (what == "knobs" && (method == "POST" || method == "GET")) return KnobsRoute(method, doc);
  return Json(404, StringObject({{"error", "unknown test API route"}}));
}

}  // namespace enrich::sim
