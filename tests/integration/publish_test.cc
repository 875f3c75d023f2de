// `ctia-enrich publish` as a user runs it: the real binary against ctia-sim on 127.0.0.1:0.
// 5,000 rows with 10 invalid ones → 4,990 judgements in exactly 3 bulk requests and 10 clear
// errors in the result file; publishing the same file again creates nothing (--resume from the
// journal, and --check-existing without it); a kill -9 mid-publish then --resume stores each
// judgement exactly once; SIGTERM and a rate-limit checkpoint (exit 75) then --resume;
// --dry-run sends nothing.

#include "engine/publish_row.h"
#include "tests/fakes/cli_rig.h"

#include <algorithm>
#include <chrono>
#include <filesystem>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/time/clock.h"
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <unistd.h>

namespace enrich {
namespace {

using ::testing::HasSubstr;
using ::testing::StartsWith;

class PublishTest : public ::testing::Test {
 protected:
  void SetUp() override {
    sim::SimOptions options;
    options.public_base = "https://private.intel.amp.cisco.com";
    options.threads = 2;
    sim_ = testing::StartSim(options);
    ASSERT_NE(sim_, nullptr);
  }

  // `rows` rows (value,type,disposition_name,confidence,reason); rows whose index is in
  // `invalid` get one bad field each, in turn: value, type, disposition_name, confidence.
  static std::string Input(int rows, const std::vector<int>& invalid) {
    std::string text = "value,type,disposition_name,confidence,reason\n";
    int bad = 0;
    for (int i = 0; i < rows; ++i) {
      std::string value = absl::StrCat("host-", i, ".example");
      std::string type = "domain", disposition = "Malicious", confidence = "High";
      if (std::find(invalid.begin(), invalid.end(), i) != invalid.end()) {
        switch (bad++ % 4) {
          case 0:
            value = absl::StrCat("-bad-", i, ".example");
            break;
          case 1:
            type = "Domain";
            break;
          case 2:
            disposition = "Evil";
            break;
          default:
            confidence = "Sure";
            break;
        }
      }
      absl::StrAppend(&text, value, ",", type, ",", disposition, ",", confidence, ",row ", i, "\n");
    }
    return text;
  }

  // The external id the binary derives for row `i` of Input().
  static std::string ExternalId(int i) {
    engine::PublishValues v;
    auto set = [&v](engine::PublishField f, std::string s) {
      v[static_cast<size_t>(f)] = std::move(s);
    };
    set(engine::PublishField::kValue, absl::StrCat("host-", i, ".example"));
    set(engine::PublishField::kType, "domain");
    set(engine::PublishField::kDispositionName, "Malicious");
    set(engine::PublishField::kConfidence, "High");
    set(engine::PublishField::kReason, absl::StrCat("row ", i));
    set(engine::PublishField::kSource, "test-feed");
    engine::CheckedRow c = engine::CheckPublishRow(v, absl::Now());
    return c.ok() ? c.row->external_id : "";
  }

  std::vector<std::string> Args(const std::vector<std::string>& extra) const {
    std::vector<std::string> args = {
        "publish",        "-i",       dir_.File("in.csv"), "-o", dir_.File("out.csv"), "--endpoint",
        sim_->base_url(), "--source", "test-feed"};
    args.insert(args.end(), extra.begin(), extra.end());
    return args;
  }

  testing::ChildSpec Spec(const std::vector<std::string>& args) const {
    return testing::CliSpec(args, "", dir_.File("stderr.txt"));
  }

  int Run(const std::vector<std::string>& extra) { return testing::RunCli(Spec(Args(extra))); }

  std::string Stderr() const { return testing::ReadFileBytes(dir_.File("stderr.txt")); }

