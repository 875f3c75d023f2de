// `ctia-enrich run` as a scheduler meets it (issue 14, part 2): the real binary against ctia-sim
// on 127.0.0.1:0. Every exit code (0, 1, 2, 3, 75, 143), the statistics files written and
// parseable after each end once the run started, the stop on SIGTERM bounded by --stop-timeout
// and resumed to the uninterrupted output, and the README's cron line (--resume on every run)
// run twice with a crash in between.

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "rapidjson/document.h"
#include "tests/fakes/cli_rig.h"

namespace enrich {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;
using Clock = std::chrono::steady_clock;

using testing::FileSize;
using testing::ReadFileBytes;

double SecondsSince(Clock::time_point t) {
  return std::chrono::duration<double>(Clock::now() - t).count();
}

class NightlyTest : public ::testing::Test {
 protected:
  static constexpr int kRows = 3000;

  void SetUp() override {
    sim::SimOptions options;
    options.synthetic_percent = 30;  // every domain answered, from a hash (fixed ids)
    options.public_base = "https://private.intel.amp.cisco.com";
    options.threads = 2;
    sim_ = testing::StartSim(options);
    ASSERT_NE(sim_, nullptr);
    WriteInput("in.csv", kRows, 0);
  }

  // `rows` rows of distinct domains; every `bad_every`-th (0 = none) is named bad-<i>.example.
  void WriteInput(const std::string& name, int rows, int bad_every) {
    std::string text = "id,domain\n";
    for (int i = 0; i < rows; ++i) {
      const bool bad = bad_every > 0 && i % bad_every == 0;
      absl::StrAppend(&text, i, ",", bad ? "bad-" : "host-", i, ".example\n");
    }
    std::ofstream(dir_.File(name), std::ios::binary) << text;
  }

  // The argv of a run of in.csv to `output` against the sim (REST lookups), with the
  // statistics files summary.json and metrics.prom, then `extra`.
  std::vector<std::string> Args(const std::string& output,
                                const std::vector<std::string>& extra = {}) const {
    std::vector<std::string> args = {"run",           "-i",
                                     dir_.File("in.csv"), "-o",
                                     output,          "--column",
                                     "domain",        "--endpoint",
                                     sim_->base_url(), "--connections",
                                     "4",             "--threads",
                                     "2",             "--batch-size",
                                     "1",             "--summary-json",
                                     dir_.File("summary.json"), "--prometheus",
                                     dir_.File("metrics.prom")};
    args.insert(args.end(), extra.begin(), extra.end());
    return args;
  }

  absl::StatusOr<testing::ChildProcess> Start(const std::vector<std::string>& args,
                                              const std::string& stderr_name) {
    return testing::StartCli(testing::CliSpec(args, "", dir_.File(stderr_name)));
  }

  // Runs to the end; the exit code.
  int Run(const std::vector<std::string>& args, const std::string& stderr_name) {
    return testing::RunCli(testing::CliSpec(args, "", dir_.File(stderr_name)));
  }

  // An uninterrupted run's output.
  std::string Reference() {
    EXPECT_EQ(Run(Args(dir_.File("reference.csv")), "reference.err"), 0)
        << ReadFileBytes(dir_.File("reference.err"));
    return ReadFileBytes(dir_.File("reference.csv"));
  }

  // With the faults gone, --resume completes `output` to `reference`'s bytes.
  void ExpectResumeGives(const std::string& output, const std::string& reference) {
    sim_->ClearFaults();
    ASSERT_EQ(Run(Args(output, {"--resume"}), "resume.err"), 0)
        << ReadFileBytes(dir_.File("resume.err"));
    EXPECT_THAT(ReadFileBytes(dir_.File("resume.err")), HasSubstr("resuming: "));
    EXPECT_TRUE(ReadFileBytes(output) == reference) << "resumed output differs from the reference";
  }

  // Every answer of the verdict routes (REST and GraphQL) `delay` late.
  void DelayAnswers(absl::Duration delay) {
    for (const char* prefix : {"/ctia/domain/", "/ctia/graphql"}) {
      sim::FaultRule slow;
      slow.kind = sim::FaultKind::kLatency;
      slow.path_prefix = prefix;
      slow.latency = delay;
      sim_->AddFault(slow);
    }
  }

  // `args` with the value of `flag` replaced by `value`.
  static std::vector<std::string> With(std::vector<std::string> args, const std::string& flag,
                                       const std::string& value) {
    auto it = std::find(args.begin(), args.end(), flag);
    if (it != args.end() && it + 1 != args.end()) *(it + 1) = value;
    return args;
  }

