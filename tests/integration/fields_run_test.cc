// The judgement behind the verdict, end to end (issue 15): `ctia-enrich run --fields ...
// --judgements N` against a real ctia-sim on 127.0.0.1:0 seeded with judgements whose every
// field differs. Over GraphQL the details cost no request (the same /ctia/graphql count as a
// run without them); over REST one GET /ctia/judgement/{id} per distinct judgement id; the
// columns hold the stored judgements' fields, the observable looked up, and the first N
// judgements in CTIA's list order.

#include "tests/fakes/cli_rig.h"

#include <map>
#include <memory>
#include <string>
#include <vector>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/time/clock.h"
#include <gmock/gmock.h>
#include <gtest/gtest.h>

namespace enrich {
namespace {

using schema::Disposition;
using testing::ReadFileBytes;

constexpr int kJudged = 20;   // domains with judgements
constexpr int kUnknown = 5;   // domains without

// The deciding judgement of domain i: every field its own.
schema::Judgement Deciding(int i) {
  schema::Judgement j;
  j.observable = {"domain", absl::StrCat("judged-", i, ".example")};
  j.disposition = i % 2 == 0 ? Disposition::kMalicious : Disposition::kClean;
  j.priority = 60 + i;
  j.source = absl::StrCat("feed-", i);
  j.source_uri = absl::StrCat("https://feed.example/", i);
  j.reason = absl::StrCat("reason ", i);
  j.severity = i % 3 == 0 ? "Critical" : "Medium";
  j.confidence = i % 4 == 0 ? "Low" : "High";
  j.tlp = i % 2 == 0 ? "amber" : "green";
  j.valid_time = {absl::Now() - absl::Hours(1), absl::Now() + absl::Hours(24 * 30)};
  return j;
}

// A second opinion of domain i, lower priority: it never decides, but is listed.
schema::Judgement SecondOpinion(int i) {
  schema::Judgement j = Deciding(i);
  j.disposition = Disposition::kSuspicious;
  j.priority = 10;
  j.source = "second-feed";
  j.reason = "second";
  return j;
}

// A parsed CSV output (no field holds a comma here): header name → column, rows by domain.
struct Output {
  std::map<std::string, size_t> column;
  std::map<std::string, std::vector<std::string>> row;
  std::string Cell(const std::string& domain, const std::string& name) const {
    auto col = column.find(name);
    auto r = row.find(domain);
    if (col == column.end() || r == row.end()) return "<missing " + name + ">";
    return r->second.at(col->second);
  }
};

Output ParseOutput(const std::string& text) {
  Output out;
  std::vector<std::string> lines = absl::StrSplit(text, '\n', absl::SkipEmpty());
  if (lines.empty()) return out;
  std::vector<std::string> header = absl::StrSplit(lines[0], ',');
  for (size_t i = 0; i < header.size(); ++i) out.column[header[i]] = i;
  for (size_t i = 1; i < lines.size(); ++i) {
    std::vector<std::string> fields = absl::StrSplit(lines[i], ',');
    out.row[absl::AsciiStrToLower(fields[1])] = fields;
  }
  return out;
}

class FieldsRunTest : public ::testing::Test {
 protected:
  void SetUp() override { StartSim(/*graphql=*/true); }

