#include "tools/sim/judgement_store.h"

#include <algorithm>
#include <utility>

#include "absl/strings/str_cat.h"

namespace enrich::sim {

bool JudgementStore::InsertLocked(schema::Judgement j) {
  auto [it, inserted] = by_id_.try_emplace(j.id, schema::Observable{});
  if (!inserted) return false;
  schema::Observable key = schema::MatchKey(j.observable);
  it->second = key;
  by_observable_[std::move(key)].push_back(std::move(j));
  return true;
}

namespace {

// Shared by the const and non-const lookups; `ByObservable` is the (possibly const) map.
template <typename ByObservable>
auto* FindIn(ByObservable& by_observable,
             const absl::flat_hash_map<std::string, schema::Observable>& by_id,
             absl::string_view short_id) {
  decltype(&by_observable.begin()->second.front()) found = nullptr;
  auto id_it = by_id.find(short_id);
  if (id_it == by_id.end()) return found;
  auto obs_it = by_observable.find(id_it->second);
  // Invariant: every id in by_id has its judgement under the recorded key.
  if (obs_it == by_observable.end()) return found;
  for (auto& j : obs_it->second) {
    if (j.id == short_id) return &j;
  }
  return found;
}

}  // namespace

bool JudgementStore::Insert(schema::Judgement j) {
  absl::MutexLock lock(&mu_);
  return InsertLocked(std::move(j));
}

size_t JudgementStore::InsertAll(std::vector<schema::Judgement> judgements) {
  absl::MutexLock lock(&mu_);
  size_t stored = 0;
  for (schema::Judgement& j : judgements) stored += InsertLocked(std::move(j)) ? 1 : 0;
  return stored;
}

std::optional<schema::Judgement> JudgementStore::Find(absl::string_view short_id) const {
  absl::ReaderMutexLock lock(&mu_);
  const schema::Judgement* j = FindIn(by_observable_, by_id_, short_id);
  if (j == nullptr) return std::nullopt;
  return *j;
}

bool JudgementStore::Erase(absl::string_view short_id) {
  absl::MutexLock lock(&mu_);
  auto id_it = by_id_.find(short_id);
  if (id_it == by_id_.end()) return false;
  auto obs_it = by_observable_.find(id_it->second);
  if (obs_it != by_observable_.end()) {
    std::vector<schema::Judgement>& list = obs_it->second;
    list.erase(std::remove_if(list.begin(), list.end(),
                              [&](const schema::Judgement& j) { return j.id == short_id; }),
               list.end());
    if (list.empty()) by_observable_.erase(obs_it);
  }
  by_id_.erase(id_it);
  return true;
}

std::optional<schema::Judgement> JudgementStore::Expire(absl::string_view short_id,
                                                        absl::Time now,
                                                        absl::string_view reason) {
  absl::MutexLock lock(&mu_);
  schema::Judgement* j = FindIn(by_observable_, by_id_, short_id);
  if (j == nullptr) return std::nullopt;
  j->valid_time.end_time = now;
  // ctia appends the reason to the existing one, separated by a space.
  j->reason = j->reason.empty() ? std::string(reason) : absl::StrCat(j->reason, " ", reason);
  return *j;
}

std::optional<schema::Judgement> JudgementStore::SelectVerdict(
    const schema::Observable& observable, absl::Time now, const schema::VerdictQuery& query,
    absl::FunctionRef<bool(const schema::Judgement&)> visible) const {
  const schema::Observable key = schema::MatchKey(observable);
  absl::ReaderMutexLock lock(&mu_);
  auto it = by_observable_.find(key);
  if (it == by_observable_.end()) return std::nullopt;
  const std::vector<schema::Judgement>& all = it->second;
  // Usually every candidate is visible; copy only when some must be filtered out.
  if (std::all_of(all.begin(), all.end(), [&](const schema::Judgement& j) { return visible(j); })) {
    std::optional<size_t> winner = schema::SelectVerdictJudgement(all, now, query);
    if (!winner.has_value()) return std::nullopt;
    return all[*winner];
  }
  std::vector<schema::Judgement> seen;
  for (const schema::Judgement& j : all) {
    if (visible(j)) seen.push_back(j);
  }
  std::optional<size_t> winner = schema::SelectVerdictJudgement(seen, now, query);
  if (!winner.has_value()) return std::nullopt;
  return std::move(seen[*winner]);
}

std::vector<schema::Judgement> JudgementStore::ListByObservable(
    const schema::Observable& observable,
    absl::FunctionRef<bool(const schema::Judgement&)> visible) const {
  const schema::Observable key = schema::MatchKey(observable);
  std::vector<schema::Judgement> out;
  absl::ReaderMutexLock lock(&mu_);
  auto it = by_observable_.find(key);
  if (it == by_observable_.end()) return out;
  for (const schema::Judgement& j : it->second) {
    if (visible(j)) out.push_back(j);
  }
  return out;
}

size_t JudgementStore::size() const {
  absl::ReaderMutexLock lock(&mu_);
  return by_id_.size();
}

void JudgementStore::Clear() {
  absl::MutexLock lock(&mu_);
  by_observable_.clear();
  by_id_.clear();
}

}  // namespace enrich::sim
