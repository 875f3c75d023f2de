// Synthetic mode (ctia-sim --synthetic N): verdicts computed from a hash of the observable,
// without storage. The verdict route answers from it; benchmarks recompute it to check answers.

#ifndef ENRICH_TOOLS_SIM_SYNTHETIC_H_
#define ENRICH_TOOLS_SIM_SYNTHETIC_H_

#include <cstdint>
#include <optional>

#include "absl/strings/string_view.h"
#include "schema/verdict.h"

namespace enrich::sim {

// Synthetic mode's answer for (type, value), without storage (ctia-sim --synthetic N):
//   key = type + '\0' + ASCII-lowercase(value); h = FNV-1a 64 of key's bytes
//   (offset 0xcbf29ce484222325, prime 0x100000001b3).
//   No verdict when type is not a known observable type or (h % 100) >= percent.
//   disposition = 1 + (h >> 8) % 5; disposition_name from it;
//   observable = {type, lowercase(value)};
//   judgement_id = public_base + "/ctia/judgement/judgement-" + UUID text of the 128 bits
//     (h, g = h * 0x9e3779b97f4a7c15) as printf("%08x-%04x-4%03x-a%03x-%012llx",
//     h >> 32, (h >> 16) & 0xffff, h & 0xfff, g >> 52, g & 0xffffffffffff);
//   valid_time = {2020-01-01T00:00:00.000Z, 2525-01-01T00:00:00.000Z}.
// A benchmark recomputes this to check every answer.
std::optional<schema::Verdict> SyntheticVerdict(absl::string_view type, absl::string_view value,
                                                int percent, absl::string_view public_base);
// ctia-sim --synthetic-short-valid PCT:SECONDS: true when h % 100 < short_percent (h as
// above), the observables whose synthetic verdict ends SECONDS after the server starts (and
// from then on is answered renewed, as every other, until 2525). With
// PCT <= N (--synthetic N) they are PCT percent of all observables, each with a verdict; a
// script counts them with the formula above.
bool SyntheticShortLived(absl::string_view type, absl::string_view value, int short_percent);
// FNV-1a 64 of type + '\0' + lowercase(value), as above.
uint64_t SyntheticHash(absl::string_view type, absl::string_view value);

}  // namespace enrich::sim

#endif  // ENRICH_TOOLS_SIM_SYNTHETIC_H_
