#include "schema/time_format.h"

#include <cstdint>

#include "absl/strings/str_cat.h"

namespace enrich::schema {

absl::Time EndOfTime() {
  static const absl::Time end = absl::FromCivil(absl::CivilSecond(2525, 1, 1, 0, 0, 0),
                                                absl::UTCTimeZone());
  return end;
}

namespace {

// Digits of text[pos, pos + n) as a number, or -1 when one is not a digit.
int Digits(absl::string_view text, size_t pos, size_t n) {
  int v = 0;
  for (size_t i = pos; i < pos + n; ++i) {
    const char c = text[i];
    if (c < '0' || c > '9') return -1;
    v = v * 10 + (c - '0');
  }
  return v;
}

// Days from 1970-01-01 to y-m-d in the proleptic Gregorian calendar (H. Hinnant's
// days_from_civil).
int64_t DaysFromCivil(int64_t y, int m, int d) {
  y -= m <= 2;
  const int64_t era = (y >= 0 ? y : y - 399) / 400;
  const int64_t yoe = y - era * 400;
  const int64_t doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
  const int64_t doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
  return era * 146097 + doe - 719468;
}

// The shape every CTIA answer uses, "YYYY-MM-DDTHH:MM:SS[.f{1,9}]Z", with every field in its
// plain range, parsed without absl::ParseTime (its format interpreter dominated verdict
// decoding). Anything else returns false and goes through absl::ParseTime, so the accepted
// language and results are unchanged.
bool ParseCommonUtcShape(absl::string_view s, absl::Time* out) {
  if (s.size() < 20 || s.back() != 'Z' || s[4] != '-' || s[7] != '-' || s[10] != 'T' ||
      s[13] != ':' || s[16] != ':') {
    return false;
  }
  const int year = Digits(s, 0, 4), month = Digits(s, 5, 2), day = Digits(s, 8, 2);
  const int hour = Digits(s, 11, 2), minute = Digits(s, 14, 2), second = Digits(s, 17, 2);
  if (year < 0 || month < 1 || month > 12 || day < 1 || hour < 0 || hour > 23 || minute < 0 ||
      minute > 59 || second < 0 || second > 59) {
    return false;
  }
  static constexpr int kDaysIn[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
  const bool leap = (year % 4 == 0 && year % 100 != 0) || year % 400 == 0;
  if (day > kDaysIn[month - 1] + (month == 2 && leap ? 1 : 0)) return false;
  int64_t nanos = 0;
  const size_t frac_end = s.size() - 1;  // index of 'Z'
  if (frac_end > 19) {
    const size_t digits = frac_end - 20;
    if (s[19] != '.' || digits < 1 || digits > 9) return false;
    const int frac = Digits(s, 20, digits);
    if (frac < 0) return false;
    nanos = frac;
    for (size_t i = digits; i < 9; ++i) nanos *= 10;
  }
  const int64_t seconds =
      DaysFromCivil(year, month, day) * 86400 + hour * 3600 + minute * 60 + second;
  *out = absl::FromUnixSeconds(seconds) + absl::Nanoseconds(nanos);
  return true;
}

}  // namespace

absl::StatusOr<absl::Time> ParseIsoTime(absl::string_view text) {
  absl::Time t;
  if (ParseCommonUtcShape(text, &t)) return t;
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
