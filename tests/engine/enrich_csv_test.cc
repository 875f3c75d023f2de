#include "tests/engine/enrich_csv.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "absl/strings/str_split.h"
#include "engine/pipeline.h"
#include "schema/time_format.h"
#include "tests/engine/mem_file.h"
#include "tests/fakes/fake_verdict_source.h"

namespace enrich::engine {
namespace {

using enrich::testing::EnrichCsv;
using enrich::testing::EnrichOptions;
using enrich::testing::FakeVerdictSource;
using enrich::testing::InputFile;
using enrich::testing::OutputFile;
using schema::Disposition;
using schema::Verdict;

// bad.com → Malicious, good.com → Clean, down.com → 503, anything else → no verdict.
absl::StatusOr<schema::VerdictResult> Answer(const schema::Observable& o) {
  std::string v = o.value;
  for (char& c : v) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  if (v == "down.com") return absl::UnavailableError("http 503: service unavailable");
  if (v == "bad.com" || v == "good.com") {
    Verdict verdict;
    verdict.disposition = v == "bad.com" ? Disposition::kMalicious : Disposition::kClean;
    verdict.disposition_name = std::string(schema::DispositionName(verdict.disposition));
    verdict.observable = o;
    verdict.judgement_id = "http://sim/ctia/judgement/judgement-" + v;
    verdict.valid_time = {absl::UnixEpoch(), schema::EndOfTime()};
    return schema::VerdictResult(verdict);
  }
  return schema::VerdictResult(schema::NoVerdict{});
}

class EnrichCsvTest : public ::testing::TestWithParam<bool> {
 protected:
  absl::StatusOr<RunStatsSnapshot> Run(const std::string& input, EnrichOptions options = {}) {
    if (options.column.name.empty()) options.column = {"domain", "domain"};
    InputFile in(input);
    auto summary = EnrichCsv(in.get(), out_.get(), options, source_);
    output_ = out_.str();
    return summary;
  }
  std::vector<std::string> Lines() { return absl::StrSplit(output_, '\n'); }

