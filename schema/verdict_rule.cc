#include "schema/verdict_rule.h"

#include <tuple>

namespace enrich::schema {
namespace {

bool Qualifies(const Judgement& j, absl::Time now, const VerdictQuery& q) {
  if (q.from.has_value() || q.to.has_value()) {
    // ctia: src/ctia/stores/es/query.clj — the date range replaces the valid_time filter.
    if (q.from.has_value() && j.created < *q.from) return false;
    if (q.to.has_value() && !(j.created < *q.to)) return false;
    return true;
  }
  return j.valid_time.start_time <= now && now < j.valid_time.end_time;
}

// True when `a` sorts before `b` in CTIA's verdict order (plus our deterministic tie-break).
bool Before(const Judgement& a, const Judgement& b) {
  if (a.priority != b.priority) return a.priority > b.priority;
  if (a.disposition != b.disposition) {
    return static_cast<int>(a.disposition) < static_cast<int>(b.disposition);
  }
  if (a.valid_time.start_time != b.valid_time.start_time) {
    return a.valid_time.start_time < b.valid_time.start_time;
  }
  return std::tie(a.created, a.id) < std::tie(b.created, b.id);
}

}  // namespace

Verdict VerdictFromJudgement(const Judgement& j) {
  Verdict v;
  v.disposition = j.disposition;
  v.disposition_name = std::string(DispositionName(j.disposition));
  v.observable = j.observable;
  v.judgement_id = j.id;
  v.valid_time = j.valid_time;
  return v;
}

std::optional<size_t> SelectVerdictJudgement(absl::Span<const Judgement> candidates,
                                             absl::Time now, const VerdictQuery& query) {
  std::optional<size_t> best;
  for (size_t i = 0; i < candidates.size(); ++i) {
    if (!Qualifies(candidates[i], now, query)) continue;
    // Strict comparison keeps the earlier position on a full tie.
    if (!best.has_value() || Before(candidates[i], candidates[*best])) best = i;
  }
  return best;
}

VerdictResult ComputeVerdict(absl::Span<const Judgement> candidates, absl::Time now,
                             const VerdictQuery& query) {
  std::optional<size_t> winner = SelectVerdictJudgement(candidates, now, query);
  if (!winner.has_value()) return NoVerdict{};
  return VerdictFromJudgement(candidates[*winner]);
}

}  // namespace enrich::schema
