#include "transport/dual_intel_source.h"

#include "schema/judgement.h"
#include "schema/verdict_rule.h"

#include <array>
#include <atomic>
#include <memory>
#include <optional>
#include <utility>

#include "absl/strings/str_cat.h"

namespace enrich::transport {
namespace {

using Result = absl::StatusOr<schema::VerdictResult>;

constexpr absl::string_view kIntelEndpointPayloadUrl = "ctia-enrich/intel-endpoint";

// `status` with " (<intel> intel[ at <url>])" added to its message, and the payload naming the
// URL and its flag when known; code and payloads kept (the checkpoint's wait, the setup
// failure the circuit breaker reads). Added at the end: the engine reads an HTTP status from
// the message's start (engine/lookup_status.h).
absl::Status Tagged(const absl::Status& status, absl::string_view intel,
                    const IntelEndpoints& where) {
  const bool is_private = intel == kPrivateIntel;
  const std::string& url = is_private ? where.private_url : where.global_url;
  const std::string& flag = is_private ? where.private_flag : where.global_flag;
  absl::Status out(status.code(), absl::StrCat(status.message(), " (", intel, " intel",
                                               url.empty() ? "" : absl::StrCat(" at ", url), ")"));
  status.ForEachPayload([&out](absl::string_view type_url, const absl::Cord& payload) {
    out.SetPayload(type_url, payload);
  });
  if (!url.empty())
    out.SetPayload(kIntelEndpointPayloadUrl, absl::Cord(absl::StrCat(flag, " ", url)));
  return out;
}

// The judgement CTIA's verdict order sees for `v`: priority (when `with_priority`),
// disposition, start time. Same (empty) id and creation time for both, so a full tie falls to
// the position: private first.
schema::Judgement OrderKey(const schema::Verdict& v, bool with_priority) {
  schema::Judgement j;
  j.disposition = v.disposition;
  j.priority = with_priority ? v.judgement->priority : 0;
  j.valid_time = v.valid_time;
  return j;
}

const schema::Verdict* VerdictOf(const schema::VerdictResult& r) {
  return std::get_if<schema::Verdict>(&r);
}

schema::Verdict Decided(const schema::Verdict& v, absl::string_view intel) {
  schema::Verdict out = v;
  out.intel = std::string(intel);
  out.other = nullptr;
  return out;
}

// The failure the merged lookup ends with, or nullopt when both sides answered (or, under
// kPrivateFirst, the private side's verdict makes the global failure irrelevant).
std::optional<absl::Status> MergedFailure(MergeRule rule, const Result& priv, const Result& glob,
                                          const IntelEndpoints& where) {
  if (priv.ok() && glob.ok()) return std::nullopt;
  const std::array<std::pair<const Result*, absl::string_view>, 2> sides = {
      {{&priv, kPrivateIntel}, {&glob, kGlobalIntel}}};
  // A checkpoint of either side; the longer wait when both.
  const absl::Status* checkpoint = nullptr;
  std::optional<absl::Duration> longest;
  for (const auto& [result, intel] : sides) {
    if (result->ok()) continue;
    std::optional<absl::Duration> wait = CheckpointWait(result->status());
    if (wait.has_value() && (!longest.has_value() || *wait > *longest)) {
      longest = wait;
      checkpoint = &result->status();
    }
  }
  if (checkpoint != nullptr) return *checkpoint;
  for (const auto& [result, intel] : sides) {
    if (!result->ok() && absl::IsUnauthenticated(result->status())) {
      return Tagged(result->status(), intel, where);
    }
  }
  if (rule == MergeRule::kPrivateFirst && priv.ok() && VerdictOf(*priv) != nullptr) {
    return std::nullopt;
  }
  for (const auto& [result, intel] : sides) {
    if (!result->ok() && absl::IsCancelled(result->status())) return result->status();
  }
  for (const auto& [result, intel] : sides) {
    if (!result->ok()) return Tagged(result->status(), intel, where);
  }
  return std::nullopt;
}

}  // namespace

absl::StatusOr<MergeRule> ParseMergeRule(absl::string_view name) {
  if (name == "ctia") return MergeRule::kCtia;
  if (name == "private-first") return MergeRule::kPrivateFirst;
  if (name == "both") return MergeRule::kBoth;
  return absl::InvalidArgumentError(
      absl::StrCat("--merge \"", name, "\": expected ctia, private-first or both"));
}

absl::string_view MergeRuleName(MergeRule rule) {
  switch (rule) {
    case MergeRule::kCtia:
      return "ctia";
    case MergeRule::kPrivateFirst:
      return "private-first";
    case MergeRule::kBoth:
      return "both";
  }
  return "ctia";
}

std::optional<FailedIntelEndpoint> IntelEndpointOf(const absl::Status& status) {
  const absl::optional<absl::Cord> payload = status.GetPayload(kIntelEndpointPayloadUrl);
  if (!payload.has_value()) return std::nullopt;
  const std::string text(*payload);
  const size_t space = text.find(' ');
  if (space == std::string::npos) return std::nullopt;
  return FailedIntelEndpoint{text.substr(space + 1), text.substr(0, space)};
}

bool PrivateVerdictFirst(const schema::Verdict& private_verdict,
                         const schema::Verdict& global_verdict) {
  const bool with_priority =
      private_verdict.judgement.has_value() && global_verdict.judgement.has_value();
  const std::array<schema::Judgement, 2> keys = {OrderKey(private_verdict, with_priority),
                                                 OrderKey(global_verdict, with_priority)};
  // A `from` in the infinite past: every candidate qualifies (the filter is on `created`, equal
  // for both); only the order decides.
  schema::VerdictQuery any;
  any.from = absl::InfinitePast();
  const std::optional<size_t> first = schema::SelectVerdictJudgement(keys, absl::UnixEpoch(), any);
  return first.value_or(0) == 0;
}

absl::StatusOr<schema::VerdictResult> MergeIntelResults(MergeRule rule, Result private_result,
                                                        Result global_result,
                                                        const IntelEndpoints& where) {
  if (std::optional<absl::Status> failure =
          MergedFailure(rule, private_result, global_result, where)) {
    return *std::move(failure);
  }
  const schema::Verdict* priv = VerdictOf(*private_result);
  const schema::Verdict* glob = global_result.ok() ? VerdictOf(*global_result) : nullptr;
  if (priv == nullptr && glob == nullptr) return schema::NoVerdict{};
  if (priv == nullptr) return Decided(*glob, kGlobalIntel);
  if (glob == nullptr) return Decided(*priv, kPrivateIntel);
  const bool private_decides =
      rule == MergeRule::kPrivateFirst || PrivateVerdictFirst(*priv, *glob);
  schema::Verdict out =
      private_decides ? Decided(*priv, kPrivateIntel) : Decided(*glob, kGlobalIntel);
  if (rule == MergeRule::kBoth) {
    out.other = std::make_shared<const schema::Verdict>(
        private_decides ? Decided(*glob, kGlobalIntel) : Decided(*priv, kPrivateIntel));
  }
  return out;
}

void DualIntelSource::LookupVerdict(const schema::Observable& observable, Callback done) {
  // Each side writes its own slot; the side that answers last merges and calls `done`.
  struct Pending {
    Callback done;
    MergeRule rule;
    const IntelEndpoints* where;
    std::optional<Result> priv, glob;
    std::atomic<int> left{2};
    void Settle() {
      if (left.fetch_sub(1, std::memory_order_acq_rel) != 1) return;
      done(MergeIntelResults(rule, *std::move(priv), *std::move(glob), *where));
    }
  };
  // A new lookup means the caller is not stuck: it asks for a flush again when it is.
  flush_asked_.store(false);
  auto pending = std::make_shared<Pending>();
  merged_open_.fetch_add(1);
  pending->done = [this, done = std::move(done)](Result r) {
    merged_open_.fetch_sub(1);
    done(std::move(r));
  };
  pending->rule = rule_;
  pending->where = &where_;
  private_open_.fetch_add(1);
  global_open_.fetch_add(1);
  private_.LookupVerdict(observable, [this, pending](Result r) {
    private_open_.fetch_sub(1);
    pending->priv = std::move(r);
    pending->Settle();
    Reflush(global_);
  });
  global_.LookupVerdict(observable, [this, pending](Result r) {
    global_open_.fetch_sub(1);
    pending->glob = std::move(r);
    pending->Settle();
    Reflush(private_);
  });
}

void DualIntelSource::FlushBatch() {
  flush_asked_.store(true);
  private_.FlushBatch();
  global_.FlushBatch();
}

void DualIntelSource::Reflush(VerdictSource& other) {
  // The caller is still stuck (no lookup since its flush) and a side's answer is no answer to
  // it: what the other side has collected since (e.g. a lookup whose shared-cache lease came
  // after the flush, run --redis) goes now, not after its linger.
  if (flush_asked_.load() && other.Collecting() > 0) other.FlushBatch();
}

size_t DualIntelSource::Collecting() const {
  const size_t merged = merged_open_.load();
  const size_t held_private = private_.Collecting();
  const size_t held_global = global_.Collecting();
  if (held_private + held_global == 0) return 0;
  return held_private == private_open_.load() && held_global == global_open_.load() ? merged
                                                                                   : 0;
}

void DualIntelSource::InputEnded() {
  private_.InputEnded();
  global_.InputEnded();
}

void DualIntelSource::StopSending() {
  private_.StopSending();
  global_.StopSending();
}

}  // namespace enrich::transport
