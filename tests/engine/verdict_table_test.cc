#include "engine/verdict_table.h"

#include "schema/clock.h"
#include "schema/time_format.h"

#include <algorithm>
#include <atomic>
#include <cstdio>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include <gtest/gtest.h>

namespace enrich::engine {
namespace {

using schema::Disposition;

// Records what it is told.
class RecordingListener : public SettleListener {
 public:
  void OnSettled(uint32_t slot, const Settled& s) override {
    absl::MutexLock lock(&mu_);
    told_.emplace_back(slot, s);
  }
  std::vector<std::pair<uint32_t, Settled>> told() {
    absl::MutexLock lock(&mu_);
    return told_;
  }

 private:
  absl::Mutex mu_;
  std::vector<std::pair<uint32_t, Settled>> told_;
};

schema::Verdict MakeVerdict(absl::Time end, std::string id = "judgement-1") {
  schema::Verdict v;
  v.disposition = Disposition::kMalicious;
  v.disposition_name = "Malicious";
  v.judgement_id = std::move(id);
  v.valid_time = {absl::UnixEpoch(), end};
  return v;
}

class VerdictTableTest : public ::testing::Test {
 protected:
  schema::FakeClock clock_{absl::FromUnixSeconds(1'700'000'000)};
};

TEST_F(VerdictTableTest, ResolveBatchAnswersEachKeyAsResolveWould) {
  VerdictTable::Options options;
  options.shards = 4;  // several keys per shard
  VerdictTable table(clock_, options);
  for (int i = 0; i < 50; ++i) {
    table.Restore("domain", absl::StrCat("cached", i, ".com"),
                  schema::VerdictResult(MakeVerdict(schema::EndOfTime(), absl::StrCat("j", i))), "",
                  clock_.Now());
  }
  RecordingListener earlier, batch;
  ASSERT_EQ(table.Resolve("ip", "10.0.0.1", &earlier, 0).resolution,
            VerdictTable::Resolution::kMiss);
  // Hits, a key already in flight, new keys, and a new key twice in the same batch.
  std::vector<std::string> values;
  std::vector<VerdictTable::Key> keys;
  for (int i = 0; i < 50; ++i) values.push_back(absl::StrCat("cached", i, ".com"));
  for (int i = 0; i < 30; ++i) values.push_back(absl::StrCat("new", i, ".com"));
  values.push_back("new7.com");
  for (const std::string& v : values) keys.push_back({"domain", v});
  keys.push_back({"ip", "10.0.0.1"});
  std::vector<VerdictTable::ResolveResult> results(keys.size());
  table.ResolveBatch(keys, &batch, 100, results.data());
  for (int i = 0; i < 50; ++i) {
    ASSERT_EQ(results[i].resolution, VerdictTable::Resolution::kHit) << i;
    EXPECT_EQ(results[i].settled.judgement_id, absl::StrCat("j", i));
  }
  for (int i = 50; i < 80; ++i) {
    EXPECT_EQ(results[i].resolution, VerdictTable::Resolution::kMiss) << i;
  }
  EXPECT_EQ(results[80].resolution, VerdictTable::Resolution::kJoined);  // new7.com again
  EXPECT_EQ(results[81].resolution, VerdictTable::Resolution::kJoined);  // the ip in flight
  EXPECT_EQ(table.size(), 50u + 30u + 1u);

  // Settling tells the batch's listener with the slot of each key (first_slot + index).
  table.Complete("domain", "new7.com", schema::VerdictResult(schema::NoVerdict{}));
  table.Complete("ip", "10.0.0.1", schema::VerdictResult(schema::NoVerdict{}));
  std::vector<uint32_t> slots;
  for (const auto& [slot, settled] : batch.told()) slots.push_back(slot);
  std::sort(slots.begin(), slots.end());
  EXPECT_EQ(slots, (std::vector<uint32_t>{157, 180, 181}));
  ASSERT_EQ(earlier.told().size(), 1u);
  EXPECT_EQ(earlier.told()[0].first, 0u);
}

TEST_F(VerdictTableTest, MissThenJoinThenHit) {
  VerdictTable table(clock_);
  RecordingListener a, b, c;
  EXPECT_EQ(table.Resolve("domain", "x.com", &a, 7).resolution, VerdictTable::Resolution::kMiss);
  EXPECT_EQ(table.Resolve("domain", "x.com", &b, 9).resolution,
            VerdictTable::Resolution::kJoined);
  EXPECT_TRUE(a.told().empty());
  table.Complete("domain", "x.com", schema::VerdictResult(MakeVerdict(schema::EndOfTime())));
  ASSERT_EQ(a.told().size(), 1u);
  EXPECT_EQ(a.told()[0].first, 7u);
  EXPECT_EQ(a.told()[0].second.kind, Settled::Kind::kVerdict);
  EXPECT_EQ(a.told()[0].second.judgement_id, "judgement-1");
  ASSERT_EQ(b.told().size(), 1u);
  EXPECT_EQ(b.told()[0].first, 9u);

  auto hit = table.Resolve("domain", "x.com", &c, 0);
  EXPECT_EQ(hit.resolution, VerdictTable::Resolution::kHit);
  EXPECT_EQ(hit.settled.disposition, 2);
  EXPECT_EQ(hit.settled.valid_until_ms, absl::ToUnixMillis(schema::EndOfTime()));
  EXPECT_TRUE(c.told().empty());
  // The type is part of the key.
  EXPECT_EQ(table.Resolve("url", "x.com", &c, 0).resolution, VerdictTable::Resolution::kMiss);
}

TEST_F(VerdictTableTest, SingleFlightUnderConcurrency) {
  VerdictTable table(clock_);
  constexpr int kThreads = 8;
  constexpr int kKeys = 2000;
  std::atomic<int> misses{0};
  std::atomic<int> settled{0};
  class Counter : public SettleListener {
   public:
    explicit Counter(std::atomic<int>& n) : n_(n) {}
    void OnSettled(uint32_t, const Settled&) override { n_.fetch_add(1); }
    std::atomic<int>& n_;
  } counter(settled);
  std::vector<std::thread> threads;
  std::atomic<int> hits{0};
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&] {
      for (int k = 0; k < kKeys; ++k) {
        const std::string value = absl::StrCat("host", k, ".example");
        auto r = table.Resolve("domain", value, &counter, 0);
        if (r.resolution == VerdictTable::Resolution::kMiss) {
          misses.fetch_add(1);
          table.Complete("domain", value, schema::VerdictResult(schema::NoVerdict{}));
        } else if (r.resolution == VerdictTable::Resolution::kHit) {
          hits.fetch_add(1);
        }
      }
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_EQ(misses.load(), kKeys);  // exactly one lookup per key
  EXPECT_EQ(settled.load() + hits.load(), kThreads * kKeys);  // everyone got an answer
  EXPECT_EQ(table.size(), static_cast<size_t>(kKeys));
}

TEST_F(VerdictTableTest, VerdictExpiresAtEndTimeCappedByMaxTtl) {
  VerdictTable::Options options;
  options.max_ttl = absl::Hours(2);
  VerdictTable table(clock_, options);
  RecordingListener l;
  // Ends in 1 hour: expires then.
  table.Resolve("domain", "soon.com", &l, 0);
  table.Complete("domain", "soon.com",
                 schema::VerdictResult(MakeVerdict(clock_.Now() + absl::Hours(1))));
  // Ends far away: capped at 2 hours.
  table.Resolve("domain", "far.com", &l, 0);
  table.Complete("domain", "far.com", schema::VerdictResult(MakeVerdict(schema::EndOfTime())));

  clock_.Advance(absl::Minutes(59));
  EXPECT_EQ(table.Resolve("domain", "soon.com", &l, 0).resolution, VerdictTable::Resolution::kHit);
  clock_.Advance(absl::Minutes(1));
  EXPECT_EQ(table.Resolve("domain", "soon.com", &l, 0).resolution,
            VerdictTable::Resolution::kMiss);
  EXPECT_EQ(table.Resolve("domain", "far.com", &l, 0).resolution, VerdictTable::Resolution::kHit);
  clock_.Advance(absl::Hours(1));
  EXPECT_EQ(table.Resolve("domain", "far.com", &l, 0).resolution,
            VerdictTable::Resolution::kMiss);
}

TEST_F(VerdictTableTest, NoVerdictIsCachedForTheNegativeTtl) {
  VerdictTable::Options options;
  options.negative_ttl = absl::Minutes(10);
  VerdictTable table(clock_, options);
  RecordingListener l;
  table.Resolve("ip", "10.0.0.1", &l, 0);
  table.Complete("ip", "10.0.0.1", schema::VerdictResult(schema::NoVerdict{}));
  auto r = table.Resolve("ip", "10.0.0.1", &l, 0);
  EXPECT_EQ(r.resolution, VerdictTable::Resolution::kHit);
  EXPECT_EQ(r.settled.kind, Settled::Kind::kNoVerdict);
  clock_.Advance(absl::Minutes(10));
  EXPECT_EQ(table.Resolve("ip", "10.0.0.1", &l, 0).resolution, VerdictTable::Resolution::kMiss);
}

TEST_F(VerdictTableTest, CompleteBatchSettlesEachKeyAsCompleteWould) {
  VerdictTable::Options options;
  options.shards = 4;  // several keys per shard
  VerdictTable table(clock_, options);
  RecordingListener l;
  std::vector<std::string> values;
  for (int i = 0; i < 60; ++i) values.push_back(absl::StrCat("k", i, ".com"));
  std::vector<absl::StatusOr<schema::VerdictResult>> results;
  std::vector<VerdictTable::Completion> done;
  for (int i = 0; i < 60; ++i) {
    // Keys 0..49 are pending with a listener (two for every tenth); 50..59 were never resolved.
    if (i < 50) {
      EXPECT_EQ(table.Resolve("domain", values[i], &l, i).resolution,
                VerdictTable::Resolution::kMiss);
      if (i % 10 == 0) {
        EXPECT_EQ(table.Resolve("domain", values[i], &l, 100 + i).resolution,
                  VerdictTable::Resolution::kJoined);
      }
    }
    switch (i % 3) {
      case 0:
        results.emplace_back(
            schema::VerdictResult(MakeVerdict(schema::EndOfTime(), absl::StrCat("j", i))));
        break;
      case 1:
        results.emplace_back(schema::VerdictResult(schema::NoVerdict{}));
        break;
      default:
        results.emplace_back(absl::UnavailableError("http 503"));
        break;
    }
  }
  for (int i = 0; i < 60; ++i) {
    done.push_back({"domain", values[i], &results[i], i % 3 == 2 ? "error:503" : ""});
  }
  table.CompleteBatch(done);

  auto expect_answer = [&](int i, const Settled& s) {
    switch (i % 3) {
      case 0:
        EXPECT_EQ(s.kind, Settled::Kind::kVerdict) << i;
        EXPECT_EQ(s.judgement_id, absl::StrCat("j", i));
        break;
      case 1:
        EXPECT_EQ(s.kind, Settled::Kind::kNoVerdict) << i;
        break;
      default:
        EXPECT_EQ(s.kind, Settled::Kind::kFailed) << i;
        EXPECT_EQ(s.error, "error:503");
        break;
    }
  };
  // Every listener told once, with its key's answer.
  const auto told = l.told();
  ASSERT_EQ(told.size(), 55u);
  std::vector<int> seen(160, 0);
  for (const auto& [slot, s] : told) {
    ++seen[slot];
    expect_answer(slot >= 100 ? static_cast<int>(slot) - 100 : static_cast<int>(slot), s);
  }
  for (int i = 0; i < 50; ++i) {
    EXPECT_EQ(seen[i], 1) << i;
    EXPECT_EQ(seen[100 + i], i % 10 == 0 ? 1 : 0) << i;
  }
  // And every key is now a cache hit with its answer, the never-resolved ones too.
  for (int i = 0; i < 60; ++i) {
    auto r = table.Resolve("domain", values[i], &l, 0);
    ASSERT_EQ(r.resolution, VerdictTable::Resolution::kHit) << i;
    expect_answer(i, r.settled);
  }
  EXPECT_EQ(table.size(), 60u);
}

TEST_F(VerdictTableTest, FailureIsCachedWithItsText) {
  VerdictTable table(clock_);
  RecordingListener l;
  table.Resolve("domain", "down.com", &l, 3);
  table.Complete("domain", "down.com", absl::UnavailableError("http 503"), "error:503");
  ASSERT_EQ(l.told().size(), 1u);
  EXPECT_EQ(l.told()[0].second.kind, Settled::Kind::kFailed);
  EXPECT_EQ(l.told()[0].second.error, "error:503");
  auto r = table.Resolve("domain", "down.com", &l, 0);
  EXPECT_EQ(r.resolution, VerdictTable::Resolution::kHit);
  EXPECT_EQ(r.settled.error, "error:503");
}

TEST_F(VerdictTableTest, AbandonTellsWaitersAndForgetsTheKey) {
  VerdictTable table(clock_);
  RecordingListener l;
  table.Resolve("domain", "a.com", &l, 1);
  table.Resolve("domain", "a.com", &l, 2);
  table.Abandon("domain", "a.com", "checkpoint");
  ASSERT_EQ(l.told().size(), 2u);
  EXPECT_EQ(l.told()[1].second.error, "checkpoint");
  EXPECT_EQ(table.Resolve("domain", "a.com", &l, 0).resolution, VerdictTable::Resolution::kMiss);
}

TEST_F(VerdictTableTest, RestoredAnswersExpireCountingFromTheirSettlement) {
  // Settled 55 minutes ago, capped at 1 hour: 5 minutes left.
  VerdictTable::Options options;
  options.max_ttl = absl::Hours(1);
  VerdictTable table(clock_, options);
  table.Restore("domain", "pre.com",
                schema::VerdictResult(MakeVerdict(schema::EndOfTime(), "j-7")), "",
                clock_.Now() - absl::Minutes(55));
  RecordingListener l;
  auto r = table.Resolve("domain", "pre.com", &l, 0);
  ASSERT_EQ(r.resolution, VerdictTable::Resolution::kHit);
  EXPECT_EQ(r.settled.judgement_id, "j-7");
  clock_.Advance(absl::Minutes(5));
  EXPECT_EQ(table.Resolve("domain", "pre.com", &l, 0).resolution,
            VerdictTable::Resolution::kMiss);
}

// RestoreBatch groups its items by shard: the table it leaves must be the one of Restore()
// called item by item, in order: a later answer for a key replaces an earlier one, expired
// answers resolve as misses, failures keep their text, a pending key is left to its lookup.
TEST_F(VerdictTableTest, RestoreBatchGivesTheTableOfOneByOneRestores) {
  VerdictTable::Options options;
  options.shards = 4;
  options.max_ttl = absl::Hours(2);
  VerdictTable batched(clock_, options);
  VerdictTable one_by_one(clock_, options);
  RecordingListener l;
  for (VerdictTable* t : {&batched, &one_by_one}) {
    ASSERT_EQ(t->Resolve("domain", "pending.com", &l, 0).resolution,
              VerdictTable::Resolution::kMiss);
  }
  batched.Reserve(1000);

  const absl::Time now = clock_.Now();
  std::vector<std::string> ids;  // the strings the items' views point into
  std::vector<std::string> values;
  ids.reserve(400);
  values.reserve(400);
  std::vector<VerdictTable::Restored> items;
  for (int i = 0; i < 400; ++i) {
    values.push_back(i == 399 ? "pending.com" : absl::StrCat("d", i % 150, ".com"));  // repeats
    ids.push_back(absl::StrCat("judgement-", i));
    VerdictTable::Restored r{"domain", values.back(), {}, absl::InfiniteFuture(),
                             now - absl::Minutes(i % 5 == 0 ? 200 : 10)};  // some expired
    switch (i % 4) {
      case 0:
        r.settled.kind = Settled::Kind::kVerdict;
        r.settled.disposition = static_cast<int8_t>(Disposition::kSuspicious);
        r.settled.judgement_id = ids.back();
        r.valid_end = i % 8 == 0 ? now + absl::Minutes(30) : absl::InfiniteFuture();
        break;
      case 1:
      case 2:
        r.settled.kind = Settled::Kind::kNoVerdict;
        break;
      default:
        r.settled.kind = Settled::Kind::kFailed;
        r.settled.error = ids.back();
        break;
    }
    items.push_back(r);
  }
  batched.RestoreBatch(items);
  for (const auto& r : items) {
    absl::StatusOr<schema::VerdictResult> result = schema::VerdictResult(schema::NoVerdict{});
    if (r.settled.kind == Settled::Kind::kVerdict) {
      schema::Verdict v = MakeVerdict(r.valid_end, r.settled.judgement_id.ToString());
      v.disposition = Disposition::kSuspicious;
      result = schema::VerdictResult(std::move(v));
    } else if (r.settled.kind == Settled::Kind::kFailed) {
      result = absl::UnknownError("failed");
    }
    one_by_one.Restore(r.type, r.value, result, r.settled.error, r.settled_at);
  }
  ASSERT_EQ(batched.size(), one_by_one.size());
  EXPECT_EQ(batched.size(), 151u);

  int hits = 0, misses = 0;
  for (int k = 0; k < 150; ++k) {
    const std::string value = absl::StrCat("d", k, ".com");
    SCOPED_TRACE(value);
    auto a = batched.Resolve("domain", value, &l, 1);
    auto b = one_by_one.Resolve("domain", value, &l, 1);
    ASSERT_EQ(a.resolution, b.resolution);
    if (a.resolution != VerdictTable::Resolution::kHit) {
      ++misses;
      continue;
    }
    ++hits;
    EXPECT_EQ(a.settled.kind, b.settled.kind);
    EXPECT_EQ(a.settled.disposition, b.settled.disposition);
    EXPECT_EQ(a.settled.valid_until_ms, b.settled.valid_until_ms);
    EXPECT_EQ(a.settled.judgement_id, b.settled.judgement_id);
    EXPECT_EQ(a.settled.error, b.settled.error);
    // The last item for the key wins.
    int last = k;
    while (last + 150 < 399) last += 150;
    EXPECT_EQ(a.settled.judgement_id.empty() ? std::string(a.settled.error)
                                              : a.settled.judgement_id.ToString(),
              items[static_cast<size_t>(last)].settled.kind == Settled::Kind::kNoVerdict
                  ? ""
                  : ids[static_cast<size_t>(last)]);
  }
  EXPECT_GT(hits, 0);
  EXPECT_GT(misses, 0);  // the expired ones
  // The pending key was left to its lookup: joining it still works.
  EXPECT_EQ(batched.Resolve("domain", "pending.com", &l, 2).resolution,
            VerdictTable::Resolution::kJoined);
}

TEST_F(VerdictTableTest, MemoryPerEntryIsCompact) {
  VerdictTable table(clock_);
  RecordingListener l;
  constexpr int kEntries = 100'000;
  for (int i = 0; i < kEntries; ++i) {
    const std::string value = absl::StrCat("host", i, ".example.com");
    table.Resolve("domain", value, &l, 0);
    table.Complete("domain", value,
                   schema::VerdictResult(MakeVerdict(
                       schema::EndOfTime(),
                       absl::StrCat("https://private.intel.amp.cisco.com/ctia/judgement/"
                                    "judgement-",
                                    i, "-0123456789abcdef"))));
  }
  const double per_entry = static_cast<double>(table.bytes_used()) / kEntries;
  // Key ~26 B + judgement id ~80 B + slot; the run's budget is 200 B per unique observable.
  std::printf("verdict table: %.1f bytes per entry (%d entries)\n", per_entry, kEntries);
  EXPECT_LT(per_entry, 200.0) << per_entry;
  EXPECT_GT(per_entry, 100.0) << per_entry;  // the id alone is ~80 B: the count is real
}

}  // namespace
}  // namespace enrich::engine
