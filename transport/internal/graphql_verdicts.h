#ifndef ENRICH_TRANSPORT_INTERNAL_GRAPHQL_VERDICTS_H_
#define ENRICH_TRANSPORT_INTERNAL_GRAPHQL_VERDICTS_H_

// The GraphQL side of verdict batching (reference §9.4): the request body for a batch of
// observables and the decoding of its answer, used by BeastCtiaClient::SendGraphql. Thread-safe.

#include "schema/observable.h"
#include "schema/verdict.h"
#include "transport/ctia_client_options.h"

#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace enrich::transport::internal {

// The alias of the i-th observable of a batch: "o<i>". Answers are matched to requests by this
// alias only, never by the observable a verdict echoes (reference §1.2).
std::string VerdictAlias(size_t index);

// The JSON body of `POST /ctia/graphql` asking for the verdicts of `batch` (reference §9.4):
//   {"query": "query Verdicts($t0:String!,$v0:String!,...){o0:observable(type:$t0,value:$v0)
//              {verdict{type disposition disposition_name judgement_id observable{type value}
//              valid_time{start_time end_time}}} ...}",
//    "variables": {"t0": "ip", "v0": "1.2.3.4", ...}}
// Values travel as variables, so no value needs GraphQL escaping; they are escaped for JSON as
// RapidJSON's Writer escapes them. `batch` must not be empty. With `details` (verdict_details.h)
// each verdict also selects `judgement{source source_uri ...}` and each observable
// `judgements(first:N, orderBy:...){nodes{id source disposition}}`. Thread-safe: each thread
// keeps the query part written for the batch size and details it last asked for (a few hundred
// bytes per lookup).
std::string BuildVerdictsRequest(const std::vector<schema::Observable>& batch,
                                 const VerdictDetailsOptions& details = {});

// Decodes a 200 answer to BuildVerdictsRequest for a batch of `size` observables, in one pass
// over the body (no document, no re-serialization; plain CTIA-shaped answers without RapidJSON):
//   - per alias: `verdict` null → NoVerdict, an object → Verdict (the six-key body of §2.2, read
//     as DecodeVerdictAnswer reads a REST body), an entry of `errors` whose `path` starts with
//     the alias → Unavailable("graphql error for <alias>: <message>") for that observable only,
//     over what `data` holds for it; an alias missing from `data` without an error → Unavailable
//     too. Members count as a DOM's FindMember finds them (the first of a name), and an alias
//     settled by an earlier member of `data` keeps that result.
//   - with `details`: a verdict's first `judgement` member fills Verdict::judgement and the
//     alias's first `judgements` member Verdict::judgements (verdict_details.h decodes them); a
//     malformed one settles that alias with Unavailable("graphql answer for <alias>: malformed
//     judgement...: ...").
// Whole-answer results:
//   - FailedPrecondition: the answer is not GraphQL (not a JSON object with `data` or
//     `errors`, e.g. an HTML page or a plain verdict body): the server does not serve GraphQL.
//   - InvalidArgument("malformed graphql answer: ..."): JSON that does not parse (a garbled
//     answer: worth asking again).
// Thread-safe.
absl::StatusOr<std::vector<absl::StatusOr<schema::VerdictResult>>> DecodeVerdictsAnswer(
    absl::string_view body, size_t size, const VerdictDetailsOptions& details = {});

}  // namespace enrich::transport::internal

#endif  // ENRICH_TRANSPORT_INTERNAL_GRAPHQL_VERDICTS_H_