  // SIGTERM against answers 2 s late, once lookups are journaled (an answer wave came), with
  // `--stop-timeout 5`: exit 75 once the answers on the wire are in, about 2 s, well within the
  // stop timeout (the lookups the transport holds unsent are cancelled, not sent one by one
  // as slots free); then --resume writes the uninterrupted run's bytes. The stop latency.
  double StopAgainstSlowAnswers(const std::vector<std::string>& args) {
    const std::string output = dir_.File("out.csv");
    const std::string reference = Reference();
    DelayAnswers(absl::Milliseconds(2000));
    auto child = Start(args, "run.err");
    EXPECT_TRUE(child.ok()) << child.status();
    if (!child.ok()) return -1;
    EXPECT_TRUE(WaitForJournaled(output + ".journal", 0)) << ReadFileBytes(dir_.File("run.err"));
    const auto signalled = Clock::now();
    child->Signal(SIGTERM);
    const int exit_code = child->Wait();
    const double took = SecondsSince(signalled);
    const std::string err = ReadFileBytes(dir_.File("run.err"));
    EXPECT_EQ(exit_code, 75) << err;
    // One answer time (2 s) and a generous margin for a loaded machine; waiting for the
    // stop timeout (5 s) would fail.
    EXPECT_LE(took, 2.0 + 1.5) << err;
    EXPECT_THAT(err, HasSubstr("stopping…"));
    EXPECT_THAT(err, HasSubstr("--resume"));
    ExpectStatistics("checkpointed", 75);
    ExpectResumeGives(output, reference);
    return took;
  }

  // Waits until the journal at `path` exists and then grows by more than `bytes` (lookups
  // journaled), at most 20 s.
  bool WaitForJournaled(const std::string& path, uintmax_t bytes) {
    const auto start = Clock::now();
    while (!std::filesystem::exists(path)) {
      if (SecondsSince(start) > 20) return false;
      std::this_thread::sleep_for(std::chrono::milliseconds(5));
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(20));  // its header written
    const uintmax_t header = FileSize(path);
    while (FileSize(path) <= header + bytes) {
      if (SecondsSince(start) > 20) return false;
      std::this_thread::sleep_for(std::chrono::milliseconds(5));
    }
    return true;
  }

  // Both statistics files exist and parse, and say `outcome` and `exit_code`.
  void ExpectStatistics(const std::string& outcome, int exit_code,
                        const std::string& endpoint = "") {
    const std::string json = ReadFileBytes(dir_.File("summary.json"));
    rapidjson::Document doc = testing::ParseJson(json);
    ASSERT_FALSE(doc.HasParseError()) << json;
    ASSERT_TRUE(doc.IsObject()) << json;
    for (const char* key : {"outcome", "exit_code", "started", "finished", "input", "output",
                            "endpoint", "rows", "statuses", "lookups", "rate_limited", "retries",
                            "hedges", "token_refreshes", "dispositions"}) {
      EXPECT_TRUE(doc.HasMember(key)) << key << " missing in " << json;
    }
    if (!doc.HasMember("outcome") || !doc.HasMember("exit_code")) return;
    EXPECT_EQ(std::string(doc["outcome"].GetString()), outcome) << json;
    EXPECT_EQ(doc["exit_code"].GetInt(), exit_code) << json;
    EXPECT_EQ(std::string(doc["endpoint"].GetString()),
              endpoint.empty() ? sim_->base_url() : endpoint);
    EXPECT_THAT(json, ::testing::Not(HasSubstr("secret")));
    if (doc.HasMember("dispositions")) {
      for (const char* name : {"Clean", "Malicious", "Suspicious", "Common", "Unknown"}) {
        EXPECT_TRUE(doc["dispositions"].HasMember(name)) << name;
      }
    }

    const std::string prom = ReadFileBytes(dir_.File("metrics.prom"));
    ASSERT_FALSE(prom.empty());
    // Text exposition format: comments, or `name[{labels}] value`.
    for (absl::string_view line : absl::StrSplit(prom, '\n', absl::SkipEmpty())) {
      if (absl::StartsWith(line, "#")) continue;
      const size_t space = line.rfind(' ');
      ASSERT_NE(space, absl::string_view::npos) << line;
      double value;
      EXPECT_TRUE(absl::SimpleAtod(line.substr(space + 1), &value)) << line;
      EXPECT_TRUE(absl::StartsWith(line, "ctia_enrich_")) << line;
    }
    EXPECT_THAT(prom, HasSubstr(absl::StrCat("ctia_enrich_last_run_exit_code ", exit_code, "\n")));
    EXPECT_THAT(prom, HasSubstr(absl::StrCat("outcome=\"", outcome, "\"")));
  }

