// The paging and sorting of GET /ctia/{type}/{value}/judgements (reference §4): its query
// parameters, sort keys, the search_after cursor and the X-Total-Hits/X-Sort/X-Next headers.
// Folder-private (tools/sim/internal): the Router's judgement-list route is its only user.

#ifndef ENRICH_TOOLS_SIM_INTERNAL_JUDGEMENT_LISTING_H_
#define ENRICH_TOOLS_SIM_INTERNAL_JUDGEMENT_LISTING_H_

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <variant>
#include <vector>

#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "schema/json_codec.h"
#include "schema/judgement.h"
#include "tools/sim/sim_message.h"

namespace enrich::sim {

// Elasticsearch's max-result-window, which CTIA surfaces as a 400 (reference §4).
inline constexpr int64_t kMaxResultWindow = 10000;

// The query of the list route, as given (defaults: ductile's).
struct ListQuery {
  int64_t limit = 100;  // ductile `default-limit`
  int64_t offset = 0;
  std::optional<absl::Time> from;
  std::optional<absl::Time> to;
  std::string sort_by;
  bool descending = false;
  std::vector<std::string> search_after;
};

// Reads the list route's query string; each bad or unknown parameter adds CTIA's field error
// to `errors` (the returned query is then not to be used).
ListQuery ParseListQuery(absl::string_view query, std::vector<schema::FieldError>& errors);

// One sort key of `sort_by`, with its direction.
struct SortKey {
  std::string field;
  bool descending = false;
};
// A judgement's value for one sort key: a number (times in epoch ms) or a string.
using SortValue = std::variant<int64_t, std::string>;

// The sort keys of `query`: its sort_by, or the store's default "timestamp,created,id".
std::vector<SortKey> SortKeysOf(const ListQuery& query);
// The values of `j` for `keys`, in order.
std::vector<SortValue> SortValuesOf(const schema::Judgement& j, const std::vector<SortKey>& keys);
// Stable sort of `list` by `keys`.
void SortJudgements(std::vector<schema::Judgement>& list, const std::vector<SortKey>& keys);
// The index of the first judgement of sorted `list` strictly after the search_after cursor
// (the last hit's sort values, as text).
size_t SearchAfterStart(const std::vector<schema::Judgement>& list,
                        const std::vector<SortKey>& keys,
                        const std::vector<std::string>& search_after);

// Adds X-Total-Hits, X-Sort, X-Next and X-Previous to the answer of the page
// [begin, end) of `list` (sorted by `keys`, `total` hits) as ductile's `pagination/response`
// does.
void AddPageHeaders(const ListQuery& query, const std::vector<SortKey>& keys,
                    const std::vector<schema::Judgement>& list, size_t begin, size_t end,
                    SimResponse& response);

}  // namespace enrich::sim

#endif  // ENRICH_TOOLS_SIM_INTERNAL_JUDGEMENT_LISTING_H_