  FakeVerdictSource source_{Answer, /*async=*/GetParam()};
  OutputFile out_;
  std::string output_;
};

TEST_P(EnrichCsvTest, EveryRowOutInOrderWithStatus) {
  const std::string input =
      "id,domain,note\n"
      "1,bad.com,x\n"
      "2,good.com,\"a, b\"\n"
      "3,unknown.org,\n"
      "4,,empty\n"
      "5,BAD.COM,case\n"
      "6,down.com,err\n"
      "7,too,many,fields\n"
      "8,\"bad.com\"x,broken\n";
  auto summary = Run(input);
  ASSERT_TRUE(summary.ok()) << summary.status();
  const std::string jid = "http://sim/ctia/judgement/judgement-";
  EXPECT_EQ(output_,
            "id,domain,note,ctia_disposition,ctia_disposition_name,ctia_judgement_id,"
            "ctia_valid_until,ctia_status\n"
            "1,bad.com,x,2,Malicious," + jid + "bad.com,2525-01-01T00:00:00.000Z,ok\n"
            "2,good.com,\"a, b\",1,Clean," + jid + "good.com,2525-01-01T00:00:00.000Z,ok\n"
            "3,unknown.org,,,,,,no_verdict\n"
            "4,,empty,,,,,skipped\n"
            "5,BAD.COM,case,2,Malicious," + jid + "bad.com,2525-01-01T00:00:00.000Z,ok\n"
            "6,down.com,err,,,,,error:503\n"
            "7,too,many,fields,,,,,invalid_row\n"
            "8,\"bad.com\"x,broken,,,,,invalid_row\n");
  EXPECT_EQ(summary->counter(RunCounter::kRowsRead), 8u);
  EXPECT_EQ(summary->counter(RunCounter::kUniqueObservables), 4u);
  EXPECT_EQ(summary->counter(RunCounter::kLookupsSent), 4u);
  EXPECT_EQ(summary->statuses.at("ok"), 3u);
  EXPECT_EQ(summary->statuses.at("invalid_row"), 2u);
  EXPECT_EQ(source_.calls("bad.com"), 1);  // BAD.COM reused the same lookup
  EXPECT_EQ(source_.calls("BAD.COM"), 0);
}

TEST_P(EnrichCsvTest, LooksUpEachValueOnceAcrossBatches) {
  std::string input = "domain\n";
  for (int i = 0; i < 100; ++i) input += (i % 2 ? "bad.com\n" : "Good.com\n");
  EnrichOptions options;
  options.chunk_size = 16;
  options.max_in_flight = 2;
  auto summary = Run(input, options);
  ASSERT_TRUE(summary.ok());
  EXPECT_EQ(summary->counter(RunCounter::kRowsRead), 100u);
  EXPECT_EQ(source_.total(), 2);
  EXPECT_EQ(Lines().size(), 102u);  // header + 100 rows + final empty piece
}

TEST_P(EnrichCsvTest, KeepsCrlfBomAndQuotedNewlines) {
  const std::string input =
      "\xEF\xBB\xBF" "domain,msg\r\n"
      "bad.com,\"two\r\nlines\"\r\n"
      "x.com,last";
  auto summary = Run(input);
  ASSERT_TRUE(summary.ok());
  EXPECT_EQ(output_,
            "\xEF\xBB\xBF" "domain,msg,ctia_disposition,ctia_disposition_name,ctia_judgement_id,"
            "ctia_valid_until,ctia_status\r\n"
            "bad.com,\"two\r\nlines\",2,Malicious,http://sim/ctia/judgement/judgement-bad.com,"
            "2525-01-01T00:00:00.000Z,ok\r\n"
            "x.com,last,,,,,no_verdict\r\n");
}

TEST_P(EnrichCsvTest, UnknownColumnListsTheColumns) {
  EnrichOptions options;
  options.column = {"fqdn", "domain"};
  options.input_name = "events.csv";
  auto summary = Run("ts,host,ip\n1,a,b\n", options);
  ASSERT_FALSE(summary.ok());
  EXPECT_EQ(summary.status().message(),
            "events.csv:1: no column \"fqdn\"; the columns are: ts, host, ip");
  EXPECT_TRUE(IsUsageError(summary.status()));
}

TEST_P(EnrichCsvTest, EmptyInputIsAnError) {
  EnrichOptions options;
  options.input_name = "empty.csv";
  auto summary = Run("", options);
  ASSERT_FALSE(summary.ok());
  EXPECT_THAT(std::string(summary.status().message()), ::testing::HasSubstr("empty.csv"));
  EXPECT_FALSE(IsUsageError(summary.status())) << "bad input, not bad usage";
}

TEST_P(EnrichCsvTest, HeaderOnlyGivesHeaderOnly) {
  auto summary = Run("domain\n");
  ASSERT_TRUE(summary.ok());
  EXPECT_EQ(summary->counter(RunCounter::kRowsRead), 0u);
  EXPECT_EQ(Lines().size(), 2u);
}

INSTANTIATE_TEST_SUITE_P(InlineAndAsync, EnrichCsvTest, ::testing::Bool());

TEST(EnrichCsvFatalTest, RejectedCredentialsStopTheRun) {
  FakeVerdictSource source([](const schema::Observable&) -> absl::StatusOr<schema::VerdictResult> {
    return absl::UnauthenticatedError("token endpoint rejected client id 'x': invalid_client");
  });
  InputFile in("domain\na.com\nb.com\n");
  OutputFile out;
  EnrichOptions options;
  options.column = {"domain", "domain"};
  auto summary = EnrichCsv(in.get(), out.get(), options, source);
  ASSERT_FALSE(summary.ok());
  EXPECT_EQ(summary.status().code(), absl::StatusCode::kUnauthenticated);
}

TEST(ColumnSpecTest, ParsesNameAndType) {
  EXPECT_EQ(ParseColumnSpec("domain")->type, "domain");
  auto c = ParseColumnSpec("dst:ip");
  ASSERT_TRUE(c.ok());
  EXPECT_EQ(c->name, "dst");
  EXPECT_EQ(c->type, "ip");
  EXPECT_EQ(ParseColumnSpec("a:b:url")->name, "a:b");
  EXPECT_FALSE(ParseColumnSpec("hostname_x").ok());
  EXPECT_FALSE(ParseColumnSpec("x:").ok());
  EXPECT_FALSE(ParseColumnSpec(":ip").ok());
}

}  // namespace
}  // namespace enrich::engine
