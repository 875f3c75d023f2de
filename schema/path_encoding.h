#ifndef ENRICH_SCHEMA_PATH_ENCODING_H_
#define ENRICH_SCHEMA_PATH_ENCODING_H_

// Percent-encoding of URL path segments and form fields as CTIA needs them: the transport builds
// `/ctia/{type}/{value}/verdict` paths and token request bodies with it, ctia-sim's router
// decodes them. Part of schema, the vocabulary layer; pure functions, no I/O.

#include <string>
#include "absl/strings/string_view.h"

#include "absl/status/statusor.h"

namespace enrich::schema {

// Encodes `value` (UTF-8 bytes) as one URL path segment the way CTIA needs it
// (reference/ctia-api.md §1.3): every byte outside `A-Z a-z 0-9 - . _ ~` becomes `%XX` with
// upper-case hex. So `/` → `%2F`, `?` → `%3F`, `#` → `%23`, `%` → `%25`, `+` → `%2B`,
// space → `%20`, and each byte of a non-ASCII character is escaped. Nothing is trimmed.
std::string PercentEncodePathSegment(absl::string_view value);
// The same, appended to `*out`.
void AppendPercentEncodedPathSegment(absl::string_view value, std::string* out);

// Inverse, as CTIA's router does it: `%XX` → byte; `+` stays a literal plus. A `%` not
// followed by two hex digits → InvalidArgument.
absl::StatusOr<std::string> PercentDecode(absl::string_view text);

// Form (`application/x-www-form-urlencoded`) component encoding: like the path encoding but
// space → `+`. Used for token request bodies and query strings.
std::string FormEncode(absl::string_view value);

}  // namespace enrich::schema

#endif  // ENRICH_SCHEMA_PATH_ENCODING_H_
