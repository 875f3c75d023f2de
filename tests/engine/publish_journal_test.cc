// engine/publish_journal.h (records, refusal without --resume, a torn tail) and the publish
// job's reading and result writing in --dry-run (engine/publish_job.h, publish_io.h): every
// row in order with its status, CSV and NDJSON, messages naming file:line: field.

#include "engine/publish_journal.h"

#include "engine/exit_codes.h"
#include "engine/pipeline.h"
#include "engine/publish_job.h"
#include "tests/engine/temp_dir.h"

#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include <gmock/gmock.h>
#include <gtest/gtest.h>

namespace enrich::engine {
namespace {

using ::testing::HasSubstr;
using ::testing::StartsWith;

TEST(PublishJournalTest, RecordsSurviveAReopenAndInFlightIdsAreKnown) {
  testing::TempDir dir;
  const std::string path = dir.File("out.csv.journal");
  {
    auto j = PublishJournal::Open(path, false);
    ASSERT_TRUE(j.ok()) << j.status();
    EXPECT_TRUE((*j)->loaded().done.empty());
    ASSERT_TRUE((*j)->Sent({"a b", "ctia-enrich:s:1", "c"}).ok());
    ASSERT_TRUE((*j)->Done({{"a b", "https://x/ctia/judgement/judgement-1"}}).ok());
    ASSERT_TRUE((*j)->Sent({"d"}).ok());
    ASSERT_TRUE((*j)->Sent({"e"}).ok());
    ASSERT_TRUE((*j)->Unsent({"e"}).ok());  // a bulk CTIA did not act on
  }
  EXPECT_FALSE(PublishJournal::Open(path, false).ok());  // refused without --resume
  auto j = PublishJournal::Open(path, true);
  ASSERT_TRUE(j.ok()) << j.status();
  const PublishJournalState& s = (*j)->loaded();
  ASSERT_EQ(s.done.size(), 1u);
  EXPECT_EQ(s.done.at("a b"), "https://x/ctia/judgement/judgement-1");
  EXPECT_EQ(s.in_flight.size(), 3u);
  EXPECT_TRUE(s.in_flight.contains("ctia-enrich:s:1"));
  EXPECT_TRUE(s.in_flight.contains("d"));
}

TEST(PublishJournalTest, TornLastLineIsIgnoredAndDamageIsNamed) {
  testing::TempDir dir;
  const std::string path = dir.File("j");
  testing::WriteFileBytes(path, "ctia-enrich publish journal 1\nsent a b\ndone a ida\ndone b i");
  auto s = LoadPublishJournal(path);
  ASSERT_TRUE(s.ok()) << s.status();
  EXPECT_EQ(s->done.size(), 1u);
  EXPECT_TRUE(s->in_flight.contains("b"));
  testing::WriteFileBytes(path, "ctia-enrich publish journal 1\nsent a\nbogus\n");
  auto bad = LoadPublishJournal(path);
  ASSERT_FALSE(bad.ok());
  EXPECT_THAT(bad.status().message(), HasSubstr(path + ":3: damaged publish journal"));
}

class PublishDryRunTest : public ::testing::Test {
 protected:
  PublishResult DryRun(const std::string& input, const std::string& name,
                       const std::string& output) {
    testing::WriteFileBytes(dir_.File(name), input);
    PublishOptions o;
    o.input.path = dir_.File(name);
    o.output = dir_.File(output);
    o.dry_run = true;
    o.defaults[static_cast<size_t>(PublishField::kSource)] = "flag-source";
    auto job = PublishJob::Open(o);
    EXPECT_TRUE(job.ok()) << job.status();
    if (!job.ok()) return {};
    return (*job)->Run(nullptr);
  }
  testing::TempDir dir_;
};

TEST_F(PublishDryRunTest, CsvRowsKeepTheirOrderWithStatuses) {
  const std::string input =
      "value,type,confidence,note\n"
      "evil.example,domain,High,\"a, b\"\n"
      "1.2.3.999,ip,High,x\n"
      "good.example,domain,Sure,y\n"
      "\"multi\nline\",domain,Low,z\n";
  PublishResult r = DryRun(input, "in.csv", "out.csv");
  EXPECT_EQ(r.exit_code, kExitDone);
  EXPECT_EQ(r.counts.rows, 4u);
  EXPECT_EQ(r.counts.valid, 1u);
  EXPECT_EQ(r.counts.invalid, 3u);
  EXPECT_EQ(r.counts.bulk_requests, 0u);
  const std::string out = testing::ReadFileBytes(dir_.File("out.csv"));
  std::vector<std::string> lines = absl::StrSplit(out, '\n');
  ASSERT_GE(lines.size(), 6u);
  EXPECT_EQ(lines[0], "value,type,confidence,note,ctia_judgement_id,ctia_publish_status");
  EXPECT_EQ(lines[1], "evil.example,domain,High,\"a, b\",,valid");
  EXPECT_EQ(lines[2],
            "1.2.3.999,ip,High,x,,\"invalid: value: not an IPv4 address, nor an IPv6 one (looked "
            "up as type ipv6)\"");
  EXPECT_EQ(lines[3],
            "good.example,domain,Sure,y,,\"invalid: confidence: \"\"Sure\"\" is not one of Info, "
            "Low, Medium, High, None, Unknown\"");
  EXPECT_EQ(lines[4], "\"multi");
  EXPECT_EQ(lines[5], "line\",domain,Low,z,,invalid: value: character not allowed in a domain");
  // No journal for a dry run.
  EXPECT_FALSE(dir_.List().contains("out.csv.journal"));
}

TEST_F(PublishDryRunTest, NdjsonRowsGetTheMembers) {
  const std::string input =
      "{\"value\":\"evil.example\",\"type\":\"domain\",\"priority\":90}\n"
      "\n"
      "{\"value\":\"x.example\",\"type\":\"domain\",\"priority\":\"high\"}\n"
      "not json\n";
  PublishResult r = DryRun(input, "in.ndjson", "out.ndjson");
  EXPECT_EQ(r.counts.rows, 3u);
  EXPECT_EQ(r.counts.valid, 1u);
  const std::string out = testing::ReadFileBytes(dir_.File("out.ndjson"));
  EXPECT_EQ(out,
            "{\"value\":\"evil.example\",\"type\":\"domain\",\"priority\":90,"
            "\"ctia_judgement_id\":\"\",\"ctia_publish_status\":\"valid\"}\n"
            "{\"value\":\"x.example\",\"type\":\"domain\",\"priority\":\"high\","
            "\"ctia_judgement_id\":\"\",\"ctia_publish_status\":\"invalid: priority: \\\"high\\\" "
            "is not an integer\"}\n"
            "{\"ctia_input\":\"not json\",\"ctia_judgement_id\":\"\","
            "\"ctia_publish_status\":\"invalid: row: not a JSON object\"}\n");
}

TEST_F(PublishDryRunTest, MissingAndMappedColumnsAreUsageErrors) {
  testing::WriteFileBytes(dir_.File("in.csv"), "indicator,kind\nx.example,domain\n");
  PublishOptions o;
  o.input.path = dir_.File("in.csv");
  o.dry_run = true;
  auto job = PublishJob::Open(o);
  ASSERT_FALSE(job.ok());
  EXPECT_TRUE(IsUsageError(job.status()));
  EXPECT_THAT(job.status().message(), HasSubstr("no column \"value\""));
  o.input.columns[static_cast<size_t>(PublishField::kValue)] = "indicator";
  o.input.columns[static_cast<size_t>(PublishField::kType)] = "kind";
  o.input.columns[static_cast<size_t>(PublishField::kReason)] = "why";
  job = PublishJob::Open(o);
  ASSERT_FALSE(job.ok());
  EXPECT_THAT(job.status().message(), HasSubstr("--map reason=why"));
  o.input.columns[static_cast<size_t>(PublishField::kReason)] = "";
  o.defaults[static_cast<size_t>(PublishField::kSource)] = "s";
  job = PublishJob::Open(o);
  ASSERT_TRUE(job.ok()) << job.status();
  PublishResult r = (*job)->Run(nullptr);
  EXPECT_EQ(r.counts.valid, 1u);
}

}  // namespace
}  // namespace enrich::engine