  // A ctia-sim holding the judgements, with or without its /ctia/graphql route (as a CTIA
  // deployment, or a gateway in front of one, may lack it); and the input.
  void StartSim(bool graphql) {
    if (sim_ != nullptr) sim_->Stop();
    sim::SimOptions options;
    options.test_api = true;
    options.graphql = graphql;
    sim_ = testing::StartSim(options);
    ASSERT_NE(sim_, nullptr);
    std::vector<schema::Judgement> judgements;
    for (int i = 0; i < kJudged; ++i) {
      judgements.push_back(Deciding(i));
      judgements.push_back(SecondOpinion(i));
    }
    const std::vector<std::string> ids = sim_->AddJudgements(judgements);
    ASSERT_EQ(ids.size(), judgements.size());
    for (int i = 0; i < kJudged; ++i) deciding_id_[i] = ids[2 * i];
    // Each domain on two rows, the second in upper case: one lookup per domain.
    std::string text = "id,domain\n";
    for (int round = 0; round < 2; ++round) {
      for (int i = 0; i < kJudged + kUnknown; ++i) {
        std::string domain =
            i < kJudged ? absl::StrCat("judged-", i, ".example") : absl::StrCat("unknown-", i, ".example");
        if (round == 1) absl::AsciiStrToUpper(&domain);
        absl::StrAppend(&text, round * 100 + i, ",", domain, "\n");
      }
    }
    testing::WriteFileBytes(dir_.File("in.csv"), text);
  }

  // Runs `ctia-enrich run` into out<n>.csv; returns its exit code.
  int Run(const std::string& out, const std::vector<std::string>& extra) {
    std::vector<std::string> args = {"run", "-i", dir_.File("in.csv"), "-o", dir_.File(out),
                                     "--column", "domain", "--endpoint", sim_->base_url(),
                                     "--connections", "2", "--threads", "2"};
    args.insert(args.end(), extra.begin(), extra.end());
    return testing::RunCli(testing::CliSpec(std::move(args), "", dir_.File("run.err")));
  }

  std::string Stderr() const { return ReadFileBytes(dir_.File("run.err")); }

  // Every judged domain's row holds its deciding judgement's fields and the observable looked
  // up; the unknown ones have empty details but their observable.
  void ExpectColumns(const std::string& out_file, bool with_judgements) {
    const Output out = ParseOutput(ReadFileBytes(dir_.File(out_file)));
    ASSERT_EQ(out.row.size(), static_cast<size_t>(kJudged + kUnknown));
    for (int i = 0; i < kJudged; ++i) {
      const schema::Judgement j = Deciding(i);
      const std::string& d = j.observable.value;
      SCOPED_TRACE(d);
      EXPECT_EQ(out.Cell(d, "ctia_status"), "ok");
      EXPECT_EQ(out.Cell(d, "ctia_judgement_id"), deciding_id_.at(i));
      EXPECT_EQ(out.Cell(d, "ctia_source"), j.source);
      EXPECT_EQ(out.Cell(d, "ctia_source_uri"), j.source_uri);
      EXPECT_EQ(out.Cell(d, "ctia_reason"), j.reason);
      EXPECT_EQ(out.Cell(d, "ctia_severity"), j.severity);
      EXPECT_EQ(out.Cell(d, "ctia_confidence"), j.confidence);
      EXPECT_EQ(out.Cell(d, "ctia_priority"), absl::StrCat(j.priority));
      EXPECT_EQ(out.Cell(d, "ctia_tlp"), j.tlp);
      EXPECT_EQ(out.Cell(d, "ctia_observable_type"), "domain");
      EXPECT_EQ(out.Cell(d, "ctia_observable_value"), d);
      if (with_judgements) {
        // CTIA's list order: disposition ascending (Clean 1, Malicious 2, Suspicious 3).
        EXPECT_EQ(out.Cell(d, "ctia_judgements"),
                  absl::StrCat(j.source, ":", schema::DispositionName(j.disposition),
                               ";second-feed:Suspicious"));
      }
    }
    for (int i = kJudged; i < kJudged + kUnknown; ++i) {
      const std::string d = absl::StrCat("unknown-", i, ".example");
      SCOPED_TRACE(d);
      EXPECT_EQ(out.Cell(d, "ctia_status"), "no_verdict");
      EXPECT_EQ(out.Cell(d, "ctia_source"), "");
      EXPECT_EQ(out.Cell(d, "ctia_observable_value"), d);
    }
  }

