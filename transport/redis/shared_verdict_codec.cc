#include "transport/redis/shared_verdict_codec.h"

#include <algorithm>
#include <array>
#include <cstdint>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_replace.h"
#include "schema/byte_coding.h"
#include "schema/disposition.h"
#include "schema/verdict_record.h"

namespace enrich::transport {
namespace {

absl::Status Corrupt(absl::string_view why) {
  return absl::InvalidArgumentError(absl::StrCat("shared cache entry: ", why));
}

}  // namespace

std::string SharedKeyText(const SharedLookupKey& key, const schema::DetailsSpec& details) {
  auto part = [](absl::string_view s) { return absl::StrReplaceAll(s, {{"|", "%7C"}}); };
  std::string intel = key.intel;
  if (!details.empty()) absl::StrAppend(&intel, " details=", details.Describe());
  return absl::StrCat(part(key.endpoint), "|", part(intel), "|", part(key.type), "|",
                      key.value);
}

schema::DetailsSpec SharedDetailsSpec(const VerdictDetailsOptions& asked) {
  std::vector<schema::DetailField> fields;
  if (asked.judgement) {
    for (size_t i = 0; i < schema::kJudgementFieldCount; ++i) {
      fields.push_back(static_cast<schema::DetailField>(i));
    }
  }
  return schema::DetailsSpec::Of(fields, static_cast<size_t>(std::max(asked.judgements, 0)),
                                 /*intel=*/false, /*other=*/false);
}

std::string EncodeSharedVerdict(const schema::DetailsSpec& details,
                                const schema::VerdictResult& result) {
  schema::Settled s;
  int64_t start_ms = 0;
  std::string detail_bytes;
  if (const auto* v = std::get_if<schema::Verdict>(&result)) {
    s.kind = schema::Settled::Kind::kVerdict;
    s.disposition = static_cast<int8_t>(static_cast<int>(v->disposition));
    s.valid_until_ms = absl::ToUnixMillis(v->valid_time.end_time);
    s.judgement_id = v->judgement_id;
    schema::EncodeDetails(details, *v, detail_bytes);
    s.details = detail_bytes;
    start_ms = absl::ToUnixMillis(v->valid_time.start_time);
  }
  // A table of this value alone: its one prefix is number 0.
  schema::IdPrefixes prefixes;
  std::string record;
  schema::EncodeRecord(s, s.valid_until_ms, prefixes, record);
  std::string out;
  schema::PutString(out, prefixes.At(0));
  schema::PutInt64(out, start_ms);
  out.append(record);
  return out;
}

absl::StatusOr<schema::VerdictResult> DecodeSharedVerdict(const schema::DetailsSpec& details,
                                                          const SharedLookupKey& key,
                                                          absl::string_view bytes) {
  schema::ByteReader r(bytes);
  const absl::string_view prefix = r.String();
  const int64_t start_ms = r.Int64();
  if (!r.ok()) return Corrupt("truncated");
  schema::IdPrefixes prefixes;
  if (!prefix.empty()) prefixes.Intern(prefix);
  schema::Settled s;
  int64_t expiry_ms = 0;
  if (!schema::DecodeRecord(r.rest(), prefixes, s, expiry_ms) ||
      schema::RecordSize(r.rest()) != r.rest().size()) {
    return Corrupt("not a verdict record");
  }
  switch (s.kind) {
    case schema::Settled::Kind::kNoVerdict:
      return schema::VerdictResult(schema::NoVerdict{});
    case schema::Settled::Kind::kFailed:
      return Corrupt("a failure (never shared)");
    case schema::Settled::Kind::kVerdict:
      break;
  }
  const auto disposition = schema::DispositionFromNumber(s.disposition);
  if (!disposition) return Corrupt("bad disposition");
  schema::Verdict v;
  v.disposition = *disposition;
  v.disposition_name = std::string(schema::DispositionName(*disposition));
  v.observable = schema::Observable{key.type, key.value};
  v.judgement_id = s.judgement_id.ToString();
  v.valid_time.start_time = absl::FromUnixMillis(start_ms);
  v.valid_time.end_time = absl::FromUnixMillis(s.valid_until_ms);
  if (!details.empty()) {
    // The key names the details: a value without them (or with others) is not this key's.
    schema::DetailsView view;
    if (s.details.empty() || !schema::DecodeDetails(details, s.details, view) ||
        !schema::ApplyDetails(details, view, v)) {
      return Corrupt("details missing or not the key's");
    }
  } else if (!s.details.empty()) {
    return Corrupt("details the key does not name");
  }
  return schema::VerdictResult(std::move(v));
}

}  // namespace enrich::transport
