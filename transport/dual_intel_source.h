#ifndef ENRICH_TRANSPORT_DUAL_INTEL_SOURCE_H_
#define ENRICH_TRANSPORT_DUAL_INTEL_SOURCE_H_

// Global + Private in one pass (ctia-enrich run --intel both): a VerdictSource that looks each
// observable up in two sources at once, the region's Private-Intel and Global-Intel (two
// BeastCtiaClients, each with its own pool, credentials and budget), and merges their answers
// by a MergeRule. It lives in the transport because it is a source among sources: the engine
// runs against one VerdictSource as before and sees one answer per observable (the winner's
// Verdict::intel says who decided; under MergeRule::kBoth Verdict::other holds the loser), and
// the merge needs nothing but schema (CTIA's verdict order, schema/verdict_rule.h).
//
// The merge (MergeIntelResults, a pure function):
//  - both answered: by the rule. kCtia and kBoth pick by CTIA's own verdict order over the two
//    deciding judgements: priority descending (only when both verdicts carry their judgement's
//    details, Verdict::judgement; otherwise priority is left out, as if equal), then
//    disposition ascending (Clean 1 beats Malicious 2 beats Suspicious 3 ...), then
//    valid_time.start_time ascending; a full tie goes to Private-Intel. kPrivateFirst takes the
//    private verdict when there is one, else the global one. Only one side has a verdict: that
//    one. Neither: NoVerdict.
//  - a side failed (its error after its own retries): the lookup fails with that error, its
//    code and payloads kept and " (private intel)" / " (global intel at URL)" added to its
//    message, and, when the side's URL is known (IntelEndpoints), a payload naming it and its
//    flag (IntelEndpointOf: the circuit breaker names the host that is wrong), because a merged
//    verdict missing one side could be silently wrong. In this order: a
//    checkpoint signal of either side (the longer wait when both) is the lookup's checkpoint;
//    then Unauthenticated (a rejected token stops the run as with one intel); then Cancelled
//    (a stop); then the private side's error, then the global side's. One exception: under
//    kPrivateFirst a private verdict is the answer whatever the global side did (short of a
//    checkpoint or a rejected token), since the global answer could not change it.
//
// Both lookups of an observable are sent at once (each source batches and paces on its own),
// so a lookup costs one request unit in each intel and its latency is the slower of the two.
// Thread-safe; `done` runs on the thread of whichever side answers last (possibly inline).

#include "schema/verdict.h"
#include "transport/verdict_source.h"

#include <atomic>
#include <optional>
#include <string>
#include <utility>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace enrich::transport {

// How the two intels' answers become one (ctia-enrich run --merge).
enum class MergeRule {
  kCtia,          // CTIA's verdict order over both deciding judgements (the default)
  kPrivateFirst,  // the private verdict if there is one, else the global
  kBoth,          // as kCtia, with Verdict::other = the other intel's verdict (null if none)
};

// "ctia", "private-first", "both"; anything else is InvalidArgument naming --merge.
absl::StatusOr<MergeRule> ParseMergeRule(absl::string_view name);
absl::string_view MergeRuleName(MergeRule rule);

// The values of Verdict::intel.
inline constexpr absl::string_view kPrivateIntel = "private";
inline constexpr absl::string_view kGlobalIntel = "global";

// Where each intel is, to name the failing one in errors: its base URL ("" = not named) and
// the flag that sets it.
struct IntelEndpoints {
  std::string private_url;
  std::string global_url;
  std::string private_flag = "--endpoint";
  std::string global_flag = "--global-endpoint";
};

// The intel endpoint a failed lookup's status names (set by MergeIntelResults with
// IntelEndpoints), or nullopt.
struct FailedIntelEndpoint {
  std::string url;
  std::string flag;
};
std::optional<FailedIntelEndpoint> IntelEndpointOf(const absl::Status& status);

// True when the private verdict goes before the global one in CTIA's verdict order (the
// header's rule; a full tie is true).
bool PrivateVerdictFirst(const schema::Verdict& private_verdict,
                         const schema::Verdict& global_verdict);

// The merged answer of one observable from its two answers, as the header describes.
absl::StatusOr<schema::VerdictResult> MergeIntelResults(
    MergeRule rule, absl::StatusOr<schema::VerdictResult> private_result,
    absl::StatusOr<schema::VerdictResult> global_result, const IntelEndpoints& where = {});

class DualIntelSource final : public VerdictSource {
 public:
  // Neither source is owned; both must outlive this and its pending lookups.
  DualIntelSource(VerdictSource& private_intel, VerdictSource& global_intel, MergeRule rule,
                  IntelEndpoints where = {})
      : private_(private_intel), global_(global_intel), rule_(rule), where_(std::move(where)) {}

  void LookupVerdict(const schema::Observable& observable, Callback done) override;
  // Stops both sources.
  void StopSending() override;
  // Sends both sources' partial batches; until the next lookup, a side's answer sends the other
  // side's partial batch again (one side's answer is none for the caller, who stays stuck).
  void FlushBatch() override;
  // Tells both sources (TakeCollected stays the default: each side's held lookups are this
  // source's halves, not the caller's lookups).
  void InputEnded() override;
  // Every unanswered merged lookup, when each side's unanswered lookups are all held in its
  // batch (nothing of either on the wire): the run waits for the batches alone. Otherwise 0
  // (not all held). A racy read: a wrong answer costs one early partial batch or the
  // sources' linger, never a lookup.
  size_t Collecting() const override;

  MergeRule rule() const { return rule_; }

 private:
  void Reflush(VerdictSource& other);

  VerdictSource& private_;
  VerdictSource& global_;
  // Lookups asked of each side and not yet answered by it.
  std::atomic<size_t> private_open_{0};
  std::atomic<size_t> global_open_{0};
  std::atomic<size_t> merged_open_{0};  // merged lookups not yet answered
  std::atomic<bool> flush_asked_{false};  // FlushBatch() came after the last lookup
  const MergeRule rule_;
  const IntelEndpoints where_;
};

}  // namespace enrich::transport

#endif  // ENRICH_TRANSPORT_DUAL_INTEL_SOURCE_H_
