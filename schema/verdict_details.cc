#include "schema/verdict_details.h"

#include <algorithm>
#include <limits>
#include <memory>
#include <optional>

#include "absl/strings/ascii.h"
#include "absl/strings/escaping.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "absl/time/time.h"
#include "schema/byte_coding.h"

namespace enrich::schema {
namespace {

constexpr std::array<absl::string_view, kDetailFieldCount> kNames = {
    "source",     "source_uri", "reason", "severity",       "confidence",
    "priority",   "tlp",        "observable_type", "observable_value"};

// Header flags.
constexpr uint8_t kIntelFlag = 1;
constexpr uint8_t kOtherFlag = 2;

// The judgement field of `d` that `field` names.
absl::string_view JudgementField(const schema::JudgementDetails& d, DetailField field,
                                 std::string& priority) {
  switch (field) {
    case DetailField::kSource:
      return d.source;
    case DetailField::kSourceUri:
      return d.source_uri;
    case DetailField::kReason:
      return d.reason;
    case DetailField::kSeverity:
      return d.severity;
    case DetailField::kConfidence:
      return d.confidence;
    case DetailField::kPriority:
      priority = absl::StrCat(d.priority);
      return priority;
    case DetailField::kTlp:
      return d.tlp;
    default:
      return {};
  }
}

}  // namespace

absl::string_view DetailFieldName(DetailField field) {
  return kNames[static_cast<size_t>(field)];
}

absl::StatusOr<std::vector<DetailField>> ParseDetailFields(absl::string_view list) {
  std::vector<DetailField> fields;
  const std::string valid = absl::StrCat(absl::StrJoin(kNames, ", "), " (or all)");
  for (absl::string_view name : absl::StrSplit(list, ',')) {
    name = absl::StripAsciiWhitespace(name);
    if (name == "all" && fields.empty()) {
      for (size_t i = 0; i < kDetailFieldCount; ++i) {
        fields.push_back(static_cast<DetailField>(i));
      }
      continue;
    }
    size_t i = 0;
    while (i < kDetailFieldCount && kNames[i] != name) ++i;
    if (i == kDetailFieldCount) {
      return absl::InvalidArgumentError(absl::StrCat(
          "--fields \"", list, "\": unknown field \"", absl::CEscape(name),
          "\"; the fields are: ", valid));
    }
    for (DetailField earlier : fields) {
      if (earlier == static_cast<DetailField>(i)) {
        return absl::InvalidArgumentError(absl::StrCat(
            "--fields \"", list, "\": \"", name, "\" is given twice (or with all)"));
      }
    }
    fields.push_back(static_cast<DetailField>(i));
  }
  return fields;
}

DetailsSpec DetailsSpec::Of(const std::vector<DetailField>& fields, size_t judgements,
                            bool intel, bool other) {
  DetailsSpec spec;
  for (DetailField f : fields) {
    if (IsJudgementField(f)) {
      spec.judgement_fields |= static_cast<uint8_t>(1u << static_cast<int>(f));
    }
  }
  spec.judgements = static_cast<uint32_t>(
      std::min<size_t>(judgements, std::numeric_limits<uint32_t>::max()));
  // The intel of both verdicts tells which one is Private-Intel's under --merge both.
  spec.intel = intel || other;
  spec.other = other;
  return spec;
}

std::string DetailsSpec::Header() const {
  std::string out;
  out.push_back(static_cast<char>(judgement_fields));
  out.push_back(static_cast<char>((intel ? kIntelFlag : 0) | (other ? kOtherFlag : 0)));
  PutVarint(out, judgements);
  return out;
}

std::string DetailsSpec::Describe() const {
  if (empty()) return "";
  std::vector<absl::string_view> names;
  for (size_t i = 0; i < kJudgementFieldCount; ++i) {
    if (Keeps(static_cast<DetailField>(i))) names.push_back(kNames[i]);
  }
  std::string out = absl::StrCat("fields=", absl::StrJoin(names, ","));
  if (judgements > 0) absl::StrAppend(&out, " judgements=", judgements);
  if (intel) out.append(" intel");
  if (other) out.append(" other");
  return out;
}

void EncodeDetails(const DetailsSpec& spec, const schema::Verdict& v, std::string& out) {
  out.clear();
  if (spec.empty()) return;
  out = spec.Header();
  if (spec.judgement_fields != 0) {
    out.push_back(v.judgement.has_value() ? 1 : 0);
    if (v.judgement.has_value()) {
      std::string priority;
      for (size_t i = 0; i < kJudgementFieldCount; ++i) {
        const auto f = static_cast<DetailField>(i);
        if (spec.Keeps(f)) PutString(out, JudgementField(*v.judgement, f, priority));
      }
    }
  }
  if (spec.judgements > 0) {
    const size_t n = std::min<size_t>(v.judgements.size(), spec.judgements);
    PutVarint(out, n);
    for (size_t i = 0; i < n; ++i) {
      const schema::JudgementBrief& j = v.judgements[i];
      PutString(out, j.source);
      out.push_back(static_cast<char>(static_cast<int>(j.disposition)));
      PutString(out, j.id);
    }
  }
  if (spec.intel) PutString(out, v.intel);
  if (spec.other) {
    out.push_back(v.other != nullptr ? 1 : 0);
    if (v.other != nullptr) {
      out.push_back(static_cast<char>(static_cast<int>(v.other->disposition)));
      PutString(out, v.other->judgement_id);
      PutVarint(out, static_cast<uint64_t>(absl::ToUnixMillis(v.other->valid_time.end_time)));
      PutString(out, v.other->intel);
    }
  }
}

bool DecodeDetails(const DetailsSpec& spec, absl::string_view bytes, DetailsView& out) {
  out.has_judgement = false;
  out.judgement.fill({});
  out.judgements.clear();
  out.intel = {};
  out.has_other = false;
  out.other_disposition = 0;
  out.other_judgement_id = {};
  out.other_valid_until_ms = 0;
  out.other_intel = {};
  if (bytes.empty()) return true;
  ByteReader r(bytes);
  if (!r.Skip(spec.Header())) return false;
  if (spec.judgement_fields != 0) {
    out.has_judgement = r.Byte() != 0;
    for (size_t i = 0; out.has_judgement && i < kJudgementFieldCount; ++i) {
      if (spec.Keeps(static_cast<DetailField>(i))) out.judgement[i] = r.String();
    }
  }
  if (spec.judgements > 0) {
    const uint64_t n = r.Varint();
    if (n > spec.judgements) return false;
    for (uint64_t i = 0; i < n && r.ok(); ++i) {
      JudgementBriefView& j = out.judgements.emplace_back();
      j.source = r.String();
      j.disposition = r.Byte();
      j.id = r.String();
    }
  }
  if (spec.intel) out.intel = r.String();
  if (spec.other) {
    out.has_other = r.Byte() != 0;
    if (out.has_other) {
      out.other_disposition = r.Byte();
      out.other_judgement_id = r.String();
      out.other_valid_until_ms = static_cast<int64_t>(r.Varint());
      out.other_intel = r.String();
    }
  }
  return r.ok() && r.done();
}

bool ApplyDetails(const DetailsSpec& spec, const DetailsView& view, Verdict& v) {
  if (spec.judgement_fields != 0 && view.has_judgement) {
    JudgementDetails& d = v.judgement.emplace();
    const auto field = [&view](DetailField f) {
      return std::string(view.judgement[static_cast<size_t>(f)]);
    };
    d.source = field(DetailField::kSource);
    d.source_uri = field(DetailField::kSourceUri);
    d.reason = field(DetailField::kReason);
    d.severity = field(DetailField::kSeverity);
    d.confidence = field(DetailField::kConfidence);
    d.tlp = field(DetailField::kTlp);
    if (spec.Keeps(DetailField::kPriority) &&
        !absl::SimpleAtoi(view.judgement[static_cast<size_t>(DetailField::kPriority)],
                          &d.priority)) {
      return false;
    }
  }
  v.judgements.clear();
  for (const JudgementBriefView& j : view.judgements) {
    const std::optional<Disposition> disposition = DispositionFromNumber(j.disposition);
    if (!disposition) return false;
    v.judgements.push_back({std::string(j.source), *disposition, std::string(j.id)});
  }
  if (spec.intel) v.intel = std::string(view.intel);
  if (spec.other && view.has_other) {
    const std::optional<Disposition> disposition = DispositionFromNumber(view.other_disposition);
    if (!disposition) return false;
    auto other = std::make_shared<Verdict>();
    other->disposition = *disposition;
    other->disposition_name = std::string(DispositionName(*disposition));
    other->judgement_id = std::string(view.other_judgement_id);
    other->valid_time.end_time = absl::FromUnixMillis(view.other_valid_until_ms);
    other->intel = std::string(view.other_intel);
    v.other = std::move(other);
  }
  return true;
}

}  // namespace enrich::schema
