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

// AppendIsoTimeMillis formats the years 1000..9999 itself: [1000-01-01, 10000-01-01) in Unix
// milliseconds.
constexpr int64_t kFirst4DigitYearMs = -30'610'224'000'000;
constexpr int64_t kPast4DigitYearsMs = 253'402'300'800'000;

// The other instants (years of fewer or more digits, which %Y does not pad, and the infinite
// ones) as absl formats them.
std::string FormatWithAbsl(absl::Time t) {
  return absl::FormatTime("%Y-%m-%d%ET%H:%M:%E3SZ", t, absl::UTCTimeZone());
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

void AppendIsoTimeMillis(std::string& out, int64_t unix_ms) {
  if (unix_ms < kFirst4DigitYearMs || unix_ms >= kPast4DigitYearsMs) {
    out.append(FormatWithAbsl(absl::FromUnixMillis(unix_ms)));
    return;
  }
  // Days to civil date (H. Hinnant's algorithm), proleptic Gregorian, UTC.
  int64_t days = unix_ms >= 0 ? unix_ms / 86'400'000 : (unix_ms - 86'399'999) / 86'400'000;
  int64_t ms_of_day = unix_ms - days * 86'400'000;
  days += 719'468;
  const int64_t era = (days >= 0 ? days : days - 146'096) / 146'097;
  const int64_t doe = days - era * 146'097;
  const int64_t yoe = (doe - doe / 1460 + doe / 36'524 - doe / 146'096) / 365;
  int64_t year = yoe + era * 400;
  const int64_t doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
  const int64_t mp = (5 * doy + 2) / 153;
  const int64_t day = doy - (153 * mp + 2) / 5 + 1;
  const int64_t month = mp < 10 ? mp + 3 : mp - 9;
  if (month <= 2) ++year;
  char buf[24];
  auto put = [&buf](int at, int64_t v, int width) {
    for (int i = width - 1; i >= 0; --i, v /= 10) buf[at + i] = static_cast<char>('0' + v % 10);
  };
  put(0, year, 4);
  buf[4] = '-';
  put(5, month, 2);
  buf[7] = '-';
  put(8, day, 2);
  buf[10] = 'T';
  put(11, ms_of_day / 3'600'000, 2);
  buf[13] = ':';
  put(14, ms_of_day / 60'000 % 60, 2);
  buf[16] = ':';
  put(17, ms_of_day / 1000 % 60, 2);
  buf[19] = '.';
  put(20, ms_of_day % 1000, 3);
  buf[23] = 'Z';
  out.append(buf, sizeof buf);
}

std::string FormatIsoTime(absl::Time t) {
  const int64_t unix_ms = absl::ToUnixMillis(t);  // rounds down, as %E3S cuts the digits
  if (unix_ms < kFirst4DigitYearMs || unix_ms >= kPast4DigitYearsMs) return FormatWithAbsl(t);
  std::string out;
  AppendIsoTimeMillis(out, unix_ms);
  return out;
}

}  // namespace enrich::schema
