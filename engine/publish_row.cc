#include "engine/publish_row.h"

#include "schema/disposition.h"
#include "schema/normalize.h"
#include "schema/observable.h"
#include "schema/time_format.h"

#include <initializer_list>
#include <utility>

#include "absl/status/statusor.h"
#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include <openssl/evp.h>

namespace enrich::engine {
namespace {

constexpr std::array<absl::string_view, kPublishFieldCount> kNames = {
    "value",      "type",       "disposition", "disposition_name", "source",
    "source_uri", "priority",   "severity",    "confidence",       "reason",
    "tlp",        "start_time", "end_time",    "external_id"};

// CTIA's length limits count characters; a UTF-8 continuation byte is not one.
size_t Characters(absl::string_view text) {
  size_t n = 0;
  for (char c : text) n += (static_cast<unsigned char>(c) & 0xC0) != 0x80 ? 1 : 0;
  return n;
}

// The member of `allowed` equal to `text` ignoring ASCII case, as spelled in `allowed`.
std::optional<std::string> EnumValue(absl::string_view text,
                                     std::initializer_list<absl::string_view> allowed) {
  for (absl::string_view a : allowed) {
    if (absl::EqualsIgnoreCase(a, text)) return std::string(a);
  }
  return std::nullopt;
}

std::string OneOf(std::initializer_list<absl::string_view> allowed) {
  return absl::StrCat("not one of ", absl::StrJoin(allowed, ", "));
}

// Reads the disposition fields (reference §3): number and/or name, consistent.
std::optional<PublishRowError> ReadDisposition(const PublishValues& v, schema::Disposition* out) {
  std::optional<schema::Disposition> by_number;
  std::optional<schema::Disposition> by_name;
  const auto& number = v[static_cast<size_t>(PublishField::kDisposition)];
  const auto& name = v[static_cast<size_t>(PublishField::kDispositionName)];
  if (number.has_value()) {
    int n = 0;
    if (absl::SimpleAtoi(*number, &n)) {
      by_number = schema::DispositionFromNumber(n);
    } else {
      // A name in the disposition column is taken as a name.
      for (int i = 1; i <= 5; ++i) {
        const auto d = static_cast<schema::Disposition>(i);
        if (absl::EqualsIgnoreCase(schema::DispositionName(d), *number)) by_number = d;
      }
    }
    if (!by_number.has_value()) {
      return PublishRowError{"disposition", absl::StrCat("\"", *number,
                                                         "\" is not 1..5 or a disposition name "
                                                         "(Clean, Malicious, Suspicious, "
                                                         "Common, Unknown)")};
    }
  }
  if (name.has_value()) {
    for (int i = 1; i <= 5; ++i) {
      const auto d = static_cast<schema::Disposition>(i);
      if (absl::EqualsIgnoreCase(schema::DispositionName(d), *name)) by_name = d;
    }
    if (!by_name.has_value()) {
      return PublishRowError{"disposition_name",
                             absl::StrCat("\"", *name,
                                          "\" is not Clean, Malicious, Suspicious, Common or "
                                          "Unknown")};
    }
  }
  if (by_number.has_value() && by_name.has_value() && *by_number != *by_name) {
    return PublishRowError{
        "disposition_name",
        absl::StrCat("\"", *name, "\" disagrees with disposition ", static_cast<int>(*by_number),
                     " (", schema::DispositionName(*by_number), ")")};
  }
  *out = by_number.value_or(by_name.value_or(schema::Disposition::kUnknown));
  return std::nullopt;
}

// Reads the observable: type known (or auto), value valid and normalized.
std::optional<PublishRowError> ReadObservable(const PublishValues& v, schema::Observable* out) {
  const auto& value = v[static_cast<size_t>(PublishField::kValue)];
  const auto& type = v[static_cast<size_t>(PublishField::kType)];
  if (!type.has_value()) return PublishRowError{"type", "missing"};
  if (*type != "auto" && !schema::IsKnownObservableType(*type)) {
    return PublishRowError{"type", absl::StrCat("\"", *type, "\" is not a CTIA observable type")};
  }
  if (!value.has_value()) return PublishRowError{"value", "missing"};
  absl::StatusOr<schema::Observable> o = schema::NormalizeObservable(*type, *value);
  if (!o.ok()) {
    return PublishRowError{"value", std::string(o.status().message())};
  }
  *out = *std::move(o);
  return std::nullopt;
}

std::optional<PublishRowError> ReadTimes(const PublishValues& v, absl::Time now,
                                         schema::ValidTime* out, bool* start_given,
                                         bool* end_given) {
  const auto& start = v[static_cast<size_t>(PublishField::kStartTime)];
  const auto& end = v[static_cast<size_t>(PublishField::kEndTime)];
  *start_given = start.has_value();
  *end_given = end.has_value();
  out->start_time = absl::InfinitePast();  // left to CTIA (now, 2525-01-01)
  out->end_time = schema::EndOfTime();
  if (start.has_value()) {
    absl::StatusOr<absl::Time> t = schema::ParseIsoTime(*start);
    if (!t.ok())
      return PublishRowError{"start_time",
                             absl::StrCat("\"", *start, "\" is not an RFC 3339 time")};
    out->start_time = *t;
  }
  if (end.has_value()) {
    absl::StatusOr<absl::Time> t = schema::ParseIsoTime(*end);
    if (!t.ok()) {
      return PublishRowError{"end_time", absl::StrCat("\"", *end, "\" is not an RFC 3339 time")};
    }
    out->end_time = *t;
    if (!start.has_value()) out->start_time = now;
    if (out->end_time <= out->start_time) {
      return PublishRowError{"end_time", absl::StrCat(schema::FormatIsoTime(out->end_time),
                                                      " is not after start_time ",
                                                      schema::FormatIsoTime(out->start_time))};
    }
  }
  return std::nullopt;
}

// source, source_uri, reason, priority, confidence, severity, tlp.
std::optional<PublishRowError> ReadScalars(const PublishValues& v, schema::Judgement* j) {
  auto get = [&v](PublishField f) -> const std::optional<std::string>& {
    return v[static_cast<size_t>(f)];
  };
  if (!get(PublishField::kSource).has_value()) {
    return PublishRowError{"source", "missing (give a source column or --source)"};
  }
  j->source = *get(PublishField::kSource);
  if (Characters(j->source) > 2048) return PublishRowError{"source", "longer than 2048 characters"};
  j->source_uri = get(PublishField::kSourceUri).value_or("");
  if (Characters(j->source_uri) > 2048) {
    return PublishRowError{"source_uri", "longer than 2048 characters"};
  }
  j->reason = get(PublishField::kReason).value_or("");
  if (Characters(j->reason) > 1024) return PublishRowError{"reason", "longer than 1024 characters"};
  j->priority = kDefaultPriority;
  if (const auto& p = get(PublishField::kPriority); p.has_value()) {
    if (!absl::SimpleAtoi(*p, &j->priority)) {
      return PublishRowError{"priority", absl::StrCat("\"", *p, "\" is not an integer")};
    }
  }
  static constexpr std::initializer_list<absl::string_view> kConfidence = {
      "Info", "Low", "Medium", "High", "None", "Unknown"};
  static constexpr std::initializer_list<absl::string_view> kSeverity = {
      "Info", "Low", "Medium", "High", "None", "Unknown", "Critical"};
  static constexpr std::initializer_list<absl::string_view> kTlp = {"red", "amber", "green",
                                                                    "white"};
  j->confidence = std::string(kDefaultConfidence);
  if (const auto& c = get(PublishField::kConfidence); c.has_value()) {
    std::optional<std::string> e = EnumValue(*c, kConfidence);
    if (!e.has_value())
      return PublishRowError{"confidence", absl::StrCat("\"", *c, "\" is ", OneOf(kConfidence))};
    j->confidence = *e;
  }
  j->severity = std::string(kDefaultSeverity);
  if (const auto& s = get(PublishField::kSeverity); s.has_value()) {
    std::optional<std::string> e = EnumValue(*s, kSeverity);
    if (!e.has_value())
      return PublishRowError{"severity", absl::StrCat("\"", *s, "\" is ", OneOf(kSeverity))};
    j->severity = *e;
  }
  if (const auto& t = get(PublishField::kTlp); t.has_value()) {
    std::optional<std::string> e = EnumValue(*t, kTlp);
    if (!e.has_value())
      return PublishRowError{"tlp", absl::StrCat("\"", *t, "\" is ", OneOf(kTlp))};
    j->tlp = *e;
  }
  return std::nullopt;
}

}  // namespace

absl::string_view PublishFieldName(PublishField field) {
  return kNames[static_cast<size_t>(field)];
}

std::optional<PublishField> PublishFieldFromName(absl::string_view name) {
  for (size_t i = 0; i < kPublishFieldCount; ++i) {
    if (kNames[i] == name) return static_cast<PublishField>(i);
  }
  return std::nullopt;
}

CheckedRow CheckPublishRow(const PublishValues& values, absl::Time now) {
  CheckedRow out;
  PublishRow row;
  schema::Judgement& j = row.judgement;
  bool start_given = false;
  bool end_given = false;
  std::optional<PublishRowError> error = ReadObservable(values, &j.observable);
  if (!error) error = ReadDisposition(values, &j.disposition);
  if (!error) error = ReadScalars(values, &j);
  if (!error) error = ReadTimes(values, now, &j.valid_time, &start_given, &end_given);
  if (error) {
    out.error = *std::move(error);
    return out;
  }
  const auto& xid = values[static_cast<size_t>(PublishField::kExternalId)];
  row.external_id = xid.has_value() ? *xid : DeriveExternalId(j, start_given, end_given);
  j.external_ids = {row.external_id};
  out.row = std::move(row);
  return out;
}

std::string DeriveExternalId(const schema::Judgement& j, bool start_given, bool end_given) {
  // Fields joined by a unit separator, each prefixed by its length, so no two contents meet.
  std::string content;
  auto add = [&content](absl::string_view field) {
    absl::StrAppend(&content, field.size(), ":", field, "\x1f");
  };
  add(j.observable.type);
  add(j.observable.value);
  add(absl::StrCat(static_cast<int>(j.disposition)));
  add(j.source);
  add(j.source_uri);
  add(absl::StrCat(j.priority));
  add(j.severity);
  add(j.confidence);
  add(j.reason);
  add(j.tlp);
  add(start_given ? schema::FormatIsoTime(j.valid_time.start_time) : "");
  add(end_given ? schema::FormatIsoTime(j.valid_time.end_time) : "");
  unsigned char digest[EVP_MAX_MD_SIZE];
  unsigned int size = 0;
  EVP_Digest(content.data(), content.size(), digest, &size, EVP_sha256(), nullptr);
  std::string hex;
  hex.reserve(2 * size);
  static constexpr char kHex[] = "0123456789abcdef";
  for (unsigned int i = 0; i < size; ++i) {
    hex.push_back(kHex[digest[i] >> 4]);
    hex.push_back(kHex[digest[i] & 0xF]);
  }
  return absl::StrCat("ctia-enrich:", j.source, ":", hex);
}

}  // namespace enrich::engine
