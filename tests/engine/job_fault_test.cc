// engine::Job under injected I/O faults (tests/fakes/faulty_byte_io.h): the n-th read, write or
// finish of the run's input and output fails, for n = 1, 2, ... until a run succeeds. Each
// failed run must end with an error naming the file and the operation, leave no output file
// (neither the final name nor a temp file), and leave a journal from which a --resume run
// without faults writes exactly what a clean run writes.

#include "engine/job.h"

#include <cstdint>
#include <filesystem>
#include <memory>
#include <sstream>
#include <string>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/time/time.h"
#include "engine/exit_codes.h"
#include "tests/engine/temp_dir.h"
#include "tests/fakes/fake_verdict_source.h"
#include "tests/fakes/faulty_byte_io.h"

namespace enrich::engine {
namespace {

using ::enrich::testing::FailCount;
using ::enrich::testing::FakeVerdictSource;
using ::enrich::testing::TempDir;
using ::testing::AnyOf;
using ::testing::HasSubstr;

// Every third domain has a verdict; the rest have none.
absl::StatusOr<schema::VerdictResult> Answer(const schema::Observable& o) {
  if (o.value.size() % 3 == 0) {
    schema::Verdict verdict;
    verdict.disposition = schema::Disposition::kSuspicious;
    verdict.judgement_id = absl::StrCat("judgement-", o.value);
    verdict.valid_time.start_time = absl::FromUnixSeconds(1700000000);
    verdict.valid_time.end_time = absl::FromUnixSeconds(1900000000);
    return schema::VerdictResult(verdict);
  }
  return schema::VerdictResult(schema::NoVerdict{});
}

// 60 rows over 40 distinct domains, read and written in small chunks, so a run makes a few
// dozen reads and writes.
std::string Input() {
  std::string csv = "id,domain\n";
  for (int i = 0; i < 60; ++i) absl::StrAppend(&csv, i, ",host-", i % 40, ".example\n");
  return csv;
}

class JobFaultTest : public ::testing::Test {
 protected:
  JobOptions Options(const std::string& dir) {
    JobOptions o;
    o.input = input_;
    o.output = dir + "/out.csv";
    o.column_specs = "domain";
    o.endpoint = "fake";
    o.pipeline.columns = {{"domain", "domain"}};
    o.pipeline.chunk_size = 64;
    o.pipeline.threads = 2;
    o.log = &log_;
    o.handle_stop_signals = false;
    return o;
  }

  JobResult RunJob(JobOptions options) {
    auto job = Job::Open(std::move(options));
    if (!job.ok()) return JobResult{JobOutcome::kFailed, job.status(), {}, JobExitCode(job.status())};
    return (*job)->Run(source_);
  }

