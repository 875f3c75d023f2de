#ifndef ENRICH_TRANSPORT_INTERNAL_VERDICT_DETAILS_H_
#define ENRICH_TRANSPORT_INTERNAL_VERDICT_DETAILS_H_

// The details of a verdict (CtiaClientOptions::details: the deciding judgement's source,
// reason, ... and the observable's first judgements): their GraphQL selections and decoding
// (graphql_verdicts.cc), and their REST lookups after a verdict (VerdictDetailsFetcher, used
// by BeastCtiaClient for the lookups that go through REST).

#include "schema/judgement_id.h"
#include "schema/judgement.h"
#include "schema/observable.h"
#include "schema/verdict.h"
#include "transport/ctia_client_options.h"
#include "transport/verdict_source.h"

#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_map.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/synchronization/mutex.h"

namespace enrich::transport {
class CtiaPublisher;
}  // namespace enrich::transport

namespace enrich::transport::internal {

struct CallContext;

// CTIA's list order for an observable's judgements (a value of its REST sort_by enum, §4):
// the most severe disposition first, then the newest start.
inline constexpr absl::string_view kJudgementsSortBy =
    "disposition:asc,valid_time.start_time:desc";

// The GraphQL selections: inside `verdict{...}` and beside it in `observable(...){...}`.
inline constexpr absl::string_view kGraphqlJudgementSelection =
    " judgement{source source_uri reason severity confidence priority tlp}";
// `judgements(first:N, orderBy: the order of kJudgementsSortBy){nodes{id source disposition}}`.
std::string GraphqlJudgementsSelection(int first);

using schema::ShortJudgementId;  // schema/judgement_id.h

schema::JudgementDetails DetailsOf(const schema::Judgement& j);
schema::JudgementBrief BriefOf(const schema::Judgement& j);

// A verdict's `judgement` as a GraphQL answer gives it (JSON text of the value): null →
// nullopt (CTIA resolves no judgement it cannot read); an object → its fields (absent ones
// empty). Error: InvalidArgument "malformed judgement: ..." naming the field.
absl::StatusOr<std::optional<schema::JudgementDetails>> DecodeGraphqlJudgement(
    absl::string_view json);
// An observable's `judgements` connection (JSON text): `nodes` (or `edges[].node`), each with
// `id`, `source`, `disposition` (1..5); null → none. Error: InvalidArgument
// "malformed judgements: ..." naming the entry and field.
absl::StatusOr<std::vector<schema::JudgementBrief>> DecodeGraphqlJudgements(
    absl::string_view json);

// The REST side: completes a verdict with its details (options) before handing it on.
//   - the judgement: `GET <base>/ctia/judgement/{short id}` once per distinct id for the
//     fetcher's life (the run): later verdicts with that id get the cached details, concurrent
//     ones wait for the one request (single flight). A final failure leaves the details empty
//     (cached too; counted once in judgement_read_failures, with one notice for the run), except
//     a checkpoint or a stop (Cancelled), which fails the lookup and is not cached.
//   - the judgements: CtiaPublisher::FirstJudgements, one page of `limit=N` in
//     kJudgementsSortBy order; its failure fails the lookup.
// NoVerdict and errors pass through unchanged. Thread-safe; `done` runs on an io thread or
// inline.
class VerdictDetailsFetcher {
 public:
  VerdictDetailsFetcher(CallContext& calls, CtiaPublisher& publisher,
                        VerdictDetailsOptions options);
  ~VerdictDetailsFetcher();

  void Complete(const schema::Observable& observable, absl::StatusOr<schema::VerdictResult> result,
                VerdictSource::Callback done);

 private:
  struct Entry;
  struct Gather;
  using DetailsResult = absl::StatusOr<std::optional<schema::JudgementDetails>>;
  using DetailsCallback = std::function<void(const DetailsResult&)>;
  void Details(absl::string_view judgement_id, DetailsCallback done);
  void Settle(const std::string& short_id, DetailsResult result);

  CallContext& calls_;
  CtiaPublisher& publisher_;
  const VerdictDetailsOptions options_;
  absl::Mutex mu_;
  absl::flat_hash_map<std::string, std::shared_ptr<Entry>> cache_ ABSL_GUARDED_BY(mu_);
  bool failure_noticed_ ABSL_GUARDED_BY(mu_) = false;
};

}  // namespace enrich::transport::internal

#endif  // ENRICH_TRANSPORT_INTERNAL_VERDICT_DETAILS_H_
