#ifndef ENRICH_SCHEMA_OBSERVABLE_H_
#define ENRICH_SCHEMA_OBSERVABLE_H_

// Observables: a CTIA type identifier and a value, the key of every lookup from the log's cell to
// CTIA's answer (extraction, journal, transport requests, ctia-sim's store). Part of schema, the
// vocabulary layer; plain values, no I/O.

#include <string>
#include "absl/strings/string_view.h"
#include <vector>

namespace enrich::schema {

// A CTIA observable type identifier, e.g. "ip", "domain", "sha256".
//
// CTIA validates the type against a closed, case-sensitive enum that grows over time
// (reference/ctia-api.md §1.1). The client does not hard-fail on a name it does not know: the
// server is the authority. `known()` says whether the name is in the list this build carries;
// callers warn once for an unknown one and still send it as given.
class ObservableType {
 public:
  ObservableType() = default;
  explicit ObservableType(std::string name);

  const std::string& name() const { return name_; }
  bool known() const { return known_; }

  friend bool operator==(const ObservableType& a, const ObservableType& b) {
    return a.name_ == b.name_;
  }

 private:
  std::string name_;
  bool known_ = false;
};

// CTIA's full list (ctim vocabularies `observable-type-identifier`), sorted.
const std::vector<absl::string_view>& KnownObservableTypes();
bool IsKnownObservableType(absl::string_view name);

// A typed value as CTIA stores it: `{"type": ..., "value": ...}`. The value is any string;
// CTIA applies no normalization (§1.2).
struct Observable {
  std::string type;
  std::string value;

  friend bool operator==(const Observable& a, const Observable& b) {
    return a.type == b.type && a.value == b.value;
  }
  template <typename H>
  friend H AbslHashValue(H h, const Observable& o) {
    return H::combine(std::move(h), o.type, o.value);
  }
};

// CTIA matches type and value case-insensitively (ES lowercase normalizer, §1.2). Returns the
// key under which two observables CTIA treats as equal compare equal: ASCII-lower-cased type
// and value.
Observable MatchKey(const Observable& o);

}  // namespace enrich::schema

#endif  // ENRICH_SCHEMA_OBSERVABLE_H_
