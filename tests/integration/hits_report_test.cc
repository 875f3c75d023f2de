// `ctia-enrich run --hits --report` end to end: the real binary against ctia-sim (127.0.0.1,
// port 0) with its demo judgements and one hostile URL. The hits file holds exactly the output
// rows with a hit disposition in any observable column, in order (CSV and NDJSON, several
// columns); the HTML report parses as XML (tests/fakes/xhtml_doc.h) and shows the figures of
// the summary JSON of the same run, one bar per disposition, the top hits with the hostile
// value escaped.

#include "tests/fakes/cli_rig.h"
#include "tests/fakes/xhtml_doc.h"
#include "tools/sim/demo_data.h"

#include <cmath>
#include <fstream>
#include <set>
#include <string>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "rapidjson/document.h"
#include <gmock/gmock.h>
#include <gtest/gtest.h>

namespace enrich {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;

constexpr char kHostile[] = "http://evil.example/<script>alert(1)</script>";

using testing::ReadFileBytes;

std::vector<std::string> Lines(const std::string& text) {
  std::vector<std::string> lines;
  for (absl::string_view l : absl::StrSplit(text, '\n', absl::SkipEmpty())) {
    lines.push_back(absl::StrCat(l, "\n"));
  }
  return lines;
}

bool IsHitName(absl::string_view name) { return name == "Malicious" || name == "Suspicious"; }

class HitsReportTest : public ::testing::Test {
 protected:
  void SetUp() override {
    sim::SimOptions options;
    options.public_base = "https://private.intel.amp.cisco.com";
    options.threads = 2;
    sim_ = testing::StartSim(options);
    ASSERT_NE(sim_, nullptr);
    std::vector<schema::Judgement> judgements = sim::DemoJudgements(absl::Now());
    schema::Judgement hostile = judgements.front();  // a Malicious domain of the demo
    ASSERT_EQ(hostile.disposition, schema::Disposition::kMalicious);
    hostile.id.clear();
    hostile.observable = {"url", kHostile};
    hostile.source = "hostile <feed>";
    judgements.push_back(hostile);
    sim_->AddJudgements(std::move(judgements));
  }

  // Row i's domain, ip and url: demo observables of every disposition, unknown ones, and the
  // hostile URL in two rows of every 9 (the most frequent hit).
  static std::vector<std::string> Values(int i) {
    static const std::vector<std::string> domains = {
        "malware-c2.example", "intranet.example.com", "update-check.example.org",
        "cdn.example.com",    "unknown-1.example",    "Tracker.Example.Org",
        "mail.example.com",   "unknown-2.example",    "login-verify.example.net"};
    static const std::vector<std::string> ips = {"198.51.100.7", "198.51.100.42", "203.0.113.66",
                                                 "192.0.2.10",   "192.0.2.99",    "198.51.100.23",
                                                 "198.51.100.99"};
    static const std::vector<std::string> urls = {"https://docs.example.org/search?q=a+b",
                                                  "https://cdn.example.com/lib/jquery.min.js",
                                                  "http://unknown.example/x"};
    return {domains[static_cast<size_t>(i * 5 % 9)], ips[static_cast<size_t>(i * 3 % 7)],
            i % 9 == 1 || i % 9 == 2 ? kHostile : urls[static_cast<size_t>(i % 3)]};
  }

  int Run(const std::vector<std::string>& args, const std::string& err) {
    return testing::RunCli(testing::CliSpec(args, "", dir_.File(err)));
  }

  std::vector<std::string> Args(const std::string& in, const std::string& out,
                                const std::vector<std::string>& columns) const {
    std::vector<std::string> args = {
        "run",           "-i", dir_.File(in), "-o", dir_.File(out), "--endpoint", sim_->base_url(),
        "--connections", "2",  "--threads",   "2",  "--chunk-size", "4096"};
    for (const std::string& c : columns) {
      args.push_back("--column");
      args.push_back(c);
    }
    return args;
  }

