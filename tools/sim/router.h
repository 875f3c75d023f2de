#ifndef ENRICH_TOOLS_SIM_ROUTER_H_
#define ENRICH_TOOLS_SIM_ROUTER_H_

#include <atomic>
#include <cstdint>
#include <optional>
#include <random>
#include <string>
#include <utility>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/strings/string_view.h"
#include "absl/synchronization/mutex.h"
#include "rapidjson/document.h"
#include "schema/judgement.h"
#include "tools/sim/access_control.h"
#include "tools/sim/judgement_store.h"
#include "tools/sim/sim_server.h"
#include "tools/sim/token_registry.h"

namespace enrich::sim {

// One HTTP request as the router sees it: no sockets, no Beast types.
struct SimRequest {
  std::string method;         // "GET", "POST", ...
  std::string target;         // raw request-target, still percent-encoded: "/ctia/ip/x/verdict?a=b"
  std::string authorization;  // value of the Authorization header; empty when absent
  std::string body;
};

struct SimResponse {
  int status = 200;
  std::string content_type;  // empty when there is no body
  std::string body;
  // Every header besides Content-Type/Content-Length, in order (Location, X-Ctia-Version...).
  std::vector<std::pair<std::string, std::string>> headers;

  // First value of header `name` (case-insensitive), empty when absent.
  std::string Header(absl::string_view name) const;
};

// ctia-sim's request → response logic (reference/ctia-api.md §12), sans I/O: the server shell
// parses HTTP and calls Handle(); tests call Handle() directly.
//
// Routes: POST /iroh/oauth2/token; under /ctia (all but /ctia/version need a Bearer token):
// GET {type}/{value}/verdict, GET {type}/{value}/judgements, POST judgement, POST bulk,
// GET|DELETE judgement/{id}, POST judgement/{id}/expire, GET status, GET version. Anything
// else is CTIA's HTML 404.
//
// Thread safety: Handle and AddJudgements may run concurrently from any thread.
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
  TokenRegistry& tokens() { return tokens_; }

 private:
  struct AtomicCounters {
    std::atomic<uint64_t> token_requests{0}, verdict_requests{0}, judgement_posts{0},
        bulk_posts{0}, unauthorized{0}, total{0}, judgement_reads{0}, judgement_deletes{0},
        forbidden{0}, client_errors{0};
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
  // The create-judgement capability check and JSON parse both create routes make.
  struct CreateBody {
    rapidjson::Document doc;
    std::optional<SimResponse> refusal;
  };
  CreateBody ParseCreateBody(const Identity& who, const SimRequest& request) const;

  SimResponse Route(const SimRequest& request);
  SimResponse HandleToken(const SimRequest& request);
  SimResponse HandleCtia(const SimRequest& request, absl::string_view path,
                         absl::string_view query);
  SimResponse HandleVerdict(const Identity& who, absl::string_view raw_type,
                            absl::string_view raw_value, absl::string_view query);
  SimResponse HandleListJudgements(const Identity& who, absl::string_view raw_type,
                                   absl::string_view raw_value, absl::string_view query);
  SimResponse HandlePostJudgement(const Identity& who, const SimRequest& request);
  SimResponse HandleBulk(const Identity& who, const SimRequest& request);
  SimResponse HandleJudgementById(const Identity& who, const SimRequest& request,
                                  absl::string_view raw_id, absl::string_view query,
                                  bool expire);

  // "judgement-<uuid4>" from the seeded generator.
  std::string NewShortId();
  std::string LongId(absl::string_view short_id) const;
  // Copy of `j` with its short id replaced by the long id, for answers.
  schema::Judgement WithLongId(schema::Judgement j) const;
  void Count(const SimResponse& response);

  const SimOptions options_;
  const schema::Clock& clock_;
  JudgementStore& store_;
  TokenRegistry tokens_;
  AtomicCounters counters_;

  mutable absl::Mutex mu_;
  std::string public_base_ ABSL_GUARDED_BY(mu_);
  std::mt19937_64 id_random_ ABSL_GUARDED_BY(mu_);
};

}  // namespace enrich::sim

#endif  // ENRICH_TOOLS_SIM_ROUTER_H_
