#ifndef ENRICH_SCHEMA_JUDGEMENT_H_
#define ENRICH_SCHEMA_JUDGEMENT_H_

// A CTIA judgement (the record a verdict is computed from) and its validity window: what
// ctia-sim stores and serves and what the transport's client creates. Part of schema, the
// vocabulary layer; plain values, no I/O.

#include <cstdint>
#include <string>
#include <vector>

#include "absl/time/time.h"
#include "schema/disposition.h"
#include "schema/observable.h"

namespace enrich::schema {

// Start inclusive, end exclusive (reference/ctia-api.md §2.4).
struct ValidTime {
  absl::Time start_time;
  absl::Time end_time;
};

// A CTIA judgement (reference §5.1), the fields the client and ctia-sim use. Times are always
// set on a stored judgement (CTIA fills defaults on create, §5.2).
struct Judgement {
  std::string id;  // long id URL once stored; empty on a new judgement
  Observable observable;
  Disposition disposition = Disposition::kUnknown;
  int64_t priority = 0;
  std::string confidence;  // Info|Low|Medium|High|None|Unknown
  std::string severity;    // Info|Low|Medium|High|None|Unknown|Critical
  std::string source;
  std::string source_uri;
  std::string reason;
  std::string tlp;  // red|amber|green|white; empty = server default
  ValidTime valid_time;
  absl::Time timestamp = absl::InfinitePast();
  absl::Time created = absl::InfinitePast();  // server ingestion time
  // Access-control fields CTIA adds (§2.5).
  std::string owner;
  std::vector<std::string> groups;
  std::vector<std::string> authorized_users;
  std::vector<std::string> authorized_groups;
  std::vector<std::string> external_ids;
};

}  // namespace enrich::schema

#endif  // ENRICH_SCHEMA_JUDGEMENT_H_
