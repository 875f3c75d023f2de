#ifndef ENRICH_SCHEMA_DISPOSITION_H_
#define ENRICH_SCHEMA_DISPOSITION_H_

// CTIM dispositions (Clean, Malicious, Suspicious, Common, Unknown): their numbers and names, as
// verdicts and judgements carry them and the engine writes them out. Part of schema, the
// vocabulary layer shared by transport, engine and ctia-sim; no I/O.

#include <optional>
#include "absl/strings/string_view.h"

namespace enrich::schema {

// CTIM disposition numbers (reference/ctia-api.md §3). Lower number wins at equal priority.
enum class Disposition : int {
  kClean = 1,
  kMalicious = 2,
  kSuspicious = 3,
  kCommon = 4,
  kUnknown = 5,
};

// "Clean", "Malicious", "Suspicious", "Common", "Unknown" (case-sensitive, as CTIM).
absl::string_view DispositionName(Disposition d);
// Number 1..5 → Disposition; anything else → nullopt.
std::optional<Disposition> DispositionFromNumber(int number);
// Exact (case-sensitive) name → Disposition; anything else → nullopt.
std::optional<Disposition> DispositionFromName(absl::string_view name);

}  // namespace enrich::schema

#endif  // ENRICH_SCHEMA_DISPOSITION_H_
