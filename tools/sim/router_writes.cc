// The Router's judgement-entity family: POST /ctia/judgement, POST /ctia/bulk and
// GET /ctia/bulk?judgements=..., GET|DELETE /ctia/judgement/{id} and POST .../expire.

#include "tools/sim/router.h"

#include <algorithm>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "rapidjson/stringbuffer.h"
#include "schema/json_codec.h"
#include "schema/observable.h"
#include "tools/sim/internal/request_params.h"
#include "tools/sim/internal/sim_responses.h"

namespace enrich::sim {

// ---- judgement creation (reference §5) ----------------------------------------------------

namespace {

constexpr absl::string_view kTransientPrefix = "transient:";

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
  if (store_.Insert(j)) ++counters_.judgements_created;
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
  counters_.judgements_created += store_.InsertAll(std::move(to_store));
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

// ---- GET /ctia/judgement/external_id/{xid} (reference §5.3) ----------------------------------

// CTIA's route lists the caller's judgements whose external_ids hold `xid` (a JSON array,
// empty when there is none); ctia-sim answers every match in one page.
SimResponse Router::HandleJudgementsByExternalId(const Identity& who, absl::string_view raw_xid) {
  if (!HasCapability(who.scopes, "judgement", Access::kRead)) {
    return MissingCapability("read-judgement", who);
  }
  ++counters_.external_id_lookups;
  const std::string xid = DecodeSegment(raw_xid);
  std::vector<schema::Judgement> found =
      store_.FindByExternalId(xid, [&](const schema::Judgement& j) { return Visible(j, who); });
  rapidjson::StringBuffer buf;
  Writer w(buf);
  w.StartArray();
  for (schema::Judgement& j : found) schema::WriteJudgementJson(WithLongId(std::move(j)), true, w);
  w.EndArray();
  return Json(200, Done(buf));
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

}  // namespace enrich::sim
