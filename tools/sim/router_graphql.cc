// The Router's GraphQL family: POST /ctia/graphql, the subset of CTIA's schema a verdict
// lookup uses (aliased observable(type:, value:) { verdict { ... judgement { ... } }
// judgements(first:, orderBy:) { ... } }, reference §9.4).

#include "tools/sim/router.h"

#include <algorithm>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "rapidjson/stringbuffer.h"
#include "schema/disposition.h"
#include "schema/time_format.h"
#include "schema/verdict.h"
#include "tools/sim/graphql_subset.h"
#include "tools/sim/internal/judgement_listing.h"
#include "tools/sim/internal/request_params.h"
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

// A string field CTIA may leave out: null when empty.
void StrOrNull(Writer& w, const std::string& s) {
  if (s.empty()) {
    w.Null();
  } else {
    Str(w, s);
  }
}

void WriteObservableRef(Writer& w, const std::vector<GraphqlField>& selection,
                        const schema::Observable& o) {
  w.StartObject();
  for (const GraphqlField& g : selection) {
    Key(w, g.name);
    Str(w, g.name == "type" ? o.type : o.value);
  }
  w.EndObject();
}

void WriteValidTime(Writer& w, const std::vector<GraphqlField>& selection,
                    const schema::ValidTime& t) {
  w.StartObject();
  for (const GraphqlField& g : selection) {
    Key(w, g.name);
    Str(w, schema::FormatIsoTime(g.name == "start_time" ? t.start_time : t.end_time));
  }
  w.EndObject();
}

// A stored judgement (long id) with the fields of `selection` (the Judgement type).
void WriteGraphqlJudgement(Writer& w, const std::vector<GraphqlField>& selection,
                           const schema::Judgement& j) {
  w.StartObject();
  for (const GraphqlField& f : selection) {
    Key(w, f.name);
    if (f.name == "id") {
      Str(w, j.id);
    } else if (f.name == "type") {
      Str(w, "judgement");
    } else if (f.name == "source") {
      Str(w, j.source);
    } else if (f.name == "source_uri") {
      StrOrNull(w, j.source_uri);
    } else if (f.name == "reason") {
      StrOrNull(w, j.reason);
    } else if (f.name == "severity") {
      Str(w, j.severity);
    } else if (f.name == "confidence") {
      Str(w, j.confidence);
    } else if (f.name == "priority") {
      w.Int64(j.priority);
    } else if (f.name == "tlp") {
      StrOrNull(w, j.tlp);
    } else if (f.name == "disposition") {
      w.Int(static_cast<int>(j.disposition));
    } else if (f.name == "disposition_name") {
      Str(w, schema::DispositionName(j.disposition));
    } else if (f.name == "timestamp") {
      Str(w, schema::FormatIsoTime(j.timestamp));
    } else if (f.name == "observable") {
      WriteObservableRef(w, f.selection, j.observable);
    } else {  // valid_time: the parser admits no other field
      WriteValidTime(w, f.selection, j.valid_time);
    }
  }
  w.EndObject();
}

// The judgements connection of an observable: the first `field.first` of `list` (sorted).
void WriteGraphqlConnection(Writer& w, const GraphqlField& field,
                            const std::vector<schema::Judgement>& list) {
  const size_t end = std::min(list.size(), static_cast<size_t>(field.first));
  w.StartObject();
  for (const GraphqlField& f : field.selection) {
    Key(w, f.name);
    if (f.name == "totalCount") {
      w.Int64(static_cast<int64_t>(list.size()));
    } else if (f.name == "nodes" || f.name == "edges") {
      w.StartArray();
      for (size_t i = 0; i < end; ++i) {
        if (f.name == "nodes") {
          WriteGraphqlJudgement(w, f.selection, list[i]);
          continue;
        }
        w.StartObject();
        for (const GraphqlField& g : f.selection) {
          Key(w, g.name);
          if (g.name == "cursor") {
            Str(w, absl::Base64Escape(absl::StrCat(i)));  // CTIA's cursor: the offset
          } else {
            WriteGraphqlJudgement(w, g.selection, list[i]);
          }
        }
        w.EndObject();
      }
      w.EndArray();
    } else {  // pageInfo
      w.StartObject();
      for (const GraphqlField& g : f.selection) {
        Key(w, g.name);
        if (g.name == "hasNextPage") {
          w.Bool(end < list.size());
        } else if (g.name == "hasPreviousPage") {
          w.Bool(false);
        } else if (end == 0) {
          w.Null();
        } else {
          Str(w, absl::Base64Escape(absl::StrCat(g.name == "startCursor" ? 0 : end - 1)));
        }
      }
      w.EndObject();
    }
  }
  w.EndObject();
}

// `judgement` is the verdict's judgement when the caller may read it.
void WriteGraphqlVerdict(Writer& w, const std::vector<GraphqlField>& selection,
                         const schema::Verdict& v,
                         const std::optional<schema::Judgement>& judgement) {
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
      WriteObservableRef(w, f.selection, v.observable);
    } else if (f.name == "judgement") {
      if (judgement.has_value()) {
        WriteGraphqlJudgement(w, f.selection, *judgement);
      } else {
        w.Null();
      }
    } else {  // valid_time: the parser admits no other field
      WriteValidTime(w, f.selection, v.valid_time);
    }
  }
  w.EndObject();
}

}  // namespace

// CTIA's Verdict.judgement: the judgement `judgement_id` names, when selected and readable by
// the caller (ctia `entity-by-id`); a synthetic verdict's judgement is not stored: null.
std::optional<schema::Judgement> Router::VerdictJudgement(
    const Identity& who, const schema::Verdict& v,
    const std::vector<GraphqlField>& selection) const {
  if (v.judgement_id.empty() ||
      std::none_of(selection.begin(), selection.end(),
                   [](const GraphqlField& f) { return f.name == "judgement"; })) {
    return std::nullopt;
  }
  std::optional<schema::Judgement> j = store_.Find(ShortIdOf(v.judgement_id));
  if (!j.has_value() || !Visible(*j, who)) return std::nullopt;
  return WithLongId(*std::move(j));
}

// Observable.judgements: every judgement of the observable the caller may read (expired ones
// too, as the REST list), sorted by the field's orderBy (default: the store's default sort),
// with long ids; the connection writer takes the first `first`.
std::vector<schema::Judgement> Router::JudgementsFor(const Identity& who,
                                                     const schema::Observable& observable,
                                                     const GraphqlField& field) const {
  std::vector<schema::Judgement> list = store_.ListByObservable(
      observable, [&](const schema::Judgement& j) { return Visible(j, who); });
  std::vector<SortKey> keys;
  for (const auto& [name, descending] : field.order_by) keys.push_back(SortKey{name, descending});
  if (keys.empty()) keys = SortKeysOf(ListQuery{});
  SortJudgements(list, keys);
  const size_t keep = std::min(list.size(), static_cast<size_t>(field.first));
  for (size_t i = 0; i < keep; ++i) list[i] = WithLongId(std::move(list[i]));
  return list;
}

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
      } else if (f.name == "judgements") {
        WriteGraphqlConnection(w, f, JudgementsFor(who, schema::Observable{o.type, o.value}, f));
      } else {
        // The same rule as the verdict route, without a date range (reference §2.4); the
        // type argument is a plain string, so an unknown type simply has no verdict.
        std::optional<schema::Verdict> v =
            VerdictFor(who, schema::Observable{o.type, o.value}, schema::VerdictQuery{});
        if (v.has_value()) {
          WriteGraphqlVerdict(w, f.selection, *v, VerdictJudgement(who, *v, f.selection));
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
