#include "transport/internal/ctia_call.h"

#include "schema/path_encoding.h"
#include "transport/ctia_status.h"
#include "transport/internal/retry_policy.h"
#include "transport/internal/verdict_answer.h"
#include "transport/shared_quota.h"

#include <algorithm>
#include <cstdio>
#include <optional>
#include <string>
#include <unordered_set>
#include <utility>

#include "absl/strings/str_cat.h"
#include "boost/asio/post.hpp"
#include "boost/asio/steady_timer.hpp"

namespace enrich::transport::internal {

namespace net = boost::asio;

// How close to its end a token rejected with 401 counts as expired in flight (clock skew).
constexpr absl::Duration kExpirySlack = absl::Milliseconds(500);

// One logical call: budget → token → send → classify the answer → ask the RetryPolicy → retry
// or finish. At most one step is outstanding at a time, so the members need no lock; each step
// runs on an io thread (or inline in the token source's callback). Calls are recycled
// (AcquireCall/ReleaseCall): a finished call keeps its request's strings and its timer for the
// next one, so a verdict lookup allocates nothing of its own. A call goes back before its
// caller hears the outcome, except one whose `accept` delivered the outcome itself: that one is
// freed without touching the client (which its caller may have destroyed meanwhile). Handlers
// hold a plain pointer: a call lives until it has finished.
//
// Hedging (CtiaClientOptions::hedge): the HedgeWatch offers the call a delay; an attempt
// unanswered that long is sent once more through `hedge_` (a second HttpExchange over the same
// request, never pipelined), from the watch's thread. The attempt then has two exchanges in
// the pool: the first to complete decides (its outcome is kept, the other is abandoned), and
// the call goes on only when both have completed, so request_ never changes under a request
// in flight and a late answer never meets the next occupant of a recycled call. `flight_`
// arbitrates between the two completions and the watch without a lock (see kCount...).
class Call final : public HttpExchange, private GateWaiter, private Hedgeable {
 public:
  using Accept = CallContext::Accept;
  using Fail = CallContext::Fail;

