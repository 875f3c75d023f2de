#ifndef ENRICH_TRANSPORT_REDIS_SHARED_VERDICT_CODEC_H_
#define ENRICH_TRANSPORT_REDIS_SHARED_VERDICT_CODEC_H_

// The bytes of one settled lookup in the Redis-shared verdict cache (shared_lookups.h), and the
// key it is stored under. One place to change when the engine's compact verdict records
// replace this encoding.

#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "schema/verdict.h"

namespace enrich::transport {

// What a cached answer is the answer to: the same observable asked of another endpoint or
// intel is another question.
struct SharedLookupKey {
  std::string endpoint;  // the CTIA base URL
  std::string intel;     // "global", "private", or a label of the run's lookup shape
  std::string type;      // CTIA observable type
  std::string value;     // normalized value
};

// "<endpoint>|<intel>|<type>|<value>": the value goes last, so a '|' in it is unambiguous
// ('|' in the other parts is written %7C).
std::string SharedKeyText(const SharedLookupKey& key);

// Version 1: byte 0 = 1 (the version), byte 1 = 0 (no verdict) or 1 (verdict); a verdict then
// has its disposition (1 byte), valid_time start and end (int64 Unix milliseconds,
// little-endian) and four strings (observable type and value, judgement id, intel), each a
// varint length and its bytes. Details (judgement, judgements, other) are not kept: runs that
// ask for them must not share this cache, or must name the details in `intel`.
std::string EncodeSharedVerdict(const schema::VerdictResult& result);
// InvalidArgument for anything but a whole version-1 encoding: a damaged entry is never served.
absl::StatusOr<schema::VerdictResult> DecodeSharedVerdict(absl::string_view bytes);

}  // namespace enrich::transport

#endif  // ENRICH_TRANSPORT_REDIS_SHARED_VERDICT_CODEC_H_
