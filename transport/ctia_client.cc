#include "transport/ctia_client.h"

#include "schema/json_codec.h"
#include "schema/observable.h"
#include "schema/path_encoding.h"
#include "transport/internal/graphql_verdicts.h"
#include "transport/internal/retry_policy.h"
#include "transport/internal/verdict_answer.h"
#include "transport/internal/verdict_batcher.h"

#include <algorithm>
#include <atomic>
#include <cstdio>
#include <deque>
#include <limits>
#include <optional>
#include <random>
#include <utility>

#include "absl/status/status.h"
#include "absl/strings/ascii.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/synchronization/mutex.h"
#include "boost/asio/post.hpp"
#include "boost/asio/steady_timer.hpp"
#include "rapidjson/document.h"
#include "rapidjson/stringbuffer.h"
#include "rapidjson/writer.h"

namespace enrich::transport {
namespace {

namespace net = boost::asio;

// CTIA's bulk size limit (`ctia.http.bulk.max-size`, reference/ctia-api.md §6.1).
constexpr size_t kMaxBulkEntities = 2000;
// Longest non-JSON body text quoted in an error message.
constexpr size_t kMaxQuotedBody = 200;

// What a call asks for: decides its counter and whether a garbled 200 is worth asking again.
enum class CallKind { kVerdict, kGraphql, kList, kWrite };

// Collects the results of one Verdicts() call, which may travel in several requests, and
// delivers them once all are in. Each index is set exactly once, from any thread.
class VerdictsGather {
 public:
  VerdictsGather(size_t size, BeastCtiaClient::VerdictsCallback done)
      : results_(size, absl::UnknownError("unset")), remaining_(size), done_(std::move(done)) {}
  void Set(size_t index, absl::StatusOr<schema::VerdictResult> result) {
    results_[index] = std::move(result);
    if (remaining_.fetch_sub(1, std::memory_order_acq_rel) == 1) done_(std::move(results_));
  }

 private:
  std::vector<absl::StatusOr<schema::VerdictResult>> results_;
  std::atomic<size_t> remaining_;
  BeastCtiaClient::VerdictsCallback done_;
};

absl::string_view View(const rapidjson::Value& v) {
  return absl::string_view(v.GetString(), v.GetStringLength());
}

// A JSON value as text for an error message: strings as they are, anything else serialised.
std::string JsonText(const rapidjson::Value& v) {
  if (v.IsString()) return std::string(View(v));
  rapidjson::StringBuffer buf;
  rapidjson::Writer<rapidjson::StringBuffer> w(buf);
  v.Accept(w);
  return std::string(buf.GetString(), buf.GetSize());
}

// The human part of a CTIA error body: `error`, `error_description` and `message` of a JSON
// object (§5.4, §8.2, §9.1), a JSON string as is (§6.1 bulk limit), or short plain text.
std::string ErrorDetail(absl::string_view body) {
  rapidjson::Document doc;
  doc.Parse(body.data(), body.size());
  if (!doc.HasParseError()) {
    if (doc.IsString()) return std::string(View(doc));
    if (!doc.IsObject()) return "";
    std::vector<std::string> parts;
    for (const char* key : {"error", "error_description", "message"}) {
      if (auto it = doc.FindMember(key); it != doc.MemberEnd())
        parts.push_back(JsonText(it->value));
    }
    if (parts.empty()) {
      // Schema failures carry only `errors` (§1.4).
      if (auto it = doc.FindMember("errors"); it != doc.MemberEnd()) {
        parts.push_back(JsonText(it->value));
      }
    }
    return absl::StrJoin(parts, ": ");
  }
  absl::string_view text = absl::StripAsciiWhitespace(body);
  // HTML pages (CTIA's unknown-route 404, proxies' 5xx pages) say nothing useful.
  if (text.empty() || text.front() == '<' || text.size() > kMaxQuotedBody) return "";
  for (char c : text) {
    if (static_cast<unsigned char>(c) < 0x20 && c != ' ') return "";
  }
  return std::string(text);
}

absl::StatusCode CodeForHttp(int status) {
  if (status >= 500 && status <= 599) return absl::StatusCode::kUnavailable;
  switch (status) {
    case 401:
      return absl::StatusCode::kUnauthenticated;
    case 403:
      return absl::StatusCode::kPermissionDenied;
    case 404:
      return absl::StatusCode::kNotFound;
    case 408:
      return absl::StatusCode::kDeadlineExceeded;
    case 429:
      return absl::StatusCode::kResourceExhausted;
    default:
      break;
  }
  if (status >= 400 && status <= 499) return absl::StatusCode::kInvalidArgument;
  return absl::StatusCode::kUnknown;
}

// Keeps the code of `status`, puts "http <code>: " in front of its message.
absl::Status WithHttpPrefix(int http_status, const absl::Status& status) {
  return absl::Status(status.code(), absl::StrCat("http ", http_status, ": ", status.message()));
}

absl::StatusOr<std::vector<absl::StatusOr<std::string>>> DecodeBulkAnswer(absl::string_view body,
                                                                          size_t expected) {
  rapidjson::Document doc;
  doc.Parse(body.data(), body.size());
  if (doc.HasParseError() || !doc.IsObject()) {
    return absl::InvalidArgumentError("malformed bulk answer: not a JSON object");
  }
  auto it = doc.FindMember("judgements");
  if (it == doc.MemberEnd() || !it->value.IsArray()) {
    return absl::InvalidArgumentError("malformed bulk answer: no \"judgements\" list");
  }
  const auto& items = it->value.GetArray();
  if (items.Size() != expected) {
    return absl::InvalidArgumentError(absl::StrCat("malformed bulk answer: ", items.Size(),
                                                   " results for ", expected, " judgements"));
  }
  std::vector<absl::StatusOr<std::string>> out;
  out.reserve(expected);
  for (const rapidjson::Value& item : items) {
    if (item.IsString()) {
      out.emplace_back(std::string(View(item)));
      continue;
    }
    // §6.1: {"error": ..., "msg": ..., "type": ..., "entity": {...}}; the entity is left out.
    std::vector<std::string> parts;
    if (item.IsObject()) {
      for (const char* key : {"error", "type", "msg"}) {
        if (auto m = item.FindMember(key); m != item.MemberEnd())
          parts.push_back(JsonText(m->value));
      }
    }
    out.emplace_back(absl::InvalidArgumentError(absl::StrCat(
        "bulk item rejected: ", parts.empty() ? JsonText(item) : absl::StrJoin(parts, ": "))));
  }
  return out;
}

}  // namespace

absl::Status StatusFromHttp(const HttpResponse& response) {
  std::string message = absl::StrCat("http ", response.status);
  if (std::string detail = ErrorDetail(response.body); !detail.empty()) {
    absl::StrAppend(&message, ": ", detail);
  }
  if (response.status == 429) {
    if (std::optional<absl::Duration> after = RetryAfterFromHeaders(response)) {
      absl::StrAppend(&message, " (retry after ", absl::FormatDuration(*after), ")");
    }
  }
  return absl::Status(CodeForHttp(response.status), message);
}

struct BeastCtiaClient::AtomicCounters {
  std::atomic<uint64_t> requests{0};
  std::atomic<uint64_t> answers{0};
  std::atomic<uint64_t> status_2xx{0}, status_4xx{0}, status_5xx{0}, status_other{0};
  std::atomic<uint64_t> transport_errors{0};
  std::atomic<uint64_t> budget_waits{0};
  std::atomic<uint64_t> checkpoints{0};
  std::atomic<uint64_t> retired_credentials{0};
  std::atomic<uint64_t> verdict_requests{0};
  std::atomic<uint64_t> retries{0};
  std::atomic<uint64_t> unauthorized{0};
  std::atomic<uint64_t> rate_limited{0};
  std::atomic<uint64_t> write_requests{0};
  std::atomic<uint64_t> graphql_requests{0};
  std::atomic<uint64_t> list_requests{0};
  std::atomic<uint64_t> graphql_verdicts{0};
};

// Full jitter (uniform in [0, cap]) from one seeded generator shared by all calls.
struct BeastCtiaClient::Jitter {
  explicit Jitter(uint64_t seed) : rng(seed) {}
  absl::Duration Draw(absl::Duration upper) {
    const int64_t max_ns = std::max<int64_t>(absl::ToInt64Nanoseconds(upper), 0);
    absl::MutexLock lock(&mu);
    return absl::Nanoseconds(std::uniform_int_distribution<int64_t>(0, max_ns)(rng));
  }
  absl::Mutex mu;
  std::mt19937_64 rng ABSL_GUARDED_BY(mu);
};


// Adaptive concurrency in front of the pool: a send runs when the requests in flight are
// below the ConcurrencyLimit, otherwise its call waits in arrival order and is sent (on the
// thread that freed the slot) when one frees. Sends never complete inline
// (ConnectionPool::Start), so sending one from Release cannot recurse.
class BeastCtiaClient::Gate {
 public:
  enum class Outcome { kAnswer, kOverload, kOther };