  testing::TempDir dir_;
  std::unique_ptr<sim::SimServer> sim_;
};

TEST_F(NightlyTest, ACleanRunExitsZeroWithStatistics) {
  ASSERT_EQ(Run(Args(dir_.File("out.csv")), "run.err"), 0) << ReadFileBytes(dir_.File("run.err"));
  ExpectStatistics("done", 0);
  // Every row with a verdict is counted under its disposition.
  const std::string json = ReadFileBytes(dir_.File("summary.json"));
  rapidjson::Document doc = testing::ParseJson(json);
  ASSERT_TRUE(doc.IsObject() && doc.HasMember("dispositions")) << json;
  uint64_t with_verdict = 0;
  for (const auto& m : doc["dispositions"].GetObject()) with_verdict += m.value.GetUint64();
  EXPECT_GT(with_verdict, 0u) << json;
  EXPECT_EQ(with_verdict, doc["statuses"]["ok"].GetUint64()) << json;
}

TEST_F(NightlyTest, ErrorRowsExitThreeUnlessWithinTheMaxErrorRate) {
  WriteInput("in.csv", 400, 10);  // 40 of 400 rows (10%) fail for good
  sim::FaultRule failing;
  failing.kind = sim::FaultKind::kStatus500;
  failing.path_prefix = "/ctia/domain/bad-";
  sim_->AddFault(failing);

  auto started = Clock::now();
  ASSERT_EQ(Run(Args(dir_.File("out.csv")), "default.err"), 3)
      << ReadFileBytes(dir_.File("default.err"));
  std::printf("10%% failed lookups, default rate: exit 3 after %.2f s\n", SecondsSince(started));
  EXPECT_THAT(ReadFileBytes(dir_.File("default.err")), HasSubstr("--max-error-rate"));
  ExpectStatistics("error_rows", 3);
  // The output is complete all the same.
  const std::string out = ReadFileBytes(dir_.File("out.csv"));
  EXPECT_EQ(std::count(out.begin(), out.end(), '\n'), 401);

  ASSERT_EQ(Run(Args(dir_.File("out2.csv"), {"--max-error-rate", "0.1"}), "within.err"), 0)
      << ReadFileBytes(dir_.File("within.err"));
  ExpectStatistics("done", 0);
  ASSERT_EQ(Run(Args(dir_.File("out3.csv"), {"--max-error-rate", "0.09"}), "over.err"), 3)
      << ReadFileBytes(dir_.File("over.err"));
}

TEST_F(NightlyTest, EveryLookupFailedNeverExitsZero) {
  WriteInput("in.csv", 50, 1);  // every row fails
  sim::FaultRule failing;
  failing.kind = sim::FaultKind::kStatus500;
  failing.path_prefix = "/ctia/domain/";
  sim_->AddFault(failing);
  ASSERT_EQ(Run(Args(dir_.File("out.csv"), {"--max-error-rate", "1"}), "run.err"), 3)
      << ReadFileBytes(dir_.File("run.err"));
  ExpectStatistics("error_rows", 3);
}

TEST_F(NightlyTest, AFailureAfterTheStartExitsOneWithStatistics) {
  // A malformed row at the end under --strict: the run has started (and looked up) by then.
  std::ofstream(dir_.File("in.csv"), std::ios::app) << "9999,late.example,extra field\n";
  ASSERT_EQ(Run(Args(dir_.File("out.csv"), {"--strict"}), "run.err"), 1)
      << ReadFileBytes(dir_.File("run.err"));
  ExpectStatistics("failed", 1);
}

TEST_F(NightlyTest, AnUnknownObservableTypeIsUsageErrorBeforeAnyRequest) {
  const uint64_t before = sim_->Counters().total;
  std::vector<std::string> args = Args(dir_.File("out.csv"));
  args[6] = "domain:domian";
  ASSERT_EQ(Run(args, "run.err"), 2) << ReadFileBytes(dir_.File("run.err"));
  EXPECT_THAT(ReadFileBytes(dir_.File("run.err")), HasSubstr("unknown observable type \"domian\""));
  EXPECT_EQ(sim_->Counters().total, before) << "a request was sent";
  EXPECT_FALSE(std::filesystem::exists(dir_.File("out.csv")));
  EXPECT_FALSE(std::filesystem::exists(dir_.File("summary.json")));
}

TEST_F(NightlyTest, StatisticsToStdoutBesideAnOutputToStdoutIsUsageError) {
  for (const char* flag : {"--summary-json", "--prometheus"}) {
    std::vector<std::string> args = Args("-");
    args.resize(args.size() - 4);  // without the statistics files
    args.push_back(flag);
    args.push_back("-");
    ASSERT_EQ(Run(args, "run.err"), 2) << ReadFileBytes(dir_.File("run.err"));
    EXPECT_THAT(ReadFileBytes(dir_.File("run.err")), HasSubstr(absl::StrCat(flag, " -")));
  }
}

// The acceptance case: SIGTERM against 2 s answers exits 75 within --stop-timeout + 1 s (here
// within one answer time and a margin) and resumes to byte-identical output. REST lookups.
TEST_F(NightlyTest, SigtermCheckpointsWithinTheStopTimeoutAndResumesToTheSameBytes) {
  const double took = StopAgainstSlowAnswers(Args(dir_.File("out.csv"), {"--stop-timeout", "5"}));
  std::printf("SIGTERM against 2 s answers (REST): exit 75 after %.2f s (--stop-timeout 5)\n",
              took);
}

// The same through GraphQL batches: the batches waiting for a connection are cancelled too.
TEST_F(NightlyTest, SigtermCancelsTheGraphqlBatchesNotYetSent) {
  const double took = StopAgainstSlowAnswers(
      With(Args(dir_.File("out.csv"), {"--stop-timeout", "5"}), "--batch-size", "50"));
  std::printf("SIGTERM against 2 s answers (GraphQL): exit 75 after %.2f s (--stop-timeout 5)\n",
              took);
}

// Answers that do not come within --stop-timeout: the run checkpoints without them.
TEST_F(NightlyTest, AnswersLaterThanTheStopTimeoutAreNotWaitedFor) {
  const std::string reference = Reference();
  DelayAnswers(absl::Milliseconds(1500));
  const std::string output = dir_.File("out.csv");
  auto child = Start(Args(output, {"--stop-timeout", "0.2"}), "run.err");
  ASSERT_TRUE(child.ok()) << child.status();
  ASSERT_TRUE(WaitForJournaled(output + ".journal", 0)) << ReadFileBytes(dir_.File("run.err"));
  // Just after a wave of answers: the next wave is 1.5 s away.
  std::this_thread::sleep_for(std::chrono::milliseconds(100));
  const auto signalled = Clock::now();
  child->Signal(SIGTERM);
  const int exit_code = child->Wait();
  const double took = SecondsSince(signalled);
  ASSERT_EQ(exit_code, 75) << ReadFileBytes(dir_.File("run.err"));
  EXPECT_LE(took, 0.2 + 1.0) << ReadFileBytes(dir_.File("run.err"));
  ExpectStatistics("checkpointed", 75);
  std::printf("SIGTERM against 1.5 s answers, --stop-timeout 0.2: exit 75 after %.2f s\n", took);

  ExpectResumeGives(output, reference);
}

TEST_F(NightlyTest, ASecondSignalExitsAtOnceWithTheJournalUsable) {
  const std::string reference = Reference();
  DelayAnswers(absl::Milliseconds(3000));
  const std::string output = dir_.File("out.csv");
  auto child = Start(Args(output, {"--stop-timeout", "60"}), "run.err");
  ASSERT_TRUE(child.ok()) << child.status();
  ASSERT_TRUE(WaitForJournaled(output + ".journal", 0)) << ReadFileBytes(dir_.File("run.err"));
  child->Signal(SIGTERM);
  // Once the first is seen ("stopping…"), the second.
  const auto first = Clock::now();
  while (!absl::StrContains(ReadFileBytes(dir_.File("run.err")), "stopping…") &&
         SecondsSince(first) < 5) {
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  const double stopping_after = SecondsSince(first);
  const auto second = Clock::now();
  child->Signal(SIGTERM);
  const int exit_code = child->Wait();
  const double took = SecondsSince(second);
  ASSERT_EQ(exit_code, 143) << ReadFileBytes(dir_.File("run.err"));
  // An exit code (WEXITSTATUS), not the default death by SIGTERM that a shell also shows as 143.
  EXPECT_FALSE(child->killed_by_signal());
  EXPECT_THAT(ReadFileBytes(dir_.File("run.err")), HasSubstr("a second SIGTERM: exiting now"));
  EXPECT_LE(took, 1.0);
  std::printf("\"stopping…\" %.3f s after SIGTERM; a second SIGTERM ended the run in %.3f s\n",
              stopping_after, took);

  ExpectResumeGives(output, reference);
}

// ---- the circuit breaker: a wrong setup fails fast -------------------------------------------

// A port on 127.0.0.1 where nothing listens (one the kernel just handed out, then closed).
int ClosedPort() {
  const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof addr;
  int port = 0;
  if (::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0 &&
      ::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len) == 0) {
    port = ntohs(addr.sin_port);
  }
  ::close(fd);
  return port;
}

class CircuitBreakerTest : public NightlyTest {
 protected:
  // The cron line (--resume) of in.csv with `endpoint` as the CTIA base and the sim's token
  // endpoint, GraphQL batches of 100 (the default).
  std::vector<std::string> WrongSetupArgs(const std::string& endpoint) const {
    std::vector<std::string> args = With(
        Args(dir_.File("out.csv"),
             {"--token-url", sim_->base_url() + "/iroh/oauth2/token", "--resume"}),
        "--endpoint", endpoint);
    return With(args, "--batch-size", "100");
  }

