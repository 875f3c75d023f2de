// engine::PlanJob, the counting pass of `ctia-enrich plan`: its counts on small inputs (rows,
// invalid rows and values, skipped cells, uniques per type after normalization), the allowlist,
// the journal a resumed run reloads (known lookups; another endpoint's refused; the file left
// as it was), and that its lookups are those a Job of the same options asks a source for.

#include "engine/plan.h"

#include "engine/job.h"
#include "engine/journal.h"
#include "tests/engine/job_fixture.h"
#include "tests/fakes/fake_verdict_source.h"

#include <atomic>
#include <filesystem>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/clock.h"
#include <gmock/gmock.h>
#include <gtest/gtest.h>

namespace enrich::engine {
namespace {

using ::enrich::testing::FakeVerdictSource;
using ::testing::HasSubstr;

class PlanTest : public JobFixture {
 protected:
  // 3 columns (id, domain, ip); `rows` rows of host-<i % distinct>.example.
  void WriteDomains(int rows, int distinct) {
    std::string csv = "id,domain,ip\n";
    for (int i = 0; i < rows; ++i) {
      absl::StrAppend(&csv, i, ",host-", i % distinct, ".example,10.0.0.", i % 7, "\n");
    }
    WriteInput(csv);
  }

  JobOptions Options(std::vector<ColumnSpec> columns = {{"domain", "domain"}}) {
    return FakeJobOptions(std::move(columns), 256);  // many chunks, parsed in parallel
  }
};

TEST(PlanEstimateTest, TimeUnderAQuotaReadsAsAboutHoursAndMinutes) {
  const schema::RateSpec hourly{18000, absl::Hours(1)};
  EXPECT_EQ(FormatAbout(QuotaTime(39000, hourly)), "about 2 h 10 min");
  EXPECT_EQ(FormatAbout(QuotaTime(18000, hourly)), "about 1 h");
  EXPECT_EQ(FormatAbout(QuotaTime(1200, hourly)), "about 4 min");
  EXPECT_EQ(FormatAbout(QuotaTime(50, hourly)), "about 10 s");
  EXPECT_EQ(FormatAbout(QuotaTime(2, hourly)), "under a second");
  EXPECT_EQ(FormatAbout(QuotaTime(18000 * 50, hourly)), "about 2 d 2 h");
}

TEST_F(PlanTest, RequestsAreRestPerLookupOrFullGraphqlBatchesAndTheLast) {
  JobOptions options = Options();
  options.pipeline.chunk_size = 1 << 20;  // one chunk: the batches leave full, and at the end
  const auto requests = [&](int distinct, size_t batch_size) {
    WriteDomains(3 * distinct, distinct);
    auto report = PlanJob(options, PlanOptions{.batch_size = batch_size});
    EXPECT_TRUE(report.ok()) << report.status();
    EXPECT_EQ(report->safety_flushes, 0u);
    return report.ok() ? report->requests : RequestEstimate{};
  };
  EXPECT_EQ(requests(250, 1).rest, 250u);
  EXPECT_EQ(requests(250, 1).graphql, 0u);
  EXPECT_EQ(requests(250, 100).graphql, 3u);
  EXPECT_EQ(requests(250, 100).rest, 0u);
  EXPECT_EQ(requests(300, 100).graphql, 3u);
  // A last single lookup goes as a GET (BeastCtiaClient::Verdicts).
  EXPECT_EQ(requests(201, 100).graphql, 2u);
  EXPECT_EQ(requests(201, 100).rest, 1u);
}

// A source that batches as BeastCtiaClient does, without a linger: a batch is answered (on a
// thread of its own, as answers come from the network) when full or flushed by the pipeline
// (FlushBatch); a batch left waiting for 2 s is answered anyway and counted as `timer_flushes`.
class BatchingSource : public transport::VerdictSource {
 public:
  explicit BatchingSource(size_t batch_size) : batch_size_(batch_size) {
    timer_ = std::thread([this] {
      absl::MutexLock lock(&mu_);
      while (!stopping_) {
        mu_.AwaitWithTimeout(absl::Condition(&stopping_), absl::Milliseconds(100));
        if (stopping_ || open_.empty() || absl::Now() - opened_ < absl::Seconds(2)) continue;
        ++timer_flushes_;
        Send(std::exchange(open_, {}));
      }
    });
  }
  ~BatchingSource() override {
    {
      absl::MutexLock lock(&mu_);
      stopping_ = true;
    }
    timer_.join();
    for (std::thread& t : answering_) t.join();
  }
  void LookupVerdict(const schema::Observable&, Callback done) override {
    absl::MutexLock lock(&mu_);
    open_.push_back(std::move(done));
    if (open_.size() == 1) opened_ = absl::Now();
    if (open_.size() == batch_size_) Send(std::exchange(open_, {}));
  }
  void FlushBatch() override {
    absl::MutexLock lock(&mu_);
    if (!open_.empty()) Send(std::exchange(open_, {}));
  }
  size_t Collecting() const override {
    absl::MutexLock lock(&mu_);
    return open_.size();
  }
  int requests() const {
    absl::MutexLock lock(&mu_);
    return requests_;
  }
  int timer_flushes() const {
    absl::MutexLock lock(&mu_);
    return timer_flushes_;
  }

