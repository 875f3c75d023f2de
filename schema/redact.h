#ifndef ENRICH_SCHEMA_REDACT_H_
#define ENRICH_SCHEMA_REDACT_H_

// Keeping a client secret out of messages: text that may quote it (an error body a server
// echoes into a message) goes through RedactSecret before it reaches a log. Part of schema, the
// vocabulary layer; pure, no I/O.

#include <string>

#include "absl/strings/string_view.h"

namespace enrich::schema {

// What a redacted secret is replaced with.
inline constexpr absl::string_view kRedacted = "<redacted>";

// `text` with `secret` replaced by kRedacted where it stands as a value, and nowhere else, so
// that a secret which happens to be an ordinary word ("secret", "the", "a") never rewrites
// the words around it:
//   - after a key that names a secret, with `=` or `:` and optional quotes and spaces between:
//     `client_secret=S`, `"client_secret":"S"`, `password: S` (keys ending in secret,
//     password, passwd, pwd, token or key, any letter case);
//   - as the password of a URL's user info or an `id:S@host` pair (`:S@`);
//   - anywhere as a whole token (not inside a longer run of letters, digits, `_` or `-`) when
//     the secret is not a plain word: it holds a digit or a symbol, mixes letter cases inside
//     the word, or is 16 bytes or longer. Secrets as issued (CTIA's API clients get 64 random
//     characters) always are; a plain word is only redacted in the places above.
// Besides, the credential after `Basic ` or `Bearer ` (an Authorization header's value, which
// encodes the secret) is always redacted, whatever the secret. An empty secret redacts only
// that. Thread-safe.
std::string RedactSecret(absl::string_view text, absl::string_view secret);

// True when `secret` is a plain word in the sense of RedactSecret: 1 to 15 ASCII letters, all
// lower case, all upper case, or capitalized.
bool IsPlainWord(absl::string_view secret);

}  // namespace enrich::schema

#endif  // ENRICH_SCHEMA_REDACT_H_