  // Runs `args`: exit 1 within a few seconds with `hint` on stderr, the summary saying failed
  // and which breaker tripped, and few requests spent of the 3000 rows' (the lookups in flight
  // when the first 20 failed). Then, the setup fixed
  // (the sim's own base), the same command with --resume completes to the reference's bytes.
  void ExpectFailsFastThenResumes(const std::vector<std::string>& args, const std::string& hint,
                                  const std::string& breaker, const std::string& endpoint) {
    const std::string reference = Reference();
    const uint64_t before = sim_->Counters().total;
    const auto started = Clock::now();
    const int exit_code = Run(args, "run.err");
    const double took = SecondsSince(started);
    const uint64_t requests = sim_->Counters().total - before;
    const std::string err = ReadFileBytes(dir_.File("run.err"));
    ASSERT_EQ(exit_code, 1) << err;
    EXPECT_LE(took, 5.0) << err;
    EXPECT_THAT(err, HasSubstr(hint));
    EXPECT_THAT(err, HasSubstr("the first 20 lookups all failed the same way"));
    EXPECT_THAT(err, HasSubstr("once the cause is fixed, run the same command with --resume"));
    // Without the breaker every row's lookup goes out (3000, and retries): a tenth at most. (The
    // lookups in flight: with GraphQL batches falling back to REST, a batch's REST answers
    // reach the breaker together, so about one batch of 100 is asked.)
    EXPECT_LE(requests, uint64_t{kRows} / 10) << "requests spent before the breaker tripped";
    EXPECT_FALSE(std::filesystem::exists(dir_.File("out.csv")));
    EXPECT_TRUE(std::filesystem::exists(dir_.File("out.csv.journal")));
    ExpectStatistics("failed", 1, endpoint);
    const std::string json = ReadFileBytes(dir_.File("summary.json"));
    EXPECT_THAT(json, HasSubstr(absl::StrCat("\"circuit_breaker\":\"", breaker, "\"")));
    EXPECT_THAT(ReadFileBytes(dir_.File("metrics.prom")),
                HasSubstr(absl::StrCat("ctia_enrich_circuit_breaker_tripped{failure=\"", breaker,
                                       "\"} 1")));
    std::printf("%s: exit 1 after %.2f s, %llu requests to the sim (3000 rows)\n",
                breaker.c_str(), took, static_cast<unsigned long long>(requests));

    // Fixed: the right base URL. The journal (no lookup settled in it) serves the same line.
    ASSERT_EQ(Run(With(args, "--endpoint", sim_->base_url()), "fixed.err"), 0)
        << ReadFileBytes(dir_.File("fixed.err"));
    EXPECT_TRUE(ReadFileBytes(dir_.File("out.csv")) == reference);
  }
};

// A base URL with a path CTIA does not serve: every verdict route answers the HTML 404 of an
// unknown route (the GraphQL route too: its fallback to REST meets the same).
TEST_F(CircuitBreakerTest, AWrongBasePathFailsFastNamingTheUrl) {
  const std::string wrong = sim_->base_url() + "/x";
  ExpectFailsFastThenResumes(
      WrongSetupArgs(wrong),
      absl::StrCat(wrong, " is probably not the CTIA base URL (expected e.g. "
                          "https://private.intel.amp.cisco.com"),
      "not_ctia", wrong);
  EXPECT_THAT(ReadFileBytes(dir_.File("run.err")), HasSubstr("answered 404 with an HTML page"));
}

TEST_F(CircuitBreakerTest, AWrongBasePathFailsFastThroughRestToo) {
  const std::string wrong = sim_->base_url() + "/x";
  ExpectFailsFastThenResumes(With(WrongSetupArgs(wrong), "--batch-size", "1"),
                             absl::StrCat(wrong, " is probably not the CTIA base URL"), "not_ctia",
                             wrong);
}

// Nothing listens at the endpoint's port: the lookups stop after the first 20 were refused, not
// after every row was retried.
TEST_F(CircuitBreakerTest, ARefusedPortFailsFast) {
  const std::string refused = absl::StrCat("http://127.0.0.1:", ClosedPort());
  ExpectFailsFastThenResumes(WrongSetupArgs(refused), "Connection refused", "refused", refused);
  EXPECT_THAT(ReadFileBytes(dir_.File("run.err")), HasSubstr("nothing accepts connections"));
}

// Some lookups answered with an HTML 404 (not all): no wrong setup, the run finishes with those
// rows' errors (exit 3, or 0 within --max-error-rate), as for any failed lookup.
TEST_F(CircuitBreakerTest, SomeHtml404sAmongAnswersFinishTheRun) {
  WriteInput("in.csv", 400, 10);  // 40 of 400 rows
  sim::FaultRule not_ctia;
  not_ctia.kind = sim::FaultKind::kHtml404;
  not_ctia.path_prefix = "/ctia/domain/bad-";
  sim_->AddFault(not_ctia);
  ASSERT_EQ(Run(Args(dir_.File("out.csv")), "run.err"), 3) << ReadFileBytes(dir_.File("run.err"));
  ExpectStatistics("error_rows", 3);
  const std::string out = ReadFileBytes(dir_.File("out.csv"));
  EXPECT_EQ(std::count(out.begin(), out.end(), '\n'), 401);
  EXPECT_THAT(out, HasSubstr("error:404"));
  EXPECT_THAT(ReadFileBytes(dir_.File("summary.json")), Not(HasSubstr("circuit_breaker")));
  ASSERT_EQ(Run(Args(dir_.File("out2.csv"), {"--max-error-rate", "0.1"}), "within.err"), 0)
      << ReadFileBytes(dir_.File("within.err"));
}

// The README's cron line: the same command, --resume included, every night. The first run is
// killed (kill -9) mid-way; the same line then completes the output.
TEST_F(NightlyTest, TheCronLineRunTwiceWithACrashBetweenGivesTheCompleteOutput) {
  const std::string reference = Reference();
  const std::string output = dir_.File("out.csv");
  const std::vector<std::string> cron_line = Args(output, {"--resume"});
  ASSERT_FALSE(std::filesystem::exists(output + ".journal"));
  DelayAnswers(absl::Milliseconds(20));
  {
    auto child = Start(cron_line, "first.err");
    ASSERT_TRUE(child.ok()) << child.status();
    ASSERT_TRUE(WaitForJournaled(output + ".journal", 1024))
        << ReadFileBytes(dir_.File("first.err"));
    child->Signal(SIGKILL);
    ASSERT_EQ(child->Wait(), 128 + SIGKILL);
  }
  EXPECT_FALSE(std::filesystem::exists(output));
  sim_->ClearFaults();
  ASSERT_EQ(Run(cron_line, "second.err"), 0) << ReadFileBytes(dir_.File("second.err"));
  EXPECT_THAT(ReadFileBytes(dir_.File("second.err")), HasSubstr("resuming: "));
  EXPECT_TRUE(ReadFileBytes(output) == reference)
      << "the rerun's output differs from the reference";
  // The next night: no journal left, the same line starts fresh.
  EXPECT_FALSE(std::filesystem::exists(output + ".journal"));
  ASSERT_EQ(Run(cron_line, "third.err"), 0) << ReadFileBytes(dir_.File("third.err"));
  EXPECT_TRUE(ReadFileBytes(output) == reference);
}

}  // namespace
}  // namespace enrich
