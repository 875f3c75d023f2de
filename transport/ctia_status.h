#ifndef ENRICH_TRANSPORT_CTIA_STATUS_H_
#define ENRICH_TRANSPORT_CTIA_STATUS_H_

// The one mapping of a CTIA HTTP answer that is not a success to an absl::Status (STYLE rule
// 9): used by the CTIA clients for every endpoint, and by callers that print CTIA's errors.

#include "transport/http_types.h"

#include "absl/status/status.h"

namespace enrich::transport {

// Maps an HTTP answer that is not a success to a Status whose message starts with
// "http <code>" and includes CTIA's `error`/`message` when the body is JSON (never a token):
// 400 and other 4xx → InvalidArgument, 401 → Unauthenticated, 403 → PermissionDenied,
// 404 → NotFound, 408 → DeadlineExceeded, 429 → ResourceExhausted (with the Retry-After),
// 5xx → Unavailable. Thread-safe.
absl::Status StatusFromHttp(const HttpResponse& response);

}  // namespace enrich::transport

#endif  // ENRICH_TRANSPORT_CTIA_STATUS_H_