  Gate(int max, absl::Duration latency_floor) : limit_(max, max, 3.0, latency_floor) {}

  // True: `call` holds a slot and sends now. False: it waits; Release() sends it.
  bool Acquire(Call* call) {
    absl::MutexLock lock(&mu_);
    if (in_flight_ >= limit_.limit()) {
      ++waits_;
      waiting_.push_back(call);
      return false;
    }
    ++in_flight_;
    return true;
  }

  // Frees the slot of an answered (or failed) send and sends the calls that may go now.
  // `now`: the time of the answer, taken as the send time of the calls released.
  void Release(Outcome outcome, absl::Duration latency, absl::Time now);

  void Fill(CtiaClientCounters& c) const {
    absl::MutexLock lock(&mu_);
    c.concurrency_limit = limit_.limit();
    c.concurrency_decreases = decreases_;
    c.concurrency_waits = waits_;
  }

 private:
  mutable absl::Mutex mu_;
  ConcurrencyLimit limit_ ABSL_GUARDED_BY(mu_);
  int in_flight_ ABSL_GUARDED_BY(mu_) = 0;
  std::deque<Call*> waiting_ ABSL_GUARDED_BY(mu_);
  uint64_t decreases_ ABSL_GUARDED_BY(mu_) = 0;
  uint64_t waits_ ABSL_GUARDED_BY(mu_) = 0;
};

// The one timer of the batcher's linger (VerdictBatcher arms and cancels it from any thread).
struct BeastCtiaClient::LingerTimer {
  explicit LingerTimer(const net::any_io_executor& executor) : timer(executor) {}
  absl::Mutex mu;
  net::steady_timer timer ABSL_GUARDED_BY(mu);
};

// The budget groups and the credentials of the rotation, under one mutex. Sans-I/O: the
// RateLimiters decide, this only picks among them.
class BeastCtiaClient::Budget {
 public:
  Budget(std::vector<CredentialLane> lanes, const RateLimitOptions& options) {
    for (CredentialLane& lane : lanes) {
      size_t group = 0;
      while (group < group_names_.size() && group_names_[group] != lane.group) ++group;
      if (group == group_names_.size()) {
        group_names_.push_back(lane.group);
        limiters_.emplace_back(options);
      }
      lanes_.push_back(LaneState{std::move(lane), group, false});
    }
  }

  struct Pick {
    int lane = -1;  // -1: no credential left
    RatePermit permit;
    absl::string_view group;  // points into the fixed group names
  };

