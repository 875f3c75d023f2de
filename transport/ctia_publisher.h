#ifndef ENRICH_TRANSPORT_CTIA_PUBLISHER_H_
#define ENRICH_TRANSPORT_CTIA_PUBLISHER_H_

// The CTIA write side: create a judgement, POST /ctia/bulk, page through the judgements
// stored on an observable, and find judgements by external id. Shares the budgets, retries and pool of the BeastCtiaClient that
// lends it (BeastCtiaClient::publisher()), so reads and writes spend one budget.
//
// Writes are not idempotent: they are retried only where CTIA certainly did not act (401
// refresh, 429); 5xx and transport errors are final for them. Listings are retried like
// verdict lookups. Thread safety: all methods thread-safe; callbacks run on an io thread of the
// pool (or inline when the token source fails inline). The lending client must outlive the
// publisher and its pending calls.

#include "schema/judgement.h"
#include "schema/observable.h"

#include <functional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace enrich::transport {

namespace internal {
struct CallContext;
}  // namespace internal

class CtiaPublisher {
 public:
  // Sends through `calls` (owned by the lending client).
  explicit CtiaPublisher(internal::CallContext& calls) : calls_(calls) {}
  CtiaPublisher(const CtiaPublisher&) = delete;
  CtiaPublisher& operator=(const CtiaPublisher&) = delete;

  // POST /ctia/bulk {"judgements": [...]} (≤ 2000 per call, else InvalidArgument without a
  // request). Result: per item, the created long id or an error (InvalidArgument carrying
  // CTIA's item error), in input order.
  using BulkCallback =
      std::function<void(absl::StatusOr<std::vector<absl::StatusOr<std::string>>>)>;
  void BulkCreateJudgements(std::vector<schema::Judgement> judgements, BulkCallback done);

  // Every judgement on `observable` (expired ones too, reference §4): `GET <base>/ctia/{type}/
  // {value}/judgements?limit=<page_size>`, then the server's `X-Next` query appended to the
  // same path until a page has no `X-Next` (the server's cursor: offset, then search_after past
  // 10,000). Each page is one request with its own budget unit and retries. Errors: the first
  // page that fails for good; InvalidArgument for an X-Next that would not fit in a request
  // line or does not move on, or past `max_pages`.
  struct JudgementsOptions {
    int page_size = 100;   // CTIA's default `limit`
    int max_pages = 1000;  // a guard against a server that never stops paging
  };
  using JudgementsCallback = std::function<void(absl::StatusOr<std::vector<schema::Judgement>>)>;
  void Judgements(const schema::Observable& observable, JudgementsOptions options,
                  JudgementsCallback done);

  // The judgements whose external_ids hold `external_id`: `GET <base>/ctia/judgement/
  // external_id/{xid}` (reference §5.3), paged and retried as Judgements(). An empty list when
  // there is none. A publish run asks it before writing a judgement that may already exist.
  void JudgementsByExternalId(absl::string_view external_id, JudgementsOptions options,
                              JudgementsCallback done);

  // The first `n` (> 0) judgements on `observable` in CTIA's order `sort_by` (one of its
  // sort_by values, §4, e.g. "disposition:asc,valid_time.start_time:desc"): one request of
  // `limit=n&sort_by=...`; a further page only if the server gave fewer than `n` and an X-Next
  // (the pager's rules above).
  void FirstJudgements(const schema::Observable& observable, int n, absl::string_view sort_by,
                       JudgementsCallback done);

  // POST /ctia/judgement → the stored judgement (long id).
  using JudgementCallback = std::function<void(absl::StatusOr<schema::Judgement>)>;
  void CreateJudgement(const schema::Judgement& judgement, JudgementCallback done);

 private:
  class JudgementPager;
  std::string JudgementsPath(const schema::Observable& observable) const;
  internal::CallContext& calls_;
};

}  // namespace enrich::transport

#endif  // ENRICH_TRANSPORT_CTIA_PUBLISHER_H_
