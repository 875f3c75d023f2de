#include "schema/json_codec.h"

#include "absl/strings/str_cat.h"
#include "rapidjson/error/en.h"
#include "schema/time_format.h"

namespace enrich::schema {
namespace {

using rapidjson::Value;
using Writer = rapidjson::Writer<rapidjson::StringBuffer>;

// The CTIM schema version ctia-sim reports (ctim "1.3.29", reference §5.2).
constexpr absl::string_view kSchemaVersion = "1.3.29";

absl::Status Malformed(absl::string_view what) {
  return absl::InvalidArgumentError(absl::StrCat("malformed verdict body: ", what));
}

const Value* Member(const Value& obj, const char* name) {
  auto it = obj.FindMember(name);
  return it == obj.MemberEnd() ? nullptr : &it->value;
}

absl::string_view AsView(const Value& v) { return {v.GetString(), v.GetStringLength()}; }

absl::StatusOr<Observable> DecodeObservable(const Value* v) {
  if (v == nullptr || !v->IsObject()) return Malformed("\"observable\" is not an object");
  const Value* type = Member(*v, "type");
  const Value* value = Member(*v, "value");
  if (type == nullptr || !type->IsString() || value == nullptr || !value->IsString()) {
    return Malformed("\"observable\" needs string \"type\" and \"value\"");
  }
  return Observable{std::string(AsView(*type)), std::string(AsView(*value))};
}

absl::StatusOr<absl::Time> DecodeTime(const Value& obj, const char* name) {
  const Value* v = Member(obj, name);
  if (v == nullptr || !v->IsString()) {
    return Malformed(absl::StrCat("\"", name, "\" is missing or not a string"));
  }
  return ParseIsoTime(AsView(*v));
}

void WriteString(Writer& w, absl::string_view key, absl::string_view value) {
  w.Key(key.data(), static_cast<rapidjson::SizeType>(key.size()));
  w.String(value.data(), static_cast<rapidjson::SizeType>(value.size()));
}

void WriteTime(Writer& w, absl::string_view key, absl::Time t) {
  WriteString(w, key, FormatIsoTime(t));
}

void WriteObservable(Writer& w, const Observable& o) {
  w.Key("observable");
  w.StartObject();
  WriteString(w, "type", o.type);
  WriteString(w, "value", o.value);
  w.EndObject();
}

void WriteValidTime(Writer& w, const ValidTime& vt) {
  w.Key("valid_time");
  w.StartObject();
  WriteTime(w, "start_time", vt.start_time);
  WriteTime(w, "end_time", vt.end_time);
  w.EndObject();
}

void WriteStringList(Writer& w, absl::string_view key, const std::vector<std::string>& list) {
  w.Key(key.data(), static_cast<rapidjson::SizeType>(key.size()));
  w.StartArray();
  for (const auto& s : list) w.String(s.data(), static_cast<rapidjson::SizeType>(s.size()));
  w.EndArray();
}

bool IsSet(absl::Time t) { return t != absl::InfinitePast(); }

}  // namespace

absl::StatusOr<Verdict> DecodeVerdict(absl::string_view body) {
  rapidjson::Document doc;
  doc.Parse(body.data(), body.size());
  if (doc.HasParseError()) {
    return Malformed(absl::StrCat(rapidjson::GetParseError_En(doc.GetParseError()),
                                  " at offset ", doc.GetErrorOffset()));
  }
  if (!doc.IsObject()) return Malformed("not a JSON object");
  Verdict v;
  const Value* disp = Member(doc, "disposition");
  if (disp == nullptr || !disp->IsInt()) return Malformed("\"disposition\" is not an integer");
  std::optional<Disposition> d = DispositionFromNumber(disp->GetInt());
  if (!d.has_value()) {
    return Malformed(absl::StrCat("\"disposition\" ", disp->GetInt(), " is outside 1..5"));
  }
  v.disposition = *d;
  v.disposition_name = std::string(DispositionName(*d));
  auto observable = DecodeObservable(Member(doc, "observable"));
  if (!observable.ok()) return observable.status();
  v.observable = *std::move(observable);
  if (const Value* id = Member(doc, "judgement_id"); id != nullptr && id->IsString()) {
    v.judgement_id = std::string(AsView(*id));
  }
  const Value* vt = Member(doc, "valid_time");
  if (vt == nullptr || !vt->IsObject()) return Malformed("\"valid_time\" is not an object");
  auto start = DecodeTime(*vt, "start_time");
  if (!start.ok()) return Malformed(start.status().message());
  v.valid_time.start_time = *start;
  // CTIA always sends end_time (§2.2); tolerate its absence as "no end".
  if (Member(*vt, "end_time") == nullptr) {
    v.valid_time.end_time = EndOfTime();
  } else {
    auto end = DecodeTime(*vt, "end_time");
    if (!end.ok()) return Malformed(end.status().message());
    v.valid_time.end_time = *end;
  }
  return v;
}

absl::StatusOr<VerdictResult> DecodeVerdictResponse(int http_status, absl::string_view body) {
  if (http_status == 200) {
    auto v = DecodeVerdict(body);
    if (!v.ok()) return v.status();
    return VerdictResult(*std::move(v));
  }
  if (http_status == 404) {
    rapidjson::Document doc;
    doc.Parse(body.data(), body.size());
    if (!doc.HasParseError() && doc.IsObject()) {
      const Value* msg = Member(doc, "message");
      if (msg != nullptr && msg->IsString()) return VerdictResult(NoVerdict{});
    }
    return absl::NotFoundError(
        "CTIA answered 404 without a JSON message: the verdict route was not matched");
  }
  return absl::InternalError(absl::StrCat("unexpected HTTP status ", http_status));
}

std::string EncodeVerdict(const Verdict& v) {
  rapidjson::StringBuffer buf;
  Writer w(buf);
  w.StartObject();
  WriteString(w, "type", "verdict");
  w.Key("disposition");
  w.Int(static_cast<int>(v.disposition));
  WriteString(w, "disposition_name", DispositionName(v.disposition));
  WriteObservable(w, v.observable);
  WriteString(w, "judgement_id", v.judgement_id);
  WriteValidTime(w, v.valid_time);
  w.EndObject();
  return std::string(buf.GetString(), buf.GetSize());
}

void WriteJudgementJson(const Judgement& j, bool stored, Writer& w) {
  w.StartObject();
  if (!j.id.empty()) WriteString(w, "id", j.id);
  if (stored) {
    WriteString(w, "type", "judgement");
    WriteString(w, "schema_version", kSchemaVersion);
  }
  WriteObservable(w, j.observable);
  w.Key("disposition");
  w.Int(static_cast<int>(j.disposition));
  WriteString(w, "disposition_name", DispositionName(j.disposition));
  w.Key("priority");
  w.Int64(j.priority);
  if (!j.confidence.empty()) WriteString(w, "confidence", j.confidence);
  if (!j.severity.empty()) WriteString(w, "severity", j.severity);
  if (!j.source.empty()) WriteString(w, "source", j.source);
  if (!j.source_uri.empty()) WriteString(w, "source_uri", j.source_uri);
  if (!j.reason.empty()) WriteString(w, "reason", j.reason);
  if (!j.tlp.empty()) WriteString(w, "tlp", j.tlp);
  if (IsSet(j.valid_time.start_time)) WriteValidTime(w, j.valid_time);
  if (IsSet(j.timestamp)) WriteTime(w, "timestamp", j.timestamp);
  if (!j.external_ids.empty()) WriteStringList(w, "external_ids", j.external_ids);
  if (!j.authorized_users.empty()) WriteStringList(w, "authorized_users", j.authorized_users);
  if (!j.authorized_groups.empty()) WriteStringList(w, "authorized_groups", j.authorized_groups);
  if (stored) {
    if (!j.owner.empty()) WriteString(w, "owner", j.owner);
    WriteStringList(w, "groups", j.groups);
    if (IsSet(j.created)) {
      WriteTime(w, "created", j.created);
      WriteTime(w, "modified", j.created);
    }
  }
  w.EndObject();
}

std::string EncodeJudgement(const Judgement& j, bool stored) {
  rapidjson::StringBuffer buf;
  Writer w(buf);
  WriteJudgementJson(j, stored, w);
  return std::string(buf.GetString(), buf.GetSize());
}

namespace {

void RequireString(const Value& obj, const char* key, std::string* out,
                   std::vector<FieldError>& errors, bool required) {
  const Value* v = Member(obj, key);
  if (v == nullptr) {
    if (required) errors.push_back({key, "missing-required-key"});
    return;
  }
  if (!v->IsString()) {
    errors.push_back({key, "(not (instance? java.lang.String))"});
    return;
  }
  *out = std::string(AsView(*v));
}

void ReadStringList(const Value& obj, const char* key, std::vector<std::string>* out,
                    std::vector<FieldError>& errors) {
  const Value* v = Member(obj, key);
  if (v == nullptr) return;
  if (!v->IsArray()) {
    errors.push_back({key, "(not (sequential?))"});
    return;
  }
  for (const Value& item : v->GetArray()) {
    if (!item.IsString()) {
      errors.push_back({key, "(not (instance? java.lang.String))"});
      return;
    }
    out->emplace_back(AsView(item));
  }
}

void ReadEnum(const Value& obj, const char* key, std::initializer_list<absl::string_view> allowed,
              std::string* out, std::vector<FieldError>& errors, bool required) {
  std::string value;
  const size_t before = errors.size();
  RequireString(obj, key, &value, errors, required);
  if (errors.size() != before || Member(obj, key) == nullptr) return;
  for (absl::string_view a : allowed) {
    if (a == value) {
      *out = value;
      return;
    }
  }
  std::string set;
  for (absl::string_view a : allowed) absl::StrAppend(&set, set.empty() ? "" : " ", "\"", a, "\"");
  errors.push_back({key, absl::StrCat("(not (#{", set, "} \"", value, "\"))")});
}

absl::Time ReadOptionalTime(const Value& obj, const char* key, absl::Time fallback,
                            std::vector<FieldError>& errors, const std::string& prefix) {
  const Value* v = Member(obj, key);
  if (v == nullptr) return fallback;
  if (!v->IsString()) {
    errors.push_back({prefix + key, "(not (instance? java.util.Date))"});
    return fallback;
  }
  auto t = ParseIsoTime(AsView(*v));
  if (!t.ok()) {
    errors.push_back({prefix + key, "(not (instance? java.util.Date))"});
    return fallback;
  }
  return *t;
}

}  // namespace

NewJudgementDecode DecodeNewJudgement(const Value& v, absl::Time now) {
  NewJudgementDecode out;
  auto& errors = out.errors;
  Judgement& j = out.judgement;
  if (!v.IsObject()) {
    errors.push_back({"", "(not (map? a-judgement))"});
    return out;
  }
  static const std::initializer_list<absl::string_view> kAllowed = {
      "id", "type", "schema_version", "observable", "disposition", "disposition_name",
      "priority", "confidence", "severity", "source", "source_uri", "reason", "reason_uri",
      "tlp", "valid_time", "timestamp", "language", "revision", "external_ids",
      "external_references", "authorized_users", "authorized_groups"};
  for (auto it = v.MemberBegin(); it != v.MemberEnd(); ++it) {
    absl::string_view key = AsView(it->name);
    bool allowed = false;
    for (absl::string_view a : kAllowed) allowed = allowed || a == key;
    if (!allowed) errors.push_back({std::string(key), "disallowed-key"});
  }
  // observable
  const Value* obs = Member(v, "observable");
  if (obs == nullptr) {
    errors.push_back({"observable", "missing-required-key"});
  } else {
    auto o = DecodeObservable(obs);
    if (!o.ok()) {
      errors.push_back({"observable", "(not (map? {:type :value}))"});
    } else {
      j.observable = *std::move(o);
    }
  }
  RequireString(v, "source", &j.source, errors, true);
  if (const Value* p = Member(v, "priority"); p == nullptr) {
    errors.push_back({"priority", "missing-required-key"});
  } else if (!p->IsInt64()) {
    errors.push_back({"priority", "(not (integer? a-number))"});
  } else {
    j.priority = p->GetInt64();
  }
  static const std::initializer_list<absl::string_view> kConfidence = {
      "Info", "Low", "Medium", "High", "None", "Unknown"};
  static const std::initializer_list<absl::string_view> kSeverity = {
      "Info", "Low", "Medium", "High", "None", "Unknown", "Critical"};
  ReadEnum(v, "confidence", kConfidence, &j.confidence, errors, true);
  ReadEnum(v, "severity", kSeverity, &j.severity, errors, true);
  ReadEnum(v, "tlp", {"red", "amber", "green", "white"}, &j.tlp, errors, false);
  RequireString(v, "source_uri", &j.source_uri, errors, false);
  RequireString(v, "reason", &j.reason, errors, false);
  RequireString(v, "id", &j.id, errors, false);
  ReadStringList(v, "external_ids", &j.external_ids, errors);
  ReadStringList(v, "authorized_users", &j.authorized_users, errors);
  ReadStringList(v, "authorized_groups", &j.authorized_groups, errors);

  // Disposition: number and/or name (ctim `determine-disposition-id`, reference §3).
  std::optional<Disposition> by_number;
  std::optional<Disposition> by_name;
  if (const Value* d = Member(v, "disposition"); d != nullptr) {
    if (!d->IsInt() || !DispositionFromNumber(d->GetInt()).has_value()) {
      errors.push_back({"disposition", "(not (#{1 2 3 4 5} a-number))"});
    } else {
      by_number = DispositionFromNumber(d->GetInt());
    }
  }
  if (const Value* d = Member(v, "disposition_name"); d != nullptr) {
    by_name = d->IsString() ? DispositionFromName(AsView(*d)) : std::nullopt;
    if (!by_name.has_value()) {
      errors.push_back({"disposition_name",
                        "(not (#{\"Clean\" \"Malicious\" \"Suspicious\" \"Common\" "
                        "\"Unknown\"} a-string))"});
    }
  }
  if (by_number.has_value() && by_name.has_value() && *by_number != *by_name) {
    errors.push_back({"disposition_name", "mismatch"});
  }
  j.disposition = by_number.value_or(by_name.value_or(Disposition::kUnknown));

  // valid_time defaults: start = now, end = 2525-01-01 (ctia `make-valid-time`, §5.2).
  j.valid_time = {now, EndOfTime()};
  if (const Value* vt = Member(v, "valid_time"); vt != nullptr) {
    if (!vt->IsObject()) {
      errors.push_back({"valid_time", "(not (map? a-valid-time))"});
    } else {
      j.valid_time.start_time =
          ReadOptionalTime(*vt, "start_time", now, errors, "valid_time.");
      j.valid_time.end_time =
          ReadOptionalTime(*vt, "end_time", EndOfTime(), errors, "valid_time.");
      if (j.valid_time.end_time < j.valid_time.start_time) {
        errors.push_back({"valid_time", "start_time must not be after end_time"});
      }
    }
  }
  j.timestamp = ReadOptionalTime(v, "timestamp", now, errors, "");
  return out;
}

absl::StatusOr<Judgement> DecodeStoredJudgement(absl::string_view body) {
  rapidjson::Document doc;
  doc.Parse(body.data(), body.size());
  if (doc.HasParseError() || !doc.IsObject()) {
    return absl::InvalidArgumentError("malformed judgement body: not a JSON object");
  }
  // Stored judgements carry server fields the NewJudgement schema rejects; drop them first.
  rapidjson::Document copy;
  copy.CopyFrom(doc, copy.GetAllocator());
  for (const char* k : {"type", "schema_version", "owner", "groups", "created", "modified",
                        "client_id"}) {
    copy.RemoveMember(k);
  }
  NewJudgementDecode d = DecodeNewJudgement(copy, absl::InfinitePast());
  if (!d.ok()) {
    return absl::InvalidArgumentError(absl::StrCat("malformed judgement body: field \"",
                                                   d.errors[0].field, "\": ",
                                                   d.errors[0].explanation));
  }
  Judgement j = std::move(d.judgement);
  if (const Value* c = Member(doc, "created"); c != nullptr && c->IsString()) {
    if (auto t = ParseIsoTime(AsView(*c)); t.ok()) j.created = *t;
  }
  if (const Value* o = Member(doc, "owner"); o != nullptr && o->IsString()) {
    j.owner = std::string(AsView(*o));
  }
  std::vector<FieldError> ignored;
  ReadStringList(doc, "groups", &j.groups, ignored);
  return j;
}

}  // namespace enrich::schema