  testing::TempDir dir_;
  std::unique_ptr<sim::SimServer> sim_;
};

constexpr int kRows = 2000;

TEST_F(HitsReportTest, CsvHitsAreTheRowsWithAHitDispositionInOrder) {
  std::string csv = "id,domain,src_ip,url\n";
  for (int i = 0; i < kRows; ++i) {
    const auto v = Values(i);
    absl::StrAppend(&csv, i, ",", v[0], ",", v[1], ",", v[2], "\n");
  }
  std::ofstream(dir_.File("in.csv"), std::ios::binary) << csv;
  std::vector<std::string> args =
      Args("in.csv", "out.csv", {"domain:domain", "src_ip:ip", "url:url"});
  for (const char* a :
       {"--hits", "hits.csv", "--report", "report.html", "--summary-json", "summary.json"}) {
    args.push_back(absl::StartsWith(a, "--") ? a : dir_.File(a));
  }
  ASSERT_EQ(Run(args, "run.err"), 0) << ReadFileBytes(dir_.File("run.err"));

  const std::vector<std::string> out = Lines(ReadFileBytes(dir_.File("out.csv")));
  ASSERT_EQ(out.size(), kRows + 1u);
  std::vector<size_t> name_columns;
  const std::vector<std::string> header = absl::StrSplit(absl::StripSuffix(out[0], "\n"), ',');
  for (size_t f = 0; f < header.size(); ++f) {
    if (absl::EndsWith(header[f], "_disposition_name")) name_columns.push_back(f);
  }
  ASSERT_EQ(name_columns.size(), 3u);
  std::string want = out[0];
  int hit_rows = 0;
  for (int i = 0; i < kRows; ++i) {
    const std::vector<std::string> f =
        absl::StrSplit(absl::StripSuffix(out[static_cast<size_t>(i) + 1], "\n"), ',');
    ASSERT_EQ(f.size(), header.size()) << out[static_cast<size_t>(i) + 1];
    bool hit = false;
    for (size_t c : name_columns) hit = hit || IsHitName(f[c]);
    // The demo data's own verdicts, independently of the output's columns.
    const auto v = Values(i);
    const bool known_hit = v[0] == "malware-c2.example" || v[0] == "login-verify.example.net" ||
                           v[0] == "update-check.example.org" || v[1] == "198.51.100.7" ||
                           v[1] == "203.0.113.66" || v[1] == "198.51.100.23" || v[2] == kHostile;
    EXPECT_EQ(hit, known_hit) << out[static_cast<size_t>(i) + 1];
    if (hit) {
      want += out[static_cast<size_t>(i) + 1];
      ++hit_rows;
    }
  }
  EXPECT_GT(hit_rows, 100);
  EXPECT_LT(hit_rows, kRows);
  EXPECT_EQ(ReadFileBytes(dir_.File("hits.csv")), want);

  // The report against the summary JSON of the same run.
  const std::string json = ReadFileBytes(dir_.File("summary.json"));
  rapidjson::Document summary = testing::ParseJson(json);
  ASSERT_TRUE(summary.IsObject()) << json;
  const std::string html = ReadFileBytes(dir_.File("report.html"));
  auto doc = testing::XhtmlDoc::Parse(html);
  ASSERT_TRUE(doc.ok()) << doc.status();
  auto cell = [&](const std::string& id) {
    return doc->String(absl::StrCat("//h:td[@id='", id, "']"));
  };
  for (const char* key :
       {"rows", "rows_written", "unique_observables", "lookups", "lookups_settled", "cache_hits",
        "requests", "retries", "rate_limited", "hedges", "token_refreshes"}) {
    ASSERT_TRUE(summary.HasMember(key)) << key;
    EXPECT_EQ(cell(key), std::to_string(summary[key].GetUint64())) << key;
  }
  EXPECT_GT(summary["requests"].GetUint64(), 0u);
  EXPECT_EQ(cell("outcome"), summary["outcome"].GetString());
  EXPECT_EQ(cell("exit_code"), std::to_string(summary["exit_code"].GetInt()));
  EXPECT_NEAR(std::stod(cell("seconds")), summary["seconds"].GetDouble(), 0.006);
  for (const auto& m : summary["statuses"].GetObject()) {
    EXPECT_EQ(doc->String(absl::StrCat("//h:table[@id='statuses']//h:tr[h:td='", m.name.GetString(),
                                       "']/h:td[2]")),
              std::to_string(m.value.GetUint64()))
        << m.name.GetString();
  }
  EXPECT_EQ(doc->Count("//s:svg[@id='dispositions']/s:rect[@class='bar']"), 5u);
  for (const auto& m : summary["dispositions"].GetObject()) {
    EXPECT_EQ(doc->String(absl::StrCat("//s:svg[@id='dispositions']/s:rect[@data-label='",
                                       m.name.GetString(), "']/@data-value")),
              std::to_string(m.value.GetUint64()))
        << m.name.GetString();
  }
  const auto& top = summary["top_hits"];
  ASSERT_TRUE(top.IsArray());
  ASSERT_GE(top.Size(), 4u);
  EXPECT_EQ(doc->Count("//h:table[@id='top_hits']//h:tr[@class='hit']"), top.Size());
  const std::vector<std::string> shown =
      doc->Strings("//h:table[@id='top_hits']//h:td[@class='observable']");
  for (rapidjson::SizeType i = 0; i < top.Size(); ++i) {
    EXPECT_EQ(shown[i], top[i]["observable"].GetString());
  }
  // The hostile URL: the most frequent Malicious hit, escaped in the page, intact as text.
  EXPECT_EQ(std::string(top[0]["observable"].GetString()), kHostile);
  uint64_t hostile_rows = 0;
  for (int i = 0; i < kRows; ++i) hostile_rows += Values(i)[2] == kHostile;
  EXPECT_EQ(top[0]["rows"].GetUint64(), hostile_rows);
  EXPECT_THAT(html, Not(HasSubstr("<script>")));
  EXPECT_THAT(html, HasSubstr("&lt;script&gt;alert(1)&lt;/script&gt;"));
  EXPECT_EQ(doc->Count("//s:svg[@id='latency']/s:rect[@class='bar']") > 0, true);
  EXPECT_THAT(ReadFileBytes(dir_.File("run.err")), HasSubstr("top hits, Malicious"));
}

TEST_F(HitsReportTest, NdjsonHitsWithOneAndTwoColumns) {
  std::string ndjson;
  for (int i = 0; i < kRows; ++i) {
    const auto v = Values(i);
    absl::StrAppend(&ndjson, "{\"id\":", i, ",\"dns\":{\"query\":\"", v[0], "\"},\"ip\":\"", v[1],
                    "\"}\n");
  }
  std::ofstream(dir_.File("in.ndjson"), std::ios::binary) << ndjson;
  for (const std::vector<std::string>& columns :
       {std::vector<std::string>{"dns.query:domain"},
        std::vector<std::string>{"dns.query:domain", "ip:ip"}}) {
    std::vector<std::string> args = Args("in.ndjson", "out.ndjson", columns);
    args.insert(args.end(), {"--hits", dir_.File("hits.ndjson")});
    ASSERT_EQ(Run(args, "run.err"), 0) << ReadFileBytes(dir_.File("run.err"));
    const std::vector<std::string> out = Lines(ReadFileBytes(dir_.File("out.ndjson")));
    ASSERT_EQ(out.size(), static_cast<size_t>(kRows));
    std::string want;
    int hit_rows = 0;
    for (const std::string& line : out) {
      rapidjson::Document d = testing::ParseJson(line);
      ASSERT_TRUE(d.IsObject()) << line;
      bool hit = false;
      for (const auto& m : d.GetObject()) {
        if (absl::EndsWith(m.name.GetString(), "disposition_name") && m.value.IsString()) {
          hit = hit || IsHitName(m.value.GetString());
        }
      }
      if (hit) {
        want += line;
        ++hit_rows;
      }
    }
    EXPECT_GT(hit_rows, 100) << columns.size();
    EXPECT_EQ(ReadFileBytes(dir_.File("hits.ndjson")), want) << columns.size();
  }
}

TEST_F(HitsReportTest, UnknownHitDispositionIsAUsageErrorListingTheNames) {
  std::ofstream(dir_.File("in.csv"), std::ios::binary) << "domain\na.example\n";
  std::vector<std::string> args = Args("in.csv", "out.csv", {"domain"});
  args.insert(args.end(), {"--hits", dir_.File("hits.csv"), "--hit-dispositions", "Malicious,Bad"});
  EXPECT_EQ(Run(args, "run.err"), 2);
  EXPECT_THAT(ReadFileBytes(dir_.File("run.err")),
              HasSubstr("--hit-dispositions \"Malicious,Bad\": unknown disposition \"Bad\"; "
                        "expected a comma list of Clean, Malicious, Suspicious, Common, Unknown"));
  EXPECT_EQ(sim_->Counters().total, 0u);
}

}  // namespace
}  // namespace enrich