  // Takes one request from the live group with the most budget left (kGo), or says how long
  // the shortest wait is. Credentials of one group take turns.
  Pick Take(absl::Time now) {
    absl::MutexLock lock(&mu_);
    Pick pick;
    int64_t best = -1;
    for (size_t i = 0; i < lanes_.size(); ++i) {
      const size_t lane = (next_ + i) % lanes_.size();
      if (lanes_[lane].retired) continue;
      const int64_t available = limiters_[lanes_[lane].group].Available(now);
      if (available > best) {
        best = available;
        pick.lane = static_cast<int>(lane);
      }
    }
    if (pick.lane < 0) return pick;
    next_ = static_cast<size_t>(pick.lane) + 1;
    if (best > 0) {
      pick.permit = limiters_[lanes_[static_cast<size_t>(pick.lane)].group].Acquire(now);
      pick.group = group_names_[lanes_[static_cast<size_t>(pick.lane)].group];
      return pick;
    }
    // Every group is out of budget (or paused): report the shortest wait.
    pick.permit.wait = absl::InfiniteDuration();
    for (size_t lane = 0; lane < lanes_.size(); ++lane) {
      if (lanes_[lane].retired) continue;
      RatePermit p = limiters_[lanes_[lane].group].Acquire(now);
      if (p.kind == RatePermit::Kind::kGo) {  // budget came back meanwhile
        pick.lane = static_cast<int>(lane);
        pick.permit = p;
        break;
      }
      if (p.wait < pick.permit.wait) {
        pick.lane = static_cast<int>(lane);
        pick.permit = p;
      }
    }
    pick.group = group_names_[lanes_[static_cast<size_t>(pick.lane)].group];
    return pick;
  }

  TokenSource& tokens(int lane) const { return *lanes_[static_cast<size_t>(lane)].lane.tokens; }
  std::string label(int lane) const { return lanes_[static_cast<size_t>(lane)].lane.label; }

  void OnResponse(int lane, absl::Time now, absl::Time sent_at, const HttpResponse& response) {
    absl::MutexLock lock(&mu_);
    limiters_[lanes_[static_cast<size_t>(lane)].group].OnResponse(now, sent_at, response);
  }
  void OnNotCounted(int lane, absl::Time sent_at) {
    absl::MutexLock lock(&mu_);
    limiters_[lanes_[static_cast<size_t>(lane)].group].OnNotCounted(sent_at);
  }
  // Retires `lane`; true when it was live (the caller then tells the user once).
  bool Retire(int lane) {
    absl::MutexLock lock(&mu_);
    LaneState& state = lanes_[static_cast<size_t>(lane)];
    const bool was_live = !state.retired;
    state.retired = true;
    return was_live;
  }
  int64_t Limit(absl::string_view group) const {
    absl::MutexLock lock(&mu_);
    for (size_t g = 0; g < group_names_.size(); ++g) {
      if (group_names_[g] == group) return limiters_[g].limit();
    }
    return 0;
  }

 private:
  struct LaneState {
    CredentialLane lane;
    size_t group;
    bool retired;
  };
  mutable absl::Mutex mu_;
  std::vector<LaneState> lanes_ ABSL_GUARDED_BY(mu_);  // fixed size after construction
  std::vector<std::string> group_names_;                 // fixed after construction
  std::vector<RateLimiter> limiters_ ABSL_GUARDED_BY(mu_);
  size_t next_ ABSL_GUARDED_BY(mu_) = 0;
};

// One logical call: budget → token → send → classify the answer → ask the RetryPolicy → retry
// or finish. At most one step is outstanding at a time, so the members need no lock; each step
// runs on an io thread (or inline in the token source's callback). Calls are recycled
// (AcquireCall/ReleaseCall): a finished call keeps its request's strings and its timer for the
// next one, so a verdict lookup allocates nothing of its own. A call goes back before its
// caller hears the outcome, except one whose `accept` delivered the outcome itself: that one is
// freed without touching the client (which its caller may have destroyed meanwhile). Handlers
// hold a plain pointer: a call lives until it has finished.
class BeastCtiaClient::Call final : public HttpExchange {
 public:
  // Given an answer whose status is in `accepted`: completes the call and returns OK, or
  // returns the decoding error without completing the call.
  using Accept = std::function<absl::Status(const HttpResponse&)>;
  using Fail = std::function<void(absl::Status)>;

  explicit Call(BeastCtiaClient& client) : client_(client), timer_(client.pool_.executor()) {}

  // Any endpoint: `accept` decodes the answers whose status is in `accepted`, `fail` gets the
  // final error.
  void Prepare(CallKind kind, HttpRequest request, std::vector<int> accepted, Accept accept,
               Fail fail) {
    kind_ = kind;
    request_ = std::move(request);
    verdict_layout_ = false;
    auth_header_ = -1;
    accepted_ = std::move(accepted);
    accept_ = std::move(accept);
    fail_ = std::move(fail);
    Arm();
  }

  // `GET <base>/ctia/{type}/{value}/verdict`, decoded into a VerdictResult for `done`. A call
  // that carried a verdict lookup before only rewrites the target (and later the token).
  void PrepareVerdict(absl::string_view base_path, const schema::Observable& observable,
                      Callback done) {
    kind_ = CallKind::kVerdict;
    if (!verdict_layout_) {
      request_ = HttpRequest{};
      request_.headers.emplace_back("Accept", "application/json");
      auth_header_ = -1;
      verdict_layout_ = true;
    }
    // §1.3: CTIA routes on the raw path with `[^/,;?]+` per segment, so both segments are sent
    // fully percent-encoded ('/' → %2F, '+' → %2B, ' ' → %20).
    std::string& target = request_.target;
    target.assign(base_path.data(), base_path.size());
    target.append("/ctia/");
    schema::AppendPercentEncodedPathSegment(observable.type, &target);
    target.push_back('/');
    schema::AppendPercentEncodedPathSegment(observable.value, &target);
    target.append("/verdict");
    accepted_.assign({200, 404});
    verdict_done_ = std::move(done);
    Arm();
  }

