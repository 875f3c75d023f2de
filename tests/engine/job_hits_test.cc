// engine::Job with --hits and --report: the hits file is written and renamed like the output,
// abandoned with it (never a partial file under its name), and a resumed run writes the same
// hits file as an uninterrupted one; the report and the summary JSON (with its top hits) are
// written at every end, checkpointed included.

#include "engine/exit_codes.h"
#include "engine/job.h"
#include "schema/time_format.h"
#include "tests/engine/temp_dir.h"
#include "tests/fakes/fake_verdict_source.h"

#include <atomic>
#include <filesystem>
#include <sstream>
#include <string>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include <gmock/gmock.h>
#include <gtest/gtest.h>

namespace enrich::engine {
namespace {

using ::enrich::testing::FakeVerdictSource;
using ::enrich::testing::TempDir;
using ::testing::HasSubstr;

// host-<i>.example: Malicious for i % 7 == 0, Suspicious for i % 11 == 0, else no verdict.
absl::StatusOr<schema::VerdictResult> Judge(const schema::Observable& o) {
  int i = 0;
  if (sscanf(o.value.c_str(), "host-%d", &i) != 1 || (i % 7 != 0 && i % 11 != 0)) {
    return schema::VerdictResult(schema::NoVerdict{});
  }
  schema::Verdict v;
  v.disposition = i % 7 == 0 ? schema::Disposition::kMalicious : schema::Disposition::kSuspicious;
  v.judgement_id = absl::StrCat("j-", i);
  v.valid_time = {absl::UnixEpoch(), schema::EndOfTime()};
  return schema::VerdictResult(v);
}

class JobHitsTest : public ::testing::Test {
 protected:
  JobHitsTest() {
    std::string csv = "id,domain\n";
    // Values repeat (i % 150): the top hits count rows.
    for (int i = 0; i < 600; ++i) absl::StrAppend(&csv, i, ",host-", i % 150, ".example\n");
    testing::WriteFileBytes(tmp_.File("in.csv"), csv);
  }

  JobOptions Options(const std::string& out) {
    JobOptions o;
    o.input = tmp_.File("in.csv");
    o.output = tmp_.File(out + ".csv");
    o.hits = tmp_.File(out + ".hits.csv");
    o.report = tmp_.File(out + ".html");
    o.summary_json = tmp_.File(out + ".json");
    o.column_specs = "domain";
    o.endpoint = "fake";
    o.pipeline.columns = {{"domain", "domain"}};
    o.pipeline.chunk_size = 128;
    o.pipeline.hit_dispositions = kDefaultHitDispositions;
    o.log = &log_;
    o.handle_stop_signals = false;
    return o;
  }

  TempDir tmp_;
  std::ostringstream log_;
};

TEST_F(JobHitsTest, ResumedRunWritesTheSameHitsAsAnUninterruptedOne) {
  auto whole = Job::Open(Options("whole"));
  ASSERT_TRUE(whole.ok()) << whole.status();
  FakeVerdictSource source(Judge);
  const JobResult done = (*whole)->Run(source);
  ASSERT_EQ(done.outcome, JobOutcome::kDone) << done.status;
  const std::string reference = testing::ReadFileBytes(tmp_.File("whole.hits.csv"));
  // 150 values: 22 multiples of 7 (0..147), 14 of 11 (0..143) of which 0 and 77 are both
  // (Malicious wins): 22 + 12 hit values, 4 rows each.
  size_t lines = 0;
  for (char c : reference) lines += c == '\n';
  EXPECT_EQ(lines, 1 + 4 * (22 + 12));
  EXPECT_TRUE(absl::StartsWith(reference, "id,domain,ctia_disposition,"));
  ASSERT_EQ(done.stats.top_hits.size(), 10u + 10u);
  EXPECT_EQ(done.stats.top_hits[0].rows, 4u);
  EXPECT_THAT(log_.str(), HasSubstr("top hits, Malicious (rows per observable):\n"));
  EXPECT_THAT(log_.str(), HasSubstr("hits:               " + tmp_.File("whole.hits.csv")));

  // Stopped part-way: neither the output nor the hits appear; the statistics do.
  auto first = Job::Open(Options("part"));
  ASSERT_TRUE(first.ok()) << first.status();
  std::atomic<int> asked{0};
  FakeVerdictSource stopping([&](const schema::Observable& o) {
    if (++asked == 40) (*first)->RequestStop();
    return Judge(o);
  });
  const JobResult stopped = (*first)->Run(stopping);
  ASSERT_EQ(stopped.outcome, JobOutcome::kCheckpointed) << stopped.status;
  EXPECT_FALSE(std::filesystem::exists(tmp_.File("part.csv")));
  EXPECT_FALSE(std::filesystem::exists(tmp_.File("part.hits.csv")));
  for (const auto& entry : std::filesystem::directory_iterator(tmp_.File(""))) {
    EXPECT_FALSE(absl::StrContains(entry.path().filename().string(), "part.hits.csv"))
        << entry.path();
  }
  EXPECT_THAT(testing::ReadFileBytes(tmp_.File("part.json")),
              HasSubstr("\"outcome\":\"checkpointed\""));
  EXPECT_THAT(testing::ReadFileBytes(tmp_.File("part.html")), HasSubstr("checkpointed"));

  JobOptions resume = Options("part");
  resume.resume = true;
  auto again = Job::Open(std::move(resume));
  ASSERT_TRUE(again.ok()) << again.status();
  FakeVerdictSource rest(Judge);
  const JobResult resumed = (*again)->Run(rest);
  ASSERT_EQ(resumed.outcome, JobOutcome::kDone) << resumed.status;
  EXPECT_LT(rest.total(), 150);
  EXPECT_EQ(testing::ReadFileBytes(tmp_.File("part.hits.csv")), reference);
  EXPECT_EQ(testing::ReadFileBytes(tmp_.File("part.csv")),
            testing::ReadFileBytes(tmp_.File("whole.csv")));
  EXPECT_THAT(testing::ReadFileBytes(tmp_.File("part.json")),
              HasSubstr("\"top_hits\":[{\"observable\":\"host-0.example\""));
}

TEST_F(JobHitsTest, HitsThatAreTheOutputIsAUsageError) {
  JobOptions o = Options("x");
  o.hits = o.output;
  auto job = Job::Open(std::move(o));
  ASSERT_FALSE(job.ok());
  EXPECT_EQ(JobExitCode(job.status()), kExitUsage);
  EXPECT_THAT(std::string(job.status().message()), HasSubstr("is the output (-o)"));
  JobOptions in = Options("y");
  in.hits = in.input;
  auto job2 = Job::Open(std::move(in));
  ASSERT_FALSE(job2.ok());
  EXPECT_THAT(std::string(job2.status().message()), HasSubstr("--hits: "));
  JobOptions none = Options("z");
  none.pipeline.hit_dispositions = 0;
  auto job3 = Job::Open(std::move(none));
  ASSERT_FALSE(job3.ok());
  EXPECT_EQ(JobExitCode(job3.status()), kExitUsage);
  EXPECT_THAT(std::string(job3.status().message()), HasSubstr("at least one hit disposition"));
}

}  // namespace
}  // namespace enrich::engine
