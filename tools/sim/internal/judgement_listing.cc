#include "tools/sim/internal/judgement_listing.h"

#include <algorithm>

#include "absl/strings/ascii.h"
#include "absl/strings/escaping.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "schema/path_encoding.h"
#include "tools/sim/internal/request_params.h"
#include "tools/sim/internal/sim_responses.h"

namespace enrich::sim {
namespace {

SortValue SortField(const schema::Judgement& j, absl::string_view field) {
  auto millis = [](absl::Time t) { return absl::ToUnixMillis(t); };
  if (field == "id") return j.id;
  if (field == "timestamp") return millis(j.timestamp);
  if (field == "created") return millis(j.created);
  if (field == "disposition") return static_cast<int64_t>(j.disposition);
  if (field == "priority") return j.priority;
  if (field == "confidence") return j.confidence;
  if (field == "severity") return j.severity;
  if (field == "tlp") return j.tlp;
  if (field == "source") return j.source;
  if (field == "source_uri") return j.source_uri;
  if (field == "reason") return j.reason;
  if (field == "valid_time.start_time") return millis(j.valid_time.start_time);
  if (field == "valid_time.end_time") return millis(j.valid_time.end_time);
  if (field == "observable.type") return absl::AsciiStrToLower(j.observable.type);
  if (field == "observable.value") return absl::AsciiStrToLower(j.observable.value);
  // schema_version, revision, language: the same for every judgement ctia-sim stores.
  return int64_t{0};
}

// ctia `JudgementSortByParams` enum (ctia: src/ctia/entity/judgement/schemas.clj).
const std::vector<absl::string_view>& JudgementSortByValues() {
  static const auto* values = new std::vector<absl::string_view>{
      "id", "schema_version", "revision", "timestamp", "language", "tlp", "source",
      "source_uri", "disposition", "priority", "confidence", "severity",
      "valid_time.start_time", "valid_time.end_time", "reason", "observable.type",
      "observable.value", "valid_time.start_time,timestamp",
      "disposition:asc,valid_time.start_time:desc",
      "disposition:asc,valid_time.start_time:desc,timestamp:desc"};
  return *values;
}

std::vector<SortKey> ParseSortBy(absl::string_view sort_by, bool descending_default) {
  std::vector<SortKey> keys;
  for (absl::string_view part : absl::StrSplit(sort_by, ',', absl::SkipEmpty())) {
    SortKey k;
    bool descending = descending_default;
    if (absl::ConsumeSuffix(&part, ":desc")) {
      descending = true;
    } else if (absl::ConsumeSuffix(&part, ":asc")) {
      descending = false;
    }
    k.field = std::string(part);
    k.descending = descending;
    keys.push_back(std::move(k));
  }
  return keys;
}

// Sort values as X-Sort prints them: an EDN vector, strings quoted.
std::string EdnVector(const std::vector<SortValue>& values) {
  std::vector<std::string> parts;
  for (const SortValue& v : values) {
    if (const int64_t* n = std::get_if<int64_t>(&v)) {
      parts.push_back(absl::StrCat(*n));
    } else {
      parts.push_back(absl::StrCat("\"", absl::CEscape(std::get<std::string>(v)), "\""));
    }
  }
  return absl::StrCat("[", absl::StrJoin(parts, " "), "]");
}

std::string SortValueText(const SortValue& v) {
  if (const int64_t* n = std::get_if<int64_t>(&v)) return absl::StrCat(*n);
  return std::get<std::string>(v);
}

// Negative when values `a` sort before `b` under `keys`.
int CompareSortValues(const std::vector<SortKey>& keys, const std::vector<SortValue>& a,
                      const std::vector<SortValue>& b) {
  for (size_t i = 0; i < keys.size(); ++i) {
    if (a[i] == b[i]) continue;
    const bool less = a[i] < b[i];
    return (less != keys[i].descending) ? -1 : 1;
  }
  return 0;
}

}  // namespace

ListQuery ParseListQuery(absl::string_view query, std::vector<schema::FieldError>& errors) {
  ListQuery q;
  auto read_int = [&](const std::string& k, const std::string& v, int64_t* out) {
    if (!absl::SimpleAtoi(v, out) || *out < 0) {
      errors.push_back({k, absl::StrCat("(not (integer? \"", v, "\"))")});
    }
  };
  for (const auto& [k, v] : ParseForm(query)) {
    if (k == "limit") {
      read_int(k, v, &q.limit);
    } else if (k == "offset") {
      read_int(k, v, &q.offset);
    } else if (k == "from") {
      q.from = ParseDateParam(k, v, errors);
    } else if (k == "to") {
      q.to = ParseDateParam(k, v, errors);
    } else if (k == "sort_by") {
      const auto& allowed = JudgementSortByValues();
      if (std::find(allowed.begin(), allowed.end(), v) == allowed.end()) {
        errors.push_back({k, NotInSet(allowed, v)});
      }
      q.sort_by = v;
    } else if (k == "sort_order") {
      if (v != "asc" && v != "desc") errors.push_back({k, NotInSet({"asc", "desc"}, v)});
      q.descending = v == "desc";
    } else if (k == "search_after") {
      q.search_after.push_back(v);
    } else if (k != "fields") {
      errors.push_back({k, "disallowed-key"});
    }
  }
  return q;
}

std::vector<SortKey> SortKeysOf(const ListQuery& query) {
  // Default order: the store's default-sort "timestamp,created,id" (reference §4).
  return ParseSortBy(query.sort_by.empty() ? "timestamp,created,id" : query.sort_by,
                     query.descending);
}

std::vector<SortValue> SortValuesOf(const schema::Judgement& j, const std::vector<SortKey>& keys) {
  std::vector<SortValue> values;
  for (const SortKey& k : keys) values.push_back(SortField(j, k.field));
  return values;
}

void SortJudgements(std::vector<schema::Judgement>& list, const std::vector<SortKey>& keys) {
  std::stable_sort(list.begin(), list.end(), [&](const auto& a, const auto& b) {
    return CompareSortValues(keys, SortValuesOf(a, keys), SortValuesOf(b, keys)) < 0;
  });
}

size_t SearchAfterStart(const std::vector<schema::Judgement>& list,
                        const std::vector<SortKey>& keys,
                        const std::vector<std::string>& search_after) {
  // The cursor holds the last hit's sort values; resume strictly after it.
  size_t begin = 0;
  while (begin < list.size()) {
    std::vector<SortValue> v = SortValuesOf(list[begin], keys);
    std::vector<std::string> text;
    for (const SortValue& sv : v) text.push_back(SortValueText(sv));
    text.resize(search_after.size());
    bool after = false;
    for (size_t i = 0; i < search_after.size() && i < keys.size(); ++i) {
      if (text[i] == search_after[i]) continue;
      SortValue cursor = std::holds_alternative<int64_t>(v[i])
                             ? SortValue(int64_t{0})
                             : SortValue(search_after[i]);
      if (std::holds_alternative<int64_t>(v[i])) {
        int64_t n = 0;
        (void)absl::SimpleAtoi(search_after[i], &n);
        cursor = n;
      }
      after = (cursor < v[i]) != keys[i].descending;
      break;
    }
    if (after) break;
    ++begin;
  }
  return begin;
}

void AddPageHeaders(const ListQuery& query, const std::vector<SortKey>& keys,
                    const std::vector<schema::Judgement>& list, size_t begin, size_t end,
                    SimResponse& response) {
  const int64_t total = static_cast<int64_t>(list.size());
  const int64_t limit = query.limit;
  const int64_t offset = query.offset;
  response.headers.emplace_back("X-Total-Hits", absl::StrCat(total));
  // ductile `pagination/response`: X-Next is {limit, offset+limit, search_after = the last
  // hit's sort values}, form-encoded; it is present when the offset page leaves hits behind,
  // or when a search_after page came back full (reference §4; ctia's offset-test pins it).
  std::vector<SortValue> last;
  if (end > begin) {
    last = SortValuesOf(list[end - 1], keys);
    response.headers.emplace_back("X-Sort", EdnVector(last));
  }
  const bool more = query.search_after.empty() ? total > offset + limit
                                               : end - begin == static_cast<size_t>(limit);
  if (more) {
    std::string next = absl::StrCat("limit=", limit, "&offset=", offset + limit);
    for (const SortValue& v : last) {
      absl::StrAppend(&next, "&search_after=", schema::FormEncode(SortValueText(v)));
    }
    response.headers.emplace_back("X-Next", std::move(next));
  }
  if (query.search_after.empty() && offset > 0 && offset + limit < kMaxResultWindow) {
    response.headers.emplace_back("X-Previous", absl::StrCat("limit=", limit, "&offset=",
                                                             std::max<int64_t>(0, offset - limit)));
  }
}

}  // namespace enrich::sim
