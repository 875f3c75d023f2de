#include "schema/rate_spec.h"

#include <utility>

#include "absl/status/status.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"

namespace enrich::schema {

absl::StatusOr<RateSpec> ParseRateSpec(absl::string_view text) {
  auto bad = [&](absl::string_view why) {
    return absl::InvalidArgumentError(absl::StrCat(
        "\"", text, "\" is not N/WINDOW (", why, "; e.g. 18000/1h, 50/10s, 300/60)"));
  };
  const std::pair<absl::string_view, absl::string_view> parts =
      absl::StrSplit(text, absl::MaxSplits('/', 1));
  RateSpec spec;
  if (!absl::SimpleAtoi(parts.first, &spec.limit) || spec.limit < 1) {
    return bad("N must be a positive integer");
  }
  int64_t seconds = 0;
  if (parts.second.empty() && text.find('/') == absl::string_view::npos) {
    spec.window = absl::Hours(1);  // CTIA's window
  } else if (absl::SimpleAtoi(parts.second, &seconds)) {
    spec.window = absl::Seconds(seconds);
  } else if (!absl::ParseDuration(parts.second, &spec.window)) {
    return bad("WINDOW must be seconds or a duration like 10s or 1h");
  }
  if (spec.window < absl::Seconds(1)) return bad("WINDOW must be at least 1s");
  return spec;
}

}  // namespace enrich::schema
