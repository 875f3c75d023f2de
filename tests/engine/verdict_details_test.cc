// run --fields, --judgements and the intel columns on the engine's side, against a fake verdict
// source that fills a verdict's details, intel and other verdict: the --fields list, the
// encoding the verdict table and the journal keep, the columns in CSV and NDJSON (one and
// several columns, fresh and cached answers), and a resumed run writing the same bytes.

#include "schema/verdict_details.h"

#include <atomic>
#include <filesystem>
#include <memory>
#include <sstream>
#include <string>
#include <vector>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "engine/job.h"
#include "engine/journal.h"
#include "engine/pipeline.h"
#include "engine/verdict_table.h"
#include "schema/clock.h"
#include "schema/time_format.h"
#include "tests/engine/string_io.h"
#include "tests/engine/temp_dir.h"
#include "tests/fakes/fake_verdict_source.h"

namespace enrich::engine {
namespace {

using ::enrich::testing::FakeVerdictSource;
using ::enrich::testing::StringSink;
using ::enrich::testing::StringSource;
using ::enrich::testing::TempDir;
using ::testing::ElementsAre;
using ::testing::HasSubstr;

// Values with "bad": Malicious, decided by Global-Intel, with the judgement's details, two
// judgements, and Private-Intel's Clean verdict as the other; with "lone": Suspicious from
// Private-Intel, no details, no judgement, no other; with "down": a 503; others: no verdict.
absl::StatusOr<schema::VerdictResult> Answer(const schema::Observable& o) {
  if (absl::StrContains(o.value, "down")) return absl::UnavailableError("http 503: x");
  schema::Verdict v;
  v.valid_time = {absl::UnixEpoch(), schema::EndOfTime()};
  v.judgement_id = "j-" + o.value;
  if (absl::StrContains(o.value, "bad")) {
    v.disposition = schema::Disposition::kMalicious;
    v.judgement = schema::JudgementDetails{"Talos, Inc.", "https://t.example/\"q\"",
                                           "line1\nline2", "High", "Medium", "amber", 95};
    v.judgements = {{"Talos, Inc.", schema::Disposition::kMalicious, "j-" + o.value},
                    {"feed", schema::Disposition::kClean, "f-1"},
                    {"third", schema::Disposition::kUnknown, "t-1"}};
    v.intel = "global";
    auto other = std::make_shared<schema::Verdict>();
    other->disposition = schema::Disposition::kClean;
    other->judgement_id = "p-" + o.value;
    other->valid_time = {absl::UnixEpoch(), absl::FromUnixMillis(1'800'000'000'000)};
    other->intel = "private";
    v.other = std::move(other);
    return schema::VerdictResult(v);
  }
  if (absl::StrContains(o.value, "lone")) {
    v.disposition = schema::Disposition::kSuspicious;
    v.intel = "private";
    return schema::VerdictResult(v);
  }
  return schema::VerdictResult(schema::NoVerdict{});
}

TEST(DetailFieldsTest, ParsesTheListInOrderAndRefusesUnknownNames) {
  auto fields = ParseDetailFields("reason, source,observable_value");
  ASSERT_TRUE(fields.ok()) << fields.status();
  EXPECT_THAT(*fields, ElementsAre(DetailField::kReason, DetailField::kSource,
                                   DetailField::kObservableValue));
  auto all = ParseDetailFields("all");
  ASSERT_TRUE(all.ok());
  EXPECT_EQ(all->size(), kDetailFieldCount);
  EXPECT_EQ(DetailFieldName(all->back()), "observable_value");

  auto unknown = ParseDetailFields("source,sevrity");
  ASSERT_FALSE(unknown.ok());
  EXPECT_EQ(unknown.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(unknown.status().message()),
              HasSubstr("--fields \"source,sevrity\": unknown field \"sevrity\"; the fields are: "
                        "source, source_uri, reason, severity, confidence, priority, tlp, "
                        "observable_type, observable_value (or all)"));
  EXPECT_FALSE(ParseDetailFields("tlp,tlp").ok());
  EXPECT_FALSE(ParseDetailFields("").ok());
}

TEST(DetailsEncodingTest, KeepsOnlyWhatTheSpecNamesAndRoundTrips) {
  auto bad = Answer({"domain", "bad.example"});
  const auto& v = std::get<schema::Verdict>(*bad);
  const DetailsSpec spec =
      DetailsSpec::Of({DetailField::kPriority, DetailField::kSource}, 2, false, true);
  std::string bytes;
  EncodeDetails(spec, v, bytes);
  DetailsView view;
  ASSERT_TRUE(DecodeDetails(spec, bytes, view));
  EXPECT_TRUE(view.has_judgement);
  EXPECT_EQ(view.judgement[static_cast<size_t>(DetailField::kSource)], "Talos, Inc.");
  EXPECT_EQ(view.judgement[static_cast<size_t>(DetailField::kPriority)], "95");
  EXPECT_EQ(view.judgement[static_cast<size_t>(DetailField::kReason)], "");  // not kept
  ASSERT_EQ(view.judgements.size(), 2u);  // the first N only
  EXPECT_EQ(view.judgements[1].source, "feed");
  EXPECT_EQ(view.judgements[1].disposition, 1);
  EXPECT_EQ(view.judgements[1].id, "f-1");
  EXPECT_EQ(view.intel, "global");  // kept for the other verdict's side
  ASSERT_TRUE(view.has_other);
  EXPECT_EQ(view.other_disposition, 1);
  EXPECT_EQ(view.other_judgement_id, "p-bad.example");
  EXPECT_EQ(view.other_valid_until_ms, 1'800'000'000'000);
  EXPECT_EQ(view.other_intel, "private");
  EXPECT_FALSE(absl::StrContains(bytes, "line1"));  // the reason is not kept

  // An encoding starts with its spec's header, and another spec's reading refuses it.
  EXPECT_TRUE(absl::StartsWith(bytes, spec.Header()));
  const DetailsSpec other = DetailsSpec::Of({DetailField::kSource}, 2, false, true);
  EXPECT_FALSE(absl::StartsWith(bytes, other.Header()));
  EXPECT_FALSE(DecodeDetails(other, bytes, view));
  EXPECT_FALSE(DecodeDetails(spec, bytes.substr(0, bytes.size() - 1), view));
  EXPECT_EQ(spec.Describe(), "fields=source,priority judgements=2 intel other");

  // Nothing kept: no bytes, also for observable_type and observable_value (no request).
  const DetailsSpec none = DetailsSpec::Of({DetailField::kObservableType}, 0, false, false);
  EXPECT_TRUE(none.empty());
  EncodeDetails(none, v, bytes);
  EXPECT_TRUE(bytes.empty());
  EXPECT_EQ(none.Describe(), "");
}

TEST(DetailsTableTest, TheArenaKeepsDetailsBesideTheJudgementIdOnly) {
  schema::FakeClock clock(absl::FromUnixSeconds(1'700'000'000));
  auto bad = Answer({"domain", "bad.example"});
  const DetailsSpec spec = DetailsSpec::Of({DetailField::kReason}, 3, true, false);
  std::string bytes;
  EncodeDetails(spec, std::get<schema::Verdict>(*bad), bytes);
  ASSERT_FALSE(bytes.empty());

  VerdictTable plain(clock), detailed(clock);
  constexpr int kEntries = 50000;
  constexpr size_t kBlockSlack = 64 * (16 << 10);  // a partly used arena block per shard
  for (int i = 0; i < kEntries; ++i) {
    const std::string value = absl::StrCat("bad-", i, ".example");
    plain.Complete("domain", value, bad);
    detailed.Complete("domain", value, bad, "", bytes);
  }
  // The same slots; the details cost arena bytes only (with 4 bytes of id length each).
  EXPECT_GE(detailed.bytes_used() - plain.bytes_used(), kEntries * bytes.size() - kBlockSlack);
  EXPECT_LE(detailed.bytes_used() - plain.bytes_used(),
            kEntries * (bytes.size() + 4) + kBlockSlack);

  VerdictTable::ResolveResult hit = detailed.Resolve("domain", "bad-7.example", nullptr, 0);
  ASSERT_EQ(hit.resolution, VerdictTable::Resolution::kHit);
  EXPECT_EQ(hit.settled.judgement_id, "j-bad.example");
  EXPECT_EQ(hit.settled.details, bytes);
  hit = plain.Resolve("domain", "bad-7.example", nullptr, 0);
  ASSERT_EQ(hit.resolution, VerdictTable::Resolution::kHit);
  EXPECT_EQ(hit.settled.judgement_id, "j-bad.example");
  EXPECT_TRUE(hit.settled.details.empty());

  // Restored from a journal: the same answer.
  VerdictTable restored(clock);
  VerdictTable::Restored r{"domain", "bad.example", {}, schema::EndOfTime(), clock.Now()};
  r.settled.kind = Settled::Kind::kVerdict;
  r.settled.disposition = 2;
  r.settled.judgement_id = "j-bad.example";
  r.settled.details = bytes;
  restored.RestoreBatch(absl::MakeConstSpan(&r, 1));
  hit = restored.Resolve("domain", "bad.example", nullptr, 0);
  ASSERT_EQ(hit.resolution, VerdictTable::Resolution::kHit);
  EXPECT_EQ(hit.settled.judgement_id, "j-bad.example");
  EXPECT_EQ(hit.settled.details, bytes);
}

TEST(DetailsJournalTest, AVerdictRecordCarriesItsDetailsAndOneWithoutReadsAsBefore) {
  auto bad = Answer({"domain", "bad.example"});
  JournalEntry entry;
  entry.observable = {"domain", "bad.example"};
  entry.outcome = std::get<schema::Verdict>(*bad);
  entry.settled_at = absl::FromUnixSeconds(1'700'000'000);
  const std::string plain = EncodeJournalEntry(entry);
  EncodeDetails(DetailsSpec::Of({DetailField::kReason}, 2, true, true),
                std::get<schema::Verdict>(*bad), entry.details);
  const std::string detailed = EncodeJournalEntry(entry);
  EXPECT_EQ(detailed.size(), plain.size() + 4 + entry.details.size());
  EXPECT_EQ(detailed.substr(0, plain.size()), plain);  // the details follow, nothing else moves

  auto back = DecodeJournalEntry(detailed);
  ASSERT_TRUE(back.ok()) << back.status();
  EXPECT_EQ(back->details, entry.details);
  EXPECT_EQ(std::get<schema::Verdict>(back->outcome).judgement_id, "j-bad.example");
  back = DecodeJournalEntry(plain);
  ASSERT_TRUE(back.ok()) << back.status();
  EXPECT_TRUE(back->details.empty());
  // A details length beyond the record is damage.
  EXPECT_FALSE(DecodeJournalEntry(detailed.substr(0, detailed.size() - 1)).ok());
}

class DetailsPipelineTest : public ::testing::Test {
 protected:
  // Runs `input` against `table` (a fresh one when null).
  std::string Run(const std::string& input, const PipelineOptions& options,
                  VerdictTable* table = nullptr) {
    StringSource src(input, 7);  // small reads: several chunks
    StringSink sink;
    VerdictTable fresh(clock_);
    RunStats stats(clock_);
    PipelineOptions o = options;
    o.stats = &stats;
    o.chunk_size = 16;  // a chunk per row or two: later chunks find earlier answers cached
    const absl::Status status =
        RunPipeline(src, sink, o, table != nullptr ? *table : fresh, source_);
    EXPECT_TRUE(status.ok()) << status;
    return sink.text();
  }

  static PipelineOptions AllColumns() {
    PipelineOptions o;
    o.columns = {{"domain", "auto"}};
    o.fields = {DetailField::kSource, DetailField::kReason, DetailField::kPriority,
                DetailField::kObservableType, DetailField::kObservableValue};
    o.judgements = 2;
    o.intel_column = true;
    o.both_intel_columns = true;
    return o;
  }

  schema::FakeClock clock_{absl::FromUnixSeconds(1'700'000'000)};
  FakeVerdictSource source_{Answer};
};

constexpr char kInput[] = "domain\nBAD[.]example\nlone.example\nok.example\n\nbad[.]example\n";

TEST_F(DetailsPipelineTest, CsvOneColumnWritesEveryDetailColumn) {
  const PipelineOptions o = AllColumns();
  const std::string out = Run(kInput, o);
  const std::string bad =
      "2,Malicious,j-bad.example,2525-01-01T00:00:00.000Z,ok,\"Talos, Inc.\",\"line1\nline2\","
      "95,domain,bad.example,\"Talos, Inc.:Malicious;feed:Clean\",global,"
      "1,Clean,p-bad.example,2027-01-15T08:00:00.000Z,"
      "2,Malicious,j-bad.example,2525-01-01T00:00:00.000Z\n";
  EXPECT_EQ(out,
            "domain,ctia_disposition,ctia_disposition_name,ctia_judgement_id,ctia_valid_until,"
            "ctia_status,ctia_source,ctia_reason,ctia_priority,ctia_observable_type,"
            "ctia_observable_value,ctia_judgements,ctia_intel,ctia_private_disposition,"
            "ctia_private_disposition_name,ctia_private_judgement_id,ctia_private_valid_until,"
            "ctia_global_disposition,ctia_global_disposition_name,ctia_global_judgement_id,"
            "ctia_global_valid_until\n"
            "BAD[.]example," + bad +
            "lone.example,3,Suspicious,j-lone.example,2525-01-01T00:00:00.000Z,ok,,,,domain,"
            "lone.example,,private,3,Suspicious,j-lone.example,2525-01-01T00:00:00.000Z,,,,\n"
            "ok.example,,,,,no_verdict,,,,domain,ok.example,,,,,,,,,,\n"
            ",,,,,skipped,,,,,,,,,,,,,,,\n"
            "bad[.]example," + bad);
  EXPECT_EQ(source_.calls("bad.example"), 1);

  // Every answer cached (the resolve stage formats hits): the same bytes, no lookup.
  VerdictTable table(clock_);
  const std::string first = Run(kInput, o, &table);
  const int lookups = source_.total();
  EXPECT_EQ(Run(kInput, o, &table), first);
  EXPECT_EQ(first, out);
  EXPECT_EQ(source_.total(), lookups);

  // Without the flags: the five columns alone, as before.
  PipelineOptions plain;
  plain.columns = {{"domain", "auto"}};
  EXPECT_EQ(Run("domain\nbad.example\n", plain),
            "domain,ctia_disposition,ctia_disposition_name,ctia_judgement_id,ctia_valid_until,"
            "ctia_status\nbad.example,2,Malicious,j-bad.example,2525-01-01T00:00:00.000Z,ok\n");
}

TEST_F(DetailsPipelineTest, NdjsonEscapesStringsAndWritesPriorityAsANumber) {
  PipelineOptions o = AllColumns();
  o.input_format = o.output_format = DataFormat::kNdjson;
  o.columns = {{"d", "domain"}};
  o.fields.push_back(DetailField::kSourceUri);
  const std::string out =
      Run("{\"d\":\"BAD.example\"}\n{\"d\":\"ok.example\"}\n{\"d\":\"lone.example\"}\n", o);
  EXPECT_EQ(out,
            "{\"d\":\"BAD.example\",\"ctia_disposition\":2,\"ctia_disposition_name\":"
            "\"Malicious\",\"ctia_judgement_id\":\"j-bad.example\",\"ctia_valid_until\":"
            "\"2525-01-01T00:00:00.000Z\",\"ctia_status\":\"ok\",\"ctia_source\":\"Talos, Inc.\","
            "\"ctia_reason\":\"line1\\nline2\",\"ctia_priority\":95,"
            "\"ctia_observable_type\":\"domain\",\"ctia_observable_value\":\"bad.example\","
            "\"ctia_source_uri\":\"https://t.example/\\\"q\\\"\","
            "\"ctia_judgements\":[{\"source\":\"Talos, Inc.\",\"disposition_name\":\"Malicious\","
            "\"id\":\"j-bad.example\"},{\"source\":\"feed\",\"disposition_name\":\"Clean\","
            "\"id\":\"f-1\"}],\"ctia_intel\":\"global\","
            "\"ctia_private_disposition\":1,\"ctia_private_disposition_name\":\"Clean\","
            "\"ctia_private_judgement_id\":\"p-bad.example\","
            "\"ctia_private_valid_until\":\"2027-01-15T08:00:00.000Z\","
            "\"ctia_global_disposition\":2,\"ctia_global_disposition_name\":\"Malicious\","
            "\"ctia_global_judgement_id\":\"j-bad.example\","
            "\"ctia_global_valid_until\":\"2525-01-01T00:00:00.000Z\"}\n"
            "{\"d\":\"ok.example\",\"ctia_disposition\":null,\"ctia_disposition_name\":null,"
            "\"ctia_judgement_id\":null,\"ctia_valid_until\":null,\"ctia_status\":\"no_verdict\","
            "\"ctia_source\":null,\"ctia_reason\":null,\"ctia_priority\":null,"
            "\"ctia_observable_type\":\"domain\",\"ctia_observable_value\":\"ok.example\","
            "\"ctia_source_uri\":null,\"ctia_judgements\":null,\"ctia_intel\":null,"
            "\"ctia_private_disposition\":null,\"ctia_private_disposition_name\":null,"
            "\"ctia_private_judgement_id\":null,\"ctia_private_valid_until\":null,"
            "\"ctia_global_disposition\":null,\"ctia_global_disposition_name\":null,"
            "\"ctia_global_judgement_id\":null,\"ctia_global_valid_until\":null}\n"
            "{\"d\":\"lone.example\",\"ctia_disposition\":3,\"ctia_disposition_name\":"
            "\"Suspicious\",\"ctia_judgement_id\":\"j-lone.example\",\"ctia_valid_until\":"
            "\"2525-01-01T00:00:00.000Z\",\"ctia_status\":\"ok\",\"ctia_source\":null,"
            "\"ctia_reason\":null,\"ctia_priority\":null,\"ctia_observable_type\":\"domain\","
            "\"ctia_observable_value\":\"lone.example\",\"ctia_source_uri\":null,"
            "\"ctia_judgements\":[],\"ctia_intel\":\"private\","
            "\"ctia_private_disposition\":3,\"ctia_private_disposition_name\":\"Suspicious\","
            "\"ctia_private_judgement_id\":\"j-lone.example\","
            "\"ctia_private_valid_until\":\"2525-01-01T00:00:00.000Z\","
            "\"ctia_global_disposition\":null,\"ctia_global_disposition_name\":null,"
            "\"ctia_global_judgement_id\":null,\"ctia_global_valid_until\":null}\n");
}

TEST_F(DetailsPipelineTest, SeveralColumnsNameTheirDetailsAfterTheColumn) {
  PipelineOptions o;
  o.columns = {{"src", "domain"}, {"dns.name", "domain"}};
  o.fields = {DetailField::kSeverity, DetailField::kObservableValue};
  o.intel_column = true;
  const std::string out = Run("src,dns.name\nbad.example,OK.example\n", o);
  EXPECT_EQ(out,
            "src,dns.name,"
            "ctia_src_disposition,ctia_src_disposition_name,ctia_src_judgement_id,"
            "ctia_src_valid_until,ctia_src_status,ctia_src_severity,ctia_src_observable_value,"
            "ctia_src_intel,"
            "ctia_dns_name_disposition,ctia_dns_name_disposition_name,ctia_dns_name_judgement_id,"
            "ctia_dns_name_valid_until,ctia_dns_name_status,ctia_dns_name_severity,"
            "ctia_dns_name_observable_value,ctia_dns_name_intel\n"
            "bad.example,OK.example,"
            "2,Malicious,j-bad.example,2525-01-01T00:00:00.000Z,ok,High,bad.example,global,"
            ",,,,no_verdict,,ok.example,\n");

  // A column and a detail that would have the same name are refused.
  PipelineOptions clash = o;
  clash.columns = {{"a", "domain"}, {"a_private", "domain"}};
  clash.both_intel_columns = true;
  StringSource src("a,a_private\nx.example,y.example\n");
  StringSink sink;
  VerdictTable table(clock_);
  const absl::Status s = RunPipeline(src, sink, clash, table, source_);
  ASSERT_FALSE(s.ok());
  EXPECT_TRUE(IsUsageError(s));
  EXPECT_THAT(std::string(s.message()), HasSubstr("would add the same columns"));
}

// A run with details stopped, then resumed from its journal, writes the bytes of a run never
// stopped; a resume with other details looks its journaled verdicts up again.
class DetailsJobTest : public ::testing::Test {
 protected:
  DetailsJobTest() {
    std::string csv = "id,domain\n";
    for (int i = 0; i < 300; ++i) {
      absl::StrAppend(&csv, i, ",", i % 3 == 0 ? "bad-" : i % 3 == 1 ? "lone-" : "ok-", i,
                      ".example\n");
    }
    testing::WriteFileBytes(tmp_.File("in.csv"), csv);
  }

  JobOptions Options(const std::string& output, std::vector<DetailField> fields) {
    JobOptions o;
    o.input = tmp_.File("in.csv");
    o.output = tmp_.File(output);
    o.column_specs = "domain";
    o.endpoint = "fake";
    o.pipeline.columns = {{"domain", "domain"}};
    o.pipeline.chunk_size = 256;
    o.pipeline.fields = std::move(fields);
    o.pipeline.judgements = 3;
    o.pipeline.both_intel_columns = true;
    o.log = &log_;
    o.handle_stop_signals = false;
    return o;
  }

  TempDir tmp_;
  std::ostringstream log_;
};

TEST_F(DetailsJobTest, ResumedRunWritesTheSameBytes) {
  const std::vector<DetailField> fields = {DetailField::kSource, DetailField::kReason,
                                           DetailField::kPriority, DetailField::kTlp};
  {
    auto job = Job::Open(Options("whole.csv", fields));
    ASSERT_TRUE(job.ok()) << job.status();
    FakeVerdictSource source(Answer);
    const JobResult done = (*job)->Run(source);
    ASSERT_EQ(done.outcome, JobOutcome::kDone) << done.status;
  }
  auto job = Job::Open(Options("out.csv", fields));
  ASSERT_TRUE(job.ok()) << job.status();
  std::atomic<int> asked{0};
  FakeVerdictSource stopping([&](const schema::Observable& o) {
    if (++asked == 60) (*job)->RequestStop();
    return Answer(o);
  });
  const JobResult stopped = (*job)->Run(stopping);
  ASSERT_EQ(stopped.outcome, JobOutcome::kCheckpointed) << stopped.status;
  const uint64_t settled = stopped.stats.counter(RunCounter::kLookupsSettled);
  ASSERT_GE(settled, 60u);

  JobOptions resume = Options("out.csv", fields);
  resume.resume = true;
  auto again = Job::Open(std::move(resume));
  ASSERT_TRUE(again.ok()) << again.status();
  FakeVerdictSource counting(Answer);
  const JobResult done = (*again)->Run(counting);
  ASSERT_EQ(done.outcome, JobOutcome::kDone) << done.status;
  EXPECT_EQ(static_cast<uint64_t>(counting.total()), 300 - settled);
  const std::string whole = testing::ReadFileBytes(tmp_.File("whole.csv"));
  EXPECT_THAT(whole, HasSubstr(",\"Talos, Inc.\",\"line1\nline2\",95,amber,"));
  EXPECT_EQ(testing::ReadFileBytes(tmp_.File("out.csv")), whole);
}

TEST_F(DetailsJobTest, ResumeWithOtherFieldsLooksTheVerdictsUpAgain) {
  auto job = Job::Open(Options("out.csv", {DetailField::kSource}));
  ASSERT_TRUE(job.ok()) << job.status();
  std::atomic<int> asked{0};
  FakeVerdictSource stopping([&](const schema::Observable& o) {
    if (++asked == 60) (*job)->RequestStop();
    return Answer(o);
  });
  const JobResult stopped = (*job)->Run(stopping);
  ASSERT_EQ(stopped.outcome, JobOutcome::kCheckpointed) << stopped.status;

  JobOptions resume = Options("out.csv", {DetailField::kSource, DetailField::kReason});
  resume.resume = true;
  auto again = Job::Open(std::move(resume));
  ASSERT_TRUE(again.ok()) << again.status();
  FakeVerdictSource counting(Answer);
  const JobResult done = (*again)->Run(counting);
  ASSERT_EQ(done.outcome, JobOutcome::kDone) << done.status;
  // Only the journaled "no verdict" answers (ok-*) are reused: every verdict is asked again,
  // so every row has its reason.
  int ok_values = 0;
  for (int i = 2; i < 300; i += 3) ok_values += counting.calls(absl::StrCat("ok-", i, ".example"));
  EXPECT_EQ(counting.total() - ok_values, 200);
  EXPECT_LT(ok_values, 100);
  EXPECT_THAT(log_.str(), HasSubstr("journaled verdicts lack the details of "
                                    "--fields/--judgements/--intel this run writes: they are "
                                    "looked up again"));
  EXPECT_THAT(log_.str(), HasSubstr("the journal was written for another input or columns"));
  const std::string out = testing::ReadFileBytes(tmp_.File("out.csv"));
  size_t reasons = 0;
  for (size_t at = out.find("line1\nline2"); at != std::string::npos;
       at = out.find("line1\nline2", at + 1)) {
    ++reasons;
  }
  EXPECT_EQ(reasons, 100u);
}

}  // namespace
}  // namespace enrich::engine
