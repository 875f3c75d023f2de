#include "tools/sim/fault_rule.h"

#include <array>
#include <utility>

#include "absl/status/status.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"

namespace enrich::sim {
namespace {

constexpr std::array<std::pair<FaultKind, absl::string_view>, 13> kNames = {{
    {FaultKind::kStatus500, "status500"},
    {FaultKind::kHtml502, "html502"},
    {FaultKind::kHtml503, "html503"},
    {FaultKind::kHtml504, "html504"},
    {FaultKind::kHtml404, "html404"},
    {FaultKind::kStatus413, "status413"},
    {FaultKind::kStatus414, "status414"},
    {FaultKind::kLatency, "latency"},
    {FaultKind::kHang, "hang"},
    {FaultKind::kCloseMidResponse, "close_mid_response"},
    {FaultKind::kTruncatedBody, "truncated_body"},
    {FaultKind::kBurst429, "burst429"},
    {FaultKind::kTokenFail, "token_fail"},
}};

}  // namespace

std::optional<FaultKind> FaultKindFromName(absl::string_view name) {
  for (const auto& [kind, n] : kNames) {
    if (n == name) return kind;
  }
  return std::nullopt;
}

absl::string_view FaultKindName(FaultKind kind) {
  for (const auto& [k, n] : kNames) {
    if (k == kind) return n;
  }
  return "unknown";
}

bool IsLookupPath(absl::string_view path) {
  if (path == "/ctia/graphql") return true;
  return absl::StartsWith(path, "/ctia/") && absl::EndsWith(path, "/verdict");
}

absl::StatusOr<FaultRule> FaultRuleFromJson(const rapidjson::Value& json) {
  if (!json.IsObject()) return absl::InvalidArgumentError("a fault rule must be a JSON object");
  FaultRule rule;
  bool has_kind = false;
  auto number = [](const rapidjson::Value& v, absl::string_view key) -> absl::StatusOr<double> {
    if (!v.IsNumber()) return absl::InvalidArgumentError(absl::StrCat(key, ": not a number"));
    const double d = v.GetDouble();
    if (d < 0) return absl::InvalidArgumentError(absl::StrCat(key, ": negative"));
    return d;
  };
  for (auto m = json.MemberBegin(); m != json.MemberEnd(); ++m) {
    const absl::string_view key(m->name.GetString(), m->name.GetStringLength());
    const rapidjson::Value& v = m->value;
    if (key == "lookups_only") {
      if (!v.IsBool()) return absl::InvalidArgumentError("lookups_only: not true or false");
      rule.lookups_only = v.GetBool();
      continue;
    }
    if (key == "kind" || key == "path") {
      if (!v.IsString()) return absl::InvalidArgumentError(absl::StrCat(key, ": not a string"));
      const absl::string_view text(v.GetString(), v.GetStringLength());
      if (key == "path") {
        rule.path_prefix = std::string(text);
        continue;
      }
      std::optional<FaultKind> kind = FaultKindFromName(text);
      if (!kind.has_value()) {
        return absl::InvalidArgumentError(absl::StrCat("kind: unknown fault kind \"", text,
                                                       "\""));
      }
      rule.kind = *kind;
      has_kind = true;
      continue;
    }
    absl::StatusOr<double> n = number(v, key);
    if (!n.ok()) return n.status();
    if (key == "percentage") {
      if (*n > 100) return absl::InvalidArgumentError("percentage: more than 100");
      rule.percentage = *n;
    } else if (key == "next") {
      rule.next = static_cast<int64_t>(*n);
      if (rule.next < 1) return absl::InvalidArgumentError("next: must be at least 1");
    } else if (key == "ms") {
      rule.latency = absl::Milliseconds(*n);
    } else if (key == "tail_ms") {
      rule.tail = absl::Milliseconds(*n);
    } else if (key == "tail_percentage") {
      if (*n > 100) return absl::InvalidArgumentError("tail_percentage: more than 100");
      rule.tail_percentage = *n;
    } else if (key == "hang_ms") {
      rule.hang = absl::Milliseconds(*n);
    } else if (key == "retry_after") {
      rule.retry_after_seconds = static_cast<int64_t>(*n);
    } else if (key == "status") {
      rule.status = static_cast<int>(*n);
      if (rule.status < 400 || rule.status > 599) {
        return absl::InvalidArgumentError("status: must be 400..599");
      }
    } else {
      return absl::InvalidArgumentError(absl::StrCat(key, ": unknown key"));
    }
  }
  if (!has_kind) return absl::InvalidArgumentError("kind: missing");
  return rule;
}

}  // namespace enrich::sim
