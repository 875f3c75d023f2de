#ifndef ENRICH_TRANSPORT_CTIA_STATUS_H_
#define ENRICH_TRANSPORT_CTIA_STATUS_H_

// The one mapping of a CTIA HTTP answer that is not a success to an absl::Status (STYLE rule
// 9): used by the CTIA clients for every endpoint, and by callers that print CTIA's errors.
// Also the mark of failures that say the setup is wrong (SetupFailure), which the engine's
// circuit breaker (engine/setup_breaker.h) reads.

#include "transport/http_types.h"

#include "absl/status/status.h"

namespace enrich::transport {

// Maps an HTTP answer that is not a success to a Status whose message starts with
// "http <code>" and includes CTIA's `error`/`message` when the body is JSON (never a token):
// 400 and other 4xx → InvalidArgument, 401 → Unauthenticated, 403 → PermissionDenied,
// 404 → NotFound, 408 → DeadlineExceeded, 429 → ResourceExhausted (with the Retry-After),
// 5xx → Unavailable. Thread-safe.
absl::Status StatusFromHttp(const HttpResponse& response);

// A failure that says the setup is wrong, not anything of the observable looked up: every
// lookup fails the same way until the command line (or the network) changes. Carried as a
// payload of the Status, set where the transport finds it.
enum class SetupFailure {
  kNone,
  kNotCtia,     // the verdict route answered 404 with HTML (or anything but CTIA's JSON
                // message): the endpoint is not CTIA's base URL
  kRefused,     // connection refused: nothing listens at the endpoint's host and port
  kUnresolved,  // the endpoint's host name does not resolve
  kTlsVerify,   // the server's certificate failed verification (not retried)
};

// `status` marked with `failure` (kNone: unmarked).
absl::Status WithSetupFailure(absl::Status status, SetupFailure failure);
// The mark of `status`, kNone if none.
SetupFailure SetupFailureOf(const absl::Status& status);
// "not_ctia", "refused", "unresolved", "tls_verify", "none".
absl::string_view SetupFailureName(SetupFailure failure);

}  // namespace enrich::transport

#endif  // ENRICH_TRANSPORT_CTIA_STATUS_H_