  // Result rows (header dropped), each split on the last two commas: {row, id, status}.
  std::vector<std::vector<std::string>> Result() const {
    std::vector<std::vector<std::string>> out;
    std::vector<std::string> lines =
        absl::StrSplit(testing::ReadFileBytes(dir_.File("out.csv")), '\n', absl::SkipEmpty());
    for (size_t i = 1; i < lines.size(); ++i) {
      std::string line = lines[i];
      std::string status, id;
      if (absl::StrContains(line, ",\"invalid: ")) {
        const size_t q = line.find(",\"invalid: ");
        status = line.substr(q + 2, line.size() - q - 3);
        line = line.substr(0, q);
      } else {
        status = line.substr(line.rfind(',') + 1);
        line = line.substr(0, line.rfind(','));
      }
      id = line.substr(line.rfind(',') + 1);
      line = line.substr(0, line.rfind(','));
      out.push_back({line, id, status});
    }
    return out;
  }

  static size_t CountStatus(const std::vector<std::vector<std::string>>& rows,
                            absl::string_view status) {
    size_t n = 0;
    for (const auto& r : rows) n += absl::StartsWith(r[2], status) ? 1 : 0;
    return n;
  }

  // Every valid row of Input(rows, invalid) is stored exactly once under its external id.
  void ExpectEachStoredOnce(int rows, const std::vector<int>& invalid) {
    for (int i = 0; i < rows; ++i) {
      if (std::find(invalid.begin(), invalid.end(), i) != invalid.end()) continue;
      const std::string xid = ExternalId(i);
      ASSERT_EQ(sim_->JudgementsByExternalId(xid).size(), 1u) << "row " << i << " " << xid;
    }
  }

