#ifndef ENRICH_TRANSPORT_INTERNAL_PLAIN_HTTP_ANSWER_H_
#define ENRICH_TRANSPORT_INTERNAL_PLAIN_HTTP_ANSWER_H_

// The fast path of the pool's answer parser (internal/answer_reader.h): one whole answer of the
// plain shape read in one pass, exactly as Beast's parser reads it (tests/transport/
// plain_http_answer_test.cc checks every answer it takes against Beast's). Pure functions.
//
// Why it exists: bench/transport/answer_reader_bench reads a CTIA verdict answer in about half
// the CPU time of Beast's parser (378 vs 773 ns per answer, RelWithDebInfo, 2026-12-06), and
// the client's whole CPU per request is about 4 us (bench/transport/client_vs_wrk.sh: user CPU
// per request 4.0-5.1 us before the fast path, 3.4-4.2 us after), so it saves about a tenth of
// the client's CPU on every answer.

#include <cstddef>

#include "absl/strings/string_view.h"
#include "transport/http_types.h"

namespace enrich::transport::internal {

// Sets header `index` of a recycled answer (one past the last adds one): `name` lower-cased and
// `value`, reusing the strings already there.
void SetHeader(HttpResponse& out, size_t index, absl::string_view name, absl::string_view value);

// Reads one whole HTTP/1.1 answer from the front of `data` when it has the plain shape servers
// such as CTIA, ctia-sim and nginx send: "HTTP/1.1 <200..599 but 204 and 304> <reason>", header
// lines of token names and printable ASCII values (no folding), one Content-Length, no
// Transfer-Encoding, Upgrade or Proxy-Connection, a Connection header only of "close" or
// "keep-alive", headers shorter than `max_header_bytes`, a body of at most `max_body_bytes`
// that is all in `data`. Returns the bytes the answer spans, with `out` filled (status, header
// names lower-cased, values without surrounding blanks, body; its strings keep their capacity)
// and `*keep_alive` set: exactly what Beast's parser gives for the same bytes. Returns 0 for
// anything else (Beast then reads it); `out` may have been written to.
size_t ReadPlainAnswer(absl::string_view data, size_t max_header_bytes, size_t max_body_bytes,
                       HttpResponse& out, bool* keep_alive);

}  // namespace enrich::transport::internal

#endif  // ENRICH_TRANSPORT_INTERNAL_PLAIN_HTTP_ANSWER_H_
