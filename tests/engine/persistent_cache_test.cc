// engine/persistent_cache.h on a real LMDB environment in a temp dir: what is kept (verdicts
// with their UUID ids across a reopen, "no verdict" for the negative ttl, never failures),
// expiry, a run keeping details missing on records without them, a record that does not decode
// (deleted, then a miss), damage found on open, and the upkeep functions (stats, prune, clear).
// One environment open at a time: LMDB allows one per process.

#include "engine/persistent_cache.h"

#include <lmdb.h>

#include <fstream>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "tests/engine/temp_dir.h"
#include <gtest/gtest.h>

namespace enrich::engine {
namespace {

constexpr char kPrefix[] = "https://private.intel.amp.cisco.com:443/ctia/judgement/judgement-";

class PersistentCacheTest : public ::testing::Test {
 protected:
  std::unique_ptr<PersistentCache> Open(absl::Duration negative_ttl = absl::Hours(1),
                                        const std::string& details = "") {
    PersistentCacheOptions o;
    o.dir = dir_.File("cache");
    o.endpoint = "https://private.intel.amp.cisco.com";
    o.intel = "private";
    o.details = details;
    o.negative_ttl = negative_ttl;
    o.max_ttl = absl::Hours(24);
    auto cache = PersistentCache::Open(o);
    EXPECT_TRUE(cache.ok()) << cache.status();
    return cache.ok() ? *std::move(cache) : nullptr;
  }

  // One settled lookup of each kind: a verdict of `d1`, no verdict of `d2`, a failure of `d3`.
  void WriteThree(PersistentCache& cache, absl::Time end) {
    schema::Verdict v;
    v.disposition = schema::Disposition::kMalicious;
    v.judgement_id = absl::StrCat(kPrefix, "0f3a9c1e-1d2b-4c3d-8e4f-5a6b7c8d9e0f");
    v.valid_time = {absl::Now() - absl::Hours(1), end};
    results_ = {schema::VerdictResult(v), schema::VerdictResult(schema::NoVerdict{}),
                absl::UnavailableError("down")};
    std::vector<PipelineOptions::SettledLookup> settled;
    for (size_t i = 0; i < 3; ++i) {
      settled.push_back({&observables_[i], &results_[i], i == 2 ? "error:unavailable" : ""});
    }
    cache.Write(settled);
    cache.Flush();
  }

  // The hits of d1, d2, d3, by index: kind and expiry; the id of a verdict.
  std::map<size_t, std::pair<Settled::Kind, std::string>> Read(PersistentCache& cache,
                                                                bool details = false) {
    std::vector<VerdictTable::Key> keys;
    for (const auto& o : observables_) keys.push_back({o.type, o.value});
    std::map<size_t, std::pair<Settled::Kind, std::string>> found;
    cache.ReadBatch(keys, details, [&](absl::Span<const PersistentCache::Hit> hits) {
      for (const auto& h : hits) {
        found[h.index] = {h.settled.kind, h.settled.judgement_id.ToString()};
      }
    });
    return found;
  }

