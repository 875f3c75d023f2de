// Reading judgements from NDJSON seed files (ctia-sim --seed, the test API's load): one
// judgement per line, as POST /ctia/judgement takes it. Seed data only, before the store.

#ifndef ENRICH_TOOLS_SIM_NDJSON_SEED_H_
#define ENRICH_TOOLS_SIM_NDJSON_SEED_H_

#include <string>
#include <vector>

#include "absl/functional/function_ref.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "schema/judgement.h"

namespace enrich::sim {

// Reads an NDJSON seed file: one judgement per line in the form POST /ctia/judgement takes
// (reference §5.1), creation defaults relative to `now`. Blank lines and lines starting with
// '#' are skipped. Error: NotFound when the file cannot be read; InvalidArgument naming
// "<path>:<line>: " and the first problem (JSON syntax or field error) otherwise.
absl::StatusOr<std::vector<schema::Judgement>> LoadJudgementsNdjson(const std::string& path,
                                                                    absl::Time now);
// The same, line by line: calls `each` for every judgement as it is read, so a file of
// millions of judgements is never held in memory at once. On an error, the judgements of the
// lines before it have been passed on already.
absl::Status ForEachJudgementNdjson(const std::string& path, absl::Time now,
                                    absl::FunctionRef<void(schema::Judgement)> each);

}  // namespace enrich::sim

#endif  // ENRICH_TOOLS_SIM_NDJSON_SEED_H_