 private:
  void Send(std::vector<Callback> batch) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    ++requests_;
    answering_.emplace_back([batch = std::move(batch)]() mutable {
      for (Callback& done : batch) done(schema::VerdictResult(schema::NoVerdict{}));
    });
  }

  const size_t batch_size_;
  mutable absl::Mutex mu_;
  std::vector<Callback> open_ ABSL_GUARDED_BY(mu_);
  absl::Time opened_ ABSL_GUARDED_BY(mu_);
  int requests_ ABSL_GUARDED_BY(mu_) = 0;
  int timer_flushes_ ABSL_GUARDED_BY(mu_) = 0;
  bool stopping_ ABSL_GUARDED_BY(mu_) = false;
  std::vector<std::thread> answering_ ABSL_GUARDED_BY(mu_);
  std::thread timer_;
};

TEST_F(PlanTest, ARunSendsThePlannedBatchesWithoutWaitingForATimer) {
  // 1234 lookups in batches of 100 with 250 in flight: the last ones wait in the dispatcher's
  // queue while the batch they are to fill waits for them, and no answer is coming: the
  // settle thread sends them on, and the last partial batch leaves at the input's end.
  WriteDomains(5000, 1234);
  JobOptions options = Options();
  options.pipeline.chunk_size = 1 << 20;
  options.pipeline.max_in_flight = 250;
  auto report = PlanJob(options, PlanOptions{.batch_size = 100});
  ASSERT_TRUE(report.ok()) << report.status();
  EXPECT_EQ(report->requests.graphql, 13u);
  auto job = Job::Open(options);
  ASSERT_TRUE(job.ok()) << job.status();
  BatchingSource source(100);
  ASSERT_EQ((*job)->Run(source).outcome, JobOutcome::kDone);
  EXPECT_EQ(source.timer_flushes(), 0);
  EXPECT_EQ(static_cast<uint64_t>(source.requests()), report->requests.total());
}

TEST_F(PlanTest, LookupsQueuedBeyondTheInFlightBoundStillFillTheirBatches) {
  // 9000 lookups, more than the plan's 4096 in flight: full batches, no safety flush.
  WriteDomains(18000, 9000);
  JobOptions options = Options();
  options.pipeline.chunk_size = 1 << 20;
  auto report = PlanJob(options, PlanOptions{.batch_size = 100});
  ASSERT_TRUE(report.ok()) << report.status();
  EXPECT_EQ(report->lookups, 9000u);
  EXPECT_EQ(report->requests.graphql, 90u);
  EXPECT_EQ(report->safety_flushes, 0u);
}

TEST_F(PlanTest, SparseNewObservablesOverManyChunksLeaveMorePartialBatches) {
  // 1 new domain per ~40 rows over ~300 chunks of 256 bytes, 6 of them live: the chunks get
  // stuck on partial batches before the input ends, and each such batch is a request.
  WriteDomains(3000, 70);
  JobOptions options = Options();
  options.pipeline.threads = 2;
  auto report = PlanJob(options, PlanOptions{.batch_size = 100});
  ASSERT_TRUE(report.ok()) << report.status();
  EXPECT_EQ(report->lookups, 70u);
  EXPECT_GT(report->requests.total(), 1u);
  EXPECT_EQ(report->safety_flushes, 0u);
}

TEST_F(PlanTest, CountsRowsCellsAndUniquesPerTypeAfterNormalization) {
  // 6 rows: two domains written alike after normalization, one refanged, an invalid ip, an
  // empty domain, and a row with a field too many.
  testing::WriteFileBytes(tmp_.File("in.csv"),
                          "id,domain,ip\n"
                          "1,Evil.COM,10.0.0.1\n"
                          "2,evil.com,10.0.0.1\n"
                          "3,good[.]org,999.1.1.1\n"
                          "4,,10.0.0.2\n"
                          "5,x.example,10.0.0.2,extra\n"
                          "6,x.example,2001:db8::1\n");
  auto report = PlanJob(Options({{"domain", "domain"}, {"ip", "ip"}}), {});
  ASSERT_TRUE(report.ok()) << report.status();
  EXPECT_EQ(report->rows, 6u);
  EXPECT_EQ(report->invalid_rows, 1u);
  EXPECT_EQ(report->cells, 12u);
  EXPECT_EQ(report->invalid_cells, 1u);           // 999.1.1.1
  EXPECT_EQ(report->skipped_cells, 1u);           // the empty domain
  EXPECT_EQ(report->empty_cells, 1u);
  EXPECT_EQ(report->allowlisted_cells, 0u);
  EXPECT_EQ(report->types["domain"].unique, 3u);  // evil.com, good.org, x.example
  EXPECT_EQ(report->types["ip"].unique, 2u);      // 10.0.0.1, 10.0.0.2
  EXPECT_EQ(report->types["ipv6"].unique, 1u);
  EXPECT_EQ(report->unique, 6u);
  EXPECT_EQ(report->lookups, 6u);
  EXPECT_EQ(report->known, 0u);
  EXPECT_FALSE(report->journal_exists);
  EXPECT_FALSE(std::filesystem::exists(tmp_.File("out.csv")));
  EXPECT_FALSE(std::filesystem::exists(tmp_.File("out.csv.journal")));
}

TEST_F(PlanTest, AllowlistedCellsAreSkippedAndNotLookedUp) {
  WriteDomains(400, 40);
  JobOptions options = Options();
  auto without = PlanJob(options, {});
  ASSERT_TRUE(without.ok()) << without.status();
  EXPECT_EQ(without->lookups, 40u);
  options.allowlist = tmp_.File("allow.txt");
  testing::WriteFileBytes(tmp_.File("allow.txt"), "host-1.example\nhost-2.example\n");
  auto with = PlanJob(options, {});
  ASSERT_TRUE(with.ok()) << with.status();
  EXPECT_EQ(with->lookups, 38u);
  EXPECT_EQ(with->skipped_cells, 20u);  // 10 rows each
  EXPECT_EQ(with->allowlisted_cells, 20u);
  EXPECT_EQ(with->empty_cells, 0u);
  EXPECT_EQ(without->allowlisted_cells, 0u);
}

TEST_F(PlanTest, AllowlistedAndEmptyCellsAreCountedApart) {
  // Both are written with the status "skipped"; plan tells them apart, in any column, however
  // often a value repeats in a chunk.
  testing::WriteFileBytes(tmp_.File("in.csv"),
                          "id,domain,ip\n"
                          "1,Allowed.Example,10.0.0.1\n"
                          "2,,10.1.2.3\n"
                          "3,allowed.example, \n"
                          "4,evil.example,\n"
                          "5,allowed.example,10.9.9.9\n");
  testing::WriteFileBytes(tmp_.File("allow.txt"), "allowed.example\n10.0.0.0/8\n");
  JobOptions options = Options({{"domain", "domain"}, {"ip", "ip"}});
  options.allowlist = tmp_.File("allow.txt");
  auto report = PlanJob(options, {});
  ASSERT_TRUE(report.ok()) << report.status();
  EXPECT_EQ(report->allowlisted_cells, 6u);  // the domain 3 times, the ip 3 times
  EXPECT_EQ(report->empty_cells, 3u);
  EXPECT_EQ(report->skipped_cells, 9u);
  EXPECT_EQ(report->lookups, 1u);  // evil.example
}

TEST_F(PlanTest, LookupsEqualWhatARunOfTheSameOptionsAsks) {
  WriteDomains(3000, 700);
  testing::WriteFileBytes(tmp_.File("allow.txt"), "host-1.example\nhost-2.example\n");
  JobOptions options = Options();
  options.allowlist = tmp_.File("allow.txt");
  auto report = PlanJob(options, PlanOptions{.batch_size = 100});
  ASSERT_TRUE(report.ok()) << report.status();
  auto job = Job::Open(options);
  ASSERT_TRUE(job.ok()) << job.status();
  FakeVerdictSource source(NoVerdict);
  const JobResult result = (*job)->Run(source);
  ASSERT_EQ(result.outcome, JobOutcome::kDone) << result.status;
  EXPECT_EQ(report->lookups, static_cast<uint64_t>(source.total()));
  EXPECT_EQ(report->lookups, 698u);
  EXPECT_EQ(report->rows, result.stats.counter(RunCounter::kRowsRead));
  EXPECT_EQ(report->safety_flushes, 0u);
}

TEST_F(PlanTest, TheJournalOfAStoppedRunIsKnownAndWhatResumeAsks) {
  WriteDomains(2000, 500);
  auto job = Job::Open(Options());
  ASSERT_TRUE(job.ok()) << job.status();
  std::atomic<int> asked{0};
  FakeVerdictSource stopping([&](const schema::Observable& o) {
    if (++asked == 120) (*job)->RequestStop();
    return NoVerdict(o);
  });
  ASSERT_EQ((*job)->Run(stopping).outcome, JobOutcome::kCheckpointed);
  const std::string journal = tmp_.File("out.csv.journal");
  ASSERT_TRUE(std::filesystem::exists(journal));
  const auto size = std::filesystem::file_size(journal);
  const auto mtime = std::filesystem::last_write_time(journal);

  JobOptions resume = Options();
  resume.resume = true;
  auto report = PlanJob(resume, {});
  ASSERT_TRUE(report.ok()) << report.status();
  EXPECT_TRUE(report->journal_exists);
  EXPECT_EQ(report->journal_path, journal);
  EXPECT_GE(report->journal_entries, 100u);
  EXPECT_EQ(report->known, report->journal_entries);
  EXPECT_EQ(report->known + report->lookups, 500u);
  // Read only.
  EXPECT_EQ(std::filesystem::file_size(journal), size);
  EXPECT_EQ(std::filesystem::last_write_time(journal), mtime);

  auto again = Job::Open(resume);
  ASSERT_TRUE(again.ok()) << again.status();
  FakeVerdictSource counting(NoVerdict);
  ASSERT_EQ((*again)->Run(counting).outcome, JobOutcome::kDone);
  EXPECT_EQ(report->lookups, static_cast<uint64_t>(counting.total()));
}

TEST_F(PlanTest, AJournalOfAnotherEndpointIsReportedNotCounted) {
  WriteDomains(100, 10);
  {
    auto job = Job::Open(Options());
    ASSERT_TRUE(job.ok()) << job.status();
    std::atomic<int> asked{0};
    FakeVerdictSource stopping([&](const schema::Observable& o) {
      if (++asked == 3) (*job)->RequestStop();
      return NoVerdict(o);
    });
    ASSERT_EQ((*job)->Run(stopping).outcome, JobOutcome::kCheckpointed);
  }
  JobOptions other = Options();
  other.endpoint = "https://elsewhere.example";
  other.resume = true;
  auto report = PlanJob(other, {});
  ASSERT_TRUE(report.ok()) << report.status();
  EXPECT_TRUE(report->journal_exists);
  EXPECT_THAT(report->journal_refused, HasSubstr("another CTIA endpoint"));
  EXPECT_EQ(report->known, 0u);
  EXPECT_EQ(report->lookups, 10u);
}

TEST_F(PlanTest, UsageErrorsAreRunsAndNothingIsCreated) {
  WriteDomains(10, 10);
  auto missing_column = PlanJob(Options({{"nope", "domain"}}), {});
  ASSERT_FALSE(missing_column.ok());
  EXPECT_TRUE(IsUsageError(missing_column.status())) << missing_column.status();
  JobOptions no_allowlist = Options();
  no_allowlist.allowlist = tmp_.File("absent.txt");
  auto allowlist = PlanJob(no_allowlist, {});
  ASSERT_FALSE(allowlist.ok());
  EXPECT_TRUE(IsUsageError(allowlist.status()));
  JobOptions no_input = Options();
  no_input.input = tmp_.File("absent.csv");
  auto input = PlanJob(no_input, {});
  ASSERT_FALSE(input.ok());
  EXPECT_FALSE(IsUsageError(input.status()));
  EXPECT_THAT(std::string(input.status().message()), HasSubstr("absent.csv"));
  EXPECT_FALSE(std::filesystem::exists(tmp_.File("out.csv.journal")));
}

}  // namespace
}  // namespace enrich::engine