  testing::TempDir dir_;
  std::unique_ptr<sim::SimServer> sim_;
};

const std::vector<int> kInvalid = {0, 7, 499, 500, 1999, 2000, 2001, 3333, 4998, 4999};

TEST_F(PublishTest, FiveThousandRowsInThreeBulksThenNothingTwice) {
  testing::WriteFileBytes(dir_.File("in.csv"), Input(5000, kInvalid));
  ASSERT_EQ(Run({}), 0) << Stderr();
  sim::SimCounters c = sim_->Counters();
  EXPECT_EQ(c.bulk_posts, 3u);  // 2000 + 2000 + 990
  EXPECT_EQ(c.judgements_created, 4990u);
  EXPECT_EQ(c.external_id_lookups, 0u);
  EXPECT_EQ(sim_->JudgementCount(), 4990u);
  EXPECT_THAT(Stderr(), HasSubstr("rows 5000, valid 4990, invalid 10, created 4990, exists 0, "
                                  "failed 0, bulk requests 3"));
  // Each invalid row named file:line: field on stderr.
  EXPECT_THAT(Stderr(), HasSubstr(absl::StrCat(dir_.File("in.csv"), ":2: value: ")));
  EXPECT_THAT(Stderr(), HasSubstr(absl::StrCat(dir_.File("in.csv"),
                                               ":9: type: \"Domain\" is "
                                               "not a CTIA observable type")));
  EXPECT_THAT(Stderr(), HasSubstr(":501: disposition_name: \"Evil\" is not Clean"));
  EXPECT_THAT(Stderr(), HasSubstr(":502: confidence: \"Sure\" is not one of"));

  std::vector<std::vector<std::string>> result = Result();
  ASSERT_EQ(result.size(), 5000u);
  EXPECT_EQ(CountStatus(result, "created"), 4990u);
  EXPECT_EQ(CountStatus(result, "invalid: "), 10u);
  for (int i = 0; i < 5000; ++i) {
    EXPECT_THAT(result[i][0], HasSubstr(absl::StrCat(",row ", i))) << "order";
    const bool bad = std::find(kInvalid.begin(), kInvalid.end(), i) != kInvalid.end();
    if (bad) {
      EXPECT_THAT(result[i][2], StartsWith("invalid: ")) << i;
      EXPECT_EQ(result[i][1], "") << i;
    } else {
      EXPECT_THAT(result[i][1],
                  StartsWith("https://private.intel.amp.cisco.com/ctia/judgement/judgement-"));
    }
  }
  ExpectEachStoredOnce(5000, kInvalid);
  const std::string first_id = result[1][1];

  // Again without --resume: refused (exit 2), nothing sent.
  const uint64_t total = sim_->Counters().total;
  EXPECT_EQ(Run({}), 2);
  EXPECT_THAT(Stderr(), HasSubstr("--resume"));
  EXPECT_EQ(sim_->Counters().total, total);

  // The same file published into another result file: the journal is the input's, so it is
  // refused too, nothing sent.
  std::vector<std::string> other = Args({});
  std::replace(other.begin(), other.end(), dir_.File("out.csv"), dir_.File("other.csv"));
  EXPECT_EQ(testing::RunCli(Spec(other)), 2);
  EXPECT_THAT(Stderr(), HasSubstr("earlier publish of the same input"));
  EXPECT_EQ(sim_->Counters().total, total);

  // Again with --resume: every row exists (from the journal), no request.
  ASSERT_EQ(Run({"--resume"}), 0) << Stderr();
  c = sim_->Counters();
  EXPECT_EQ(c.bulk_posts, 3u);
  EXPECT_EQ(c.judgements_created, 4990u);
  EXPECT_EQ(c.external_id_lookups, 0u);
  result = Result();
  EXPECT_EQ(CountStatus(result, "exists"), 4990u);
  EXPECT_EQ(result[1][1], first_id);

  // The journal lost: --check-existing finds every row by its external id; nothing created.
  std::filesystem::remove(dir_.File("in.csv.publish-journal"));
  ASSERT_EQ(Run({"--check-existing"}), 0) << Stderr();
  c = sim_->Counters();
  EXPECT_EQ(c.bulk_posts, 3u);
  EXPECT_EQ(c.judgements_created, 4990u);
  EXPECT_EQ(c.external_id_lookups, 4990u);
  EXPECT_EQ(sim_->JudgementCount(), 4990u);
  result = Result();
  EXPECT_EQ(CountStatus(result, "exists"), 4990u);
  EXPECT_EQ(result[1][1], first_id);
}

TEST_F(PublishTest, DryRunSendsNothing) {
  testing::WriteFileBytes(dir_.File("in.csv"), Input(300, {5, 6}));
  const uint64_t before = sim_->Counters().total;
  ASSERT_EQ(Run({"--dry-run"}), 0) << Stderr();
  EXPECT_EQ(sim_->Counters().total, before);
  EXPECT_EQ(sim_->JudgementCount(), 0u);
  EXPECT_THAT(Stderr(), HasSubstr("rows 300, valid 298, invalid 2, created 0"));
  EXPECT_THAT(Stderr(), HasSubstr("(nothing sent)"));
  std::vector<std::vector<std::string>> result = Result();
  EXPECT_EQ(CountStatus(result, "valid"), 298u);
  EXPECT_FALSE(std::filesystem::exists(dir_.File("in.csv.publish-journal")));
}

TEST_F(PublishTest, NoHeaderNamesColumnsByPosition) {
  // Input() without its header line, the columns named by position.
  std::string text = Input(50, {3});
  text.erase(0, text.find('\n') + 1);
  testing::WriteFileBytes(dir_.File("in.csv"), text);
  const std::vector<std::string> columns = {"--no-header",  "--map", "value=1",
                                            "--map",        "type=2", "--map",
                                            "disposition_name=3", "--map", "confidence=4",
                                            "--map",        "reason=5"};
  ASSERT_EQ(Run(columns), 0) << Stderr();
  EXPECT_EQ(sim_->JudgementCount(), 49u);
  ExpectEachStoredOnce(50, {3});  // the same external ids as with a header
  // The result has no header either: row i is line i, with its id and status.
  std::vector<std::string> lines =
      absl::StrSplit(testing::ReadFileBytes(dir_.File("out.csv")), '\n', absl::SkipEmpty());
  ASSERT_EQ(lines.size(), 50u);
  EXPECT_THAT(lines[0], StartsWith("host-0.example,domain,Malicious,High,row 0,"));
  EXPECT_THAT(lines[0], ::testing::EndsWith(",created"));
  EXPECT_THAT(lines[3], HasSubstr("invalid: "));
  EXPECT_THAT(Stderr(), HasSubstr(dir_.File("in.csv") + ":4: "));  // line 4 is row 3

  // Without a header a column is a position, and value and type must be placed.
  std::filesystem::remove(dir_.File("in.csv.publish-journal"));
  EXPECT_EQ(Run({"--no-header", "--map", "value=domain", "--type", "domain", "--dry-run"}), 2);
  EXPECT_THAT(Stderr(), HasSubstr("--map value=domain: with --no-header, name a column by its "
                                  "position"));
  EXPECT_EQ(Run({"--no-header", "--type", "domain", "--dry-run"}), 2);
  EXPECT_THAT(Stderr(), HasSubstr("--no-header: say which column holds the value"));
}

TEST_F(PublishTest, KillDuringABulkThenResumeStoresEachJudgementOnce) {
  constexpr int kRows = 2000;
  testing::WriteFileBytes(dir_.File("in.csv"), Input(kRows, {}));
  // Each bulk is stored at once and answered 1.5 s later: a kill right after the sim saw a
  // bulk lands while its answer is on the way.
  sim::FaultRule slow;
  slow.kind = sim::FaultKind::kLatency;
  slow.path_prefix = "/ctia/bulk";
  slow.latency = absl::Milliseconds(1500);
  sim_->AddFault(slow);
  auto child = testing::StartCli(Spec(Args({"--bulk-size", "200"})));
  ASSERT_TRUE(child.ok()) << child.status();
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(60);
  while (sim_->Counters().bulk_posts < 3 && std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds(2));
  }
  child->Signal(SIGKILL);
  child->Wait();
  ASSERT_EQ(sim_->Counters().bulk_posts, 3u);
  EXPECT_EQ(sim_->JudgementCount(), 600u);  // the third bulk stored, its answer never read
  EXPECT_FALSE(std::filesystem::exists(dir_.File("out.csv")));

