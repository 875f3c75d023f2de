// engine::Job's own decisions, against a fake verdict source: how a run ends (done,
// checkpointed on a stop request, usage or failure before anything is created) and the exit
// code each maps to. Its behaviour under I/O faults is job_fault_test.cc.

#include "engine/job.h"

#include <atomic>
#include <cstdio>
#include <filesystem>
#include <string>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "absl/strings/str_cat.h"
#include "engine/exit_codes.h"
#include "tests/engine/job_fixture.h"
#include "tests/fakes/fake_verdict_source.h"

namespace enrich::engine {
namespace {

using ::enrich::testing::FakeVerdictSource;
using ::testing::HasSubstr;

class JobTest : public JobFixture {
 protected:
  JobTest() {
    std::string csv = "id,domain\n";
    for (int i = 0; i < 200; ++i) absl::StrAppend(&csv, i, ",host-", i, ".example\n");
    WriteInput(csv);
  }

  JobOptions Options() { return FakeJobOptions({{"domain", "domain"}}, 128); }
};

TEST_F(JobTest, StopRequestCheckpointsAndResumeFinishesWithoutAskingAgain) {
  auto job = Job::Open(Options());
  ASSERT_TRUE(job.ok()) << job.status();
  std::atomic<int> asked{0};
  FakeVerdictSource stopping([&](const schema::Observable& o) {
    if (++asked == 20) (*job)->RequestStop();
    return NoVerdict(o);
  });
  const JobResult stopped = (*job)->Run(stopping);
  EXPECT_EQ(stopped.outcome, JobOutcome::kCheckpointed) << stopped.status;
  EXPECT_EQ(stopped.exit_code, kExitCheckpointed);
  EXPECT_THAT(log_.str(), HasSubstr("ctia-enrich: interrupted; checkpointed: settled lookups are "
                                    "in " + tmp_.File("out.csv.journal")));
  EXPECT_FALSE(std::filesystem::exists(tmp_.File("out.csv")));
  const uint64_t settled = stopped.stats.counter(RunCounter::kLookupsSettled);
  EXPECT_GE(settled, 20u);

  JobOptions resume = Options();
  resume.resume = true;
  auto again = Job::Open(std::move(resume));
  ASSERT_TRUE(again.ok()) << again.status();
  FakeVerdictSource counting(NoVerdict);
  const JobResult done = (*again)->Run(counting);
  ASSERT_EQ(done.outcome, JobOutcome::kDone) << done.status;
  EXPECT_EQ(done.exit_code, kExitDone);
  EXPECT_EQ(static_cast<uint64_t>(counting.total()), 200 - settled);
  EXPECT_EQ(done.stats.counter(RunCounter::kRowsWritten), 200u);
  EXPECT_FALSE(std::filesystem::exists(tmp_.File("out.csv.journal")));
}

TEST_F(JobTest, OutputThatIsTheInputIsAUsageErrorBeforeAnythingIsOpened) {
  JobOptions o = Options();
  o.output = o.input;
  auto job = Job::Open(std::move(o));
  ASSERT_FALSE(job.ok());
  EXPECT_THAT(std::string(job.status().message()), HasSubstr("it is the input"));
  EXPECT_EQ(JobExitCode(job.status()), kExitUsage);
}

TEST_F(JobTest, MissingInputFailsNamingIt) {
  JobOptions o = Options();
  o.input = tmp_.File("nope.csv");
  auto job = Job::Open(std::move(o));
  ASSERT_FALSE(job.ok());
  EXPECT_THAT(std::string(job.status().message()),
              HasSubstr("cannot open input \"" + tmp_.File("nope.csv") + "\""));
  EXPECT_EQ(JobExitCode(job.status()), kExitFailed);
}

TEST_F(JobTest, ExistingJournalWithoutResumeIsAUsageErrorAndKeepsIt) {
  testing::WriteFileBytes(tmp_.File("out.csv.journal"), "not a journal");
  auto job = Job::Open(Options());
  ASSERT_TRUE(job.ok()) << job.status();
  const absl::Status s = (*job)->OpenJournal();
  EXPECT_EQ(JobExitCode(s), kExitUsage) << s;
  EXPECT_EQ(testing::ReadFileBytes(tmp_.File("out.csv.journal")), "not a journal");
}


// The rows of a run whose lookups of host-<i>.example fail for every i % `every` == 0.
absl::StatusOr<schema::VerdictResult> FailEvery(int every, const schema::Observable& o) {
  int i = 0;
  if (sscanf(o.value.c_str(), "host-%d", &i) == 1 && i % every == 0) {
    return absl::UnavailableError("503");
  }
  return NoVerdict(o);
}

TEST_F(JobTest, ErrorRowsBeyondTheMaxErrorRateEndWithExitThreeAndStatistics) {
  for (double rate : {0.0, 0.05, 0.1}) {
    JobOptions o = Options();
    o.output = tmp_.File(absl::StrCat("out-", rate, ".csv"));
    o.max_error_rate = rate;
    o.summary_json = tmp_.File("summary.json");
    o.prometheus = tmp_.File("metrics.prom");
    auto job = Job::Open(std::move(o));
    ASSERT_TRUE(job.ok()) << job.status();
    FakeVerdictSource source([](const schema::Observable& ob) { return FailEvery(10, ob); });
    const JobResult result = (*job)->Run(source);  // 20 of 200 rows fail: 10%
    const bool too_many = rate < 0.1;
    EXPECT_EQ(result.outcome, too_many ? JobOutcome::kErrorRows : JobOutcome::kDone) << rate;
    EXPECT_EQ(result.exit_code, too_many ? kExitErrorRows : kExitDone) << rate;
    const std::string json = testing::ReadFileBytes(tmp_.File("summary.json"));
    EXPECT_THAT(json, HasSubstr(absl::StrCat("\"outcome\":\"",
                                             too_many ? "error_rows" : "done", "\"")));
    EXPECT_THAT(json, HasSubstr(absl::StrCat("\"exit_code\":", result.exit_code)));
    EXPECT_THAT(testing::ReadFileBytes(tmp_.File("metrics.prom")),
                HasSubstr(absl::StrCat("ctia_enrich_last_run_exit_code ", result.exit_code)));
  }
}

TEST_F(JobTest, EveryLookupFailedIsTooManyErrorRowsWhateverTheRate) {
  RunStatsSnapshot s;
  s.statuses = {{"ok", 0}, {"no_verdict", 0}, {"skipped", 5}, {"error:503", 1}};
  EXPECT_TRUE(TooManyErrorRows(s, 1.0));
  s.statuses["ok"] = 1;
  EXPECT_FALSE(TooManyErrorRows(s, 1.0));
  EXPECT_TRUE(TooManyErrorRows(s, 0.0));
  s.statuses.erase("error:503");
  EXPECT_FALSE(TooManyErrorRows(s, 0.0));
}

TEST_F(JobTest, ResumeWithoutAJournalStartsFresh) {
  JobOptions o = Options();
  o.resume = true;
  auto job = Job::Open(std::move(o));
  ASSERT_TRUE(job.ok()) << job.status();
  FakeVerdictSource source(NoVerdict);
  const JobResult done = (*job)->Run(source);
  ASSERT_EQ(done.outcome, JobOutcome::kDone) << done.status;
  EXPECT_EQ(source.total(), 200);
  EXPECT_TRUE(std::filesystem::exists(tmp_.File("out.csv")));
}

TEST_F(JobTest, StatisticsToStdoutWithTheOutputOnStdoutIsAUsageError) {
  JobOptions o = Options();
  o.output = "-";
  o.summary_json = "-";
  auto job = Job::Open(std::move(o));
  ASSERT_FALSE(job.ok());
  EXPECT_EQ(JobExitCode(job.status()), kExitUsage);
}

}  // namespace
}  // namespace enrich::engine
