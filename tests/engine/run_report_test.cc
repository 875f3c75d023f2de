// The run report (engine/run_report.h) read back with a real XML parser (tests/fakes/
// xhtml_doc.h): well-formed, the summary's figures in their cells, one bar per disposition,
// the top hits with a hostile observable escaped, the latency histogram and the quota chart.

#include "engine/run_report.h"

#include "engine/svg_chart.h"
#include "schema/clock.h"
#include "tests/fakes/xhtml_doc.h"

#include <string>

#include "absl/strings/str_cat.h"
#include <gmock/gmock.h>
#include <gtest/gtest.h>

namespace enrich::engine {
namespace {

using enrich::testing::XhtmlDoc;
using ::testing::HasSubstr;
using ::testing::Not;

constexpr char kHostile[] = "http://evil.example/<script>alert(\"x\")</script>&'";

class RunReportTest : public ::testing::Test {
 protected:
  RunReportTest() {
    RunStats stats(clock_);
    stats.Add(RunCounter::kRowsRead, 1234);
    stats.Add(RunCounter::kRowsWritten, 1234);
    stats.Add(RunCounter::kLookupsSent, 300);
    stats.Add(RunCounter::kLookupsSettled, 299);
    stats.Set(RunCounter::kRequests, 77);
    stats.Set(RunCounter::kRetries, 4);
    stats.Set(RunCounter::kRateLimited, 3);
    stats.Set(RunCounter::kHedges, 2);
    stats.CountStatus("ok", 1000);
    stats.CountStatus("error:http_503", 12);
    stats.CountDisposition(2, 40);
    stats.CountDisposition(1, 900);
    stats.CountDisposition(3, 60);
    for (int i = 0; i < 50; ++i) stats.RecordLatency(absl::Milliseconds(20 + i));
    stats.CountHits({{"url", kHostile, 2, "demo <feed>", 17}, {"ip", "192.0.2.1", 3, "", 5}});
    clock_.Advance(absl::Seconds(12.5));
    snapshot_ = stats.Snapshot();
    snapshot_.top_hits = stats.TopHits(10);
    page_.stats = &snapshot_;
    page_.outcome = "done";
    page_.exit_code = 0;
    page_.input = "in<1>.csv";
    page_.output = "out.csv";
    page_.endpoint = "https://private.intel.amp.cisco.com";
    page_.hit_dispositions = "Malicious,Suspicious";
    const absl::Time t0 = snapshot_.started;
    for (int i = 0; i <= 10; ++i)
      page_.requests.push_back({t0 + absl::Seconds(i), uint64_t(i) * 7});
  }

