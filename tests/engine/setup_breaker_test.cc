// The circuit breaker (engine/setup_breaker.h): when it trips, when it never does, and what its
// error says for each setup failure.

#include "engine/setup_breaker.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "transport/ctia_status.h"
#include "transport/dual_intel_source.h"

namespace enrich::engine {
namespace {

using ::testing::HasSubstr;
using transport::SetupFailure;
using transport::WithSetupFailure;

absl::StatusOr<schema::VerdictResult> Failed(SetupFailure failure, absl::string_view message) {
  return WithSetupFailure(absl::UnavailableError(message), failure);
}

absl::StatusOr<schema::VerdictResult> Answered() {
  return schema::VerdictResult(schema::NoVerdict{});
}

TEST(SetupBreakerTest, TripsOnceWhenTheFirstLookupsAllFailTheSameWay) {
  SetupBreaker breaker(3, "https://ctia.example/x");
  const auto html = WithSetupFailure(absl::NotFoundError("http 404: route not matched"),
                                     SetupFailure::kNotCtia);
  EXPECT_TRUE(breaker.Observe(html).ok());
  EXPECT_TRUE(breaker.Observe(absl::CancelledError("not sent")).ok());  // a stop's: not counted
  EXPECT_TRUE(breaker.Observe(html).ok());
  EXPECT_EQ(breaker.tripped(), SetupFailure::kNone);
  const absl::Status tripped = breaker.Observe(html);
  ASSERT_TRUE(absl::IsFailedPrecondition(tripped)) << tripped;
  EXPECT_THAT(tripped.message(), HasSubstr("the first 3 lookups all failed the same way"));
  EXPECT_THAT(tripped.message(),
              HasSubstr("https://ctia.example/x answered 404 with an HTML page"));
  EXPECT_THAT(tripped.message(),
              HasSubstr("https://ctia.example/x is probably not the CTIA base URL (expected e.g. "
                        "https://private.intel.amp.cisco.com"));
  EXPECT_EQ(breaker.tripped(), SetupFailure::kNotCtia);
  EXPECT_TRUE(breaker.Observe(html).ok());  // once
}

TEST(SetupBreakerTest, AnAnswerOrAnotherFailureAmongTheFirstDisarmsIt) {
  const auto refused = Failed(SetupFailure::kRefused, "connect to http://h:1: Connection refused");
  for (const absl::StatusOr<schema::VerdictResult>& other :
       {Answered(), absl::StatusOr<schema::VerdictResult>(absl::UnavailableError("http 503")),
        Failed(SetupFailure::kTlsVerify, "TLS handshake with https://h: certificate verify")}) {
    SetupBreaker breaker(3, "http://h:1");
    EXPECT_TRUE(breaker.Observe(refused).ok());
    EXPECT_TRUE(breaker.Observe(other).ok());
    for (int i = 0; i < 10; ++i) EXPECT_TRUE(breaker.Observe(refused).ok());
    EXPECT_EQ(breaker.tripped(), SetupFailure::kNone);
  }
  // Failures that are not setup failures (5xx, timeouts) never trip it: the rows tell them.
  SetupBreaker breaker(3, "http://h:1");
  for (int i = 0; i < 10; ++i) {
    EXPECT_TRUE(breaker.Observe(absl::UnavailableError("http 500")).ok());
  }
  EXPECT_EQ(breaker.tripped(), SetupFailure::kNone);
  SetupBreaker off(0, "http://h:1");
  for (int i = 0; i < 10; ++i) EXPECT_TRUE(off.Observe(refused).ok());
}

// Under run --intel both the failing intel's own URL and flag are named, not the run's.
TEST(SetupBreakerTest, NamesTheIntelWhoseSetupIsWrong) {
  transport::IntelEndpoints where;
  where.private_url = "https://private.example";
  where.global_url = "https://global.example/x";
  const auto html = transport::MergeIntelResults(
      transport::MergeRule::kCtia, schema::VerdictResult(schema::NoVerdict{}),
      WithSetupFailure(absl::NotFoundError("CTIA answered 404 without a JSON message"),
                       SetupFailure::kNotCtia),
      where);
  SetupBreaker breaker(2, "https://private.example + https://global.example/x merge:ctia");
  EXPECT_TRUE(breaker.Observe(html).ok());
  const absl::Status tripped = breaker.Observe(html);
  ASSERT_TRUE(absl::IsFailedPrecondition(tripped)) << tripped;
  EXPECT_THAT(std::string(tripped.message()),
              HasSubstr("stopped before spending the quota: https://global.example/x answered "
                        "404 with an HTML page"));
  EXPECT_THAT(std::string(tripped.message()), HasSubstr("fix --global-endpoint"));
  EXPECT_THAT(std::string(tripped.message()), ::testing::Not(HasSubstr("merge:ctia")));
}

// A run with fewer lookups than the breaker waits for, all failing alike: no trip (the output
// is complete), but the end of the run gets the breaker's advice.
TEST(SetupBreakerTest, AShortRunWhoseLookupsAllFailedAlikeGetsItsAdviceAtTheEnd) {
  const auto html = WithSetupFailure(absl::NotFoundError("http 404: route not matched"),
                                     SetupFailure::kNotCtia);
  SetupBreaker breaker(20, "https://ctia.example/x");
  EXPECT_EQ(breaker.EndHint(), "");  // nothing seen
  for (int i = 0; i < 4; ++i) EXPECT_TRUE(breaker.Observe(html).ok());
  EXPECT_EQ(breaker.tripped(), SetupFailure::kNone);
  EXPECT_THAT(breaker.EndHint(), HasSubstr("all 4 lookups of the run failed the same way"));
  EXPECT_THAT(breaker.EndHint(), HasSubstr("is probably not the CTIA base URL"));
  EXPECT_THAT(breaker.EndHint(), ::testing::Not(HasSubstr("stopped before")));
  EXPECT_TRUE(breaker.Observe(Answered()).ok());  // one answer: the setup works after all
  EXPECT_EQ(breaker.EndHint(), "");
  SetupBreaker off(0, "https://ctia.example/x");
  EXPECT_TRUE(off.Observe(html).ok());
  EXPECT_EQ(off.EndHint(), "");
}

TEST(SetupBreakerTest, EachFailureSaysWhatToCheck) {
  struct Case {
    SetupFailure failure;
    const char* message;
    const char* says;
  };
  for (const Case& c :
       {Case{SetupFailure::kRefused, "connect to http://h:1: Connection refused",
             "nothing accepts connections at the host and port of http://h:1"},
        Case{SetupFailure::kUnresolved, "resolve http://h:1: Host not found",
             "check the host name of http://h:1"},
        Case{SetupFailure::kTlsVerify,
             "TLS handshake with https://h: certificate verify failed: self-signed certificate "
             "(to trust a private CA, pass its PEM file with --ca-file)",
             "--ca-file"}}) {
    SetupBreaker breaker(2, "http://h:1");
    EXPECT_TRUE(breaker.Observe(Failed(c.failure, c.message)).ok());
    const absl::Status tripped = breaker.Observe(Failed(c.failure, c.message));
    EXPECT_THAT(tripped.message(), HasSubstr(c.message));
    EXPECT_THAT(tripped.message(), HasSubstr(c.says));
    EXPECT_THAT(tripped.message(), HasSubstr("stopped before spending the quota"));
    EXPECT_EQ(breaker.tripped(), c.failure);
  }
}

TEST(SetupBreakerTest, MarksSurviveAndNameThemselves) {
  const absl::Status marked = WithSetupFailure(absl::NotFoundError("x"), SetupFailure::kNotCtia);
  EXPECT_EQ(transport::SetupFailureOf(marked), SetupFailure::kNotCtia);
  EXPECT_EQ(transport::SetupFailureOf(absl::NotFoundError("x")), SetupFailure::kNone);
  EXPECT_EQ(transport::SetupFailureOf(WithSetupFailure(absl::OkStatus(), SetupFailure::kRefused)),
            SetupFailure::kNone);
  EXPECT_EQ(transport::SetupFailureName(SetupFailure::kTlsVerify), "tls_verify");
}

}  // namespace
}  // namespace enrich::engine
