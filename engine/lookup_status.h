// The `status` text of a lookup that failed ("error:<code>"), as the output's status column,
// the journal and the run's status counts spell it. Used by the lookup dispatcher when it
// settles answers, and by whoever tells a failure to the verdict table.

#ifndef ENRICH_ENGINE_LOOKUP_STATUS_H_
#define ENRICH_ENGINE_LOOKUP_STATUS_H_

#include <string>

#include "absl/status/status.h"

namespace enrich::engine {

// "error:<code>" for a failed lookup: the HTTP status when the server answered ("error:503"),
// else the error class ("error:deadline_exceeded").
std::string ErrorStatusFor(const absl::Status& status);

}  // namespace enrich::engine

#endif  // ENRICH_ENGINE_LOOKUP_STATUS_H_