  // Drops what the finished call captured (callbacks), keeps the buffers.
  void Clear() {
    accept_ = nullptr;
    fail_ = nullptr;
    verdict_done_ = nullptr;
    last_token_error_ = absl::OkStatus();
  }

  void Begin() {
    const absl::Time now = client_.clock_.Now();
    Budget::Pick pick = client_.budget_->Take(now);
    if (pick.lane < 0) {
      return Finish(last_token_error_.ok()
                        ? absl::UnauthenticatedError("every CTIA credential has been retired")
                        : last_token_error_);
    }
    switch (pick.permit.kind) {
      case RatePermit::Kind::kGo: {
        lane_ = pick.lane;
        sent_at_ = now;
        TokenSource& tokens = client_.budget_->tokens(lane_);
        if (tokens.CachedToken(&token_)) return OnTokenReady(now);
        tokens.GetToken([this](absl::StatusOr<std::string> token) { OnToken(std::move(token)); });
        return;
      }
      case RatePermit::Kind::kWait:
        client_.counters_->budget_waits.fetch_add(1, std::memory_order_relaxed);
        timer_.expires_after(absl::ToChronoNanoseconds(pick.permit.wait));
        timer_.async_wait([this](const boost::system::error_code&) { Begin(); });
        return;
      case RatePermit::Kind::kCheckpoint:
        client_.counters_->checkpoints.fetch_add(1, std::memory_order_relaxed);
        return Finish(CheckpointSignal(
            pick.permit.wait,
            absl::StrCat("the request budget of group '", pick.group, "' is spent")));
    }
  }

  // Sends the request now (the Gate calls it for a call that waited for a slot).
  void Send(absl::Time now) {
    send_started_ = now;
    client_.pool_.Start(this);
  }

  const HttpRequest& request() const override { return request_; }

  void Complete(const absl::Status& status, HttpResponse* response) override {
    const absl::Time now = client_.clock_.Now();
    client_.latency_.Record(now - send_started_);
    if (holds_slot_) {
      holds_slot_ = false;
      // 429 is the server saying "fewer"; any other answer below 500 carries a latency that
      // says how long the server's queue is. Failures without an answer say neither.
      const Gate::Outcome outcome = !status.ok()                ? Gate::Outcome::kOther
                                    : response->status == 429   ? Gate::Outcome::kOverload
                                    : response->status < 500    ? Gate::Outcome::kAnswer
                                                                : Gate::Outcome::kOther;
      client_.gate_->Release(outcome, now - send_started_, now);
    }
    internal::AttemptFailure failure;
    if (!status.ok()) {
      // The request may have reached CTIA's limiter: it stays counted (conservative).
      client_.counters_->transport_errors.fetch_add(1, std::memory_order_relaxed);
      failure.error = status;
      return Decide(failure);
    }
    client_.CountAnswer(response->status);
    client_.budget_->OnResponse(lane_, now, sent_at_, *response);
    failure.http_status = response->status;
    if (std::find(accepted_.begin(), accepted_.end(), response->status) != accepted_.end()) {
      if (kind_ == CallKind::kVerdict) {
        absl::StatusOr<schema::VerdictResult> result =
            internal::DecodeVerdictAnswer(response->status, response->body);
        if (result.ok()) {
          Callback done = std::move(verdict_done_);
          client_.ReleaseCall(this);
          return done(*std::move(result));
        }
        failure.error = WithHttpPrefix(response->status, result.status());
      } else {
        absl::Status decoded = accept_(*response);
        // The caller has heard back and may have destroyed the client: touch nothing of it.
        if (decoded.ok()) {
          delete this;
          return;
        }
        failure.error = std::move(decoded);
      }
      // A garbled 200 verdict is most likely a proxy hiccup: worth asking again.
      failure.malformed_ok = kind_ != CallKind::kWrite && response->status == 200 &&
                             absl::IsInvalidArgument(failure.error);
      return Decide(failure);
    }
    if (response->status == 401) {
      client_.counters_->unauthorized.fetch_add(1, std::memory_order_relaxed);
      client_.budget_->tokens(lane_).Invalidate(token_);
    } else if (response->status == 429) {
      client_.counters_->rate_limited.fetch_add(1, std::memory_order_relaxed);
      failure.retry_after = RetryAfterFromHeaders(*response);
    }
    failure.error = StatusFromHttp(*response);
    Decide(failure);
  }

 private:
  // A fresh retry policy and attempt state for the call just prepared.
  void Arm() {
    policy_.emplace(
        internal::RetryOptions{client_.options_.max_attempts, client_.options_.retry_backoff,
                               client_.options_.max_backoff, client_.options_.rate_limit.max_wait},
        request_.idempotent,
        [jitter = client_.jitter_.get()](absl::Duration upper) { return jitter->Draw(upper); });
    lane_ = 0;
    holds_slot_ = false;
    last_token_error_ = absl::OkStatus();
  }

  // Ends the call with `status`: the call goes back to the free list before the caller hears.
  void Finish(absl::Status status) {
    if (kind_ == CallKind::kVerdict) {
      Callback done = std::move(verdict_done_);
      client_.ReleaseCall(this);
      return done(std::move(status));
    }
    Fail fail = std::move(fail_);
    client_.ReleaseCall(this);
    fail(std::move(status));
  }

  std::atomic<uint64_t>& KindCounter() const {
    switch (kind_) {
      case CallKind::kVerdict:
        return client_.counters_->verdict_requests;
      case CallKind::kGraphql:
        return client_.counters_->graphql_requests;
      case CallKind::kList:
        return client_.counters_->list_requests;
      case CallKind::kWrite:
        break;
    }
    return client_.counters_->write_requests;
  }

