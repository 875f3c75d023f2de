#ifndef ENRICH_TRANSPORT_INTERNAL_HTTP_REQUEST_HEAD_H_
#define ENRICH_TRANSPORT_INTERNAL_HTTP_REQUEST_HEAD_H_

// The bytes of an HTTP/1.1 request as the pool writes them, and the check that a request can
// be written at all. Used by ConnectionPool before a request is queued and by its connections
// when they write.
//
// Contract: pure functions, thread-safe.

#include "transport/http_types.h"

#include <string>

#include "absl/status/status.h"
#include "absl/strings/string_view.h"

namespace enrich::transport::internal {

// OK, or InvalidArgument ("request to <origin>: ...") when the method, target or a header would
// break the request head: the pool writes them verbatim, so a line break in any of them would
// let a value (e.g. a token from a server) inject headers or requests. Refused: an empty or
// blank-holding method or target, an empty header name or one with a blank or ':', and a CR or
// LF anywhere.
absl::Status CheckRequest(const HttpRequest& request, absl::string_view origin);

// Appends `request` to `out` (RFC 9112 §3): request line, `head_fields` (the pool's
// "Host: ...\r\nUser-Agent: ...\r\n"), the caller's headers, Content-Length when there is a body
// or the method expects one, the blank line, the body. Only for a request CheckRequest() passed.
void AppendRequest(const HttpRequest& request, absl::string_view head_fields, std::string& out);

}  // namespace enrich::transport::internal

#endif  // ENRICH_TRANSPORT_INTERNAL_HTTP_REQUEST_HEAD_H_
