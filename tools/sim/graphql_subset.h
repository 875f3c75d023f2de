// Parsing the subset of GraphQL a verdict lookup sends to POST /ctia/graphql (reference
// §9.4): aliased observable(type:, value:) fields and their selections, the verdict's
// judgement and the observable's judgements connection. Used by the Router.

#ifndef ENRICH_TOOLS_SIM_GRAPHQL_SUBSET_H_
#define ENRICH_TOOLS_SIM_GRAPHQL_SUBSET_H_

#include <cstddef>
#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "rapidjson/document.h"

namespace enrich::sim {

// A selected field and its sub-selection, in query order (GraphQL answers in that order).
struct GraphqlField {
  std::string name;
  std::vector<GraphqlField> selection;
  // The arguments of a connection field (Observable.judgements): `first` (CTIA's default 50)
  // and `orderBy`, as CTIA's sort fields with their direction, e.g. {"disposition", false},
  // {"valid_time.start_time", true} for [{field: DISPOSITION, direction: asc},
  // {field: VALID_TIME_START_TIME, direction: desc}].
  int64_t first = 50;
  std::vector<std::pair<std::string, bool>> order_by;  // field, descending
};

// One `key: observable(type: "...", value: "...") { ... }` of the query.
struct GraphqlObservable {
  std::string response_key;  // the alias, or "observable"
  std::string type;
  std::string value;
  std::vector<GraphqlField> selection;  // fields of Observable: type, value, verdict {...}
};

// Most observables (aliases) one query may ask for.
inline constexpr size_t kGraphqlMaxObservables = 1000;
// Longest query text accepted: a batch of kGraphqlMaxObservables with every detail selected
// (judgement and judgements) is about 400 KB.
inline constexpr size_t kGraphqlMaxQueryBytes = 1024 * 1024;

// Parses the subset of GraphQL ctia-sim serves at POST /ctia/graphql (reference §9.4):
//
//   [query [Name] [($v: String!, ...)]] {
//     a: observable(type: "ip", value: "1.2.3.4") {
//       type value
//       verdict { type disposition disposition_name judgement_id
//                 observable { type value } valid_time { start_time end_time }
//                 judgement { id source source_uri reason severity confidence priority tlp
//                             disposition disposition_name observable {...} valid_time {...} } }
//       judgements(first: 5, orderBy: [{field: DISPOSITION, direction: asc}]) {
//         totalCount nodes { ...judgement fields } edges { cursor node { ... } }
//         pageInfo { hasNextPage hasPreviousPage } }
//     }
//     b: observable(type: $t, value: $v) { verdict { disposition } }
//   }
//
// Commas and `#` comments are ignored; arguments may be strings or `$variables` taken from
// `variables` (a JSON object, or null); judgements' `first` an integer, its `orderBy` a list
// of {field: ENUM, direction: asc|desc} objects (literals or variables). Error: InvalidArgument with a GraphQL-style message
// giving line and column; the limits above are errors too.
absl::StatusOr<std::vector<GraphqlObservable>> ParseGraphqlObservables(
    absl::string_view query, const rapidjson::Value* variables);

}  // namespace enrich::sim

#endif  // ENRICH_TOOLS_SIM_GRAPHQL_SUBSET_H_
