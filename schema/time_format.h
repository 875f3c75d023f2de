// ISO-8601 instants as CTIA writes them: parsed from its answers (verdict valid times) and
// formatted for requests, the simulator's answers, the run summary and the engine's output
// columns. One calendar routine (AppendIsoTimeMillis) formats them (the years 1000..9999).

#ifndef ENRICH_SCHEMA_TIME_FORMAT_H_
#define ENRICH_SCHEMA_TIME_FORMAT_H_

#include <cstdint>
#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"

namespace enrich::schema {

// CTIA's "no end" instant, 2525-01-01T00:00:00.000Z (reference/ctia-api.md §2.2, §5.2).
absl::Time EndOfTime();

// Parses an ISO-8601 instant as CTIA writes and accepts it: "2016-02-12T00:00:00.000Z",
// with or without fractional seconds, "Z" or a numeric offset ("+02:00"), or a bare date
// "2016-02-12" (midnight UTC). Error: InvalidArgument naming the text.
absl::StatusOr<absl::Time> ParseIsoTime(absl::string_view text);

// Formats as CTIA serialises times: UTC, milliseconds, "Z" ("2016-02-12T00:00:00.000Z"); the
// digits below a millisecond are cut (rounded down). Years outside 1000..9999 are written as
// absl::FormatTime's %Y writes them (not padded), infinite times as "infinite-future" and
// "infinite-past".
std::string FormatIsoTime(absl::Time t);

// Appends FormatIsoTime(absl::FromUnixMillis(unix_ms)) to `out`, without absl's format
// interpreter (a days-to-civil computation and the 24 characters stored in place): the engine
// writes one per verdict in its output's valid_until fields (bench/engine/cached_vs_duckdb.sh
// times that path).
void AppendIsoTimeMillis(std::string& out, int64_t unix_ms);

}  // namespace enrich::schema

#endif  // ENRICH_SCHEMA_TIME_FORMAT_H_
