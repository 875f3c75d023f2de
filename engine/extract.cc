#include "engine/extract.h"

#include <utility>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "schema/normalize.h"

namespace enrich::engine {

absl::StatusOr<ColumnSpec> ParseColumnSpec(absl::string_view spec) {
  ColumnSpec c;
  const size_t colon = spec.rfind(':');
  if (colon == absl::string_view::npos) {
    c.name = std::string(spec);
    if (!schema::IsKnownObservableType(c.name)) {
      return absl::InvalidArgumentError(absl::StrCat(
          "--column \"", spec, "\": the column name is not a CTIA observable type; ",
          "give the type as NAME:TYPE or NAME:auto, e.g. --column ", spec, ":domain"));
    }
    c.type = c.name;
  } else {
    c.name = std::string(spec.substr(0, colon));
    c.type = std::string(spec.substr(colon + 1));
  }
  if (c.name.empty() || c.type.empty()) {
    return absl::InvalidArgumentError(
        absl::StrCat("--column \"", spec, "\": expected NAME, NAME:TYPE or NAME:auto"));
  }
  return c;
}

Extracted ExtractObservable(absl::string_view type, absl::string_view raw,
                            const schema::Allowlist* allowlist) {
  Extracted e;
  if (absl::StripAsciiWhitespace(raw).empty()) return e;  // skipped
  absl::StatusOr<schema::Observable> o = schema::NormalizeObservable(type, raw);
  if (!o.ok()) {
    e.status = CellStatus::kInvalid;
    return e;
  }
  if (allowlist != nullptr && allowlist->Contains(*o)) {
    e.status = CellStatus::kAllowlisted;
    return e;
  }
  e.status = CellStatus::kLookup;
  e.observable = *std::move(o);
  return e;
}

ExtractedView ExtractObservableView(absl::string_view type, absl::string_view raw,
                                    const schema::Allowlist* allowlist,
                                    internal::ByteArena& arena) {
  ExtractedView view;
  if (type == "domain" && schema::IsNormalizedDomain(raw)) {
    if (allowlist != nullptr && allowlist->Contains(type, raw)) {
      view.status = CellStatus::kAllowlisted;
      return view;
    }
    view.status = CellStatus::kLookup;
    view.type = type;
    view.value = raw;
    return view;
  }
  Extracted e = ExtractObservable(type, raw, allowlist);
  view.status = e.status;
  if (e.status == CellStatus::kLookup) {
    view.type = arena.Copy(e.observable.type);
    view.value = arena.Copy(e.observable.value);
  }
  return view;
}

}  // namespace enrich::engine
