#include "engine/signals.h"

#include "engine/exit_codes.h"

#include <cstdio>
#include <cstdlib>

#include <gtest/gtest.h>
#include <signal.h>

namespace enrich::engine {
namespace {

void (*HandlerOf(int sig))(int) {
  struct sigaction current;
  sigaction(sig, nullptr, &current);
  return current.sa_handler;
}

TEST(SignalsTest, FirstSignalRequestsStopAndKeepsTheHandlers) {
  auto signals = ScopedStopSignals::Install();
  ASSERT_TRUE(signals.ok()) << signals.status();
  EXPECT_FALSE(StopRequested());
  EXPECT_EQ(StopSignal(), 0);
  ASSERT_EQ(raise(SIGINT), 0);
  EXPECT_TRUE(StopRequested());
  EXPECT_EQ(StopSignal(), SIGINT);
  // The second signal is handled too: it exits with a code, not by the default death.
  EXPECT_NE(HandlerOf(SIGINT), SIG_DFL);
  EXPECT_NE(HandlerOf(SIGTERM), SIG_DFL);
}

TEST(SignalsTest, SigtermAlsoRequestsStop) {
  auto signals = ScopedStopSignals::Install();
  ASSERT_TRUE(signals.ok());
  EXPECT_FALSE(StopRequested());  // Install() cleared the earlier test's request
  ASSERT_EQ(raise(SIGTERM), 0);
  EXPECT_TRUE(StopRequested());
  EXPECT_EQ(StopSignal(), SIGTERM);
}

TEST(SignalsDeathTest, SecondSignalExitsWith128PlusItsNumber) {
  GTEST_FLAG_SET(death_test_style, "threadsafe");
  EXPECT_EXIT(
      {
        auto signals = ScopedStopSignals::Install();
        if (!signals.ok()) std::_Exit(3);
        raise(SIGINT);
        if (!StopRequested()) std::_Exit(4);
        raise(SIGINT);
        std::_Exit(5);  // not reached: the second SIGINT exits
      },
      ::testing::ExitedWithCode(kExitSecondSigint), "a second SIGINT: exiting now");
  EXPECT_EXIT(
      {
        auto signals = ScopedStopSignals::Install();
        if (!signals.ok()) std::_Exit(3);
        raise(SIGTERM);
        raise(SIGINT);  // the second signal's number decides
        std::_Exit(5);
      },
      ::testing::ExitedWithCode(kExitSecondSigint), "");
  EXPECT_EXIT(
      {
        auto signals = ScopedStopSignals::Install();
        if (!signals.ok()) std::_Exit(3);
        raise(SIGINT);
        raise(SIGTERM);
        std::_Exit(5);
      },
      ::testing::ExitedWithCode(kExitSecondSigterm), "a second SIGTERM: exiting now");
}

// A second signal during a journal write ends the process when the write is done, not in it.
TEST(SignalsDeathTest, SecondSignalWaitsForTheJournalWriteUnderWay) {
  GTEST_FLAG_SET(death_test_style, "threadsafe");
  EXPECT_EXIT(
      {
        auto signals = ScopedStopSignals::Install();
        if (!signals.ok()) std::_Exit(3);
        raise(SIGTERM);
        {
          JournalWriteGuard writing;
          raise(SIGTERM);  // held back until `writing` goes
          std::fputs("write finished\n", stderr);
          std::fflush(stderr);
        }
        std::_Exit(5);  // not reached
      },
      ::testing::ExitedWithCode(kExitSecondSigterm), "write finished\n.*a second SIGTERM");
}

TEST(SignalsTest, UninstallRestoresPreviousHandlers) {
  struct sigaction ignore;
  ignore.sa_handler = SIG_IGN;
  sigemptyset(&ignore.sa_mask);
  ignore.sa_flags = 0;
  struct sigaction old_int, old_term;
  sigaction(SIGINT, &ignore, &old_int);
  sigaction(SIGTERM, &ignore, &old_term);
  {
    auto signals = ScopedStopSignals::Install();
    ASSERT_TRUE(signals.ok());
    EXPECT_NE(HandlerOf(SIGINT), SIG_IGN);
    EXPECT_NE(HandlerOf(SIGTERM), SIG_IGN);
  }
  EXPECT_EQ(HandlerOf(SIGINT), SIG_IGN);
  EXPECT_EQ(HandlerOf(SIGTERM), SIG_IGN);
  sigaction(SIGINT, &old_int, nullptr);
  sigaction(SIGTERM, &old_term, nullptr);
}

TEST(SignalsTest, OnlyOneInstanceAtATime) {
  auto first = ScopedStopSignals::Install();
  ASSERT_TRUE(first.ok());
  auto second = ScopedStopSignals::Install();
  EXPECT_EQ(second.status().code(), absl::StatusCode::kFailedPrecondition);
  first->reset();
  EXPECT_TRUE(ScopedStopSignals::Install().ok());
}

TEST(ExitCodesTest, Values) {
  EXPECT_EQ(kExitDone, 0);
  EXPECT_EQ(kExitFailed, 1);
  EXPECT_EQ(kExitUsage, 2);
  EXPECT_EQ(kExitCheckpointed, 75);
}

}  // namespace
}  // namespace enrich::engine