  TempDir tmp_;
  std::string input_ = tmp_.File("in.csv");
  std::ostringstream log_;
  FakeVerdictSource source_{Answer};
};

TEST_F(JobFaultTest, EveryFailedOperationLeavesNoOutputAndAResumableJournal) {
  testing::WriteFileBytes(input_, Input());
  const std::string clean_dir = tmp_.File("clean");
  std::filesystem::create_directory(clean_dir);
  const JobResult clean = RunJob(Options(clean_dir));
  ASSERT_EQ(clean.outcome, JobOutcome::kDone) << clean.status << "\n" << log_.str();
  const std::string expected = testing::ReadFileBytes(clean_dir + "/out.csv");
  ASSERT_THAT(expected, HasSubstr("\n0,host-0.example,,,,,no_verdict\n"));

  bool succeeded = false;
  int failures = 0;
  for (uint64_t n = 1; n < 1000 && !succeeded; ++n) {
    SCOPED_TRACE(absl::StrCat("failing operation ", n));
    const std::string dir = tmp_.File(absl::StrCat("run-", n));
    std::filesystem::create_directory(dir);
    FailCount fail_count(n);
    JobOptions faulty = Options(dir);
    faulty.open_source = testing::FaultySourceOpener(fail_count);
    faulty.open_sink = testing::FaultySinkOpener(fail_count);
    const JobResult result = RunJob(std::move(faulty));
    if (!fail_count.fired()) {
      // Fewer than n operations: the fault never came, and the run is a clean one.
      ASSERT_EQ(result.outcome, JobOutcome::kDone) << result.status;
      EXPECT_EQ(testing::ReadFileBytes(dir + "/out.csv"), expected);
      succeeded = true;
      break;
    }
    ++failures;
    // A clear error: the file and the operation.
    ASSERT_EQ(result.outcome, JobOutcome::kFailed) << result.status;
    EXPECT_EQ(result.exit_code, kExitFailed);
    const std::string message(result.status.message());
    EXPECT_THAT(message, AnyOf(HasSubstr(input_ + ": read failed"),
                               HasSubstr(dir + "/out.csv: write failed"),
                               HasSubstr(dir + "/out.csv: finish failed")));
    EXPECT_THAT(log_.str(), HasSubstr("ctia-enrich: " + message));
    // No output, not even a temp file; the journal is kept for --resume.
    EXPECT_EQ(tmp_.List().count(absl::StrCat("run-", n)), 1u);
    for (const auto& entry : std::filesystem::directory_iterator(dir)) {
      EXPECT_EQ(entry.path().filename().string(), "out.csv.journal") << "left behind";
    }
    EXPECT_TRUE(std::filesystem::exists(dir + "/out.csv.journal"));

    JobOptions resume = Options(dir);
    resume.resume = true;
    const JobResult resumed = RunJob(std::move(resume));
    ASSERT_EQ(resumed.outcome, JobOutcome::kDone) << resumed.status;
    EXPECT_EQ(testing::ReadFileBytes(dir + "/out.csv"), expected);
    EXPECT_FALSE(std::filesystem::exists(dir + "/out.csv.journal")) << "journal outlived its run";
  }
  EXPECT_TRUE(succeeded);
  // The first read, reads after it, writes and the final finish all failed once.
  EXPECT_GT(failures, 10);
}

TEST_F(JobFaultTest, ResumeAfterAFailedWriteAsksNoJournaledLookupAgain) {
  testing::WriteFileBytes(input_, Input());
  const std::string dir = tmp_.File("run");
  std::filesystem::create_directory(dir);
  // The run's last operation is its finish: fail it, after every lookup has been journaled.
  FailCount count_only(UINT64_MAX);
  JobOptions counted = Options(tmp_.File("count"));
  std::filesystem::create_directory(counted.output.substr(0, counted.output.rfind('/')));
  counted.open_source = testing::FaultySourceOpener(count_only);
  counted.open_sink = testing::FaultySinkOpener(count_only);
  ASSERT_EQ(RunJob(std::move(counted)).outcome, JobOutcome::kDone);

  FailCount fail_finish(count_only.count());
  JobOptions faulty = Options(dir);
  faulty.open_source = testing::FaultySourceOpener(fail_finish);
  faulty.open_sink = testing::FaultySinkOpener(fail_finish);
  const JobResult failed = RunJob(std::move(faulty));
  ASSERT_EQ(failed.outcome, JobOutcome::kFailed);
  EXPECT_THAT(std::string(failed.status.message()), HasSubstr("out.csv: finish failed"));
  EXPECT_TRUE(std::filesystem::exists(dir + "/out.csv.journal"));

  FakeVerdictSource counting(Answer);
  JobOptions resume = Options(dir);
  resume.resume = true;
  auto job = Job::Open(std::move(resume));
  ASSERT_TRUE(job.ok()) << job.status();
  const JobResult resumed = (*job)->Run(counting);
  ASSERT_EQ(resumed.outcome, JobOutcome::kDone) << resumed.status;
  EXPECT_EQ(counting.total(), 0) << "a journaled lookup was asked again";
  EXPECT_EQ(resumed.stats.counter(RunCounter::kRowsWritten), 60u);
}

}  // namespace
}  // namespace enrich::engine
