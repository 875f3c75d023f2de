#ifndef ENRICH_TRANSPORT_REDIS_SHARED_VERDICT_CODEC_H_
#define ENRICH_TRANSPORT_REDIS_SHARED_VERDICT_CODEC_H_

// The bytes of one settled lookup in the Redis-shared verdict cache (shared_lookups.h), and the
// key it is stored under.
//
// The value is the compact record of schema/verdict_record.h, the bytes the engine's verdict
// table and the persistent cache keep (disposition in a byte, times as integers, the judgement
// id as its 16-byte UUID, the details the run keeps as schema/verdict_details.h encodes them),
// in an envelope that makes it stand alone. A table numbers each judgement id prefix once and
// its records hold the number; a Redis value is read by other processes that share no table
// with the writer, so the envelope carries the prefix its record's number 0 stands for. And a
// record keeps valid_time's end only, while the merge of `run --intel both` orders a full tie
// by the start (transport/dual_intel_source.h): the envelope carries it.
//
// Which details a value holds is part of its key (SharedKeyText): a run that keeps details
// never reads a value without them as if complete, nor a run without them one with them.

#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "schema/verdict.h"
#include "schema/verdict_details.h"
#include "transport/ctia_client_options.h"

namespace enrich::transport {

// What a cached answer is the answer to: the same observable asked of another endpoint or
// intel is another question.
struct SharedLookupKey {
  std::string endpoint;  // the CTIA base URL
  std::string intel;     // "global", "private", or a label of the run's lookup shape
  std::string type;      // CTIA observable type
  std::string value;     // normalized value
};

// "<endpoint>|<intel>[ details=<spec>]|<type>|<value>" (<spec>: DetailsSpec::Describe(), only
// when `details` keeps any): the value goes last, so a '|' in it is unambiguous ('|' in the
// other parts is written %7C).
std::string SharedKeyText(const SharedLookupKey& key, const schema::DetailsSpec& details);

// The details a shared value keeps of what the client was asked for (CtiaClientOptions::
// details): every field of the deciding judgement when it was asked (the client has them all,
// and runs asking other --fields then share one value), and the first N judgements.
schema::DetailsSpec SharedDetailsSpec(const VerdictDetailsOptions& asked);

// Envelope: the judgement id prefix (varint length and bytes; empty for no verdict or an id of
// another shape, which the record keeps as text), valid_time.start_time (8 bytes,
// little-endian Unix ms; 0 for no verdict), then EncodeRecord's record with the verdict's
// details as EncodeDetails writes them for `details` (none when it keeps none). The record's
// expiry is valid_time.end_time (Redis expires the key itself).
std::string EncodeSharedVerdict(const schema::DetailsSpec& details,
                                const schema::VerdictResult& result);
// The answer a value holds; its observable is the key's (type and value as asked).
// InvalidArgument for anything EncodeSharedVerdict cannot have written for `details` (a value
// of another format, a failure, a verdict without the details): a damaged entry is never
// served.
absl::StatusOr<schema::VerdictResult> DecodeSharedVerdict(const schema::DetailsSpec& details,
                                                          const SharedLookupKey& key,
                                                          absl::string_view bytes);

}  // namespace enrich::transport

#endif  // ENRICH_TRANSPORT_REDIS_SHARED_VERDICT_CODEC_H_
