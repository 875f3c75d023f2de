#include "engine/progress.h"

#include <algorithm>
#include <cmath>
#include <optional>
#include <random>
#include <sstream>
#include <string>
#include <vector>

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

// Steady rates (20 bytes/s, 1 lookup/s, 4 pending): the weighted rates are those rates. The
// lookups still needed are 4 pending and those of the unread bytes, beta fitted from how the
// lookups needed grew over the last quarter more bytes or more: 9 at 100 bytes, 14 at 200,
// 19 at 300, 24 at 400. With lookups always waited for, the reader follows them: their time
// is the run's.
TEST_F(ProgressTest, PlainLinesEveryIntervalWithEta) {
  ProgressOptions options;
  options.input_bytes = 1000;
  ProgressReporter progress(stats_, clock_, out_, options);
  progress.Tick();  // the first line comes one interval in
  uint64_t bytes = 0;
  auto step = [&](uint64_t rows) {
    clock_.Advance(absl::Seconds(5));
    stats_.Add(RunCounter::kRowsRead, rows);
    stats_.Add(RunCounter::kBytesRead, 100);
    stats_.Add(RunCounter::kLookupsQueued, 5);
    stats_.NoteLookupsAt(bytes += 100);  // as the pipeline's parse stage does per chunk
    stats_.Add(RunCounter::kLookupsSent, 5);
    stats_.Add(RunCounter::kLookupsSettled, 5);
    progress.Tick();
  };
  stats_.Add(RunCounter::kLookupsQueued, 4);
  stats_.Add(RunCounter::kLookupsSent, 4);
  step(50);
  EXPECT_EQ(out_.str(), "");
  step(0);  // 4 + 14 × (5^0.64 - 1) = 29.02 lookups at 1/s
  EXPECT_EQ(out_.str(), "10s rows 50 (5/s), lookups 10/14, 20.0% of input, ETA 30s\n");
  step(0);
  step(50);  // 4 + 24 × (2.5^0.81 - 1) = 30.5: a rise within the tolerance, 29.02 held
  progress.Finish();
  EXPECT_EQ(out_.str(),
            "10s rows 50 (5/s), lookups 10/14, 20.0% of input, ETA 30s\n"
            "20s rows 100 (5/s), lookups 20/24, 40.0% of input, ETA 30s\n"
            "20s rows 100 (5/s), lookups 20/24, 40.0% of input, ETA 30s\n");
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
  options.tty = true;
  options.input_bytes = 100;
  ProgressReporter progress(stats_, clock_, out_, options);
  stats_.Add(RunCounter::kBytesRead, 250);
  clock_.Advance(absl::Seconds(2));
  progress.Tick();
  EXPECT_EQ(out_.str(), "\r2s rows 0 (0/s), lookups 0/0, 100.0% of input, ETA 0s");
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

// A run as the pipeline makes it: the reader fills the live chunks at once (a burst), then
// reads a chunk only when the answers have caught up (backpressure); answers settle at 2000/s
// with ±40% from one quarter second to the next; 100 chunks of 1 MiB, 1000 lookups each.
class EtaRun {
 public:
  explicit EtaRun(uint64_t seed) : rng_(seed) {
    snapshot_.started = kStart;
    snapshot_.now = kStart;
  }
  static constexpr uint64_t kChunks = 100;
  static constexpr uint64_t kChunkBytes = 1 << 20;
  static constexpr uint64_t kLookupsPerChunk = 1000;
  static constexpr uint64_t kLiveChunks = 10;

  // With `saturating`, the distinct values follow Heaps' law, 100000 × (chunks/100)^0.5 after
  // `chunks` chunks (most in the first ones), as a log's do; else every chunk has 1000 new.
  EtaRun(uint64_t seed, bool saturating) : EtaRun(seed) { saturating_ = saturating; }

  uint64_t total() const { return Needed(kChunks); }
  bool done() const { return settled_ == total(); }
  // A quarter second at `rate` lookups/s (±40%).
  const RunStatsSnapshot& Step(double rate) {
    snapshot_.now += absl::Milliseconds(250);
    const double noise = std::uniform_real_distribution<double>(0.6, 1.4)(rng_);
    settled_ = std::min<uint64_t>(sent_, settled_ + static_cast<uint64_t>(rate * 0.25 * noise));
    // A chunk is written once its lookups are settled; at most kLiveChunks are read and not
    // yet written.
    while (written_ < chunks_ && Needed(written_ + 1) <= settled_) ++written_;
    while (chunks_ < kChunks && chunks_ - written_ < kLiveChunks) {
      ++chunks_;
      sent_ = Needed(chunks_);
      // As RunStats::NoteLookupsAt keeps them: a point per quarter more bytes, and the last.
      const RunStatsSnapshot::LookupsAt at{chunks_ * kChunkBytes, sent_};
      if (curve_.empty() || at.bytes * 4 >= curve_.back().bytes * 5) curve_.push_back(at);
      snapshot_.lookups_curve = curve_;
      if (curve_.back().bytes != at.bytes) snapshot_.lookups_curve.push_back(at);
    }
    Set(RunCounter::kBytesRead, chunks_ * kChunkBytes);
    Set(RunCounter::kLookupsQueued, sent_);
    Set(RunCounter::kLookupsSent, std::min<uint64_t>(sent_, settled_ + 256));  // in-flight bound
    Set(RunCounter::kLookupsSettled, settled_);
    return snapshot_;
  }
  absl::Time now() const { return snapshot_.now; }

 private:
  void Set(RunCounter c, uint64_t v) { snapshot_.counters[static_cast<size_t>(c)] = v; }
  uint64_t Needed(uint64_t chunks) const {
    if (!saturating_) return chunks * kLookupsPerChunk;
    return static_cast<uint64_t>(100000 * std::sqrt(static_cast<double>(chunks) / kChunks));
  }
  std::mt19937_64 rng_;
  RunStatsSnapshot snapshot_;
  bool saturating_ = false;
  std::vector<RunStatsSnapshot::LookupsAt> curve_;
  uint64_t written_ = 0;
  uint64_t chunks_ = 0;
  uint64_t sent_ = 0;
  uint64_t settled_ = 0;
};

TEST(EtaEstimatorTest, CountsDownThroughTheBurstAndTheNoise) {
  for (uint64_t seed = 1; seed <= 10; ++seed) {
    const bool saturating = seed % 2 == 0;
    EtaRun run(seed, saturating);
    EtaEstimator eta(EtaRun::kChunks * EtaRun::kChunkBytes);
    std::vector<std::pair<absl::Time, absl::Duration>> shown;
    while (!run.done()) {
      const std::optional<absl::Duration> e = eta.Update(run.Step(2000));
      if (e) shown.emplace_back(run.now(), *e);
    }
    const absl::Time end = run.now();
    ASSERT_GT(shown.size(), 100u) << seed;
    for (size_t i = 1; i < shown.size(); ++i) {
      // Once two seconds of answers are in, it never goes up.
      if (shown[i].first - kStart < absl::Seconds(2)) continue;
      EXPECT_LE(shown[i].second, shown[i - 1].second)
          << "seed " << seed << " at " << shown[i].first - kStart;
    }
    // Halfway, it is within 25% of the truth (50 s of lookups at 2000/s).
    for (const auto& [when, left] : shown) {
      if (when - kStart < (end - kStart) / 2) continue;
      EXPECT_NEAR(absl::ToDoubleSeconds(left), absl::ToDoubleSeconds(end - when),
                  0.25 * absl::ToDoubleSeconds(end - when))
          << "seed " << seed << (saturating ? " (saturating)" : "");
      break;
    }
    EXPECT_EQ(shown.back().second, absl::ZeroDuration()) << seed;
    // Heaps' exponent from the chunks: 0.5 for the saturating log, 1 for all-distinct values.
    EXPECT_NEAR(eta.beta(), saturating ? 0.5 : 1.0, 0.02) << seed;
  }
}

TEST(EtaEstimatorTest, LookupsPendingAfterTheLastByteAreCounted) {
  EtaEstimator eta(1000);
  RunStatsSnapshot s;
  s.started = kStart;
  s.counters[static_cast<size_t>(RunCounter::kBytesRead)] = 1000;
  s.counters[static_cast<size_t>(RunCounter::kLookupsQueued)] = 1000;
  s.counters[static_cast<size_t>(RunCounter::kLookupsSent)] = 256;  // the rest wait their turn
  s.now = kStart + absl::Seconds(1);
  EXPECT_EQ(eta.Update(s), std::nullopt);  // nothing settled yet: the rate is unknown
  s.counters[static_cast<size_t>(RunCounter::kLookupsSettled)] = 200;
  s.now = kStart + absl::Seconds(2);
  const std::optional<absl::Duration> left = eta.Update(s);
  ASSERT_TRUE(left.has_value());
  // 800 needed at about 100/s (200 over the 2 s so far, the last second weighted more: 102.5),
  // not 0 because the input is read.
  EXPECT_NEAR(absl::ToDoubleSeconds(*left), 800 / (200 / (1 + std::exp(-1.0 / 20))), 1e-6);
}

// Every verdict in the journal (--resume): nothing is waited for, the reader's speed is it.
TEST(EtaEstimatorTest, ARunWithoutLookupsGoesAtTheReadersSpeed) {
  EtaEstimator eta(1000);
  RunStatsSnapshot s;
  s.started = kStart;
  std::optional<absl::Duration> left;
  for (int tick = 1; tick <= 3; ++tick) {
    s.now = kStart + absl::Seconds(tick);
    s.counters[static_cast<size_t>(RunCounter::kBytesRead)] = 100 * tick;
    left = eta.Update(s);
  }
  ASSERT_TRUE(left.has_value());
  EXPECT_NEAR(absl::ToDoubleSeconds(*left), 7.0, 1e-6);  // 700 bytes at 100/s
}

TEST(EtaEstimatorTest, ARealSlowdownShows) {
  EtaRun run(7, /*saturating=*/false);
  EtaEstimator eta(EtaRun::kChunks * EtaRun::kChunkBytes);
  std::optional<absl::Duration> before;
  while (run.now() - kStart < absl::Seconds(10)) before = eta.Update(run.Step(2000));
  ASSERT_TRUE(before.has_value());
  absl::Duration highest = absl::ZeroDuration();
  for (int i = 0; i < 120; ++i) highest = std::max(highest, *eta.Update(run.Step(500)));
  // A quarter of the rate for 30 s: the weighted rate falls to about 0.42 of what it was, and
  // the time left shown grows with it (about 1.9 × what it was), though less time is left.
  EXPECT_GT(highest, *before * 1.5) << *before;
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
