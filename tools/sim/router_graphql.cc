// The Router's GraphQL family: POST /ctia/graphql, the subset of CTIA's schema a verdict
// lookup uses (aliased observable(type:, value:) { verdict { ... } }, reference §9.4).

#include "tools/sim/router.h"

#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "rapidjson/stringbuffer.h"
#include "schema/disposition.h"
#include "schema/time_format.h"
#include "schema/verdict.h"
#include "tools/sim/graphql_subset.h"
#include "tools/sim/internal/sim_responses.h"

namespace enrich::sim {

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

}  // namespace enrich::sim
