// ctia-sim's request → response logic, sans I/O: between the server shell (sim_server.cc),
// which parses HTTP, and the parts it consults (token registry, rate limiter, fault injector,
// judgement store). One class; its route families live in one .cc file each (see Router).

#ifndef ENRICH_TOOLS_SIM_ROUTER_H_
#define ENRICH_TOOLS_SIM_ROUTER_H_

#include <array>
#include <atomic>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <random>
#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/synchronization/mutex.h"
#include "absl/types/span.h"
#include "rapidjson/document.h"
#include "schema/judgement.h"
#include "schema/observable.h"
#include "schema/verdict.h"
#include "schema/verdict_rule.h"
#include "tools/sim/access_control.h"
#include "tools/sim/fault_injector.h"
#include "tools/sim/fault_rule.h"
#include "tools/sim/graphql_subset.h"
#include "tools/sim/judgement_store.h"
#include "tools/sim/rate_limiter.h"
#include "tools/sim/sim_clock.h"
#include "tools/sim/sim_counters.h"
#include "tools/sim/sim_message.h"
#include "tools/sim/sim_options.h"
#include "tools/sim/token_registry.h"

namespace enrich::sim {

// schema::EncodeVerdict(v), byte for byte; faster for the usual synthetic verdict.
std::string EncodeVerdictFast(const schema::Verdict& v);

// ctia-sim's request → response logic (reference/ctia-api.md §12), sans I/O: the server shell
// parses HTTP and calls Handle(); tests call Handle() directly.
//
// Routes: POST /iroh/oauth2/token; under /ctia (all but /ctia/version need a Bearer token):
// GET {type}/{value}/verdict, GET {type}/{value}/judgements, POST judgement, POST bulk,
// GET bulk?judgements=..., GET|DELETE judgement/{id}, POST judgement/{id}/expire,
// GET judgement/external_id/{xid},
// POST graphql, GET status, GET version. With `options.test_api`: /__test__/... (see
// HandleTestApi). Anything else is CTIA's HTML 404.
//
// Order per request: fault rules (front-door faults answer before anything else), then
// authentication, then the rate limiter (authenticated /ctia routes only), then the route.
//
// Files, one per route family: router.cc (Handle, faults, dispatch under /ctia, counters,
// seeding), router_auth.cc (token endpoint, bearer check), router_verdict.cc (verdict and
// judgement reads, the list with paging/sort), router_writes.cc (POST judgement, bulk,
// expire/delete), router_graphql.cc, router_test_api.cc; shared answers in
// internal/sim_responses.h.
//
// Thread safety: every public method may run concurrently from any thread.
class Router {
 public:
  // `options.clock` and `store` are not owned and must outlive the router.
  Router(const SimOptions& options, JudgementStore& store);

  SimResponse Handle(const SimRequest& request);

  // Base of long ids ("http://127.0.0.1:8080"); the server sets it once it knows its port.
  void SetPublicBase(std::string base);
  std::string PublicBase() const;

  // Stores judgements with the creation defaults of §5.2 for `owner` (the first configured
  // client): missing id, created, valid_time, timestamp, tlp "green", owner and groups.
  // Returns the long ids.
  std::vector<std::string> AddJudgements(std::vector<schema::Judgement> judgements);

  SimCounters Counters() const;
  EndpointCounts CountsByEndpoint() const;
  LookupTally Lookups() const;  // empty unless options.test_api
  TokenRegistry& tokens() { return tokens_; }
  FaultInjector& faults() { return faults_; }
  SimClock& clock() { return clock_; }
  void SetGreenVisibleToEveryone(bool everyone) { green_visible_.store(everyone); }
  // Run-time switches: SimOptions::graphql and SimOptions::token_check_at_send.
  void SetGraphqlEnabled(bool on) { graphql_on_.store(on); }
  bool GraphqlEnabled() const { return graphql_on_.load(); }
  void SetTokenCheckAtSend(bool on) { token_check_at_send_.store(on); }
  bool TokenCheckAtSend() const { return token_check_at_send_.load(); }
  // Clears judgements, faults, counters, rate-limit logs and the clock override; the standing
  // faults and the switches return to their configured state.
  void Reset();
  // ForEachJudgementNdjson(path, now) into the store in batches, with AddJudgements'
  // defaults; returns how many were stored. On an error the lines before it stay loaded.
  absl::StatusOr<size_t> LoadNdjson(const std::string& path);

  // Route families counted per status (EndpointCounts).
  enum class Endpoint {
    kToken, kVerdict, kJudgements, kJudgementPost, kJudgementGet, kJudgementDelete,
    kJudgementExpire, kBulkPost, kBulkGet, kGraphql, kStatus, kVersion, kJudgementExternalId,
    kOther, kCount
  };
  static Endpoint Classify(absl::string_view method, absl::string_view path);

 private:
  static constexpr size_t kEndpoints = static_cast<size_t>(Endpoint::kCount);
  static constexpr int kStatusSlots = 600;
  struct AtomicCounters {
    std::atomic<uint64_t> token_requests{0}, verdict_requests{0}, judgement_posts{0},
        bulk_posts{0}, unauthorized{0}, total{0}, judgement_reads{0}, judgement_deletes{0},
        forbidden{0}, client_errors{0}, graphql_requests{0}, graphql_observables{0},
        judgements_created{0}, external_id_lookups{0};
  };