  void OnToken(absl::StatusOr<std::string> token) {
    if (!token.ok()) {
      client_.budget_->OnNotCounted(lane_, sent_at_);
      if (absl::IsUnauthenticated(token.status())) {
        // invalid_client: this credential will never work again; go on with the others.
        last_token_error_ = token.status();
        if (client_.budget_->Retire(lane_)) {
          client_.counters_->retired_credentials.fetch_add(1, std::memory_order_relaxed);
          client_.Notice(absl::StrCat("ctia-enrich: credential '", client_.budget_->label(lane_),
                                      "' retired: ", token.status().message()));
        }
        return Begin();
      }
      internal::AttemptFailure failure;
      failure.error = token.status();
      failure.request_sent = false;
      return Decide(failure);
    }
    token_ = *std::move(token);
    OnTokenReady(client_.clock_.Now());
  }

  // `token_` holds the token: put it in the request and send (or wait for a Gate slot).
  void OnTokenReady(absl::Time now) {
    if (auth_header_ < 0) {
      request_.headers.emplace_back("Authorization", std::string());
      auth_header_ = static_cast<int>(request_.headers.size()) - 1;
    }
    std::string& auth = request_.headers[static_cast<size_t>(auth_header_)].second;
    auth.assign("Bearer ");
    auth.append(token_);
    KindCounter().fetch_add(1, std::memory_order_relaxed);
    client_.counters_->requests.fetch_add(1, std::memory_order_relaxed);
    if (client_.gate_ != nullptr) {
      holds_slot_ = true;
      if (!client_.gate_->Acquire(this)) return;  // Gate::Release sends it
    }
    Send(now);
  }

  void Decide(const internal::AttemptFailure& failure) {
    const internal::RetryDecision decision = policy_->OnFailure(failure);
    switch (decision.action) {
      case internal::RetryAction::kFinish:
        return Finish(failure.error);
      case internal::RetryAction::kCheckpoint:
        client_.counters_->checkpoints.fetch_add(1, std::memory_order_relaxed);
        return Finish(CheckpointSignal(
            decision.delay, absl::StrCat(failure.error.message(), " from ",
                                         client_.pool_.origin().Origin())));
      case internal::RetryAction::kRefreshTokenAndRetry:
        client_.counters_->retries.fetch_add(1, std::memory_order_relaxed);
        return Begin();
      case internal::RetryAction::kRetry:
        client_.counters_->retries.fetch_add(1, std::memory_order_relaxed);
        timer_.expires_after(absl::ToChronoNanoseconds(decision.delay));
        // A cancelled wait still retries: the pool then answers Cancelled if it is shut down.
        timer_.async_wait([this](const boost::system::error_code&) { Begin(); });
        return;
    }
  }