  sim_->ClearFaults();
  ASSERT_EQ(Run({"--bulk-size", "200", "--resume"}), 0) << Stderr();
  const sim::SimCounters c = sim_->Counters();
  EXPECT_EQ(c.judgements_created, static_cast<uint64_t>(kRows));
  EXPECT_EQ(sim_->JudgementCount(), static_cast<size_t>(kRows));
  EXPECT_EQ(c.external_id_lookups, 200u);  // only the bulk in flight was looked up
  EXPECT_EQ(c.bulk_posts, 10u);            // 3 before the kill, 7 after
  std::vector<std::vector<std::string>> result = Result();
  ASSERT_EQ(result.size(), static_cast<size_t>(kRows));
  EXPECT_EQ(CountStatus(result, "exists"), 600u);
  EXPECT_EQ(CountStatus(result, "created"), 1400u);
  ExpectEachStoredOnce(kRows, {});
}

TEST_F(PublishTest, SigtermBetweenBulksCheckpointsThenResume) {
  constexpr int kRows = 1000;
  testing::WriteFileBytes(dir_.File("in.csv"), Input(kRows, {}));
  sim::FaultRule slow;
  slow.kind = sim::FaultKind::kLatency;
  slow.path_prefix = "/ctia/bulk";
  slow.latency = absl::Milliseconds(1500);
  sim_->AddFault(slow);
  auto child = testing::StartCli(Spec(Args({"--bulk-size", "200"})));
  ASSERT_TRUE(child.ok()) << child.status();
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(60);
  while (sim_->Counters().bulk_posts < 2 && std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds(2));
  }
  // The bulk on the way is answered and journaled; the next one is not sent.
  child->Signal(SIGTERM);
  EXPECT_EQ(child->Wait(), 75) << Stderr();
  EXPECT_THAT(Stderr(), HasSubstr("stopped by a signal"));
  EXPECT_EQ(sim_->Counters().bulk_posts, 2u);
  EXPECT_EQ(sim_->JudgementCount(), 400u);
  sim_->ClearFaults();
  ASSERT_EQ(Run({"--bulk-size", "200", "--resume"}), 0) << Stderr();
  EXPECT_EQ(sim_->Counters().external_id_lookups, 0u);  // nothing was left in flight
  EXPECT_EQ(sim_->JudgementCount(), static_cast<size_t>(kRows));
  std::vector<std::vector<std::string>> result = Result();
  EXPECT_EQ(CountStatus(result, "exists"), 400u);
  EXPECT_EQ(CountStatus(result, "created"), 600u);
  ExpectEachStoredOnce(kRows, {});
}

