// The CTIA client against ctia-sim on 127.0.0.1:0: GraphQL batches against REST, and (below)
// token expiry, rate limits, faults and credential rotation. Each test asserts the results
// and the request counts the simulator saw.

#include "schema/json_codec.h"
#include "tests/integration/sim_client_rig.h"
#include "tests/fakes/cli_rig.h"
#include "tests/fakes/test_pki.h"
#include "schema/time_format.h"
#include "tools/sim/sim_server.h"
#include "transport/connection_pool.h"
#include "transport/ctia_client.h"
#include "transport/io_threads.h"
#include "transport/oauth_token_source.h"

#include <atomic>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <future>
#include <memory>
#include <set>
#include <string>
#include <vector>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/blocking_counter.h"
#include "absl/synchronization/mutex.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include <sys/wait.h>
#include <unistd.h>

namespace enrich {
namespace {

using schema::Disposition;
using schema::Judgement;
using schema::Observable;
using ::testing::HasSubstr;
using ::enrich::testing::ClientRig;
using ::enrich::testing::EndpointTotal;
using ::enrich::testing::VerdictOr;

Judgement Make(Observable o, Disposition d, int64_t priority,
               absl::Time start = absl::Now() - absl::Hours(1),
               absl::Time end = schema::EndOfTime()) {
  Judgement j;
  j.observable = std::move(o);
  j.disposition = d;
  j.priority = priority;
  j.confidence = "High";
  j.severity = "Medium";
  j.source = "transport-sim-test";
  j.valid_time = {start, end};
  return j;
}

// Readable form of a result, for comparing two runs: "verdict <disp> <id> <type>:<value>
// <start>..<end>", "no_verdict", or "error <code>".
std::string Describe(const VerdictOr& r) {
  if (!r.ok()) return absl::StrCat("error ", r.status().ToString());
  if (std::holds_alternative<schema::NoVerdict>(*r)) return "no_verdict";
  const schema::Verdict& v = std::get<schema::Verdict>(*r);
  return absl::StrCat("verdict ", static_cast<int>(v.disposition), " ", v.judgement_id, " ",
                      v.observable.type, ":", v.observable.value, " ",
                      schema::FormatIsoTime(v.valid_time.start_time), "..",
                      schema::FormatIsoTime(v.valid_time.end_time));
}

uint64_t EndpointStatus(const sim::EndpointCounts& counts, const std::string& endpoint,
                        int status) {
  auto it = counts.find(endpoint);
  if (it == counts.end()) return 0;
  auto s = it->second.find(status);
  return s == it->second.end() ? 0 : s->second;
}

// A seeded set: 1000 observables of five types; every 10th has no judgement, every 10th
// (offset 1) only an expired one, every 10th (offset 2) an odd value (slashes, spaces, '+',
// '%', quotes, non-ASCII) that REST must percent-encode and GraphQL carries as a variable;
// domains are asked in upper case (CTIA matches case-insensitively and echoes the stored
// case); every 4th has a lower-priority loser. Returns the observables to ask and, per
// observable, the expected disposition (0 = no verdict).
struct SeededSet {
  std::vector<Observable> asked;
  std::vector<int> expected;
};

SeededSet Seed(sim::SimServer& sim, int n) {
  static const char* kTypes[] = {"domain", "ip", "url", "sha256", "email"};
  SeededSet set;
  std::vector<Judgement> judgements;
  for (int i = 0; i < n; ++i) {
    const std::string type = kTypes[i % 5];
    std::string stored;
    if (i % 10 == 2) {
      stored = absl::StrCat("odd/value+", i, " %2F \"q\" ünï;,?#");
    } else if (type == "domain") {
      stored = absl::StrCat("host-", i, ".example.test");
    } else if (type == "ip") {
      stored = absl::StrCat("10.", i / 256, ".", i % 256, ".7");
    } else if (type == "url") {
      stored = absl::StrCat("http://site-", i, ".example/path?q=", i);
    } else if (type == "sha256") {
      stored = std::string(64, "0123456789abcdef"[i % 16]);
      stored.replace(0, std::to_string(i).size(), std::to_string(i));
    } else {
      stored = absl::StrCat("user", i, "@example.test");
    }
    std::string asked = type == "domain" ? absl::AsciiStrToUpper(stored) : stored;
    int expected = 0;
    if (i % 10 == 0) {
      // no judgement
    } else if (i % 10 == 1) {
      judgements.push_back(Make({type, stored}, Disposition::kMalicious, 100,
                                absl::Now() - absl::Hours(48), absl::Now() - absl::Hours(24)));
    } else {
      expected = 1 + i % 5;
      judgements.push_back(Make({type, stored}, static_cast<Disposition>(expected), 95));
      if (i % 4 == 0) judgements.push_back(Make({type, stored}, Disposition::kClean, 50));
    }
    set.asked.push_back({type, asked});
    set.expected.push_back(expected);
  }
  sim.AddJudgements(std::move(judgements));
  return set;
}

TEST(TransportSimTest, GraphqlBatchesOf100GiveTheSameVerdictsAsRest) {
  sim::SimServer sim{sim::SimOptions{}};
  ASSERT_TRUE(sim.Start().ok());
  constexpr int kObservables = 1000;
  const SeededSet set = Seed(sim, kObservables);

  transport::CtiaClientOptions rest_options;
  rest_options.batch_size = 1;
  ClientRig rest(sim, rest_options);
  const std::vector<VerdictOr> by_rest = rest.LookupAll(set.asked);
  const sim::EndpointCounts after_rest = sim.CountsByEndpoint();
  EXPECT_EQ(EndpointTotal(after_rest, "verdict"), static_cast<uint64_t>(kObservables));
  EXPECT_EQ(EndpointTotal(after_rest, "graphql"), 0u);

  transport::CtiaClientOptions batch_options;
  batch_options.batch_size = 100;
  // Only full batches leave before the last lookup is added, so the request count is exact
  // however slowly this thread runs.
  batch_options.batch_linger = absl::Seconds(30);
  ClientRig batched(sim, batch_options);
  // The last batch is full too (1000 = 10 × 100), so nothing waits for the linger.
  const std::vector<VerdictOr> by_graphql = batched.LookupAll(set.asked);
  const sim::EndpointCounts after = sim.CountsByEndpoint();
  EXPECT_EQ(EndpointStatus(after, "graphql", 200), 10u);
  EXPECT_EQ(EndpointTotal(after, "graphql"), 10u);
  EXPECT_EQ(EndpointTotal(after, "verdict"), static_cast<uint64_t>(kObservables));  // unchanged
  const transport::CtiaClientCounters c = batched.client().Snapshot();
  EXPECT_EQ(c.graphql_requests, 10u);
  EXPECT_EQ(c.graphql_verdicts, static_cast<uint64_t>(kObservables));
  EXPECT_FALSE(c.graphql_unsupported);

  int verdicts = 0, no_verdicts = 0;
  for (int i = 0; i < kObservables; ++i) {
    SCOPED_TRACE(absl::StrCat(i, " ", set.asked[i].type, ":", set.asked[i].value));
    ASSERT_TRUE(by_rest[i].ok()) << by_rest[i].status();
    EXPECT_EQ(Describe(by_graphql[i]), Describe(by_rest[i]));
    if (set.expected[i] == 0) {
      EXPECT_EQ(Describe(by_rest[i]), "no_verdict");
      ++no_verdicts;
    } else {
      ASSERT_TRUE(std::holds_alternative<schema::Verdict>(*by_rest[i]));
      const schema::Verdict& v = std::get<schema::Verdict>(*by_rest[i]);
      EXPECT_EQ(static_cast<int>(v.disposition), set.expected[i]);
      // The stored case is echoed; the result is still the asked observable's.
      EXPECT_TRUE(absl::EqualsIgnoreCase(v.observable.value, set.asked[i].value));
      ++verdicts;
    }
  }
  EXPECT_EQ(verdicts, 800);
  EXPECT_EQ(no_verdicts, 200);
}

// ---- the same through `ctia-enrich run` ------------------------------------------------

using CliResult = ::enrich::testing::CommandResult;

using ::enrich::testing::ReadFileBytes;
using ::enrich::testing::RunCliLine;

TEST(TransportSimTest, RunWithBatchSize100WritesTheSameRowsAsRest) {
  sim::SimServer sim{sim::SimOptions{}};
  ASSERT_TRUE(sim.Start().ok());
  const std::filesystem::path dir =
      std::filesystem::temp_directory_path() / absl::StrCat("ctia-enrich-transport-sim-", getpid());
  std::filesystem::create_directories(dir);
  // 600 domains (some with verdicts, some without, asked in mixed case, some repeated) and
  // values that are not domains (`invalid`, no request) or empty (`skipped`).
  std::vector<Judgement> judgements;
  std::string csv = "id,domain\n";
  int distinct_valid = 0;
  for (int i = 0; i < 600; ++i) {
    std::string domain = absl::StrCat("row-", i, ".example.test");
    if (i % 3 != 0) {
      judgements.push_back(Make({"domain", domain}, static_cast<Disposition>(1 + i % 5), 90));
    }
    if (i % 50 == 7) {
      absl::StrAppend(&csv, i, ",not a domain!!\n");
    } else if (i % 50 == 8) {
      absl::StrAppend(&csv, i, ",\n");
    } else {
      absl::StrAppend(&csv, i, ",", i % 2 == 0 ? absl::AsciiStrToUpper(domain) : domain, "\n");
      ++distinct_valid;
    }
    if (i % 100 == 5) absl::StrAppend(&csv, i, "-again,", domain, "\n");
  }
  sim.AddJudgements(std::move(judgements));
  std::ofstream(dir / "in.csv", std::ios::binary) << csv;
  setenv("CTIA_CLIENT_ID", "client", 1);
  setenv("CTIA_CLIENT_SECRET", "secret", 1);
  const std::string common = absl::StrCat("run -i ", (dir / "in.csv").string(),
                                          " --column domain --endpoint ", sim.base_url());

  CliResult rest =
      RunCliLine(absl::StrCat(common, " -o ", (dir / "rest.csv").string(), " --batch-size 1"));
  ASSERT_EQ(rest.exit_code, 0) << rest.output;
  const sim::EndpointCounts after_rest = sim.CountsByEndpoint();
  EXPECT_EQ(EndpointTotal(after_rest, "verdict"), static_cast<uint64_t>(distinct_valid));
  EXPECT_EQ(EndpointTotal(after_rest, "graphql"), 0u);

  CliResult batched =
      RunCliLine(absl::StrCat(common, " -o ", (dir / "graphql.csv").string(), " --batch-size 100"));
  ASSERT_EQ(batched.exit_code, 0) << batched.output;
  const sim::EndpointCounts after = sim.CountsByEndpoint();
  EXPECT_EQ(EndpointTotal(after, "verdict"), static_cast<uint64_t>(distinct_valid));  // no REST
  // At least ceil(576 / 100) requests; more only when a batch left after its linger.
  EXPECT_GE(EndpointTotal(after, "graphql"), 6u);
  EXPECT_LE(EndpointTotal(after, "graphql"), 120u);

  const std::string rest_rows = ReadFileBytes((dir / "rest.csv").string());
  EXPECT_EQ(ReadFileBytes((dir / "graphql.csv").string()), rest_rows);
  EXPECT_THAT(rest_rows, HasSubstr("not a domain!!,,,,,invalid"));
  EXPECT_THAT(rest_rows, HasSubstr("row-1.example.test,2,Malicious,"));
  EXPECT_THAT(rest_rows, HasSubstr("ROW-0.EXAMPLE.TEST,,,,,no_verdict"));
  std::filesystem::remove_all(dir);
}

// ---- tokens, rate limits, faults, rotation ---------------------------------------------

// `n` domains "<prefix>-<i>.example.test"; those with i % 3 != 0 get a judgement of
// disposition 1 + i % 5. Returns the observables and the expected dispositions (0 = none).
SeededSet SeedDomains(sim::SimServer& sim, const std::string& prefix, int n) {
  SeededSet set;
  std::vector<Judgement> judgements;
  for (int i = 0; i < n; ++i) {
    Observable o{"domain", absl::StrCat(prefix, "-", i, ".example.test")};
    int expected = 0;
    if (i % 3 != 0) {
      expected = 1 + i % 5;
      judgements.push_back(Make(o, static_cast<Disposition>(expected), 90));
    }
    set.asked.push_back(std::move(o));
    set.expected.push_back(expected);
  }
  sim.AddJudgements(std::move(judgements));
  return set;
}

// The disposition of a result (0 = no verdict), or -1 for an error.
int Outcome(const VerdictOr& r) {
  if (!r.ok()) return -1;
  if (std::holds_alternative<schema::NoVerdict>(*r)) return 0;
  return static_cast<int>(std::get<schema::Verdict>(*r).disposition);
}

TEST(TransportSimTest, TokensLivingTwoSecondsAreRenewedThroughATwentySecondRun) {
  sim::SimOptions options;
  options.token_ttl = absl::Seconds(2);
  sim::SimServer sim{options};
  ASSERT_TRUE(sim.Start().ok());
  const SeededSet set = SeedDomains(sim, "ttl", 50);
  transport::CtiaClientOptions client_options;
  client_options.batch_size = 1;
  ClientRig rig(sim, client_options);

  // Ten lookups every 100 ms for 20 s (about 2000; paced so a loaded machine keeps up).
  const absl::Duration run = absl::Seconds(20);
  const absl::Time start = absl::Now();
  size_t lookups = 0, wrong = 0;
  for (size_t round = 0; absl::Now() - start < run; ++round) {
    std::vector<Observable> batch;
    std::vector<int> expected;
    for (size_t k = 0; k < 10; ++k) {
      const size_t i = (round * 10 + k) % set.asked.size();
      batch.push_back(set.asked[i]);
      expected.push_back(set.expected[i]);
    }
    const std::vector<VerdictOr> results = rig.LookupAll(batch, absl::Seconds(60));
    for (size_t k = 0; k < results.size(); ++k) {
      ++lookups;
      if (Outcome(results[k]) != expected[k]) {
        ++wrong;
        ADD_FAILURE() << batch[k].value << ": " << Describe(results[k]);
      }
    }
    absl::SleepFor(absl::Milliseconds(100));
  }
  const double seconds = absl::ToDoubleSeconds(absl::Now() - start);
  EXPECT_EQ(wrong, 0u);
  const sim::SimCounters counters = sim.Counters();
  const transport::CtiaClientCounters c = rig.client().Snapshot();
  EXPECT_EQ(counters.verdict_requests, c.verdict_requests);
  EXPECT_EQ(counters.token_requests, rig.token_requests());
  // Renewed at 80% of 2 s: about seconds / 1.6 + 1 tokens. The bounds leave room for a
  // stalled test thread (fewer) and for a token that expired in flight on a loaded machine
  // (a 401, one refresh and one retry: more).
  const double expected_tokens = seconds / 1.6 + 1;
  EXPECT_GE(static_cast<double>(counters.token_requests), expected_tokens * 0.6) << seconds << " s";
  EXPECT_LE(static_cast<double>(counters.token_requests), expected_tokens * 1.5 + 2)
      << seconds << " s";
  // Each 401 was followed by a refresh and a successful retry.
  EXPECT_EQ(c.verdict_requests, lookups + c.unauthorized);
  ::testing::Test::RecordProperty("lookups", static_cast<int>(lookups));
  ::testing::Test::RecordProperty("token_requests", static_cast<int>(counters.token_requests));
  ::testing::Test::RecordProperty("unauthorized", static_cast<int>(c.unauthorized));
}

TEST(TransportSimTest, RateLimit50Per10SecondsIsLearnedAndNeverExceeded) {
  sim::SimOptions options;
  options.rate_limit = 50;
  options.rate_limit_window = absl::Seconds(10);
  sim::SimServer sim{options};
  ASSERT_TRUE(sim.Start().ok());
  const SeededSet set = SeedDomains(sim, "rl", 100);
  transport::CtiaClientOptions client_options;
  client_options.batch_size = 1;  // one observable per quota unit, so the quota binds
  // CTIA sends the limit, never the window: the window is configuration (--rate-limit 50/10s
  // would set both; here only the window is set and the limit is learned).
  client_options.rate_limit.window = absl::Seconds(10);
  ClientRig rig(sim, client_options);

  // The first answer teaches the limit (X-RateLimit-GROUP-Limit: 50) ...
  const std::vector<VerdictOr> first = rig.LookupAll({set.asked[0]});
  ASSERT_EQ(Outcome(first[0]), set.expected[0]) << Describe(first[0]);
  EXPECT_EQ(rig.client().GroupLimit("default"), 50);
  // ... then 99 at once: 49 now, 50 when the first ones leave the window (about 10 s later).
  const absl::Time start = absl::Now();
  const std::vector<Observable> rest(set.asked.begin() + 1, set.asked.end());
  const std::vector<VerdictOr> results = rig.LookupAll(rest);
  const absl::Duration took = absl::Now() - start;
  for (size_t i = 0; i < rest.size(); ++i) {
    EXPECT_EQ(Outcome(results[i]), set.expected[i + 1])
        << rest[i].value << " " << Describe(results[i]);
  }
  const sim::EndpointCounts counts = sim.CountsByEndpoint();
  EXPECT_EQ(EndpointStatus(counts, "verdict", 429), 0u);
  EXPECT_EQ(EndpointTotal(counts, "verdict"), 100u);  // each lookup sent exactly once
  EXPECT_EQ(rig.client().Snapshot().rate_limited, 0u);
  EXPECT_GT(rig.client().Snapshot().budget_waits, 0u);
  EXPECT_GE(took, absl::Seconds(8));  // the second 50 waited for the window
}

TEST(TransportSimTest, RateLimitNotYetLearnedEvery429IsRetried) {
  sim::SimOptions options;
  options.rate_limit = 30;
  options.rate_limit_window = absl::Seconds(5);
  sim::SimServer sim{options};
  ASSERT_TRUE(sim.Start().ok());
  const SeededSet set = SeedDomains(sim, "rl429", 60);
  // The first answers come late, so all 60 lookups are counted and sent before an answer
  // teaches the limit (a client quicker than the test thread's 60 calls would otherwise learn
  // it early and pace the rest: nothing refused).
  sim::FaultRule slow_first;
  slow_first.kind = sim::FaultKind::kLatency;
  slow_first.path_prefix = "/ctia/";
  slow_first.next = 16;
  slow_first.latency = absl::Milliseconds(300);
  sim.AddFault(slow_first);
  transport::CtiaClientOptions client_options;
  client_options.batch_size = 1;
  client_options.rate_limit.window = absl::Seconds(5);
  ClientRig rig(sim, client_options);
  // 60 at once before any answer: the server refuses some; each refusal waits out its
  // Retry-After and is sent again; by then the limit is known.
  const std::vector<VerdictOr> results = rig.LookupAll(set.asked);
  for (size_t i = 0; i < results.size(); ++i) {
    EXPECT_EQ(Outcome(results[i]), set.expected[i]) << Describe(results[i]);
  }
  const sim::EndpointCounts counts = sim.CountsByEndpoint();
  const uint64_t refused = EndpointStatus(counts, "verdict", 429);
  EXPECT_GT(refused, 0u);
  EXPECT_EQ(EndpointTotal(counts, "verdict"), 60u + refused);
  const transport::CtiaClientCounters c = rig.client().Snapshot();
  EXPECT_EQ(c.rate_limited, refused);
  EXPECT_EQ(c.verdict_requests, 60u + refused);
}

TEST(TransportSimTest, FaultMixEveryLookupSettlesAndTheRunEnds) {
  sim::SimOptions options;
  options.fault_seed = 7;
  sim::SimServer sim{options};
  ASSERT_TRUE(sim.Start().ok());
  const SeededSet set = SeedDomains(sim, "fault", 400);
  // 5% 500, 2% resets (the connection closes mid-answer), 2% truncated bodies, 1% hung
  // answers, on the verdict and GraphQL routes (never the token endpoint).
  auto add = [&sim](sim::FaultKind kind, double percentage) {
    sim::FaultRule rule;
    rule.kind = kind;
    rule.path_prefix = "/ctia/";
    rule.percentage = percentage;
    rule.hang = absl::Seconds(30);
    sim.AddFault(rule);
  };
  add(sim::FaultKind::kStatus500, 5);
  add(sim::FaultKind::kCloseMidResponse, 2);
  add(sim::FaultKind::kTruncatedBody, 2);
  add(sim::FaultKind::kHang, 1);

  transport::PoolOptions pool_options;
  pool_options.connections = 8;
  pool_options.request_timeout = absl::Seconds(2);
  pool_options.first_byte_timeout = absl::Seconds(2);
  for (size_t batch_size : {size_t{1}, size_t{20}}) {
    SCOPED_TRACE(absl::StrCat("batch size ", batch_size));
    transport::CtiaClientOptions client_options;
    client_options.batch_size = batch_size;
    client_options.max_attempts = 4;
    client_options.retry_backoff = absl::Milliseconds(10);
    client_options.max_backoff = absl::Milliseconds(100);
    client_options.batch_linger = absl::Milliseconds(5);
    const sim::EndpointCounts before = sim.CountsByEndpoint();
    ClientRig rig(sim, client_options, {{"client", "secret", "default"}}, pool_options);
    const absl::Time start = absl::Now();
    const std::vector<VerdictOr> results = rig.LookupAll(set.asked, absl::Seconds(150));
    EXPECT_LT(absl::Now() - start, absl::Seconds(150));  // the run ends
    size_t right = 0, failed = 0;
    for (size_t i = 0; i < results.size(); ++i) {
      if (results[i].ok()) {
        // A lookup that settled has the right answer.
        EXPECT_EQ(Outcome(results[i]), set.expected[i]) << Describe(results[i]);
        ++right;
      } else {
        // Or it failed for good with a transport/server error after its attempts.
        const absl::StatusCode code = results[i].status().code();
        EXPECT_TRUE(code == absl::StatusCode::kUnavailable ||
                    code == absl::StatusCode::kDeadlineExceeded ||
                    code == absl::StatusCode::kInvalidArgument)
            << results[i].status();
        ++failed;
      }
    }
    EXPECT_EQ(right + failed, set.asked.size());
    // With four attempts and about 10% faults per attempt, failing for good is rare.
    EXPECT_LE(failed, set.asked.size() / 20) << failed << " failed";
    const transport::CtiaClientCounters c = rig.client().Snapshot();
    const sim::EndpointCounts after = sim.CountsByEndpoint();
    const std::string endpoint = batch_size == 1 ? "verdict" : "graphql";
    const uint64_t seen = EndpointTotal(after, endpoint) - EndpointTotal(before, endpoint);
    const uint64_t sent = batch_size == 1 ? c.verdict_requests : c.graphql_requests;
    // Every send reached the server once, or twice when the pool resent it on a fresh
    // connection after a stale keep-alive one failed.
    EXPECT_GE(seen, sent);
    EXPECT_LE(seen, sent + rig.pool().Snapshot().stale_retries);
    EXPECT_GT(c.retries, 0u);
    // Every send is a first attempt, a retry or a hedge (a hung attempt sent once more); a
    // lookup (batch) has at most four attempts. A batch is usually full (20 lookups) but may
    // leave early after its linger.
    const uint64_t calls = sent - c.retries - c.hedges;
    if (batch_size == 1) {
      EXPECT_EQ(calls, set.asked.size());
    } else {
      EXPECT_GE(calls, set.asked.size() / 20);
      EXPECT_LE(calls, set.asked.size());
    }
    EXPECT_LE(sent, calls * 4 + c.hedges);
    EXPECT_LE(c.hedges, sent - c.hedges);  // at most one hedge per attempt
    EXPECT_FALSE(c.graphql_unsupported);
    ::testing::Test::RecordProperty(absl::StrCat("failed_batch_", batch_size),
                                    static_cast<int>(failed));
  }
}

TEST(TransportSimTest, TwoCredentialsInTwoOrgsDoubleTheUsableQuota) {
  sim::SimOptions options;
  options.clients = {sim::SimClient{"c1", "s1", "org-1"}, sim::SimClient{"c2", "s2", "org-2"}};
  options.rate_limit = 20;
  options.rate_limit_window = absl::Seconds(30);
  sim::SimServer sim{options};
  ASSERT_TRUE(sim.Start().ok());
  const SeededSet set = SeedDomains(sim, "org", 60);
  // Waits for quota longer than 1 s end the lookup with the checkpoint signal (the engine
  // would stop with exit code 75), so the usable quota is what settles.
  transport::CtiaClientOptions client_options;
  client_options.batch_size = 1;
  client_options.rate_limit.max_wait = absl::Seconds(1);

  auto usable = [&](std::vector<ClientRig::Credential> credentials) {
    ClientRig rig(sim, client_options, credentials);
    size_t ok = 0, checkpoints = 0;
    // One lookup per credential first, so each org's limit is learned before the burst.
    for (size_t i = 0; i < credentials.size(); ++i) {
      const std::vector<VerdictOr> r = rig.LookupAll({set.asked[i]});
      EXPECT_EQ(Outcome(r[0]), set.expected[i]) << Describe(r[0]);
      ok += r[0].ok();
    }
    const std::vector<Observable> burst(set.asked.begin() + static_cast<long>(credentials.size()),
                                        set.asked.end());
    const std::vector<VerdictOr> results = rig.LookupAll(burst);
    for (size_t i = 0; i < results.size(); ++i) {
      if (results[i].ok()) {
        EXPECT_EQ(Outcome(results[i]), set.expected[i + credentials.size()]);
        ++ok;
      } else {
        EXPECT_TRUE(transport::CheckpointWait(results[i].status()).has_value())
            << results[i].status();
        ++checkpoints;
      }
    }
    EXPECT_EQ(ok + checkpoints, set.asked.size());
    EXPECT_EQ(rig.client().Snapshot().rate_limited, 0u);
    return ok;
  };
  const size_t one_org = usable({{"c1", "s1", "org-1"}});
  EXPECT_EQ(one_org, 20u);
  sim.Reset();  // empties the rate-limit logs (and the store: seed again)
  SeedDomains(sim, "org", 60);
  const size_t two_orgs = usable({{"c1", "s1", "org-1"}, {"c2", "s2", "org-2"}});
  EXPECT_EQ(two_orgs, 40u);
  EXPECT_EQ(two_orgs, 2 * one_org);
  const sim::EndpointCounts counts = sim.CountsByEndpoint();
  EXPECT_EQ(EndpointStatus(counts, "verdict", 429), 0u);
  EXPECT_EQ(EndpointTotal(counts, "verdict"), 40u);
}

TEST(TransportSimTest, AGraphqlBatchSpendsOneQuotaUnit) {
  sim::SimOptions options;
  options.rate_limit = 3;  // per org per hour
  options.rate_limit_window = absl::Hours(1);
  sim::SimServer sim{options};
  ASSERT_TRUE(sim.Start().ok());
  const SeededSet set = SeedDomains(sim, "quota", 400);
  transport::CtiaClientOptions client_options;
  client_options.batch_size = 100;
  client_options.batch_linger = absl::Seconds(30);  // only full batches leave
  client_options.rate_limit.max_wait = absl::Seconds(1);
  ClientRig rig(sim, client_options);
  // Three quota units answer 300 observables.
  const std::vector<Observable> first(set.asked.begin(), set.asked.begin() + 300);
  const std::vector<VerdictOr> answered = rig.LookupAll(first);
  for (size_t i = 0; i < answered.size(); ++i) {
    EXPECT_EQ(Outcome(answered[i]), set.expected[i]) << Describe(answered[i]);
  }
  EXPECT_EQ(rig.client().GroupLimit("default"), 3);
  // The fourth batch would wait an hour for quota: checkpoint, and no request is spent on it.
  const std::vector<Observable> rest(set.asked.begin() + 300, set.asked.end());
  for (const VerdictOr& r : rig.LookupAll(rest)) {
    EXPECT_TRUE(transport::CheckpointWait(r.status()).has_value()) << r.status();
  }
  const sim::EndpointCounts counts = sim.CountsByEndpoint();
  EXPECT_EQ(EndpointStatus(counts, "graphql", 200), 3u);
  EXPECT_EQ(EndpointTotal(counts, "graphql"), 3u);
  EXPECT_EQ(EndpointTotal(counts, "verdict"), 0u);
}

// ---- judgements list with X-Next paging ------------------------------------------------

TEST(TransportSimTest, JudgementsFollowsXNextAcrossPages) {
  sim::SimServer sim{sim::SimOptions{}};
  ASSERT_TRUE(sim.Start().ok());
  // 250 judgements on one IP (a quarter of them expired: the list includes those), 20 on
  // another that must not appear, 200 on a third (a whole number of pages).
  std::vector<Judgement> judgements;
  for (int i = 0; i < 250; ++i) {
    judgements.push_back(Make({"ip", "10.9.9.9"}, static_cast<Disposition>(1 + i % 5), i,
                              absl::Now() - absl::Hours(48),
                              i % 4 == 0 ? absl::Now() - absl::Hours(1) : schema::EndOfTime()));
  }
  for (int i = 0; i < 20; ++i)
    judgements.push_back(Make({"ip", "10.9.9.8"}, Disposition::kClean, 1));
  for (int i = 0; i < 200; ++i) {
    judgements.push_back(Make({"domain", "Paged.Example"}, Disposition::kSuspicious, i));
  }
  const std::vector<std::string> ids = sim.AddJudgements(std::move(judgements));
  ASSERT_EQ(ids.size(), 470u);

  transport::CtiaClientOptions options;
  ClientRig rig(sim, options);
  auto list = [&rig](Observable o, int page_size) {
    std::promise<absl::StatusOr<std::vector<Judgement>>> done;
    rig.client().Judgements(o, {page_size, 1000},
                            [&done](auto result) { done.set_value(std::move(result)); });
    auto f = done.get_future();
    EXPECT_EQ(f.wait_for(std::chrono::seconds(60)), std::future_status::ready);
    return f.get();
  };

  auto first = list({"ip", "10.9.9.9"}, 100);
  ASSERT_TRUE(first.ok()) << first.status();
  ASSERT_EQ(first->size(), 250u);
  std::set<std::string> got;
  for (const Judgement& j : *first) {
    EXPECT_EQ(j.observable.value, "10.9.9.9");
    got.insert(j.id);
  }
  EXPECT_EQ(got, std::set<std::string>(ids.begin(), ids.begin() + 250));  // each once
  // Pages of 100, 100, 50: three requests.
  EXPECT_EQ(EndpointTotal(sim.CountsByEndpoint(), "judgements"), 3u);
  EXPECT_EQ(rig.client().Snapshot().list_requests, 3u);

  // 200 in pages of 100: the second page is full, so the server offers a third, empty one.
  auto second = list({"domain", "paged.example"}, 100);
  ASSERT_TRUE(second.ok()) << second.status();
  EXPECT_EQ(second->size(), 200u);
  EXPECT_EQ(EndpointTotal(sim.CountsByEndpoint(), "judgements"), 6u);

  // Small pages: 250 / 7 → 36 pages (35 full, one of 5).
  auto small = list({"ip", "10.9.9.9"}, 7);
  ASSERT_TRUE(small.ok()) << small.status();
  std::set<std::string> small_ids;
  for (const Judgement& j : *small) small_ids.insert(j.id);
  EXPECT_EQ(small->size(), 250u);
  EXPECT_EQ(small_ids, got);
  EXPECT_EQ(EndpointTotal(sim.CountsByEndpoint(), "judgements"), 6u + 36u);

  // Nothing there: one request, an empty list.
  auto none = list({"ip", "10.1.1.1"}, 100);
  ASSERT_TRUE(none.ok()) << none.status();
  EXPECT_TRUE(none->empty());
}

// ---- HTTPS: ctia-sim with a certificate from a CA made in the test --------------------

class TlsSimTest : public ::testing::Test {
 protected:
  void SetUp() override {
    absl::StatusOr<testing::TestPki> pki = testing::MakeTestPki({"localhost"}, {"127.0.0.1"});
    ASSERT_TRUE(pki.ok()) << pki.status();
    pki_ = *pki;
    ca_file_ = testing::WriteTempFile("tls_sim_ca.pem", pki_.ca_cert_pem);
    sim::SimOptions options;
    options.tls_cert_pem = pki_.server_cert_pem;
    options.tls_key_pem = pki_.server_key_pem;
    sim_ = std::make_unique<sim::SimServer>(options);
    ASSERT_TRUE(sim_->Start().ok());
  }