  BeastCtiaClient& client_;
  CallKind kind_ = CallKind::kVerdict;
  HttpRequest request_;
  bool verdict_layout_ = false;  // request_ is a verdict GET: only target and token change
  int auth_header_ = -1;         // index of the Authorization header in request_, once added
  std::vector<int> accepted_;
  Accept accept_;               // all kinds but kVerdict
  Fail fail_;                   // all kinds but kVerdict
  Callback verdict_done_;       // kVerdict
  std::optional<internal::RetryPolicy> policy_;
  net::steady_timer timer_;
  std::string token_;
  int lane_ = 0;
  absl::Time sent_at_;        // when the budget counted the current attempt
  absl::Time send_started_;   // when the current attempt went to the pool
  bool holds_slot_ = false;   // the current attempt holds a Gate slot
  absl::Status last_token_error_;
};

void BeastCtiaClient::Gate::Release(Outcome outcome, absl::Duration latency, absl::Time now) {
  absl::InlinedVector<Call*, 4> ready;
  {
    absl::MutexLock lock(&mu_);
    const int before = limit_.limit();
    if (outcome == Outcome::kOverload) {
      limit_.OnOverload();
    } else if (outcome == Outcome::kAnswer) {
      limit_.OnSuccess(latency);
    }
    if (limit_.limit() < before) ++decreases_;
    --in_flight_;
    while (in_flight_ < limit_.limit() && !waiting_.empty()) {
      ++in_flight_;
      ready.push_back(waiting_.front());
      waiting_.pop_front();
    }
  }
  for (Call* call : ready) call->Send(now);
}

// Finished calls kept for reuse (beyond this many, finished calls are freed). The call freed
// last waits in `last`, taken without the lock: a steady load frees a call and takes one for the
// next lookup (often from the callback of the first) one after the other.
struct BeastCtiaClient::CallCache {
  static constexpr size_t kMaxKept = 1024;
  std::atomic<Call*> last{nullptr};
  absl::Mutex mu;
  std::vector<std::unique_ptr<Call>> free ABSL_GUARDED_BY(mu);
  ~CallCache() { delete last.load(std::memory_order_acquire); }
};

BeastCtiaClient::Call* BeastCtiaClient::AcquireCall() {
  if (Call* call = calls_->last.exchange(nullptr, std::memory_order_acquire)) return call;
  {
    absl::MutexLock lock(&calls_->mu);
    if (!calls_->free.empty()) {
      Call* call = calls_->free.back().release();
      calls_->free.pop_back();
      return call;
    }
  }
  return new Call(*this);
}

void BeastCtiaClient::ReleaseCall(Call* call) {
  call->Clear();
  Call* empty = nullptr;
  if (calls_->last.compare_exchange_strong(empty, call, std::memory_order_release,
                                           std::memory_order_relaxed)) {
    return;
  }
  std::unique_ptr<Call> owned(call);
  absl::MutexLock lock(&calls_->mu);
  if (calls_->free.size() < CallCache::kMaxKept) calls_->free.push_back(std::move(owned));
}

BeastCtiaClient::BeastCtiaClient(ConnectionPool& ctia_pool, TokenSource& tokens,
                                 CtiaClientOptions options)
    : BeastCtiaClient(ctia_pool, std::vector<CredentialLane>{{&tokens, "default", "default"}},
                      std::move(options)) {}

BeastCtiaClient::BeastCtiaClient(ConnectionPool& ctia_pool, std::vector<CredentialLane> lanes,
                                 CtiaClientOptions options)
    : pool_(ctia_pool),
      options_(std::move(options)),
      clock_(options_.clock != nullptr ? *options_.clock : schema::SystemClock::Instance()),
      budget_(std::make_unique<Budget>(std::move(lanes), options_.rate_limit)),
      gate_(options_.max_concurrency > 0
                ? std::make_unique<Gate>(options_.max_concurrency,
                                         options_.concurrency_latency_floor)
                : nullptr),
      counters_(std::make_shared<AtomicCounters>()),
      calls_(std::make_unique<CallCache>()),
      jitter_(std::make_shared<Jitter>(options_.rng_seed)),
      linger_(std::make_shared<LingerTimer>(pool_.executor())) {
  const size_t batch_size = std::min(options_.batch_size, kMaxVerdictBatch);
  if (batch_size > 1) {
    batcher_ = std::make_unique<internal::VerdictBatcher>(
        batch_size, options_.batch_linger,
        [linger = linger_](absl::Duration delay, std::function<void()> fn) {
          absl::MutexLock lock(&linger->mu);
          linger->timer.expires_after(absl::ToChronoNanoseconds(delay));  // cancels a wait
          linger->timer.async_wait([fn = std::move(fn)](const boost::system::error_code& ec) {
            if (!ec) fn();
          });
        },
        [linger = linger_] {
          absl::MutexLock lock(&linger->mu);
          linger->timer.cancel();
        },
        [this](std::vector<internal::VerdictBatcher::Lookup> lookups) {
          std::vector<schema::Observable> batch;
          batch.reserve(lookups.size());
          for (auto& l : lookups) batch.push_back(std::move(l.observable));
          auto shared = std::make_shared<std::vector<internal::VerdictBatcher::Lookup>>(
              std::move(lookups));
          Verdicts(std::move(batch),
                   [shared](std::vector<absl::StatusOr<schema::VerdictResult>> results) {
                     for (size_t i = 0; i < results.size(); ++i) {
                       (*shared)[i].done(std::move(results[i]));
                     }
                   });
        });
  }
}

BeastCtiaClient::~BeastCtiaClient() {
  // A pending linger wait would keep the io threads busy after the client is gone.
  absl::MutexLock lock(&linger_->mu);
  linger_->timer.cancel();
}

void BeastCtiaClient::Notice(absl::string_view text) const {
  if (options_.notice) {
    options_.notice(text);
  } else {
    std::fprintf(stderr, "%.*s\n", static_cast<int>(text.size()), text.data());
  }
}

void BeastCtiaClient::CountAnswer(int status) {
  counters_->answers.fetch_add(1, std::memory_order_relaxed);
  auto& bucket = status >= 200 && status < 300   ? counters_->status_2xx
                 : status >= 400 && status < 500 ? counters_->status_4xx
                 : status >= 500 && status < 600 ? counters_->status_5xx
                                                 : counters_->status_other;
  bucket.fetch_add(1, std::memory_order_relaxed);
}

const LatencyHistogram& BeastCtiaClient::latency() const { return latency_; }

int64_t BeastCtiaClient::GroupLimit(absl::string_view group) const {
  return budget_->Limit(group);
}

void BeastCtiaClient::LookupVerdict(const schema::Observable& observable, Callback done) {
  if (batcher_ != nullptr && !graphql_off_.load(std::memory_order_relaxed)) {
    return batcher_->Add(observable, std::move(done));
  }
  LookupVerdictRest(observable, std::move(done));
}

void BeastCtiaClient::Verdicts(std::vector<schema::Observable> batch, VerdictsCallback done) {
  if (batch.empty()) {
    net::post(pool_.executor(), [done = std::move(done)] { done({}); });
    return;
  }
  // The common case, a batch that fits one GraphQL request whole: its answer is the result, in
  // batch order, with no gathering.
  if (batch.size() >= 2 && batch.size() <= kMaxVerdictBatch &&
      !graphql_off_.load(std::memory_order_relaxed) &&
      std::all_of(batch.begin(), batch.end(), [](const schema::Observable& o) {
        return schema::IsKnownObservableType(o.type);
      })) {
    return SendGraphql(std::move(batch), std::move(done));
  }
  auto gather = std::make_shared<VerdictsGather>(batch.size(), std::move(done));
  std::vector<size_t> graphql;  // indices sent through GraphQL
  if (!graphql_off_.load(std::memory_order_relaxed)) {
    for (size_t i = 0; i < batch.size(); ++i) {
      if (schema::IsKnownObservableType(batch[i].type)) graphql.push_back(i);
    }
    if (graphql.size() < 2) graphql.clear();  // one lookup: a GET costs the same budget
  }
  std::vector<bool> via_graphql(batch.size(), false);
  for (size_t i : graphql) via_graphql[i] = true;
  for (size_t at = 0; at < graphql.size(); at += kMaxVerdictBatch) {
    const size_t end = std::min(graphql.size(), at + kMaxVerdictBatch);
    std::vector<size_t> indices(graphql.begin() + static_cast<long>(at),
                                graphql.begin() + static_cast<long>(end));
    std::vector<schema::Observable> part;
    part.reserve(indices.size());
    for (size_t i : indices) part.push_back(batch[i]);
    SendGraphql(std::move(part),
                [gather, indices](std::vector<absl::StatusOr<schema::VerdictResult>> results) {
                  for (size_t j = 0; j < indices.size(); ++j) {
                    gather->Set(indices[j], std::move(results[j]));
                  }
                });
  }
  for (size_t i = 0; i < batch.size(); ++i) {
    if (via_graphql[i]) continue;
    LookupVerdictRest(batch[i], [gather, i](absl::StatusOr<schema::VerdictResult> result) {
      gather->Set(i, std::move(result));
    });
  }
}

void BeastCtiaClient::GraphqlUnsupported(absl::string_view why) {
  if (graphql_off_.exchange(true)) return;
  Notice(absl::StrCat("ctia-enrich: ", pool_.origin().Origin(), pool_.origin().path,
                      "/ctia/graphql is not usable (", why,
                      "): verdicts go through REST for the rest of the run"));
}

void BeastCtiaClient::SendGraphql(std::vector<schema::Observable> batch, VerdictsCallback done) {
  HttpRequest request;
  request.method = "POST";
  request.target = absl::StrCat(pool_.origin().path, "/ctia/graphql");
  request.headers = {{"Accept", "application/json"}, {"Content-Type", "application/json"}};
  request.body = internal::BuildVerdictsRequest(batch);
  request.idempotent = true;  // a query: asking twice changes nothing
  auto shared_batch = std::make_shared<std::vector<schema::Observable>>(std::move(batch));
  auto shared_done = std::make_shared<VerdictsCallback>(std::move(done));
  // Not served, not allowed, or not understood: this server has no usable GraphQL (§9.4).
  std::vector<int> accepted = {200, 400, 403, 404, 405, 501};
  Call* call = AcquireCall();
  call->Prepare(
      CallKind::kGraphql, std::move(request), std::move(accepted),
      [this, shared_batch, shared_done](const HttpResponse& response) -> absl::Status {
        auto fall_back = [&](absl::string_view why) {
          GraphqlUnsupported(why);
          Verdicts(*shared_batch, *shared_done);  // graphql_off_ is set: all REST
          return absl::OkStatus();
        };
        if (response.status != 200) {
          return fall_back(StatusFromHttp(response).message());
        }
        auto results = internal::DecodeVerdictsAnswer(response.body, shared_batch->size());
        if (!results.ok()) {
          if (absl::IsFailedPrecondition(results.status())) {
            return fall_back(results.status().message());
          }
          return WithHttpPrefix(response.status, results.status());
        }
        counters_->graphql_verdicts.fetch_add(shared_batch->size(), std::memory_order_relaxed);
        (*shared_done)(*std::move(results));
        return absl::OkStatus();
      },
      [shared_batch, shared_done](absl::Status status) {
        (*shared_done)(std::vector<absl::StatusOr<schema::VerdictResult>>(shared_batch->size(),
                                                                          status));
      });
  call->Begin();
}

void BeastCtiaClient::LookupVerdictRest(const schema::Observable& observable, Callback done) {
  Call* call = AcquireCall();
  call->PrepareVerdict(pool_.origin().path, observable, std::move(done));
  call->Begin();
}

void BeastCtiaClient::BulkCreateJudgements(std::vector<schema::Judgement> judgements,
                                           BulkCallback done) {
  if (judgements.empty() || judgements.size() > kMaxBulkEntities) {
    absl::StatusOr<std::vector<absl::StatusOr<std::string>>> result;
    if (judgements.empty()) {
      result = std::vector<absl::StatusOr<std::string>>{};
    } else {
      result = absl::InvalidArgumentError(absl::StrCat(
          "bulk of ", judgements.size(), " judgements exceeds CTIA's limit of ", kMaxBulkEntities));
    }
    net::post(pool_.executor(), [done = std::move(done), result = std::move(result)]() mutable {
      done(std::move(result));
    });
    return;
  }
  rapidjson::StringBuffer buf;
  rapidjson::Writer<rapidjson::StringBuffer> w(buf);
  w.StartObject();
  w.Key("judgements");
  w.StartArray();
  for (const schema::Judgement& j : judgements) schema::WriteJudgementJson(j, false, w);
  w.EndArray();
  w.EndObject();

  HttpRequest request;
  request.method = "POST";
  request.target = absl::StrCat(pool_.origin().path, "/ctia/bulk");
  request.headers = {{"Accept", "application/json"}, {"Content-Type", "application/json"}};
  request.body.assign(buf.GetString(), buf.GetSize());
  request.idempotent = false;  // a resent bulk creates every judgement twice
  const size_t count = judgements.size();
  auto shared_done = std::make_shared<BulkCallback>(std::move(done));
  Call* call = AcquireCall();
  call->Prepare(
      CallKind::kWrite, std::move(request), std::vector<int>{200, 201},
      [shared_done, count](const HttpResponse& response) -> absl::Status {
        auto items = DecodeBulkAnswer(response.body, count);
        if (!items.ok()) return WithHttpPrefix(response.status, items.status());
        (*shared_done)(*std::move(items));
        return absl::OkStatus();
      },
      [shared_done](absl::Status status) { (*shared_done)(std::move(status)); });
  call->Begin();
}

// The pages of one Judgements() call: one Call per page, the next started from the answer of
// the previous (so one page is outstanding at a time and no lock is needed).
class BeastCtiaClient::JudgementPager : public std::enable_shared_from_this<JudgementPager> {
 public:
  JudgementPager(BeastCtiaClient& client, std::string path, JudgementsOptions options,
                 JudgementsCallback done)
      : client_(client), path_(std::move(path)), options_(options), done_(std::move(done)) {}

