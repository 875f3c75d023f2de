#ifndef ENRICH_SCHEMA_TIME_FORMAT_H_
#define ENRICH_SCHEMA_TIME_FORMAT_H_

#include <string>
#include "absl/strings/string_view.h"

#include "absl/status/statusor.h"
#include "absl/time/time.h"

namespace enrich::schema {

// CTIA's "no end" instant, 2525-01-01T00:00:00.000Z (reference/ctia-api.md §2.2, §5.2).
absl::Time EndOfTime();

// Parses an ISO-8601 instant as CTIA writes and accepts it: "2016-02-12T00:00:00.000Z",
// with or without fractional seconds, "Z" or a numeric offset ("+02:00"), or a bare date
// "2016-02-12" (midnight UTC). Error: InvalidArgument naming the text.
absl::StatusOr<absl::Time> ParseIsoTime(absl::string_view text);

// Formats as CTIA serialises times: UTC, milliseconds, "Z" ("2016-02-12T00:00:00.000Z").
std::string FormatIsoTime(absl::Time t);

}  // namespace enrich::schema

#endif  // ENRICH_SCHEMA_TIME_FORMAT_H_
