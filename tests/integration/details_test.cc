// The details of a verdict (CtiaClientOptions::details: the deciding judgement's fields and
// the observable's first judgements) from the real ctia-sim on 127.0.0.1:0: GraphQL brings
// them in the batch's own requests (as many as without details), REST with one judgement GET
// per distinct judgement id and one list page per verdict; the details equal the stored
// judgements; a judgement that cannot be read leaves the verdict standing.

#include "schema/time_format.h"
#include "tests/integration/sim_client_rig.h"
#include "tools/sim/sim_server.h"
#include "transport/ctia_client.h"

#include <algorithm>
#include <memory>
#include <string>
#include <vector>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace enrich {
namespace {

using schema::Disposition;
using schema::Judgement;
using schema::Observable;
using ::enrich::testing::ClientRig;
using ::enrich::testing::EndpointTotal;
using ::enrich::testing::VerdictOr;
using ::testing::HasSubstr;

const char* const kSeverities[] = {"Info", "Low", "Medium", "High", "Critical"};
const char* const kConfidences[] = {"Low", "Medium", "High", "None"};

// A judgement whose every detail depends on `i` (so a mix-up shows).
Judgement Make(Observable o, Disposition d, int64_t priority, int i, absl::Time start,
               absl::Time end = schema::EndOfTime()) {
  Judgement j;
  j.observable = std::move(o);
  j.disposition = d;
  j.priority = priority;
  j.source = absl::StrCat("feed-", i % 7);
  j.source_uri = i % 3 == 0 ? "" : absl::StrCat("https://feed.example/item/", i);
  j.reason = absl::StrCat("reason \"", i, "\" \xc3\xbc");
  j.severity = kSeverities[i % 5];
  j.confidence = kConfidences[i % 4];
  j.tlp = i % 2 == 0 ? "green" : "white";
  j.valid_time = {start, end};
  return j;
}

// The observables of a seeded set, and per observable: the deciding judgement (index into
// `stored`, -1 = no verdict) and every stored judgement (indices), in insertion order.
struct Seeded {
  std::vector<Observable> asked;
  std::vector<int> winner;
  std::vector<std::vector<int>> all;
  std::vector<Judgement> stored;  // with their long ids
};

// `n` domains; every 10th has no judgement; the others a winner (priority 95), every 3rd a
// lower-priority Clean loser, every 4th an expired Malicious one (listed, never deciding).
Seeded SeedDomains(sim::SimServer& sim, absl::string_view prefix, int n) {
  Seeded s;
  const absl::Time now = absl::Now();
  for (int i = 0; i < n; ++i) {
    const Observable o{"domain", absl::StrCat(prefix, "-", i, ".example.test")};
    s.asked.push_back(o);
    s.winner.push_back(-1);
    s.all.emplace_back();
    if (i % 10 == 0) continue;
    s.winner.back() = static_cast<int>(s.stored.size());
    s.all.back().push_back(static_cast<int>(s.stored.size()));
    s.stored.push_back(Make(o, static_cast<Disposition>(1 + i % 5), 95, i,
                            now - absl::Hours(1) - absl::Seconds(i)));
    if (i % 3 == 0) {
      s.all.back().push_back(static_cast<int>(s.stored.size()));
      s.stored.push_back(Make(o, Disposition::kClean, 50, i + 1, now - absl::Hours(2)));
    }
    if (i % 4 == 0) {
      s.all.back().push_back(static_cast<int>(s.stored.size()));
      s.stored.push_back(Make(o, Disposition::kMalicious, 100, i + 2, now - absl::Hours(48),
                              now - absl::Hours(24)));
    }
  }
  const std::vector<std::string> ids = sim.AddJudgements(s.stored);
  for (size_t k = 0; k < ids.size(); ++k) s.stored[k].id = ids[k];
  return s;
}

// CTIA's list order (disposition:asc, valid_time.start_time:desc; ties in store order): the
// first `n` of `indices`.
std::vector<int> FirstInListOrder(const Seeded& s, std::vector<int> indices, int n) {
  std::stable_sort(indices.begin(), indices.end(), [&s](int a, int b) {
    const Judgement& x = s.stored[a];
    const Judgement& y = s.stored[b];
    if (x.disposition != y.disposition) return x.disposition < y.disposition;
    return x.valid_time.start_time > y.valid_time.start_time;
  });
  if (indices.size() > static_cast<size_t>(n)) indices.resize(n);
  return indices;
}

// Checks the verdict of observable `i` and its details against the store.
void ExpectDetails(const Seeded& s, size_t i, const VerdictOr& r, bool judgement, int n) {
  SCOPED_TRACE(absl::StrCat("observable ", i, " ", s.asked[i].value));
  ASSERT_TRUE(r.ok()) << r.status();
  if (s.winner[i] < 0) {
    EXPECT_TRUE(std::holds_alternative<schema::NoVerdict>(*r));
    return;
  }
  ASSERT_TRUE(std::holds_alternative<schema::Verdict>(*r));
  const schema::Verdict& v = std::get<schema::Verdict>(*r);
  const Judgement& w = s.stored[s.winner[i]];
  EXPECT_EQ(v.judgement_id, w.id);
  EXPECT_EQ(v.disposition, w.disposition);
  if (judgement) {
    ASSERT_TRUE(v.judgement.has_value());
    EXPECT_EQ(v.judgement->source, w.source);
    EXPECT_EQ(v.judgement->source_uri, w.source_uri);
    EXPECT_EQ(v.judgement->reason, w.reason);
    EXPECT_EQ(v.judgement->severity, w.severity);
    EXPECT_EQ(v.judgement->confidence, w.confidence);
    EXPECT_EQ(v.judgement->tlp, w.tlp);
    EXPECT_EQ(v.judgement->priority, w.priority);
  } else {
    EXPECT_FALSE(v.judgement.has_value());
  }
  const std::vector<int> expected = n > 0 ? FirstInListOrder(s, s.all[i], n) : std::vector<int>{};
  ASSERT_EQ(v.judgements.size(), expected.size());
  for (size_t k = 0; k < expected.size(); ++k) {
    const Judgement& j = s.stored[expected[k]];
    EXPECT_EQ(v.judgements[k].id, j.id) << k;
    EXPECT_EQ(v.judgements[k].source, j.source) << k;
    EXPECT_EQ(v.judgements[k].disposition, j.disposition) << k;
  }
}

transport::CtiaClientOptions Batched(bool judgement, int judgements) {
  transport::CtiaClientOptions o;
  o.batch_size = 100;
  o.batch_linger = absl::Seconds(30);  // only full batches leave: exact request counts
  o.details.judgement = judgement;
  o.details.judgements = judgements;
  return o;
}

TEST(DetailsTest, GraphqlDetailsTakeExactlyTheRequestsOfPlainVerdicts) {
  sim::SimServer sim{sim::SimOptions{}};
  ASSERT_TRUE(sim.Start().ok());
  const Seeded s = SeedDomains(sim, "gq", 300);

  ClientRig plain(sim, Batched(false, 0));
  const std::vector<VerdictOr> without = plain.LookupAll(s.asked);
  const uint64_t plain_requests = EndpointTotal(sim.CountsByEndpoint(), "graphql");
  EXPECT_EQ(plain_requests, 3u);

  ClientRig detailed(sim, Batched(true, 2));
  const std::vector<VerdictOr> with = detailed.LookupAll(s.asked);
  const sim::EndpointCounts counts = sim.CountsByEndpoint();
  EXPECT_EQ(EndpointTotal(counts, "graphql") - plain_requests, plain_requests);
  EXPECT_EQ(EndpointTotal(counts, "judgement_get"), 0u);
  EXPECT_EQ(EndpointTotal(counts, "judgements"), 0u);
  EXPECT_EQ(EndpointTotal(counts, "verdict"), 0u);
  const transport::CtiaClientCounters c = detailed.client().Snapshot();
  EXPECT_EQ(c.requests, plain_requests);
  EXPECT_EQ(c.judgement_reads, 0u);
  EXPECT_EQ(c.list_requests, 0u);
  for (size_t i = 0; i < s.asked.size(); ++i) {
    ExpectDetails(s, i, without[i], false, 0);
    ExpectDetails(s, i, with[i], true, 2);
  }

  // The largest batch with every detail selected still fits the server's query limit.
  std::vector<Observable> many;
  while (many.size() < transport::kMaxVerdictBatch) {
    many.insert(many.end(), s.asked.begin(), s.asked.end());
  }
  many.resize(transport::kMaxVerdictBatch);
  transport::CtiaClientOptions largest = Batched(true, 5);
  largest.batch_size = transport::kMaxVerdictBatch;
  ClientRig one_request(sim, largest);
  const std::vector<VerdictOr> all = one_request.LookupAll(many);
  EXPECT_EQ(one_request.client().Snapshot().graphql_requests, 1u);
  EXPECT_FALSE(one_request.client().Snapshot().graphql_unsupported);
  for (size_t i = 0; i < many.size(); ++i) ExpectDetails(s, i % s.asked.size(), all[i], true, 5);
}

// `variant` sets the case of the first three letters of "abc-...": 8 spellings of one
// observable, which CTIA matches to the same judgements (case-insensitive, §1.2).
std::string Spelling(int domain, int variant) {
  std::string v = absl::StrCat("abc-", domain, ".example.test");
  for (int bit = 0; bit < 3; ++bit) {
    if ((variant >> bit) & 1) v[bit] = absl::ascii_toupper(v[bit]);
  }
  return v;
}

TEST(DetailsTest, RestReadsEachDistinctJudgementOnce) {
  sim::SimServer sim{sim::SimOptions{}};
  ASSERT_TRUE(sim.Start().ok());
  // 40 judgements; 300 observables (spellings of their 40 domains) share their ids.
  Seeded s;
  const absl::Time now = absl::Now();
  for (int d = 0; d < 40; ++d) {
    s.stored.push_back(Make({"domain", Spelling(d, 0)}, static_cast<Disposition>(1 + d % 5), 90,
                            d, now - absl::Hours(1)));
  }
  const std::vector<std::string> ids = sim.AddJudgements(s.stored);
  for (size_t k = 0; k < ids.size(); ++k) s.stored[k].id = ids[k];
  for (int k = 0; k < 300; ++k) {
    s.asked.push_back({"domain", Spelling(k % 40, k / 40)});
    s.winner.push_back(k % 40);
    s.all.push_back({k % 40});
  }

  transport::CtiaClientOptions o;
  o.batch_size = 1;  // REST
  o.details.judgement = true;
  ClientRig rig(sim, o);  // 16 connections: verdicts of one judgement in flight at once
  const std::vector<VerdictOr> results = rig.LookupAll(s.asked);
  for (size_t i = 0; i < s.asked.size(); ++i) ExpectDetails(s, i, results[i], true, 0);

  const sim::EndpointCounts counts = sim.CountsByEndpoint();
  EXPECT_EQ(EndpointTotal(counts, "verdict"), 300u);
  EXPECT_EQ(EndpointTotal(counts, "judgement_get"), 40u);
  EXPECT_EQ(sim.Counters().judgement_reads, 40u);
  const transport::CtiaClientCounters c = rig.client().Snapshot();
  EXPECT_EQ(c.judgement_reads, 40u);
  EXPECT_EQ(c.judgement_read_failures, 0u);
  EXPECT_EQ(c.requests, 340u);  // each judgement GET is a request of its own

  // Asked again later in the run: the cache answers.
  const std::vector<VerdictOr> again = rig.LookupAll(s.asked);
  for (size_t i = 0; i < s.asked.size(); ++i) ExpectDetails(s, i, again[i], true, 0);
  EXPECT_EQ(EndpointTotal(sim.CountsByEndpoint(), "judgement_get"), 40u);
}

TEST(DetailsTest, FirstJudgementsOverRestAndGraphqlInListOrderOnePagePerVerdict) {
  sim::SimServer sim{sim::SimOptions{}};
  ASSERT_TRUE(sim.Start().ok());
  // 7 judgements on each of 60 observables (3 expired), plus the seeded mix of 140 more.
  Seeded s = SeedDomains(sim, "mix", 140);
  const absl::Time now = absl::Now();
  std::vector<Judgement> extra;
  for (int i = 0; i < 60; ++i) {
    const Observable o{"ip", absl::StrCat("10.7.", i, ".1")};
    s.asked.push_back(o);
    s.all.emplace_back();
    s.winner.push_back(static_cast<int>(s.stored.size() + extra.size()));  // priority 99
    for (int k = 0; k < 7; ++k) {
      const bool expired = k % 3 == 2;
      s.all.back().push_back(static_cast<int>(s.stored.size() + extra.size()));
      extra.push_back(Make(o, static_cast<Disposition>(1 + (k * 3 + i) % 5), k == 0 ? 99 : 10,
                           i * 7 + k, now - absl::Hours(3 + (k * 5) % 7),
                           expired ? now - absl::Hours(1) : schema::EndOfTime()));
    }
  }
  const std::vector<std::string> ids = sim.AddJudgements(extra);
  for (size_t k = 0; k < ids.size(); ++k) extra[k].id = ids[k];
  s.stored.insert(s.stored.end(), extra.begin(), extra.end());

  constexpr int kFirst = 4;
  transport::CtiaClientOptions rest;
  rest.batch_size = 1;
  rest.details.judgements = kFirst;
  ClientRig by_rest(sim, rest);
  const std::vector<VerdictOr> rest_results = by_rest.LookupAll(s.asked);
  size_t verdicts = 0;
  for (size_t i = 0; i < s.asked.size(); ++i) {
    ExpectDetails(s, i, rest_results[i], false, kFirst);
    if (s.winner[i] >= 0) ++verdicts;
  }
  // One page of limit=4 per verdict, none for an observable without one.
  EXPECT_EQ(EndpointTotal(sim.CountsByEndpoint(), "judgements"), verdicts);
  EXPECT_EQ(by_rest.client().Snapshot().list_requests, verdicts);

  ClientRig by_graphql(sim, Batched(false, kFirst));
  const std::vector<VerdictOr> graphql_results = by_graphql.LookupAll(s.asked);
  for (size_t i = 0; i < s.asked.size(); ++i) {
    ExpectDetails(s, i, graphql_results[i], false, kFirst);
  }
  EXPECT_EQ(EndpointTotal(sim.CountsByEndpoint(), "judgements"), verdicts);  // unchanged
  EXPECT_EQ(by_graphql.client().Snapshot().requests, 2u);                    // 200 / 100
}

TEST(DetailsTest, AnUnreadableJudgementLeavesTheVerdictWithoutDetails) {
  sim::SimServer sim{sim::SimOptions{}};
  ASSERT_TRUE(sim.Start().ok());
  const Seeded s = SeedDomains(sim, "gone", 3);  // 1 and 2 have verdicts
  sim::FaultRule fault;
  fault.kind = sim::FaultKind::kStatus500;
  fault.path_prefix = "/ctia/judgement/";
  sim.AddFault(fault);

  transport::CtiaClientOptions o;
  o.batch_size = 1;
  o.details.judgement = true;
  o.retry_backoff = absl::Milliseconds(1);
  auto mu = std::make_shared<absl::Mutex>();
  auto notices = std::make_shared<std::vector<std::string>>();
  o.notice = [mu, notices](absl::string_view text) {
    absl::MutexLock lock(mu.get());
    notices->emplace_back(text);
  };
  ClientRig rig(sim, o);
  const std::vector<Observable> one = {s.asked[1]};
  for (int round = 0; round < 2; ++round) {
    const std::vector<VerdictOr> results = rig.LookupAll(one);
    ASSERT_TRUE(results[0].ok()) << results[0].status();
    const schema::Verdict& v = std::get<schema::Verdict>(*results[0]);
    EXPECT_EQ(v.judgement_id, s.stored[s.winner[1]].id);
    EXPECT_FALSE(v.judgement.has_value());
  }
  const transport::CtiaClientCounters c = rig.client().Snapshot();
  EXPECT_EQ(c.judgement_read_failures, 1u);
  EXPECT_EQ(c.judgement_reads, 3u);  // max_attempts for the one id; the failure is kept
  absl::MutexLock lock(mu.get());
  ASSERT_EQ(notices->size(), 1u);
  EXPECT_THAT((*notices)[0], HasSubstr("could not be read (http 500"));
  const std::string& id = s.stored[s.winner[1]].id;
  EXPECT_THAT((*notices)[0], HasSubstr(id.substr(id.rfind('/') + 1)));
}

// Every judgement GET takes a quota unit; one the budget cannot pay checkpoints the lookup
// (not cached: a resumed run asks again) instead of dropping its details.
TEST(DetailsTest, JudgementReadsSpendQuotaAndACheckpointFailsTheLookup) {
  sim::SimOptions options;
  options.rate_limit = 3;  // per org per hour
  options.rate_limit_window = absl::Hours(1);
  sim::SimServer sim{options};
  ASSERT_TRUE(sim.Start().ok());
  const Seeded s = SeedDomains(sim, "quota", 3);  // 1 and 2 have verdicts
  transport::CtiaClientOptions o;
  o.batch_size = 1;
  o.details.judgement = true;
  o.rate_limit.limit = 3;
  o.rate_limit.window = absl::Hours(1);
  o.rate_limit.max_wait = absl::Seconds(1);
  ClientRig rig(sim, o);
  // Verdict and judgement of the first: two units.
  const std::vector<VerdictOr> first = rig.LookupAll({s.asked[1]});
  ExpectDetails(s, 1, first[0], true, 0);
  // The second's verdict takes the third unit; its judgement GET would wait an hour.
  const std::vector<VerdictOr> second = rig.LookupAll({s.asked[2]});
  EXPECT_TRUE(transport::CheckpointWait(second[0].status()).has_value()) << second[0].status();
  const transport::CtiaClientCounters c = rig.client().Snapshot();
  EXPECT_EQ(c.verdict_requests, 2u);
  EXPECT_EQ(c.judgement_reads, 1u);
  EXPECT_EQ(c.judgement_read_failures, 0u);  // a checkpoint is not a lost detail
  EXPECT_EQ(EndpointTotal(sim.CountsByEndpoint(), "judgement_get"), 1u);
}

}  // namespace
}  // namespace enrich