  void Fetch(const std::string& query) {
    ++pages_;
    HttpRequest request;
    request.method = "GET";
    request.target = absl::StrCat(path_, "?", query);
    request.headers = {{"Accept", "application/json"}};
    request.idempotent = true;
    Call* call = client_.AcquireCall();
    call->Prepare(
        CallKind::kList, std::move(request), std::vector<int>{200},
        [self = shared_from_this(), query](const HttpResponse& response) -> absl::Status {
          return self->OnPage(query, response);
        },
        [self = shared_from_this()](absl::Status status) { self->done_(std::move(status)); });
    call->Begin();
  }

 private:
  // Decodes one page; a garbled page returns InvalidArgument and is asked again (the Call
  // retries a malformed 200). Otherwise the pager goes on or finishes; the Call is done.
  absl::Status OnPage(const std::string& query, const HttpResponse& response) {
    rapidjson::Document doc;
    doc.Parse(response.body.data(), response.body.size());
    if (doc.HasParseError() || !doc.IsArray()) {
      return absl::InvalidArgumentError("http 200: malformed judgements page: not a JSON array");
    }
    std::vector<schema::Judgement> page;
    page.reserve(doc.Size());
    for (const rapidjson::Value& item : doc.GetArray()) {
      rapidjson::StringBuffer buf;
      rapidjson::Writer<rapidjson::StringBuffer> w(buf);
      item.Accept(w);
      absl::StatusOr<schema::Judgement> j =
          schema::DecodeStoredJudgement(absl::string_view(buf.GetString(), buf.GetSize()));
      if (!j.ok()) return WithHttpPrefix(200, j.status());
      page.push_back(*std::move(j));
    }
    for (schema::Judgement& j : page) judgements_.push_back(std::move(j));

    // §4: X-Next is the query string of the next page, to append after '?' to the same path.
    const std::string next(absl::StripAsciiWhitespace(response.Header("x-next")));
    if (next.empty()) {
      done_(std::move(judgements_));
      return absl::OkStatus();
    }
    for (char c : next) {
      if (static_cast<unsigned char>(c) <= 0x20 || c == '#' || c == 0x7f) {
        done_(absl::InvalidArgumentError("X-Next holds characters a request line cannot carry"));
        return absl::OkStatus();
      }
    }
    if (next == query || page.empty()) {
      done_(absl::InvalidArgumentError(
          absl::StrCat("the judgements list does not move on (X-Next: ", next, ")")));
      return absl::OkStatus();
    }
    if (pages_ >= options_.max_pages) {
      done_(absl::InvalidArgumentError(
          absl::StrCat("the judgements list has more than ", options_.max_pages, " pages")));
      return absl::OkStatus();
    }
    Fetch(next);
    return absl::OkStatus();
  }

