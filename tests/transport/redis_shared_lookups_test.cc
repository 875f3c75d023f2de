// SharedLookups (shared verdict cache and cross-worker leases) and its encoding, against a real
// redis-server: each "worker" is its own RedisClient with its own worker id.

#include "transport/redis/shared_lookups.h"

#include <chrono>
#include <future>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "gtest/gtest.h"
#include "schema/clock.h"
#include "tests/transport/redis_server.h"
#include "transport/io_threads.h"
#include "transport/redis/shared_verdict_codec.h"

namespace enrich::transport {
namespace {

using enrich::testing::Call;
using enrich::testing::RedisServer;
using Steady = std::chrono::steady_clock;
using ClaimOr = absl::StatusOr<SharedClaim>;

schema::Verdict MaliciousVerdict() {
  schema::Verdict v;
  v.disposition = schema::Disposition::kMalicious;
  v.disposition_name = "Malicious";
  v.observable = {"domain", "evil.example"};
  v.judgement_id = "https://private.intel.example/ctia/judgement/judgement-1234";
  v.valid_time = {absl::FromUnixSeconds(1700000000), absl::FromUnixSeconds(1900000000)};
  return v;
}

const SharedLookupKey kEvilKey{"https://a", "private", "domain", "evil.example"};

TEST(SharedVerdictCodecTest, RoundTripsVerdictsAndNoVerdict) {
  const schema::Verdict v = MaliciousVerdict();
  auto back = DecodeSharedVerdict({}, kEvilKey, EncodeSharedVerdict({}, v));
  ASSERT_TRUE(back.ok()) << back.status();
  const auto& d = std::get<schema::Verdict>(*back);
  EXPECT_EQ(d.disposition, v.disposition);
  EXPECT_EQ(d.disposition_name, "Malicious");
  EXPECT_EQ(d.observable, v.observable);
  EXPECT_EQ(d.judgement_id, v.judgement_id);
  EXPECT_EQ(d.valid_time.start_time, v.valid_time.start_time);
  EXPECT_EQ(d.valid_time.end_time, v.valid_time.end_time);
  EXPECT_FALSE(d.judgement.has_value());
  auto none = DecodeSharedVerdict({}, kEvilKey, EncodeSharedVerdict({}, schema::NoVerdict{}));
  ASSERT_TRUE(none.ok());
  EXPECT_TRUE(std::holds_alternative<schema::NoVerdict>(*none));
}

// The value is the engine's compact record: a UUID id is 16 bytes after its prefix, which the
// envelope carries once; the details the key names come back whole.
TEST(SharedVerdictCodecTest, KeepsUuidIdsCompactAndTheDetailsTheKeyNames) {
  schema::Verdict v = MaliciousVerdict();
  const std::string prefix = "https://private.intel.example:443/ctia/judgement/judgement-";
  v.judgement_id = prefix + "0f1e2d3c-4b5a-6978-8796-a5b4c3d2e1f0";
  v.judgement = schema::JudgementDetails{"Talos", "https://t.example/x", "seen | spreading",
                                         "High", "Medium", "amber", 95};
  v.judgements = {{"Talos", schema::Disposition::kMalicious, v.judgement_id},
                  {"feed", schema::Disposition::kClean, "f-1"}};
  const schema::DetailsSpec plain;
  EXPECT_LT(EncodeSharedVerdict(plain, v).size(), prefix.size() + 16 + 40);

  const schema::DetailsSpec details = SharedDetailsSpec({/*judgement=*/true, /*judgements=*/3});
  const std::string bytes = EncodeSharedVerdict(details, v);
  auto back = DecodeSharedVerdict(details, kEvilKey, bytes);
  ASSERT_TRUE(back.ok()) << back.status();
  const auto& d = std::get<schema::Verdict>(*back);
  EXPECT_EQ(d.judgement_id, v.judgement_id);
  ASSERT_TRUE(d.judgement.has_value());
  EXPECT_EQ(d.judgement->source, "Talos");
  EXPECT_EQ(d.judgement->source_uri, "https://t.example/x");
  EXPECT_EQ(d.judgement->reason, "seen | spreading");
  EXPECT_EQ(d.judgement->severity, "High");
  EXPECT_EQ(d.judgement->confidence, "Medium");
  EXPECT_EQ(d.judgement->tlp, "amber");
  EXPECT_EQ(d.judgement->priority, 95);
  ASSERT_EQ(d.judgements.size(), 2u);
  EXPECT_EQ(d.judgements[1].source, "feed");
  EXPECT_EQ(d.judgements[1].disposition, schema::Disposition::kClean);
  EXPECT_EQ(d.judgements[1].id, "f-1");

  // A value read under other details than it was written with is refused, both ways, and the
  // keys of the two differ.
  EXPECT_FALSE(DecodeSharedVerdict(plain, kEvilKey, bytes).ok());
  EXPECT_FALSE(DecodeSharedVerdict(details, kEvilKey, EncodeSharedVerdict(plain, v)).ok());
  const schema::DetailsSpec fewer = SharedDetailsSpec({/*judgement=*/true, /*judgements=*/1});
  EXPECT_FALSE(DecodeSharedVerdict(fewer, kEvilKey, bytes).ok());
  EXPECT_NE(SharedKeyText(kEvilKey, plain), SharedKeyText(kEvilKey, details));
  EXPECT_NE(SharedKeyText(kEvilKey, fewer), SharedKeyText(kEvilKey, details));
}

TEST(SharedVerdictCodecTest, RejectsEveryTruncationAndJunk) {
  const schema::DetailsSpec details = SharedDetailsSpec({/*judgement=*/true, /*judgements=*/2});
  schema::Verdict v = MaliciousVerdict();
  v.judgement = schema::JudgementDetails{"Talos", "", "", "", "", "", 1};
  const std::string bytes = EncodeSharedVerdict(details, v);
  for (size_t n = 0; n < bytes.size(); ++n) {
    EXPECT_FALSE(DecodeSharedVerdict(details, kEvilKey, bytes.substr(0, n)).ok())
        << "prefix of " << n;
  }
  EXPECT_FALSE(DecodeSharedVerdict(details, kEvilKey, bytes + "x").ok());
  // Version 1's bytes (enrich:v1 keys) are not a value of this format.
  EXPECT_FALSE(DecodeSharedVerdict({}, kEvilKey, std::string("\x01\x00", 2)).ok());
}

TEST(SharedVerdictCodecTest, KeysSeparateEndpointIntelTypeAndValue) {
  const schema::DetailsSpec none;
  EXPECT_NE(SharedKeyText({"https://a", "global", "domain", "x|y"}, none),
            SharedKeyText({"https://a", "global", "domain|x", "y"}, none));
  EXPECT_EQ(SharedKeyText({"https://a", "private", "ip", "10.0.0.1"}, none),
            "https://a|private|ip|10.0.0.1");
  EXPECT_EQ(SharedKeyText({"https://a", "private", "ip", "10.0.0.1"},
                          SharedDetailsSpec({/*judgement=*/false, /*judgements=*/3})),
            "https://a|private details=fields= judgements=3|ip|10.0.0.1");
}

// A worker: its own connection and worker id.
struct Worker {
  Worker(IoThreads& io, const RedisServer& server, const std::string& id,
         absl::Duration lease = absl::Seconds(30))
      : redis(io.executor(), *ParseRedisUrl(server.url())),
        lookups(redis, Options(id, lease), schema::SystemClock::Instance()) {}
  static SharedLookupOptions Options(const std::string& id, absl::Duration lease) {
    SharedLookupOptions o;
    o.worker_id = id;
    o.lease = lease;
    return o;
  }
  ClaimOr Claim(const SharedLookupKey& key) {
    std::promise<ClaimOr> p;
    lookups.Claim(key, [&](ClaimOr c) { p.set_value(std::move(c)); });
    return p.get_future().get();
  }
  absl::Status Settle(const SharedLookupKey& key, const schema::VerdictResult& r,
                      absl::Duration ttl) {
    std::promise<absl::Status> p;
    lookups.Settle(key, r, ttl, [&](absl::Status s) { p.set_value(s); });
    return p.get_future().get();
  }
  absl::Status Release(const SharedLookupKey& key) {
    std::promise<absl::Status> p;
    lookups.Release(key, [&](absl::Status s) { p.set_value(s); });
    return p.get_future().get();
  }
  RedisClient redis;
  SharedLookups lookups;
};

class SharedLookupsTest : public ::testing::Test {
 protected:
  SharedLookupKey Key(const std::string& value) {
    return {"https://ctia.example", "private", "domain", value};
  }
  RedisServer server_;
  IoThreads io_{2};
};

TEST_F(SharedLookupsTest, CachesAnAnswerUntilItsTtl) {
  Worker a(io_, server_, "a"), b(io_, server_, "b");
  auto first = a.Claim(Key("evil.example"));
  ASSERT_TRUE(first.ok()) << first.status();
  EXPECT_EQ(first->kind, SharedClaim::Kind::kLeased);
  ASSERT_TRUE(a.Settle(Key("evil.example"), MaliciousVerdict(), absl::Milliseconds(400)).ok());

  auto hit = b.Claim(Key("evil.example"));
  ASSERT_TRUE(hit.ok());
  ASSERT_EQ(hit->kind, SharedClaim::Kind::kCached);
  EXPECT_EQ(std::get<schema::Verdict>(*hit->cached).judgement_id, MaliciousVerdict().judgement_id);
  EXPECT_EQ(b.lookups.counters().hits.load(), 1);

  auto pttl = Call(b.redis, {"PTTL", b.lookups.ValueKey(Key("evil.example"))});
  ASSERT_TRUE(pttl.ok());
  EXPECT_GT(pttl->integer, 0);
  EXPECT_LE(pttl->integer, 400);
  std::this_thread::sleep_for(std::chrono::milliseconds(700));
  auto expired = b.Claim(Key("evil.example"));
  ASSERT_TRUE(expired.ok());
  EXPECT_EQ(expired->kind, SharedClaim::Kind::kLeased);  // gone: b asks now
}

TEST_F(SharedLookupsTest, NoVerdictIsSharedAndAZeroTtlIsNotCached) {
  Worker a(io_, server_, "a"), b(io_, server_, "b");
  ASSERT_EQ(a.Claim(Key("nothing.example"))->kind, SharedClaim::Kind::kLeased);
  ASSERT_TRUE(a.Settle(Key("nothing.example"), schema::NoVerdict{}, absl::Seconds(60)).ok());
  auto hit = b.Claim(Key("nothing.example"));
  ASSERT_EQ(hit->kind, SharedClaim::Kind::kCached);
  EXPECT_TRUE(std::holds_alternative<schema::NoVerdict>(*hit->cached));

  ASSERT_EQ(a.Claim(Key("expired.example"))->kind, SharedClaim::Kind::kLeased);
  ASSERT_TRUE(a.Settle(Key("expired.example"), MaliciousVerdict(), absl::ZeroDuration()).ok());
  EXPECT_EQ(b.Claim(Key("expired.example"))->kind, SharedClaim::Kind::kLeased);
}

TEST_F(SharedLookupsTest, TtlFollowsValidTimeCappedByMaxTtl) {
  schema::FakeClock clock(absl::FromUnixSeconds(1800000000));
  RedisClient redis(io_.executor(), *ParseRedisUrl(server_.url()));
  SharedLookupOptions options;
  options.worker_id = "w";
  options.max_ttl = absl::Hours(24);
  SharedLookups lookups(redis, options, clock);
  schema::Verdict v = MaliciousVerdict();
  v.valid_time.end_time = clock.Now() + absl::Hours(2);
  EXPECT_EQ(lookups.TtlFor(v, absl::Minutes(5)), absl::Hours(2));
  v.valid_time.end_time = clock.Now() + absl::Hours(2000);
  EXPECT_EQ(lookups.TtlFor(v, absl::Minutes(5)), absl::Hours(24));
  v.valid_time.end_time = clock.Now() - absl::Seconds(1);
  EXPECT_EQ(lookups.TtlFor(v, absl::Minutes(5)), absl::ZeroDuration());
  EXPECT_EQ(lookups.TtlFor(schema::NoVerdict{}, absl::Minutes(5)), absl::Minutes(5));
}

// Two workers claim the same 200 observables at once: each observable is leased exactly once.
TEST_F(SharedLookupsTest, TwoWorkersClaimingTogetherLeaseEachObservableOnce) {
  Worker a(io_, server_, "a"), b(io_, server_, "b");
  constexpr int kKeys = 200;
  std::vector<std::promise<ClaimOr>> pa(kKeys), pb(kKeys);
  for (int i = 0; i < kKeys; ++i) {
    const SharedLookupKey key = Key("host" + std::to_string(i) + ".example");
    a.lookups.Claim(key, [&pa, i](ClaimOr c) { pa[i].set_value(std::move(c)); });
    b.lookups.Claim(key, [&pb, i](ClaimOr c) { pb[i].set_value(std::move(c)); });
  }
  int a_won = 0, b_won = 0;
  for (int i = 0; i < kKeys; ++i) {
    ClaimOr ca = pa[i].get_future().get(), cb = pb[i].get_future().get();
    ASSERT_TRUE(ca.ok() && cb.ok());
    const bool a_leased = ca->kind == SharedClaim::Kind::kLeased;
    const bool b_leased = cb->kind == SharedClaim::Kind::kLeased;
    EXPECT_NE(a_leased, b_leased) << "key " << i;
    EXPECT_EQ(a_leased ? cb->kind : ca->kind, SharedClaim::Kind::kHeld);
    a_won += a_leased;
    b_won += b_leased;
  }
  EXPECT_EQ(a_won + b_won, kKeys);
}

TEST_F(SharedLookupsTest, AWaiterReadsTheAnswerWhenTheHolderWritesIt) {
  Worker a(io_, server_, "a"), b(io_, server_, "b");
  ASSERT_EQ(a.Claim(Key("slow.example"))->kind, SharedClaim::Kind::kLeased);
  std::promise<ClaimOr> waited;
  const auto start = Steady::now();
  b.lookups.AwaitAnswer(Key("slow.example"), [&](ClaimOr c) { waited.set_value(std::move(c)); });
  std::this_thread::sleep_for(std::chrono::milliseconds(300));
  ASSERT_TRUE(a.Settle(Key("slow.example"), MaliciousVerdict(), absl::Minutes(1)).ok());
  auto future = waited.get_future();
  ASSERT_EQ(future.wait_for(std::chrono::seconds(10)), std::future_status::ready);
  ClaimOr c = future.get();
  const auto took = Steady::now() - start;
  ASSERT_TRUE(c.ok()) << c.status();
  ASSERT_EQ(c->kind, SharedClaim::Kind::kCached);
  // The answer is keyed by the request: its observable is the one asked (the key's).
  EXPECT_EQ(std::get<schema::Verdict>(*c->cached).observable.value, "slow.example");
  EXPECT_EQ(std::get<schema::Verdict>(*c->cached).judgement_id,
            MaliciousVerdict().judgement_id);
  EXPECT_GE(took, std::chrono::milliseconds(300));
  EXPECT_GE(b.lookups.counters().held.load(), 1);
  EXPECT_EQ(b.lookups.counters().leases.load(), 0);  // b never asked CTIA
  // The holder's lease is gone with the answer.
  EXPECT_EQ(Call(a.redis, {"EXISTS", a.lookups.LeaseKey(Key("slow.example"))})->integer, 0);
}

TEST_F(SharedLookupsTest, AWaiterTakesTheLookupOverWhenTheLeaseExpires) {
  auto a = std::make_unique<Worker>(io_, server_, "a", absl::Milliseconds(400));
  Worker b(io_, server_, "b");
  ASSERT_EQ(a->Claim(Key("crashed.example"))->kind, SharedClaim::Kind::kLeased);
  a.reset();  // a crashes: it never settles, and its lease is renewed no more
  std::promise<ClaimOr> waited;
  const auto start = Steady::now();
  b.lookups.AwaitAnswer(Key("crashed.example"), [&](ClaimOr c) { waited.set_value(std::move(c)); });
  auto future = waited.get_future();
  ASSERT_EQ(future.wait_for(std::chrono::seconds(10)), std::future_status::ready);
  ClaimOr c = future.get();
  ASSERT_TRUE(c.ok());
  EXPECT_EQ(c->kind, SharedClaim::Kind::kLeased);
  EXPECT_GE(Steady::now() - start, std::chrono::milliseconds(300));
  EXPECT_EQ(b.lookups.counters().takeovers.load(), 1);

  // An answer of a comes late (as from a worker that lost its lease): it is written, b's lease
  // is left to b.
  Worker late(io_, server_, "a");
  ASSERT_TRUE(late.Settle(Key("crashed.example"), MaliciousVerdict(), absl::Minutes(1)).ok());
  auto holder = Call(late.redis, {"GET", late.lookups.LeaseKey(Key("crashed.example"))});
  ASSERT_TRUE(holder.ok());
  EXPECT_EQ(holder->str, "b");
}

// A lookup may wait long for the shared quota: its holder renews the lease (every lease / 3)
// until it settles, so nobody takes over a living worker's lookup.
TEST_F(SharedLookupsTest, AHolderThatLivesKeepsItsLeasePastItsLength) {
  Worker a(io_, server_, "a", absl::Milliseconds(300)), b(io_, server_, "b");
  ASSERT_EQ(a.Claim(Key("slow.example"))->kind, SharedClaim::Kind::kLeased);
  std::this_thread::sleep_for(std::chrono::milliseconds(1000));
  EXPECT_EQ(b.Claim(Key("slow.example"))->kind, SharedClaim::Kind::kHeld);
  ASSERT_TRUE(a.Settle(Key("slow.example"), MaliciousVerdict(), absl::Minutes(1)).ok());
  EXPECT_EQ(b.Claim(Key("slow.example"))->kind, SharedClaim::Kind::kCached);
  // Settled: no longer renewed (the renewal would not bring back a lease freed by Settle).
  auto lease = Call(a.redis, {"EXISTS", a.lookups.LeaseKey(Key("slow.example"))});
  ASSERT_TRUE(lease.ok());
  EXPECT_EQ(lease->integer, 0);
}

TEST_F(SharedLookupsTest, ReleaseLetsTheNextWorkerLookUpAtOnce) {
  Worker a(io_, server_, "a"), b(io_, server_, "b");
  ASSERT_EQ(a.Claim(Key("flaky.example"))->kind, SharedClaim::Kind::kLeased);
  EXPECT_EQ(b.Claim(Key("flaky.example"))->kind, SharedClaim::Kind::kHeld);
  ASSERT_TRUE(a.Release(Key("flaky.example")).ok());  // the lookup failed: nothing cached
  EXPECT_EQ(b.Claim(Key("flaky.example"))->kind, SharedClaim::Kind::kLeased);
}

TEST_F(SharedLookupsTest, ADamagedEntryIsDeletedNotServed) {
  Worker a(io_, server_, "a");
  ASSERT_TRUE(Call(a.redis, {"SET", a.lookups.ValueKey(Key("bad.example")), "\x01\x01garbage"}).ok());
  auto c = a.Claim(Key("bad.example"));
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_EQ(c->kind, SharedClaim::Kind::kLeased);
  EXPECT_EQ(a.lookups.counters().corrupt.load(), 1);
  EXPECT_EQ(Call(a.redis, {"EXISTS", a.lookups.ValueKey(Key("bad.example"))})->integer, 0);
}

TEST_F(SharedLookupsTest, ALostRedisFailsEveryCallFastThenServesAgain) {
  Worker a(io_, server_, "a");
  ASSERT_EQ(a.Claim(Key("x.example"))->kind, SharedClaim::Kind::kLeased);
  server_.Kill();
  const auto start = Steady::now();
  for (int i = 0; i < 20; ++i) {
    auto c = a.Claim(Key("x.example"));
    ASSERT_FALSE(c.ok());
    EXPECT_TRUE(IsRedisUnavailable(c.status())) << c.status();
    EXPECT_TRUE(IsRedisUnavailable(a.Settle(Key("x.example"), MaliciousVerdict(), absl::Minutes(1))));
  }
  EXPECT_LT(Steady::now() - start, std::chrono::seconds(5));
  ASSERT_TRUE(server_.Restart());
  ASSERT_TRUE(enrich::testing::WaitUp(a.redis, 20));
  auto again = a.Claim(Key("x.example"));  // the script is loaded again (NOSCRIPT → EVAL)
  ASSERT_TRUE(again.ok()) << again.status();
  EXPECT_EQ(again->kind, SharedClaim::Kind::kLeased);
}

}  // namespace
}  // namespace enrich::transport
