#include "engine/progress.h"

#include <sstream>
#include <string>

#include <gtest/gtest.h>

namespace enrich::engine {
namespace {

const absl::Time kStart = absl::FromUnixSeconds(1767225600);

class ProgressTest : public ::testing::Test {
 protected:
  schema::FakeClock clock_{kStart};
  RunStats stats_{clock_};
  std::ostringstream out_;
};

TEST_F(ProgressTest, TtyRedrawsOneLineInPlace) {
  ProgressOptions options;
  options.tty = true;
  ProgressReporter progress(stats_, clock_, out_, options);
  progress.Tick();
  EXPECT_EQ(out_.str(), "\r0s rows 0 (0/s), lookups 0/0");

  stats_.Add(RunCounter::kRowsRead, 1000000);
  clock_.Advance(absl::Seconds(1));
  progress.Tick();
  clock_.Advance(absl::Milliseconds(100));
  progress.Tick();  // too soon: nothing
  EXPECT_EQ(out_.str(),
            "\r0s rows 0 (0/s), lookups 0/0"
            "\r1s rows 1000000 (1000000/s), lookups 0/0");

  clock_.Advance(absl::Milliseconds(7900));  // 9 s in; the line gets one character shorter
  out_.str("");
  progress.Tick();
  EXPECT_EQ(out_.str(), "\r9s rows 1000000 (111111/s), lookups 0/0 ");

  out_.str("");
  progress.Finish();
  EXPECT_EQ(out_.str(), "\r9s rows 1000000 (111111/s), lookups 0/0\n");
  progress.Tick();  // after Finish: nothing
  progress.Finish();
  EXPECT_EQ(out_.str(), "\r9s rows 1000000 (111111/s), lookups 0/0\n");
}

TEST_F(ProgressTest, PlainLinesEveryIntervalWithEta) {
  ProgressOptions options;
  options.input_bytes = 1000;
  ProgressReporter progress(stats_, clock_, out_, options);
  progress.Tick();  // the first line comes one interval in
  clock_.Advance(absl::Seconds(5));
  stats_.Add(RunCounter::kRowsRead, 50);
  stats_.Add(RunCounter::kBytesRead, 100);
  stats_.Add(RunCounter::kLookupsSent, 9);
  stats_.Add(RunCounter::kLookupsSettled, 5);
  progress.Tick();
  EXPECT_EQ(out_.str(), "");

  clock_.Advance(absl::Seconds(5));
  progress.Tick();
  EXPECT_EQ(out_.str(), "10s rows 50 (5/s), lookups 5/9, 10.0% of input, ETA 1m30s\n");

  clock_.Advance(absl::Seconds(5));
  progress.Tick();
  clock_.Advance(absl::Seconds(5));
  stats_.Add(RunCounter::kRowsRead, 50);
  stats_.Add(RunCounter::kBytesRead, 150);
  progress.Tick();
  progress.Finish();
  EXPECT_EQ(out_.str(),
            "10s rows 50 (5/s), lookups 5/9, 10.0% of input, ETA 1m30s\n"
            "20s rows 100 (5/s), lookups 5/9, 25.0% of input, ETA 1m00s\n"
            "20s rows 100 (5/s), lookups 5/9, 25.0% of input, ETA 1m00s\n");
}

TEST_F(ProgressTest, ShortRunPrintsOnlyItsEnd) {
  ProgressReporter progress(stats_, clock_, out_, ProgressOptions{});
  progress.Tick();
  clock_.Advance(absl::Seconds(3));
  stats_.Add(RunCounter::kRowsRead, 30);
  progress.Tick();
  progress.Finish();
  EXPECT_EQ(out_.str(), "3s rows 30 (10/s), lookups 0/0\n");
}

TEST_F(ProgressTest, InputLargerThanAnnouncedStopsAtAHundredPercent) {
  ProgressOptions options;
  options.input_bytes = 100;
  ProgressReporter progress(stats_, clock_, out_, options);
  stats_.Add(RunCounter::kBytesRead, 250);
  clock_.Advance(absl::Seconds(2));
  EXPECT_EQ(progress.Line(stats_.Snapshot()),
            "2s rows 0 (0/s), lookups 0/0, 100.0% of input, ETA 0s");
}

TEST_F(ProgressTest, OwnThreadStopsOnFinish) {
  ProgressOptions options;
  options.tty = true;
  ProgressReporter progress(stats_, clock_, out_, options);
  progress.Start(absl::Milliseconds(1));
  stats_.Add(RunCounter::kRowsRead, 7);
  progress.Finish();
  const std::string text = out_.str();
  const std::string last = "\r0s rows 7 (0/s), lookups 0/0\n";
  ASSERT_GE(text.size(), last.size());
  EXPECT_EQ(text.substr(text.size() - last.size()), last);
}

TEST(FormatEtaTest, Units) {
  EXPECT_EQ(FormatEta(absl::ZeroDuration()), "0s");
  EXPECT_EQ(FormatEta(absl::Seconds(-3)), "0s");
  EXPECT_EQ(FormatEta(absl::Milliseconds(1500)), "2s");
  EXPECT_EQ(FormatEta(absl::Seconds(59)), "59s");
  EXPECT_EQ(FormatEta(absl::Seconds(60)), "1m00s");
  EXPECT_EQ(FormatEta(absl::Seconds(3599)), "59m59s");
  EXPECT_EQ(FormatEta(absl::Seconds(3600)), "1h00m");
  EXPECT_EQ(FormatEta(absl::Seconds(3725)), "1h02m");
}

}  // namespace
}  // namespace enrich::engine