  enrich::testing::TempDir dir_;
  std::vector<schema::Observable> observables_ = {
      {"domain", "d1.example"}, {"domain", "d2.example"}, {"ip", "192.0.2.3"}};
  std::vector<absl::StatusOr<schema::VerdictResult>> results_;
};

TEST_F(PersistentCacheTest, KeepsVerdictsAndNoVerdictsAcrossAReopenNeverFailures) {
  {
    auto cache = Open();
    ASSERT_NE(cache, nullptr);
    WriteThree(*cache, absl::Now() + absl::Hours(48));
    EXPECT_EQ(cache->counters().writes.load(), 2u);
  }
  auto cache = Open();
  ASSERT_NE(cache, nullptr);
  auto found = Read(*cache);
  ASSERT_EQ(found.size(), 2u);
  EXPECT_EQ(found[0].first, Settled::Kind::kVerdict);
  EXPECT_EQ(found[0].second, absl::StrCat(kPrefix, "0f3a9c1e-1d2b-4c3d-8e4f-5a6b7c8d9e0f"));
  EXPECT_EQ(found[1].first, Settled::Kind::kNoVerdict);
  EXPECT_EQ(found.count(2), 0u);
  EXPECT_EQ(cache->counters().hits.load(), 2u);
  EXPECT_EQ(cache->counters().misses.load(), 1u);
}

TEST_F(PersistentCacheTest, NegativeTtlZeroKeepsNoNoVerdict) {
  auto cache = Open(absl::ZeroDuration());
  ASSERT_NE(cache, nullptr);
  WriteThree(*cache, absl::Now() + absl::Hours(48));
  auto found = Read(*cache);
  ASSERT_EQ(found.size(), 1u);
  EXPECT_EQ(found[0].first, Settled::Kind::kVerdict);
}

TEST_F(PersistentCacheTest, ExpiredVerdictIsAMiss) {
  auto cache = Open();
  ASSERT_NE(cache, nullptr);
  WriteThree(*cache, absl::Now() + absl::Milliseconds(300));
  EXPECT_EQ(Read(*cache).size(), 2u);
  absl::SleepFor(absl::Milliseconds(400));
  auto found = Read(*cache);
  EXPECT_EQ(found.size(), 1u);  // the no verdict, kept an hour
  EXPECT_EQ(found.count(0), 0u);
  EXPECT_GE(cache->counters().expired.load(), 1u);
}

TEST_F(PersistentCacheTest, RunKeepingDetailsDoesNotTakeRecordsWithout) {
  auto cache = Open();
  ASSERT_NE(cache, nullptr);
  WriteThree(*cache, absl::Now() + absl::Hours(48));
  auto found = Read(*cache, /*details=*/true);
  EXPECT_EQ(found.count(0), 0u);  // the verdict lacks details
  EXPECT_EQ(found.count(1), 1u);  // a no verdict has none to lack
}

TEST_F(PersistentCacheTest, ScopesDoNotMix) {
  {
    auto cache = Open();
    ASSERT_NE(cache, nullptr);
    WriteThree(*cache, absl::Now() + absl::Hours(48));
  }
  auto other = Open(absl::Hours(1), "fields=source");
  ASSERT_NE(other, nullptr);
  EXPECT_TRUE(Read(*other).empty());
}

TEST_F(PersistentCacheTest, RecordThatDoesNotDecodeIsDeletedAndMissed) {
  {
    auto cache = Open();
    ASSERT_NE(cache, nullptr);
    WriteThree(*cache, absl::Now() + absl::Hours(48));
  }
  {  // garble every record's bytes through LMDB itself
    MDB_env* env = nullptr;
    ASSERT_EQ(mdb_env_create(&env), 0);
    mdb_env_set_maxdbs(env, 4);
    ASSERT_EQ(mdb_env_open(env, dir_.File("cache").c_str(), 0, 0644), 0);
    MDB_txn* txn = nullptr;
    MDB_dbi dbi;
    ASSERT_EQ(mdb_txn_begin(env, nullptr, 0, &txn), 0);
    ASSERT_EQ(mdb_dbi_open(txn, "verdicts", 0, &dbi), 0);
    MDB_cursor* c = nullptr;
    ASSERT_EQ(mdb_cursor_open(txn, dbi, &c), 0);
    MDB_val k, v;
    std::vector<std::string> keys;
    for (int rc = mdb_cursor_get(c, &k, &v, MDB_FIRST); rc == 0;
         rc = mdb_cursor_get(c, &k, &v, MDB_NEXT)) {
      keys.emplace_back(static_cast<const char*>(k.mv_data), k.mv_size);
    }
    mdb_cursor_close(c);
    std::string junk = "\x05\xff\xff\xff\xff\xff";
    for (std::string& key : keys) {
      MDB_val kv{key.size(), key.data()}, j{junk.size(), junk.data()};
      ASSERT_EQ(mdb_put(txn, dbi, &kv, &j, 0), 0);
    }
    ASSERT_EQ(mdb_txn_commit(txn), 0);
    mdb_env_close(env);
  }
  auto stats = ReadCacheStats(dir_.File("cache"), absl::Now());
  ASSERT_TRUE(stats.ok()) << stats.status();
  EXPECT_EQ(stats->bad, 2u);
  auto cache = Open();
  ASSERT_NE(cache, nullptr);
  EXPECT_TRUE(Read(*cache).empty());
  cache->Flush();  // deletions go with the next write
  WriteThree(*cache, absl::Now() + absl::Hours(48));
  EXPECT_EQ(cache->counters().dropped.load(), 2u);
  EXPECT_EQ(Read(*cache).size(), 2u);
}

TEST_F(PersistentCacheTest, GarbledHeaderIsDamage) {
  { ASSERT_NE(Open(), nullptr); }
  {
    std::fstream f(dir_.File("cache") + "/data.mdb",
                   std::ios::in | std::ios::out | std::ios::binary);
    const std::string junk(128, 'x');
    f.write(junk.data(), static_cast<std::streamsize>(junk.size()));
    f.seekp(4096);
    f.write(junk.data(), static_cast<std::streamsize>(junk.size()));
  }
  PersistentCacheOptions o;
  o.dir = dir_.File("cache");
  auto cache = PersistentCache::Open(o);
  ASSERT_FALSE(cache.ok());
  EXPECT_TRUE(absl::IsDataLoss(cache.status())) << cache.status();
  EXPECT_NE(cache.status().message().find(absl::StrCat("cache ", o.dir, " is damaged")),
            std::string::npos)
      << cache.status();
}

TEST_F(PersistentCacheTest, StatsPruneClear) {
  {
    auto cache = Open();
    ASSERT_NE(cache, nullptr);
    WriteThree(*cache, absl::Now() + absl::Milliseconds(200));
  }
  absl::SleepFor(absl::Milliseconds(300));
  auto stats = ReadCacheStats(dir_.File("cache"), absl::Now());
  ASSERT_TRUE(stats.ok()) << stats.status();
  EXPECT_EQ(stats->entries, 2u);
  EXPECT_EQ(stats->expired, 1u);
  ASSERT_EQ(stats->groups.size(), 1u);
  EXPECT_EQ(stats->groups[0].type, "domain");
  EXPECT_EQ(stats->groups[0].scope, "https://private.intel.amp.cisco.com private");
  auto pruned = PruneCache(dir_.File("cache"), absl::Now());
  ASSERT_TRUE(pruned.ok()) << pruned.status();
  EXPECT_EQ(*pruned, 1u);
  auto cleared = ClearCache(dir_.File("cache"));
  ASSERT_TRUE(cleared.ok()) << cleared.status();
  EXPECT_EQ(*cleared, 1u);
  EXPECT_FALSE(ReadCacheStats(dir_.File("nowhere"), absl::Now()).ok());
}

}  // namespace
}  // namespace enrich::engine