  BeastCtiaClient& client_;
  const std::string path_;
  const JudgementsOptions options_;
  const JudgementsCallback done_;
  std::vector<schema::Judgement> judgements_;
  int pages_ = 0;
};

void BeastCtiaClient::Judgements(const schema::Observable& observable, JudgementsOptions options,
                                 JudgementsCallback done) {
  const std::string path = absl::StrCat(
      pool_.origin().path, "/ctia/", schema::PercentEncodePathSegment(observable.type), "/",
      schema::PercentEncodePathSegment(observable.value), "/judgements");
  auto pager = std::make_shared<JudgementPager>(*this, path, options, std::move(done));
  pager->Fetch(absl::StrCat("limit=", std::max(options.page_size, 1)));
}

void BeastCtiaClient::CreateJudgement(const schema::Judgement& judgement, JudgementCallback done) {
  HttpRequest request;
  request.method = "POST";
  request.target = absl::StrCat(pool_.origin().path, "/ctia/judgement");
  request.headers = {{"Accept", "application/json"}, {"Content-Type", "application/json"}};
  request.body = schema::EncodeJudgement(judgement);
  request.idempotent = false;
  auto shared_done = std::make_shared<JudgementCallback>(std::move(done));
  Call* call = AcquireCall();
  call->Prepare(
      CallKind::kWrite, std::move(request), std::vector<int>{200, 201},
      [shared_done](const HttpResponse& response) -> absl::Status {
        absl::StatusOr<schema::Judgement> stored = schema::DecodeStoredJudgement(response.body);
        if (!stored.ok()) return WithHttpPrefix(response.status, stored.status());
        (*shared_done)(*std::move(stored));
        return absl::OkStatus();
      },
      [shared_done](absl::Status status) { (*shared_done)(std::move(status)); });
  call->Begin();
}

CtiaClientCounters BeastCtiaClient::Snapshot() const {
  CtiaClientCounters c;
  auto load = [](const std::atomic<uint64_t>& a) { return a.load(std::memory_order_relaxed); };
  c.requests = load(counters_->requests);
  c.answers = load(counters_->answers);
  c.status_2xx = load(counters_->status_2xx);
  c.status_4xx = load(counters_->status_4xx);
  c.status_5xx = load(counters_->status_5xx);
  c.status_other = load(counters_->status_other);
  c.transport_errors = load(counters_->transport_errors);
  c.budget_waits = load(counters_->budget_waits);
  c.checkpoints = load(counters_->checkpoints);
  c.retired_credentials = load(counters_->retired_credentials);
  c.verdict_requests = counters_->verdict_requests.load(std::memory_order_relaxed);
  c.retries = counters_->retries.load(std::memory_order_relaxed);
  c.unauthorized = counters_->unauthorized.load(std::memory_order_relaxed);
  c.rate_limited = counters_->rate_limited.load(std::memory_order_relaxed);
  c.write_requests = counters_->write_requests.load(std::memory_order_relaxed);
  c.graphql_requests = load(counters_->graphql_requests);
  c.list_requests = load(counters_->list_requests);
  c.graphql_verdicts = load(counters_->graphql_verdicts);
  c.graphql_unsupported = graphql_off_.load(std::memory_order_relaxed);
  if (gate_ != nullptr) gate_->Fill(c);
  return c;
}

}  // namespace enrich::transport