  explicit Call(CallContext& ctx);

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
                      VerdictSource::Callback done) {
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

  // The call is not looked at by the hedge watch any more (it is about to be freed).
  void LeaveWatch() {
    if (ctx_.hedges != nullptr) ctx_.hedges->Remove(this);
  }
  void JoinWatch() {
    if (ctx_.hedges != nullptr) ctx_.hedges->Add(this);
  }

  void Begin() {
    if (ctx_.stopped.load(std::memory_order_acquire)) return Finish(NotSent());
    const absl::Time now = ctx_.clock.Now();
    CredentialBudget::Pick pick = ctx_.budget.Take(now);
    if (pick.lane < 0) {
      return Finish(last_token_error_.ok()
                        ? absl::UnauthenticatedError("every CTIA credential has been retired")
                        : last_token_error_);
    }
    switch (pick.permit.kind) {
      case RatePermit::Kind::kGo:
        lane_ = pick.lane;
        sent_at_ = now;
        group_ = pick.group;
        if (ctx_.options.shared_quota != nullptr) return AskSharedQuota();
        return AfterBudget(now);
      case RatePermit::Kind::kWait:
        ctx_.counters.budget_waits.fetch_add(1, std::memory_order_relaxed);
        // The calls told to wait for the end of one pause (or the pace's next send) must not
        // all ask again in the same instant: up to half the wait again, drawn per call.
        return WaitThenBegin(pick.permit.wait + ctx_.jitter.Draw(pick.permit.wait / 2));
      case RatePermit::Kind::kCheckpoint:
        ctx_.counters.checkpoints.fetch_add(1, std::memory_order_relaxed);
        return Finish(CheckpointSignal(
            pick.permit.wait,
            absl::StrCat("the request budget of group '", pick.group, "' is spent")));
    }
  }

  // Sends the request now (the gate calls it for a call that waited for a slot).
  void SendNow(absl::Time now) override {
    if (waited_for_slot_) {
      waited_for_slot_ = false;
      // The budget was taken before the wait: a 429 meanwhile paused the group, and then this
      // request must not go out now. The slot goes back from a handler of its own (giving it
      // back sends the next waiter, which may give its own back, and so on: no recursion).
      // A stop meanwhile (StopSending) ends it the same way: Begin() then finishes it unsent.
      const bool stopped = ctx_.stopped.load(std::memory_order_acquire);
      if (stopped) ctx_.budget.OnNotCounted(lane_, sent_at_);
      if (stopped || !ctx_.budget.Reconfirm(lane_, sent_at_, now)) {
        GiveBackSharedGrant();
        net::post(ctx_.pool.executor(), [this] {
          holds_slot_ = false;
          ctx_.gate->Release(ConcurrencyGate::Outcome::kUnused, absl::ZeroDuration(),
                             ctx_.clock.Now());
          Begin();
        });
        return;
      }
      sent_at_ = now;
      // The shared grant too is logged again now: CTIA counts the request when it arrives.
      if (!quota_ticket_.empty()) ctx_.options.shared_quota->Restamp(group_, quota_ticket_);
      // The token was taken before the wait; a renewal since then put a newer one in the cache.
      if (ctx_.budget.tokens(lane_).CachedToken(&token_)) SetAuthorization();
    }
    KindCounter().fetch_add(1, std::memory_order_relaxed);
    ctx_.counters.requests.fetch_add(1, std::memory_order_relaxed);
    send_started_ = now;
    hedge_won_ = false;
    if (ctx_.hedges != nullptr) {
      // What the watch reads, published by the store of flight_ below.
      watch_sent_ns_.store(absl::ToUnixNanos(now), std::memory_order_relaxed);
      watch_lane_.store(lane_, std::memory_order_relaxed);
      const bool hedgeable = kind_ != CallKind::kWrite && request_.idempotent;
      flight_.store((++attempt_ << kAttemptShift) | 1 | (hedgeable ? kHedgeable : 0),
                    std::memory_order_seq_cst);
      ctx_.hedges->Poke();
    }
    ctx_.pool.Start(this);
  }

  const HttpRequest& request() const override { return request_; }

  // StopSending(): the timer of a call in WaitThenBegin() fires now (under the waits' lock).
  void CancelTimer() { timer_.cancel(); }
  // StopSending(): a call the Gate held back ends unsent (its request is counted only once
  // sent, in SendNow; its budget permit goes back).
  static void EndWaiting(GateWaiter* waiter) {
    Call* call = static_cast<Call*>(waiter);
    call->holds_slot_ = false;
    call->waited_for_slot_ = false;
    call->ctx_.budget.OnNotCounted(call->lane_, call->sent_at_);
    call->GiveBackSharedGrant();
    call->Finish(NotSent());
  }

  // The first send of the attempt completed.
  void Complete(const absl::Status& status, HttpResponse* response) override {
    ExchangeDone(/*hedge=*/false, status, response);
  }

  // From the hedge watch (under its lock): sends the attempt again if it is `late`.
  bool MaybeHedge(absl::Time now, absl::Duration late) override {
    uint64_t flight = flight_.load(std::memory_order_seq_cst);
    const bool in_flight = (flight & kCountMask) != 0 && (flight & kDecided) == 0;
    if ((flight & (kCountMask | kDecided | kHedgeable)) != (1 | kHedgeable)) return in_flight;
    // A stopping run sends nothing new, a second send of a late answer included.
    if (ctx_.stopped.load(std::memory_order_acquire)) return true;
    if (now - absl::FromUnixNanos(watch_sent_ns_.load(std::memory_order_relaxed)) < late) {
      return true;
    }
    const int lane = watch_lane_.load(std::memory_order_relaxed);
    // A request the server counts: it takes a permit of the same group (its token's).
    if (ctx_.budget.TakeLane(lane, now).kind != RatePermit::Kind::kGo) return true;
    if (!flight_.compare_exchange_strong(flight, flight + 1, std::memory_order_acq_rel)) {
      ctx_.budget.OnNotCounted(lane, now);  // answered (or sent again) meanwhile
      return true;
    }
    // The attempt cannot go on before the hedge completes: its members hold still.
    hedge_started_ = now;
    KindCounter().fetch_add(1, std::memory_order_relaxed);
    ctx_.counters.requests.fetch_add(1, std::memory_order_relaxed);
    ctx_.counters.hedges.fetch_add(1, std::memory_order_relaxed);
    ctx_.pool.Start(&hedge_);
    return true;
  }

  // One of the attempt's exchanges completed (`hedge`: the second send).
  void ExchangeDone(bool hedge, const absl::Status& status, HttpResponse* response) {
    if (ctx_.hedges == nullptr) return Answered(ctx_.clock.Now(), status, response);
    uint64_t flight = flight_.fetch_or(kDecided, std::memory_order_acq_rel);
    if ((flight & (kCountMask | kDecided)) == 1) {
      return Answered(ctx_.clock.Now(), status, response);  // not hedged: the common case
    }
    if ((flight & kDecided) == 0) {
      // First of two: its outcome decides; the other is not wanted any more.
      hedge_won_ = hedge;
      won_at_ = ctx_.clock.Now();
      won_status_ = status;
      if (response != nullptr) won_answer_ = std::move(*response);
      ctx_.pool.Abandon(hedge ? static_cast<HttpExchange*>(this) : &hedge_);
    }
    flight = flight_.fetch_sub(1, std::memory_order_acq_rel);
    if ((flight & kCountMask) != 1) return;  // the other is still in the pool
    const absl::Status won = std::move(won_status_);
    Answered(won_at_, won, won.ok() ? &won_answer_ : nullptr);
  }

  // The attempt's answer (or transport error) at `now`: classify it, then finish or retry.
  void Answered(absl::Time now, const absl::Status& status, HttpResponse* response) {
    const absl::Time sent = hedge_won_ ? hedge_started_ : send_started_;
    ctx_.latency.Record(now - sent);
    if (holds_slot_) {
      holds_slot_ = false;
      // 429 and 5xx are the server saying "fewer"; any other answer below 500 carries a latency
      // that says how long the server's queue is. Failures without an answer say neither.
      const ConcurrencyGate::Outcome outcome =
          !status.ok()              ? ConcurrencyGate::Outcome::kOther
          : response->status == 429 ? ConcurrencyGate::Outcome::kOverload
          : response->status < 500  ? ConcurrencyGate::Outcome::kAnswer
                                    : ConcurrencyGate::Outcome::kError;
      ctx_.gate->Release(outcome, now - sent, now);
    }
    internal::AttemptFailure failure;
    if (!status.ok()) {
      // The request may have reached CTIA's limiter: it stays counted (conservative).
      quota_ticket_.clear();
      ctx_.counters.transport_errors.fetch_add(1, std::memory_order_relaxed);
      failure.error = status;
      return Decide(failure);
    }
    ctx_.CountAnswer(response->status);
    ctx_.budget.OnResponse(lane_, now, hedge_won_ ? hedge_started_ : sent_at_, *response);
    TellSharedQuota(*response);
    failure.http_status = response->status;
    if (std::find(accepted_.begin(), accepted_.end(), response->status) != accepted_.end()) {
      if (kind_ == CallKind::kVerdict) {
        absl::StatusOr<schema::VerdictResult> result =
            internal::DecodeVerdictAnswer(response->status, response->body);
        if (result.ok()) {
          VerdictSource::Callback done = std::move(verdict_done_);
          ctx_.ReleaseCall(this);
          return done(*std::move(result));
        }
        failure.error = WithHttpPrefix(response->status, result.status());
      } else {
        // Once `accept` delivered, the caller may destroy the client: the call leaves the
        // watch before, and comes back if it goes on.
        LeaveWatch();
        absl::Status decoded = accept_(*response);
        // The caller has heard back and may have destroyed the client: touch nothing of it.
        if (decoded.ok()) {
          delete this;
          return;
        }
        JoinWatch();
        failure.error = std::move(decoded);
      }
      // A garbled 200 verdict is most likely a proxy hiccup: worth asking again.
      failure.malformed_ok = kind_ != CallKind::kWrite && response->status == 200 &&
                             absl::IsInvalidArgument(failure.error);
      return Decide(failure);
    }
    if (response->status == 401) {
      ctx_.counters.unauthorized.fetch_add(1, std::memory_order_relaxed);
      TokenSource& tokens = ctx_.budget.tokens(lane_);
      // The server's clock may run a little ahead of ours: a token this close to its end
      // counts as expired on the way.
      failure.token_expired = now + kExpirySlack >= tokens.ExpiresAt(token_);
      tokens.Invalidate(token_);
    } else if (response->status == 429) {
      ctx_.counters.rate_limited.fetch_add(1, std::memory_order_relaxed);
      failure.retry_after = RetryAfterFromHeaders(*response);
    }
    failure.error = StatusFromHttp(*response);
    Decide(failure);
  }

 private:
  // A fresh retry policy and attempt state for the call just prepared.
  void Arm() {
    policy_.emplace(
        internal::RetryOptions{ctx_.options.max_attempts, ctx_.options.retry_backoff,
                               ctx_.options.max_backoff, ctx_.options.rate_limit.max_wait},
        request_.idempotent,
        [jitter = &ctx_.jitter](absl::Duration upper) { return jitter->Draw(upper); });
    lane_ = 0;
    quota_ticket_.clear();
    holds_slot_ = false;
    waited_for_slot_ = false;
    last_token_error_ = absl::OkStatus();
  }

  // The budget counted the attempt (lane_, sent_at_): on to its token.
  void AfterBudget(absl::Time now) {
    TokenSource& tokens = ctx_.budget.tokens(lane_);
    if (tokens.CachedToken(&token_)) return OnTokenReady(now);
    tokens.GetToken([this](absl::StatusOr<std::string> token) { OnToken(std::move(token)); });
  }

  // The quota shared with other processes (run --redis), after the client's own budget: a grant
  // goes on to the token; told to wait, the attempt gives its own permit back and asks both
  // again after the wait. The answer comes back to the client's io threads.
  void AskSharedQuota() {
    ctx_.options.shared_quota->Acquire(
        group_, ctx_.budget.Limit(group_), ctx_.options.rate_limit.window,
        [this](SharedQuota::Grant grant) {
          net::post(ctx_.pool.executor(), [this, grant = std::move(grant)]() mutable {
            OnSharedGrant(std::move(grant));
          });
        });
  }
  void OnSharedGrant(SharedQuota::Grant grant) {
    if (!grant.go) {
      if (!quota_waiting_) {
        quota_waiting_ = true;
        ctx_.quota_waiting.fetch_add(1, std::memory_order_acq_rel);
      }
      ctx_.budget.OnNotCounted(lane_, sent_at_);
      ctx_.counters.budget_waits.fetch_add(1, std::memory_order_relaxed);
      // Redis decides exactly who goes next: a little jitter spreads the calls told the same
      // instant, short enough not to leave the quota unused.
      return WaitThenBegin(grant.wait +
                           ctx_.jitter.Draw(std::min(grant.wait / 8, absl::Milliseconds(50))));
    }
    quota_ticket_ = std::move(grant.ticket);
    LeaveQuotaWait();
    AfterBudget(ctx_.clock.Now());
  }
  // The call waits for the shared quota no more (granted, or ending): the last one to leave
  // runs a flush DeferFlush() held back.
  void LeaveQuotaWait() {
    if (!quota_waiting_) return;
    quota_waiting_ = false;
    if (ctx_.quota_waiting.fetch_sub(1, std::memory_order_acq_rel) == 1 &&
        ctx_.flush_deferred.exchange(false, std::memory_order_acq_rel) && ctx_.flush_now) {
      ctx_.flush_now();
    }
  }
  // The attempt's shared grant goes back: its request never reached CTIA.
  void GiveBackSharedGrant() {
    if (quota_ticket_.empty()) return;
    ctx_.options.shared_quota->Uncount(group_, quota_ticket_);
    quota_ticket_.clear();
  }
  // CTIA's answer to the attempt, for the shared quota: a 429 pauses the group for every process
  // (Retry-After, else one window / limit, as RateLimiter does; 1 s while the limit is unknown)
  // and its grant goes back (CTIA did not count it); any other answer logs the grant again at
  // its answer's time.
  void TellSharedQuota(const HttpResponse& response) {
    SharedQuota* quota = ctx_.options.shared_quota;
    if (quota == nullptr) return;
    const std::string ticket = std::move(quota_ticket_);
    quota_ticket_.clear();
    if (response.status == 429) {
      const int64_t limit = ctx_.budget.Limit(group_);
      absl::Duration pause =
          limit > 0 ? ctx_.options.rate_limit.window / limit : absl::Seconds(1);
      if (std::optional<absl::Duration> after = RetryAfterFromHeaders(response)) pause = *after;
      quota->Pause(group_, pause);
      if (!ticket.empty()) quota->Uncount(group_, ticket);
    } else if (!ticket.empty()) {
      quota->Restamp(group_, ticket);
    }
  }

  static absl::Status NotSent() {
    return absl::CancelledError("not sent: the run is stopping");
  }

  // Begin() after `delay` (a budget wait, a retry backoff), unless StopSending() comes first:
  // then at once, and Begin() ends the call.
  void WaitThenBegin(absl::Duration delay);

  // Ends the call with `status`: the call goes back to the free list before the caller hears.
  void Finish(absl::Status status) {
    LeaveQuotaWait();
    if (kind_ == CallKind::kVerdict) {
      VerdictSource::Callback done = std::move(verdict_done_);
      ctx_.ReleaseCall(this);
      return done(std::move(status));
    }
    Fail fail = std::move(fail_);
    ctx_.ReleaseCall(this);
    fail(std::move(status));
  }

  std::atomic<uint64_t>& KindCounter() const {
    switch (kind_) {
      case CallKind::kVerdict:
        return ctx_.counters.verdict_requests;
      case CallKind::kGraphql:
        return ctx_.counters.graphql_requests;
      case CallKind::kList:
        return ctx_.counters.list_requests;
      case CallKind::kJudgementRead:
        return ctx_.counters.judgement_reads;
      case CallKind::kWrite:
        break;
    }
    return ctx_.counters.write_requests;
  }

  void OnToken(absl::StatusOr<std::string> token) {
    if (!token.ok()) {
      ctx_.budget.OnNotCounted(lane_, sent_at_);
      GiveBackSharedGrant();
      if (absl::IsUnauthenticated(token.status())) {
        // invalid_client: this credential will never work again; go on with the others.
        last_token_error_ = token.status();
        if (ctx_.budget.Retire(lane_)) {
          ctx_.counters.retired_credentials.fetch_add(1, std::memory_order_relaxed);
          ctx_.Notice(absl::StrCat("ctia-enrich: credential '", ctx_.budget.label(lane_),
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
    OnTokenReady(ctx_.clock.Now());
  }

  // `token_` holds the token: put it in the request and send (or wait for a Gate slot).
  void OnTokenReady(absl::Time now) {
    if (ctx_.stopped.load(std::memory_order_acquire)) {
      ctx_.budget.OnNotCounted(lane_, sent_at_);
      GiveBackSharedGrant();
      return Finish(NotSent());
    }
    SetAuthorization();
    if (ctx_.gate != nullptr) {
      holds_slot_ = true;
      if (!ctx_.gate->Acquire(this)) {
        waited_for_slot_ = true;
        return;  // Gate::Release sends it
      }
    }
    SendNow(now);
  }

  // Puts `token_` in the request's Authorization header (added on first use).
  void SetAuthorization() {
    if (auth_header_ < 0) {
      request_.headers.emplace_back("Authorization", std::string());
      auth_header_ = static_cast<int>(request_.headers.size()) - 1;
    }
    std::string& auth = request_.headers[static_cast<size_t>(auth_header_)].second;
    auth.assign("Bearer ");
    auth.append(token_);
  }

  void Decide(const internal::AttemptFailure& failure) {
    const internal::RetryDecision decision = policy_->OnFailure(failure);
    switch (decision.action) {
      case internal::RetryAction::kFinish:
        return Finish(failure.error);
      case internal::RetryAction::kCheckpoint:
        ctx_.counters.checkpoints.fetch_add(1, std::memory_order_relaxed);
        return Finish(CheckpointSignal(
            decision.delay,
            absl::StrCat(failure.error.message(), " from ", ctx_.pool.origin().Origin())));
      case internal::RetryAction::kRefreshTokenAndRetry:
        ctx_.counters.retries.fetch_add(1, std::memory_order_relaxed);
        return Begin();
      case internal::RetryAction::kRetry:
        ctx_.counters.retries.fetch_add(1, std::memory_order_relaxed);
        return WaitThenBegin(decision.delay);
    }
  }

  CallContext& ctx_;
  CallKind kind_ = CallKind::kVerdict;
  HttpRequest request_;
  bool verdict_layout_ = false;  // request_ is a verdict GET: only target and token change
  int auth_header_ = -1;         // index of the Authorization header in request_, once added
  std::vector<int> accepted_;
  Accept accept_;                         // all kinds but kVerdict
  Fail fail_;                             // all kinds but kVerdict
  VerdictSource::Callback verdict_done_;  // kVerdict
  std::optional<internal::RetryPolicy> policy_;
  net::steady_timer timer_;
  std::string token_;
  int lane_ = 0;
  absl::string_view group_;  // lane_'s budget group (CredentialBudget's fixed names)
  std::string quota_ticket_;  // the current attempt's shared grant (empty: none to tell)
  bool quota_waiting_ = false;  // counted in ctx_.quota_waiting
  absl::Time sent_at_;       // when the budget counted the current attempt
  absl::Time send_started_;  // when the current attempt went to the pool
  bool holds_slot_ = false;  // the current attempt holds a Gate slot
  bool waited_for_slot_ = false;  // the current attempt waited for its Gate slot
  absl::Status last_token_error_;

  // ---- hedging ----
  // The second send of an attempt: the same request, never pipelined.
  class HedgeExchange final : public HttpExchange {
   public:
    explicit HedgeExchange(Call& call) : call_(call) {}
    const HttpRequest& request() const override { return call_.request_; }
    void Complete(const absl::Status& status, HttpResponse* response) override {
      call_.ExchangeDone(/*hedge=*/true, status, response);
    }
    bool alone() const override { return true; }

   private:
    Call& call_;
  };
  // flight_: the attempt's number (high bits), its exchanges in the pool (kCountMask: 1, or 2
  // once hedged), whether one has completed (kDecided) and may be hedged (kHedgeable). The
  // watch hedges only {1, not decided} with a compare-exchange; a completion sets kDecided
  // first, so exactly one of them wins a race, and a new attempt's number defeats a stale look.
  static constexpr uint64_t kCountMask = 3;
  static constexpr uint64_t kDecided = 4;
  static constexpr uint64_t kHedgeable = 8;
  static constexpr int kAttemptShift = 32;
  std::atomic<uint64_t> flight_{0};
  std::atomic<int64_t> watch_sent_ns_{0};  // when the attempt was sent (for the watch)
  std::atomic<int> watch_lane_{0};         // its credential (for the watch)
  uint64_t attempt_ = 0;
  HedgeExchange hedge_{*this};
  absl::Time hedge_started_;  // when the hedge was sent (and counted by the budget)
  // The outcome of the exchange that completed first, kept until the other completes.
  bool hedge_won_ = false;
  absl::Time won_at_;
  absl::Status won_status_;
  HttpResponse won_answer_;
};

Call::Call(CallContext& ctx) : ctx_(ctx), timer_(ctx.pool.executor()) { JoinWatch(); }

// The calls waiting on their timer. A call registers and arms its timer under `mu`, and its
// handler unregisters under `mu` before it does anything else, so StopSending() (which cancels
// the registered timers under `mu`) never touches a timer its call is using.
struct CallContext::TimerWaits {
  absl::Mutex mu;
  std::unordered_set<Call*> calls ABSL_GUARDED_BY(mu);
};

void Call::WaitThenBegin(absl::Duration delay) {
  {
    absl::MutexLock lock(&ctx_.timer_waits->mu);
    if (!ctx_.stopped.load(std::memory_order_acquire)) {
      ctx_.timer_waits->calls.insert(this);
      timer_.expires_after(absl::ToChronoNanoseconds(delay));
      timer_.async_wait([this](const boost::system::error_code&) {
        {
          absl::MutexLock unregister(&ctx_.timer_waits->mu);
          ctx_.timer_waits->calls.erase(this);
        }
        Begin();
      });
      return;
    }
  }
  Begin();
}

void CallContext::StopSending() {
  if (stopped.exchange(true, std::memory_order_acq_rel)) return;
  {
    absl::MutexLock lock(&timer_waits->mu);
    for (Call* call : timer_waits->calls) call->CancelTimer();
  }
  if (gate != nullptr) {
    for (GateWaiter* waiter : gate->TakeWaiters()) Call::EndWaiting(waiter);
  }
}

// Finished calls kept for reuse (beyond this many, finished calls are freed). The call freed
// last waits in `last`, taken without the lock: a steady load frees a call and takes one for the
// next lookup (often from the callback of the first) one after the other.
struct CallContext::CallCache {
  static constexpr size_t kMaxKept = 1024;
  std::atomic<Call*> last{nullptr};
  absl::Mutex mu;
  std::vector<std::unique_ptr<Call>> free ABSL_GUARDED_BY(mu);
  ~CallCache() { delete last.load(std::memory_order_acquire); }
};

Call* CallContext::AcquireCall() {
  if (Call* call = calls->last.exchange(nullptr, std::memory_order_acquire)) return call;
  {
    absl::MutexLock lock(&calls->mu);
    if (!calls->free.empty()) {
      Call* call = calls->free.back().release();
      calls->free.pop_back();
      return call;
    }
  }
  return new Call(*this);
}

void CallContext::ReleaseCall(Call* call) {
  call->Clear();
  Call* empty = nullptr;
  if (calls->last.compare_exchange_strong(empty, call, std::memory_order_release,
                                          std::memory_order_relaxed)) {
    return;
  }
  std::unique_ptr<Call> owned(call);
  absl::MutexLock lock(&calls->mu);
  if (calls->free.size() < CallCache::kMaxKept) {
    calls->free.push_back(std::move(owned));
  } else {
    owned->LeaveWatch();
  }
}

CallContext::CallContext(ConnectionPool& ctia_pool, std::vector<CredentialLane> lanes,
                         CtiaClientOptions client_options)
    : pool(ctia_pool),
      options(std::move(client_options)),
      clock(options.clock != nullptr ? *options.clock
                                           : schema::SystemClock::Instance()),
      budget(std::move(lanes), options.rate_limit),
      gate(options.max_concurrency > 0
               ? std::make_unique<ConcurrencyGate>(options.max_concurrency,
                                                   options.concurrency_latency_floor)
               : nullptr),
      jitter(options.rng_seed),
      calls(std::make_unique<CallCache>()),
      timer_waits(std::make_unique<TimerWaits>()) {
  if (options.hedge && options.shared_quota == nullptr) {
    HedgeSettings settings;
    settings.floor = options.hedge_floor;
    settings.p99_factor = options.hedge_p99_factor;
    settings.min_answers = options.hedge_min_answers;
    hedges = std::make_unique<HedgeWatch>(pool.executor(), latency, clock, settings);
  }
}

// The watch stops before the calls it looks at are freed.
CallContext::~CallContext() {
  if (hedges != nullptr) hedges->Stop();
}

void CallContext::Run(CallKind kind, HttpRequest request, std::vector<int> accepted, Accept accept,
                      Fail fail) {
  Call* call = AcquireCall();
  call->Prepare(kind, std::move(request), std::move(accepted), std::move(accept), std::move(fail));
  call->Begin();
}

void CallContext::RunVerdict(const schema::Observable& observable, VerdictSource::Callback done) {
  Call* call = AcquireCall();
  call->PrepareVerdict(pool.origin().path, observable, std::move(done));
  call->Begin();
}

bool CallContext::DeferFlush() {
  if (options.shared_quota == nullptr || quota_waiting.load(std::memory_order_acquire) == 0) {
    return false;
  }
  flush_deferred.store(true, std::memory_order_release);
  // The last waiting call may have left between the two lines above: then flush now.
  if (quota_waiting.load(std::memory_order_acquire) == 0 &&
      flush_deferred.exchange(false, std::memory_order_acq_rel)) {
    return false;
  }
  return true;
}

void CallContext::Notice(absl::string_view text) const {
  if (options.notice) {
    options.notice(text);
  } else {
    std::fprintf(stderr, "%.*s\n", static_cast<int>(text.size()), text.data());
  }
}

void CallContext::CountAnswer(int status) {
  counters.answers.fetch_add(1, std::memory_order_relaxed);
  auto& bucket = status >= 200 && status < 300   ? counters.status_2xx
                 : status >= 400 && status < 500 ? counters.status_4xx
                 : status >= 500 && status < 600 ? counters.status_5xx
                                                 : counters.status_other;
  bucket.fetch_add(1, std::memory_order_relaxed);
}

CtiaClientCounters CallContext::Snapshot() const {
  CtiaClientCounters c;
  auto load = [](const std::atomic<uint64_t>& a) { return a.load(std::memory_order_relaxed); };
  c.requests = load(counters.requests);
  c.answers = load(counters.answers);
  c.status_2xx = load(counters.status_2xx);
  c.status_4xx = load(counters.status_4xx);
  c.status_5xx = load(counters.status_5xx);
  c.status_other = load(counters.status_other);
  c.transport_errors = load(counters.transport_errors);
  c.budget_waits = load(counters.budget_waits);
  c.checkpoints = load(counters.checkpoints);
  c.retired_credentials = load(counters.retired_credentials);
  c.verdict_requests = counters.verdict_requests.load(std::memory_order_relaxed);
  c.retries = counters.retries.load(std::memory_order_relaxed);
  c.unauthorized = counters.unauthorized.load(std::memory_order_relaxed);
  c.rate_limited = counters.rate_limited.load(std::memory_order_relaxed);
  c.write_requests = counters.write_requests.load(std::memory_order_relaxed);
  c.graphql_requests = load(counters.graphql_requests);
  c.list_requests = load(counters.list_requests);
  c.judgement_reads = load(counters.judgement_reads);
  c.judgement_read_failures = load(counters.judgement_read_failures);
  c.graphql_verdicts = load(counters.graphql_verdicts);
  c.hedges = load(counters.hedges);
  if (gate != nullptr) gate->Fill(c);
  return c;
}

absl::Status WithHttpPrefix(int http_status, const absl::Status& status) {
  absl::Status prefixed(status.code(),
                        absl::StrCat("http ", http_status, ": ", status.message()));
  // Marks (a setup failure) stay.
  status.ForEachPayload([&prefixed](absl::string_view url, const absl::Cord& payload) {
    prefixed.SetPayload(url, payload);
  });
  return prefixed;
}

}  // namespace enrich::transport::internal