TEST_F(PublishTest, RateLimitCheckpointThenResume) {
  testing::WriteFileBytes(dir_.File("in.csv"), Input(500, {}));
  // Two requests per hour, no waiting: the third bulk checkpoints.
  EXPECT_EQ(Run({"--bulk-size", "100", "--rate-limit", "2/1h", "--max-wait", "0"}), 75) << Stderr();
  EXPECT_THAT(Stderr(), HasSubstr("--resume"));
  EXPECT_EQ(sim_->Counters().bulk_posts, 2u);
  EXPECT_EQ(sim_->JudgementCount(), 200u);
  EXPECT_FALSE(std::filesystem::exists(dir_.File("out.csv")));
  ASSERT_EQ(Run({"--bulk-size", "100", "--resume"}), 0) << Stderr();
  EXPECT_EQ(sim_->JudgementCount(), 500u);
  EXPECT_EQ(sim_->Counters().external_id_lookups, 0u);  // the refused bulk was never sent
  EXPECT_EQ(CountStatus(Result(), "created"), 300u);
  ExpectEachStoredOnce(500, {});
}

TEST_F(PublishTest, AHeaderlessLimiterPacesTheBulksAndLosesNone) {
  // A gateway's limiter in front of CTIA: 4 requests per second per org, no X-RateLimit-*
  // header, only Retry-After on its 429s. Ten bulks: paced by the 429s, each row stored once.
  sim_->Stop();
  sim::SimOptions options;
  options.public_base = "https://private.intel.amp.cisco.com";
  options.rate_limit = 4;
  options.rate_limit_window = absl::Seconds(1);
  options.rate_limit_header_group = "NONE";
  sim_ = testing::StartSim(options);
  ASSERT_NE(sim_, nullptr);
  testing::WriteFileBytes(dir_.File("in.csv"), Input(1000, {}));
  ASSERT_EQ(Run({"--bulk-size", "100"}), 0) << Stderr();
  EXPECT_EQ(sim_->JudgementCount(), 1000u);
  EXPECT_EQ(CountStatus(Result(), "created"), 1000u);
  ExpectEachStoredOnce(1000, {});
  const sim::SimCounters c = sim_->Counters();
  // Ten bulks take three windows: at most one 429 each (all of the 4xx here), and each refused
  // bulk sent once more (measured: one 429, 11 bulk posts).
  EXPECT_LE(c.client_errors, 3u);
  EXPECT_EQ(c.bulk_posts, 10u + c.client_errors);
}

TEST_F(PublishTest, ServerErrorsGiveExitCode3) {
  // Rows CTIA would refuse item by item are caught by the local checks; a 500 on the bulk is a
  // server error for each of its rows.
  testing::WriteFileBytes(dir_.File("in.csv"), Input(10, {}));
  sim::FaultRule fail;
  fail.kind = sim::FaultKind::kStatus500;
  fail.path_prefix = "/ctia/bulk";
  sim_->AddFault(fail);
  EXPECT_EQ(Run({}), 3) << Stderr();
  EXPECT_THAT(Stderr(), HasSubstr("failed 10"));
  std::vector<std::vector<std::string>> result = Result();
  ASSERT_EQ(result.size(), 10u);
  EXPECT_THAT(result[0][2], HasSubstr("500"));
}

}  // namespace
}  // namespace enrich