  schema::FakeClock clock_{absl::FromUnixSeconds(1'700'000'000)};
  RunStatsSnapshot snapshot_;
  RunReportPage page_;
};

TEST_F(RunReportTest, IsWellFormedAndShowsTheSummaryFigures) {
  const std::string html = RenderRunReport(page_);
  auto doc = XhtmlDoc::Parse(html);
  ASSERT_TRUE(doc.ok()) << doc.status() << "\n" << html;
  auto cell = [&](const std::string& id) {
    return doc->String(absl::StrCat("//h:td[@id='", id, "']"));
  };
  EXPECT_EQ(cell("outcome"), "done");
  EXPECT_EQ(cell("exit_code"), "0");
  EXPECT_EQ(cell("rows"), "1234");
  EXPECT_EQ(cell("rows_written"), "1234");
  EXPECT_EQ(cell("lookups"), "300");
  EXPECT_EQ(cell("lookups_settled"), "299");
  EXPECT_EQ(cell("requests"), "77");
  EXPECT_EQ(cell("retries"), "4");
  EXPECT_EQ(cell("rate_limited"), "3");
  EXPECT_EQ(cell("hedges"), "2");
  EXPECT_EQ(cell("seconds"), "12.50");
  EXPECT_EQ(cell("input"), "in<1>.csv");
  EXPECT_EQ(doc->String("//h:table[@id='statuses']//h:tr[h:td='error:http_503']/h:td[2]"), "12");
  // No script, no external resource.
  EXPECT_EQ(doc->Count("//h:script | //*[@src] | //h:link"), 0u);
}

TEST_F(RunReportTest, DispositionBarsLatencyAndQuotaCharts) {
  auto doc = XhtmlDoc::Parse(RenderRunReport(page_));
  ASSERT_TRUE(doc.ok()) << doc.status();
  EXPECT_EQ(doc->Count("//s:svg[@id='dispositions']/s:rect[@class='bar']"), 5u);
  EXPECT_EQ(doc->String("//s:svg[@id='dispositions']/s:rect[@data-label='Malicious']/@data-value"),
            "40");
  EXPECT_EQ(doc->String("//s:svg[@id='dispositions']/s:rect[@data-label='Clean']/@data-value"),
            "900");
  // 50 latencies of 20..69 ms: bars from the first to the last non-empty bucket, adding up.
  uint64_t sum = 0;
  for (const std::string& v :
       doc->Strings("//s:svg[@id='latency']/s:rect[@class='bar']/@data-value")) {
    sum += std::stoull(v);
  }
  EXPECT_EQ(sum, 50u);
  EXPECT_EQ(doc->String("//s:svg[@id='requests_over_time']/s:polyline/@data-points"), "10");
}

TEST_F(RunReportTest, HostileObservableIsEscaped) {
  const std::string html = RenderRunReport(page_);
  EXPECT_THAT(html, Not(HasSubstr("<script>")));
  EXPECT_THAT(html, HasSubstr("&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt;&amp;&#39;"));
  auto doc = XhtmlDoc::Parse(html);
  ASSERT_TRUE(doc.ok()) << doc.status();
  // Read back as text: exactly the value.
  EXPECT_EQ(doc->String("//h:table[@id='top_hits']//h:td[@class='observable']"), kHostile);
  EXPECT_EQ(doc->Count("//h:table[@id='top_hits']//h:tr[@class='hit']"), 2u);
  EXPECT_EQ(doc->String("//h:table[@id='top_hits']//h:tr[@class='hit'][1]/h:td[4]"), "17");
  EXPECT_EQ(doc->String("//h:table[@id='top_hits']//h:tr[@class='hit'][1]/h:td[5]"), "demo <feed>");
}

TEST_F(RunReportTest, NoHitsNoLookupsAndAShortRunStillMakeAPage) {
  RunStatsSnapshot empty;
  RunReportPage page;
  page.stats = &empty;
  page.outcome = "checkpointed";
  page.exit_code = 75;
  page.failure = "interrupted";
  auto doc = XhtmlDoc::Parse(RenderRunReport(page));
  ASSERT_TRUE(doc.ok()) << doc.status();
  EXPECT_EQ(doc->String("//h:td[@id='failure']"), "interrupted");
  EXPECT_EQ(doc->Count("//s:svg[@id='dispositions']/s:rect[@class='bar']"), 5u);
  EXPECT_EQ(doc->Count("//h:p[@id='top_hits']"), 1u);
  EXPECT_EQ(doc->Count("//h:p[@id='latency']"), 1u);
  EXPECT_EQ(doc->Count("//h:p[@id='requests_over_time']"), 1u);
}

TEST(EscapeHtmlTest, MarkupControlCharactersAndBrokenUtf8) {
  EXPECT_EQ(EscapeHtml("a<b>&\"'"), "a&lt;b&gt;&amp;&quot;&#39;");
  EXPECT_EQ(EscapeHtml("x\x01y\tz"), "x\xEF\xBF\xBDy\tz");
  EXPECT_EQ(EscapeHtml("\xC3\xA9\xFF"), "\xC3\xA9\xEF\xBF\xBD");
  auto doc = XhtmlDoc::Parse(absl::StrCat("<p xmlns=\"http://www.w3.org/1999/xhtml\">",
                                          EscapeHtml("\x02<\xE2\x82"), "</p>"));
  EXPECT_TRUE(doc.ok()) << doc.status();
}

}  // namespace
}  // namespace enrich::engine