  // The type of an observable route after the checks both observable routes make: the
  // capability, then the type enum (reference §1.1, §1.4). `refusal` is set when one fails.
  struct ObservableRoute {
    std::string type;
    std::optional<SimResponse> refusal;
  };
  ObservableRoute CheckObservableRoute(const Identity& who, absl::string_view entity,
                                       absl::string_view capability,
                                       absl::string_view raw_type) const;
  bool Visible(const schema::Judgement& j, const Identity& who) const;
  // The verdict of `observable` for `who`: stored judgements first, then synthetic mode
  // (without from/to only). nullopt = no verdict.
  std::optional<schema::Verdict> VerdictFor(const Identity& who,
                                            const schema::Observable& observable,
                                            const schema::VerdictQuery& query) const;
  // The create-judgement capability check and JSON parse both create routes make.
  struct CreateBody {
    rapidjson::Document doc;
    std::optional<SimResponse> refusal;
  };
  CreateBody ParseCreateBody(const Identity& who, const SimRequest& request) const;

  // The caller of an authenticated /ctia request, or CTIA's 401 refusal (reference §8.2).
  struct Caller {
    std::shared_ptr<const Identity> identity;  // set when `refusal` is not
    std::optional<SimResponse> refusal;
  };
  // `token_delay`: check the token as of now + this (the answer's delay, with
  // token_check_at_send; else zero).
  Caller Authenticate(const SimRequest& request, absl::Duration token_delay) const;

  // `token_delay` as for Authenticate.
  SimResponse Route(const SimRequest& request, absl::string_view path, absl::string_view query,
                    absl::Duration token_delay);
  // The answer for a request a fault rule fired on.
  SimResponse Faulted(const FaultRule& fault, const SimRequest& request, absl::string_view path,
                      absl::string_view query, bool* ctia_headers);
  // Adds the fault rules of SimOptions::hang_percent, html_404 and slow_percent (at start and
  // Reset).
  void InstallStandingFaults();
  // /__test__/faults, clock, reset, load, counters, visibility, tokens, knobs (reference §12.6).
  SimResponse HandleTestApi(const SimRequest& request, absl::string_view path);
  // /__test__/knobs (router_test_api.cc).
  SimResponse KnobsRoute(absl::string_view method, const rapidjson::Document& doc);
  SimResponse DispatchCtia(const Identity& who, const SimRequest& request,
                           absl::Span<const absl::string_view> seg, absl::string_view query);
  SimResponse HandleGraphql(const Identity& who, const SimRequest& request);
  // GraphQL's Verdict.judgement and Observable.judgements (router_graphql.cc).
  std::optional<schema::Judgement> VerdictJudgement(
      const Identity& who, const schema::Verdict& v,
      const std::vector<GraphqlField>& selection) const;
  std::vector<schema::Judgement> JudgementsFor(const Identity& who,
                                               const schema::Observable& observable,
                                               const GraphqlField& field) const;
  SimResponse HandleBulkGet(const Identity& who, absl::string_view query);
  SimResponse HandleToken(const SimRequest& request);
  SimResponse HandleCtia(const SimRequest& request, absl::string_view path,
                         absl::string_view query, absl::Duration token_delay);
  SimResponse HandleVerdict(const Identity& who, absl::string_view raw_type,
                            absl::string_view raw_value, absl::string_view query);
  SimResponse HandleListJudgements(const Identity& who, absl::string_view raw_type,
                                   absl::string_view raw_value, absl::string_view query);
  SimResponse HandlePostJudgement(const Identity& who, const SimRequest& request);
  SimResponse HandleBulk(const Identity& who, const SimRequest& request);
  SimResponse HandleJudgementsByExternalId(const Identity& who, absl::string_view raw_xid);
  SimResponse HandleJudgementById(const Identity& who, const SimRequest& request,
                                  absl::string_view raw_id, absl::string_view query,
                                  bool expire);

  // AddJudgements without building the long ids when `long_ids` is null; returns how many
  // were stored.
  size_t StoreWithDefaults(std::vector<schema::Judgement> judgements,
                           std::vector<std::string>* long_ids);
  // "judgement-<uuid4>" from the seeded generator.
  std::string NewShortId();
  std::string LongId(absl::string_view short_id) const;
  // Copy of `j` with its short id replaced by the long id, for answers.
  schema::Judgement WithLongId(schema::Judgement j) const;
  void Count(const SimResponse& response, Endpoint endpoint);
  // Adds one to the lookup tally of `who` for `observable` (with options_.test_api only).
  void TallyLookup(const Identity& who, const schema::Observable& observable);

  const SimOptions options_;
  SimClock clock_;
  // End of the short-lived synthetic verdicts (--synthetic-short-valid): the clock's second at
  // construction plus options_.synthetic_short_valid.
  const absl::Time synthetic_short_end_;
  JudgementStore& store_;
  TokenRegistry tokens_;
  RateLimiter limiter_;
  FaultInjector faults_;
  std::atomic<bool> green_visible_;
  std::atomic<bool> graphql_on_;
  std::atomic<bool> token_check_at_send_;
  const std::string limit_header_;      // X-RateLimit-GROUP-Limit
  const std::string remaining_header_;  // X-RateLimit-GROUP-Remaining
  AtomicCounters counters_;
  std::array<std::array<std::atomic<uint64_t>, kStatusSlots>, kEndpoints> by_status_{};

  mutable absl::Mutex tally_mu_;
  LookupTally tally_ ABSL_GUARDED_BY(tally_mu_);

  mutable absl::Mutex mu_;
  std::string public_base_ ABSL_GUARDED_BY(mu_);
  std::mt19937_64 id_random_ ABSL_GUARDED_BY(mu_);
};

}  // namespace enrich::sim

#endif  // ENRICH_TOOLS_SIM_ROUTER_H_
