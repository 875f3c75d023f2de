#include "schema/time_format.h"

#include "absl/strings/str_cat.h"

namespace enrich::schema {

absl::Time EndOfTime() {
  static const absl::Time end = absl::FromCivil(absl::CivilSecond(2525, 1, 1, 0, 0, 0),
                                                absl::UTCTimeZone());
  return end;
}

absl::StatusOr<absl::Time> ParseIsoTime(absl::string_view text) {
  absl::Time t;
  std::string err;
  const std::string s(text);
  // %Ez accepts "+hh:mm"; the common "Z" suffix is handled by the first format.
  for (const char* fmt : {"%Y-%m-%d%ET%H:%M:%E*SZ", "%Y-%m-%d%ET%H:%M:%E*S%Ez",
                          "%Y-%m-%d%ET%H:%MZ", "%Y-%m-%d"}) {
    if (absl::ParseTime(fmt, s, absl::UTCTimeZone(), &t, &err)) return t;
  }
  return absl::InvalidArgumentError(absl::StrCat("not an ISO-8601 instant: \"", text, "\""));
}

std::string FormatIsoTime(absl::Time t) {
  return absl::FormatTime("%Y-%m-%d%ET%H:%M:%E3SZ", t, absl::UTCTimeZone());
}

}  // namespace enrich::schema
