#ifndef ENRICH_SCHEMA_RATE_SPEC_H_
#define ENRICH_SCHEMA_RATE_SPEC_H_

// A request rate as users write it, "N/WINDOW" (18000/1h, 50/10s, 300/60): the one parser of
// ctia-enrich's --rate-limit and ctia-sim's --rate-limit (and their config keys). Pure function.

#include <cstdint>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"

namespace enrich::schema {

struct RateSpec {
  int64_t limit = 0;      // requests allowed per window, at least 1
  absl::Duration window;  // at least one second
};

// Parses "N/WINDOW": N a positive integer; WINDOW whole seconds ("3600") or a duration ("1h",
// "10s", "1m30s") of at least 1 s; "N" alone means CTIA's window of one hour (reference §9.1).
// The error quotes `text` and says what is expected; the caller puts the flag or key in front.
absl::StatusOr<RateSpec> ParseRateSpec(absl::string_view text);

}  // namespace enrich::schema

#endif  // ENRICH_SCHEMA_RATE_SPEC_H_