  testing::TestPki pki_;
  std::string ca_file_;
  std::unique_ptr<sim::SimServer> sim_;
};

TEST_F(TlsSimTest, ClientTrustingTheCaGetsTokensAndVerdicts) {
  ASSERT_EQ(sim_->base_url(), absl::StrCat("https://127.0.0.1:", sim_->port()));
  const SeededSet set = SeedDomains(*sim_, "tls", 60);
  transport::PoolOptions pool_options;
  pool_options.connections = 4;
  pool_options.tls.ca_file = ca_file_;
  transport::CtiaClientOptions client_options;
  client_options.batch_size = 1;
  ClientRig rig(*sim_, client_options, {{"client", "secret", "default"}}, pool_options);
  const std::vector<VerdictOr> results = rig.LookupAll(set.asked);
  ASSERT_EQ(results.size(), set.asked.size());
  for (size_t i = 0; i < results.size(); ++i) {
    EXPECT_EQ(Outcome(results[i]), set.expected[i]) << set.asked[i].value << ": "
                                                    << Describe(results[i]);
  }
  EXPECT_EQ(rig.token_requests(), 1u);
  EXPECT_EQ(EndpointStatus(sim_->CountsByEndpoint(), "token", 200), 1u);
  EXPECT_EQ(EndpointTotal(sim_->CountsByEndpoint(), "verdict"), set.asked.size());
}

TEST_F(TlsSimTest, ClientWithoutTheCaFailsWithCertificateVerifyFailed) {
  const SeededSet set = SeedDomains(*sim_, "untrusted", 3);
  transport::CtiaClientOptions client_options;
  client_options.batch_size = 1;
  ClientRig rig(*sim_, client_options);  // system CA store: does not know the test CA
  const std::vector<VerdictOr> results = rig.LookupAll(set.asked);
  for (const VerdictOr& r : results) {
    ASSERT_FALSE(r.ok()) << Describe(r);
    EXPECT_THAT(std::string(r.status().message()), HasSubstr("certificate verify failed"));
  }
  // The handshake failed: nothing reached the HTTP layer.
  EXPECT_EQ(sim_->Counters().total, 0u);
}

TEST_F(TlsSimTest, RunEnrichesOverHttpsWithCaFileAndFailsClearlyWithoutIt) {
  const SeededSet set = SeedDomains(*sim_, "cli-tls", 6);
  const std::filesystem::path dir = std::filesystem::temp_directory_path() /
                                    absl::StrCat("ctia-enrich-tls-sim-", getpid());
  std::filesystem::create_directories(dir);
  std::string csv = "id,domain\n";
  for (size_t i = 0; i < set.asked.size(); ++i) {
    absl::StrAppend(&csv, i, ",", set.asked[i].value, "\n");
  }
  std::ofstream(dir / "in.csv", std::ios::binary) << csv;
  setenv("CTIA_CLIENT_ID", "client", 1);
  setenv("CTIA_CLIENT_SECRET", "secret", 1);
  const std::string common =
      absl::StrCat("run -i ", (dir / "in.csv").string(), " --column domain --endpoint ",
                   sim_->base_url(), " --token-url ", sim_->base_url(),
                   "/iroh/oauth2/token --batch-size 1");

  CliResult ok = RunCliLine(absl::StrCat(common, " -o ", (dir / "out.csv").string(), " --ca-file ",
                                     ca_file_));
  ASSERT_EQ(ok.exit_code, 0) << ok.output;
  const std::string rows = ReadFileBytes((dir / "out.csv").string());
  // SeedDomains: i % 3 != 0 has disposition 1 + i % 5 (1 Clean, 2 Malicious, 3 Suspicious).
  EXPECT_THAT(rows, HasSubstr("cli-tls-0.example.test,,,,,no_verdict"));
  EXPECT_THAT(rows, HasSubstr("cli-tls-1.example.test,2,Malicious,"));
  EXPECT_THAT(rows, HasSubstr("cli-tls-2.example.test,3,Suspicious,"));
  EXPECT_THAT(rows, HasSubstr("cli-tls-3.example.test,,,,,no_verdict"));
  EXPECT_THAT(rows, HasSubstr("cli-tls-5.example.test,1,Clean,"));
  EXPECT_EQ(EndpointTotal(sim_->CountsByEndpoint(), "verdict"), 6u);

  CliResult refused = RunCliLine(absl::StrCat(common, " -o ", (dir / "refused.csv").string()));
  EXPECT_NE(refused.exit_code, 0) << refused.output;
  EXPECT_THAT(refused.output, HasSubstr("certificate verify failed"));
  EXPECT_EQ(EndpointTotal(sim_->CountsByEndpoint(), "verdict"), 6u);
  std::filesystem::remove_all(dir);
}

TEST(TlsSimConfigTest, MismatchedKeyOrBadPemIsRefusedAtStart) {
  absl::StatusOr<testing::TestPki> a = testing::MakeTestPki({"localhost"}, {"127.0.0.1"});
  absl::StatusOr<testing::TestPki> b = testing::MakeTestPki({"localhost"}, {"127.0.0.1"});
  ASSERT_TRUE(a.ok() && b.ok());
  sim::SimOptions mismatched;
  mismatched.tls_cert_pem = a->server_cert_pem;
  mismatched.tls_key_pem = b->server_key_pem;
  absl::StatusOr<uint16_t> started = sim::SimServer(mismatched).Start();
  ASSERT_FALSE(started.ok());
  EXPECT_THAT(std::string(started.status().message()),
              HasSubstr("private key does not match the certificate"));

  EXPECT_THAT(std::string(sim::CheckTlsCredentials("not pem", a->server_key_pem).message()),
              HasSubstr("certificate chain: "));
  EXPECT_THAT(std::string(sim::CheckTlsCredentials(a->server_cert_pem, "not pem").message()),
              HasSubstr("private key: "));
  EXPECT_TRUE(sim::CheckTlsCredentials(a->server_cert_pem, a->server_key_pem).ok());
}

// ctia-sim --tls-cert/--tls-key: errors name the file; exit code 2 before listening.
TEST(TlsSimConfigTest, CtiaSimNamesTheUnreadableOrMismatchedFile) {
  absl::StatusOr<testing::TestPki> a = testing::MakeTestPki({"localhost"}, {"127.0.0.1"});
  absl::StatusOr<testing::TestPki> b = testing::MakeTestPki({"localhost"}, {"127.0.0.1"});
  ASSERT_TRUE(a.ok() && b.ok());
  const std::string cert = testing::WriteTempFile("sim_tls_cert.pem", a->server_cert_pem);
  const std::string other_key = testing::WriteTempFile("sim_tls_other_key.pem",
                                                       b->server_key_pem);
  auto run_sim = [](const std::string& args) {
    return ::enrich::testing::RunCommandLine(CTIA_SIM_BIN, "--port 0 " + args);
  };
  const std::string missing = cert + ".missing";
  CliResult unreadable = run_sim(absl::StrCat("--tls-cert ", missing, " --tls-key ", other_key));
  EXPECT_EQ(unreadable.exit_code, 2) << unreadable.output;
  EXPECT_THAT(unreadable.output, HasSubstr("--tls-cert " + missing + ": cannot read the file"));

  CliResult mismatch = run_sim(absl::StrCat("--tls-cert ", cert, " --tls-key ", other_key));
  EXPECT_EQ(mismatch.exit_code, 2) << mismatch.output;
  EXPECT_THAT(mismatch.output, HasSubstr(absl::StrCat("--tls-key ", other_key, " and --tls-cert ",
                                                      cert,
                                                      ": private key does not match the "
                                                      "certificate")));

  CliResult half = run_sim(absl::StrCat("--tls-cert ", cert));
  EXPECT_EQ(half.exit_code, 2) << half.output;
  EXPECT_THAT(half.output, HasSubstr("--tls-cert and --tls-key must be given together"));
}

}  // namespace
}  // namespace enrich