  testing::TempDir dir_;
  std::unique_ptr<sim::SimServer> sim_;
  std::map<int, std::string> deciding_id_;
};

constexpr char kAllFields[] = "source,source_uri,reason,severity,confidence,priority,tlp,"
                              "observable_type,observable_value";

TEST_F(FieldsRunTest, GraphqlDetailsCostNoRequest) {
  const sim::SimCounters before = sim_->Counters();
  ASSERT_EQ(Run("plain.csv", {"--batch-size", "10"}), 0) << Stderr();
  const sim::SimCounters plain = sim_->Counters();
  ASSERT_EQ(Run("fields.csv", {"--batch-size", "10", "--fields", kAllFields, "--judgements", "2"}),
            0)
      << Stderr();
  const sim::SimCounters fields = sim_->Counters();
  const uint64_t plain_graphql = plain.graphql_requests - before.graphql_requests;
  EXPECT_GE(plain_graphql, 3u);  // 25 domains in batches of 10
  EXPECT_EQ(fields.graphql_requests - plain.graphql_requests, plain_graphql);
  EXPECT_EQ(fields.judgement_reads, before.judgement_reads);
  EXPECT_EQ(fields.verdict_requests - plain.verdict_requests,
            plain.verdict_requests - before.verdict_requests);
  EXPECT_EQ(fields.total - plain.total, plain.total - before.total);
  ExpectColumns("fields.csv", /*with_judgements=*/true);
}

TEST_F(FieldsRunTest, RestReadsEachDistinctJudgementOnce) {
  const sim::SimCounters before = sim_->Counters();
  ASSERT_EQ(Run("rest.csv", {"--batch-size", "1", "--fields", kAllFields}), 0) << Stderr();
  const sim::SimCounters after = sim_->Counters();
  EXPECT_EQ(after.verdict_requests - before.verdict_requests,
            static_cast<uint64_t>(kJudged + kUnknown));
  EXPECT_EQ(after.judgement_reads - before.judgement_reads, static_cast<uint64_t>(kJudged));
  EXPECT_EQ(after.graphql_requests, before.graphql_requests);
  ExpectColumns("rest.csv", /*with_judgements=*/false);
}

TEST_F(FieldsRunTest, WithoutGraphqlTheDetailsComeOverRest) {
  // The batch size asks for GraphQL; the server has none: the run falls back to REST and
  // still writes every detail, each distinct judgement read once.
  StartSim(/*graphql=*/false);
  const sim::SimCounters before = sim_->Counters();
  ASSERT_EQ(Run("nogql.csv", {"--batch-size", "10", "--fields", kAllFields, "--judgements", "2"}),
            0)
      << Stderr();
  const sim::SimCounters after = sim_->Counters();
  EXPECT_EQ(after.verdict_requests - before.verdict_requests,
            static_cast<uint64_t>(kJudged + kUnknown));
  EXPECT_EQ(after.judgement_reads - before.judgement_reads, static_cast<uint64_t>(kJudged));
  ExpectColumns("nogql.csv", /*with_judgements=*/true);
}

TEST_F(FieldsRunTest, ObservableFieldsAloneSendNoJudgementRequest) {
  const sim::SimCounters before = sim_->Counters();
  ASSERT_EQ(Run("obs.csv", {"--batch-size", "1", "--fields", "observable_type,observable_value"}),
            0)
      << Stderr();
  const sim::SimCounters after = sim_->Counters();
  EXPECT_EQ(after.judgement_reads, before.judgement_reads);
  EXPECT_EQ(after.verdict_requests - before.verdict_requests,
            static_cast<uint64_t>(kJudged + kUnknown));
  const Output out = ParseOutput(ReadFileBytes(dir_.File("obs.csv")));
  EXPECT_EQ(out.Cell("judged-3.example", "ctia_observable_value"), "judged-3.example");
  EXPECT_EQ(out.column.count("ctia_source"), 0u);
}

}  // namespace
}  // namespace enrich
