#include "tools/sim/internal/request_params.h"

#include <algorithm>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "schema/judgement_id.h"
#include "schema/time_format.h"

namespace enrich::sim {

std::string FormDecode(absl::string_view raw) {
  std::string spaced(raw);
  std::replace(spaced.begin(), spaced.end(), '+', ' ');
  return DecodeSegment(spaced);
}

Params ParseForm(absl::string_view text) {
  Params out;
  for (absl::string_view part : absl::StrSplit(text, '&', absl::SkipEmpty())) {
    std::pair<absl::string_view, absl::string_view> kv =
        absl::StrSplit(part, absl::MaxSplits('=', 1));
    out.emplace_back(FormDecode(kv.first), FormDecode(kv.second));
  }
  return out;
}

std::string ShortIdOf(absl::string_view id) {
  return std::string(schema::ShortJudgementId(id));
}

std::optional<absl::Time> ParseDateParam(absl::string_view name, absl::string_view value,
                                         std::vector<schema::FieldError>& errors) {
  absl::StatusOr<absl::Time> t = schema::ParseIsoTime(value);
  if (!t.ok()) {
    errors.push_back({std::string(name), absl::StrCat("(not (instance? java.util.Date \"",
                                                      value, "\"))")});
    return std::nullopt;
  }
  return *t;
}

}  // namespace enrich::sim
