// `ctia-enrich run` as a user runs it: the built binary, its exit codes and its messages.

#include "tests/fakes/cli_rig.h"
#include "engine/byte_io.h"
#include "tools/sim/sim_server.h"

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <optional>
#include <regex>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "boost/asio/io_context.hpp"
#include "boost/asio/ip/tcp.hpp"
#include <fcntl.h>
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

namespace enrich {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;

using Result = ::enrich::testing::CommandResult;
using ::enrich::testing::ReadFileBytes;

class CliTest : public ::testing::Test {
 protected:
  void SetUp() override {
    unsetenv("CTIA_CLIENT_ID");
    unsetenv("CTIA_CLIENT_SECRET");
  }

  std::string Path(const std::string& name) { return dir_.File(name); }

  void WriteFile(const std::string& name, const std::string& text) {
    ::enrich::testing::WriteFileBytes(Path(name), text);
  }

  static Result Run(const std::string& args) { return ::enrich::testing::RunCliLine(args); }

  // Sets the sim's credentials and returns the args of a REST run (--batch-size 1: one
  // rate-limit unit per lookup) of in.csv's domain column against `sim`, with --max-wait 1, so
  // a spent hourly quota checkpoints it (exit 75).
  std::string QuotaRunArgs(const sim::SimServer& sim) {
    setenv("CTIA_CLIENT_ID", "client", 1);
    setenv("CTIA_CLIENT_SECRET", "secret", 1);
    return "run -i " + Path("in.csv") + " -o " + Path("out.csv") +
           " --column domain --max-wait 1 --batch-size 1 --endpoint " + sim.base_url();
  }

  // "id,domain" and `n` rows of distinct domains host-<i>.example.
  static std::string DistinctDomainsCsv(int n) {
    std::string csv = "id,domain\n";
    for (int i = 0; i < n; ++i) absl::StrAppend(&csv, i, ",host-", i, ".example\n");
    return csv;
  }

  // Runs `args` with --resume against `sim` (test API on): it must finish, reload `reloaded`
  // lookups, and leave the sim's tally for client "client" at `total` observables, each asked
  // once (the first run's included). Returns the run's result.
  Result ResumeAskingNoneAgain(const std::string& args, const sim::SimServer& sim,
                               size_t reloaded, size_t total) {
    Result r = Run(args + " --resume");
    EXPECT_EQ(r.exit_code, 0) << r.output;
    EXPECT_THAT(r.output,
                HasSubstr("resuming: " + std::to_string(reloaded) + " settled lookups reloaded"));
    const sim::LookupTally tally = sim.Lookups();
    EXPECT_EQ(tally.count("client") == 1 ? tally.at("client").size() : 0u, total);
    if (tally.count("client") == 1) {
      for (const auto& [observable, times] : tally.at("client")) {
        EXPECT_EQ(times, 1u) << observable << " was looked up again";
      }
    }
    return r;
  }

  ::enrich::testing::TempDir dir_;
};

TEST_F(CliTest, EmbeddedSimRunWritesEveryRow) {
  WriteFile("in.csv", "id,domain\n1,malware-c2.example\n2,\n3,nothing-known.example\n");
  Result r = Run("run -i " + Path("in.csv") + " -o " + Path("out.csv") + " --column domain");
  ASSERT_EQ(r.exit_code, 0) << r.output;
  EXPECT_THAT(r.output, HasSubstr("embedded ctia-sim"));
  EXPECT_THAT(r.output, HasSubstr("rows:               3"));
  const std::string out = ReadFileBytes(Path("out.csv"));
  EXPECT_THAT(out, HasSubstr("\n1,malware-c2.example,2,Malicious,"));
  EXPECT_THAT(out, HasSubstr("\n2,,,,,,skipped\n"));
  EXPECT_THAT(out, HasSubstr("\n3,nothing-known.example,,,,,no_verdict\n"));
  EXPECT_FALSE(std::filesystem::exists(Path("out.csv") + ".partial-1"));
}

TEST_F(CliTest, RunHelpSaysWhatBecomesOfBlankNdjsonLines) {
  Result r = Run("run --help");
  ASSERT_EQ(r.exit_code, 0) << r.output;
  EXPECT_THAT(r.output, HasSubstr("a blank line (empty or whitespace) is not a row"));
  EXPECT_THAT(r.output, HasSubstr("(a blank NDJSON line is not a row)"));
}

TEST_F(CliTest, MaxRecordBytesOutOfRangeIsUsageError) {
  WriteFile("in.csv", "domain\na.example\n");
  const std::string args = "run -i " + Path("in.csv") + " -o " + Path("out.csv") +
                           " --column domain --max-record-bytes ";
  for (const char* value : {"0", "-1", "1073741825"}) {
    Result r = Run(args + value);
    EXPECT_EQ(r.exit_code, 2) << value;
    EXPECT_THAT(r.output, HasSubstr(absl::StrCat("ctia-enrich: --max-record-bytes ", value,
                                                 ": expected 1 to 1073741824 bytes (1 GiB)")));
  }
  Result r = Run(args + "64K");  // a number of bytes, no suffix
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_THAT(r.output, HasSubstr("--max-record-bytes"));
  EXPECT_FALSE(std::filesystem::exists(Path("out.csv")));
  r = Run("run --help");
  EXPECT_THAT(r.output, HasSubstr("--max-record-bytes INT=67108864"));
}

TEST_F(CliTest, UnwritableOutputPathsAreNamedBeforeAnyWork) {
  WriteFile("in.csv", "domain\na.example\n");
  std::filesystem::create_directories(Path("adir"));
  const std::string run = "run -i " + Path("in.csv") + " --column domain -o ";
  struct Case {
    std::string output;
    int exit_code;
    std::string message;
  };
  for (const Case& c : std::vector<Case>{
           {Path("in.csv"), 2, "it is the input (the enriched rows would replace it)"},
           {dir_.path() + "/./in.csv", 2, "it is the input"},
           {Path("adir"), 2, "it is a directory"},
           {Path("nodir") + "/out.csv", 1, Path("nodir") + ": No such file or directory"},
           {Path("in.csv") + "/out.csv", 1, Path("in.csv") + ": not a directory"},
       }) {
    Result r = Run(run + c.output);
    EXPECT_EQ(r.exit_code, c.exit_code) << c.output << ": " << r.output;
    EXPECT_THAT(r.output,
                HasSubstr("ctia-enrich: cannot write output \"" + c.output + "\": " + c.message));
    EXPECT_THAT(r.output, Not(HasSubstr("embedded ctia-sim"))) << "started work first";
  }
  EXPECT_EQ(ReadFileBytes(Path("in.csv")), "domain\na.example\n");
  EXPECT_EQ(std::filesystem::directory_iterator(Path("adir")),
            std::filesystem::directory_iterator());
  EXPECT_FALSE(std::filesystem::exists(Path("adir.journal")));
}

TEST_F(CliTest, OutputInADirectoryWithoutWritePermissionIsNamed) {
  WriteFile("in.csv", "domain\na.example\n");
  std::filesystem::create_directories(Path("readonly"));
  std::filesystem::permissions(dir_.path(), std::filesystem::perms(0755));
  std::filesystem::permissions(Path("in.csv"), std::filesystem::perms(0644));
  std::filesystem::permissions(Path("readonly"), std::filesystem::perms(0555));
  // root may write anywhere: run as nobody then (setpriv, util-linux).
  const std::string program = geteuid() == 0 ? "setpriv --reuid=65534 --regid=65534 "
                                               "--clear-groups " CTIA_ENRICH_BIN
                                             : CTIA_ENRICH_BIN;
  Result r = ::enrich::testing::RunCommandLine(
      program, "run -i " + Path("in.csv") + " -o " + Path("readonly") + "/out.csv --column domain");
  EXPECT_EQ(r.exit_code, 1) << r.output;
  EXPECT_THAT(r.output, HasSubstr("ctia-enrich: cannot write output \"" + Path("readonly") +
                                  "/out.csv\": " + Path("readonly") + ": Permission denied"));
  EXPECT_TRUE(std::filesystem::is_empty(Path("readonly")));
}

TEST_F(CliTest, APipeOutputIsWrittenInPlaceWithoutAJournal) {
  // (A FIFO in the test's folder rather than /dev/null: a regression would replace it, and it
  // must not replace the machine's /dev/null.)
  WriteFile("in.csv", "id,domain\n1,nothing-known.example\n");
  const std::string fifo = Path("out.fifo");
  ASSERT_EQ(mkfifo(fifo.c_str(), 0600), 0);
  // Opened first, without blocking, so that the run's open for writing does not block either.
  const int reader = open(fifo.c_str(), O_RDONLY | O_NONBLOCK);
  ASSERT_GE(reader, 0);
  ::enrich::testing::ChildSpec spec;
  spec.program = CTIA_ENRICH_BIN;
  spec.args = {"run", "-i", Path("in.csv"), "-o", fifo, "--column", "domain"};
  spec.stderr_path = Path("run.err");
  auto child = ::enrich::testing::ChildProcess::Start(spec);
  ASSERT_TRUE(child.ok()) << child.status();
  std::string got;
  std::optional<int> exit_code;
  char buf[4096];
  for (;;) {
    const ssize_t n = read(reader, buf, sizeof buf);
    if (n > 0) {
      got.append(buf, static_cast<size_t>(n));
      continue;
    }
    if (exit_code.has_value()) break;  // ended, and all it wrote has been read
    exit_code = child->Poll();
    if (!exit_code.has_value()) usleep(1000);
  }
  close(reader);
  ASSERT_EQ(*exit_code, 0) << ReadFileBytes(Path("run.err"));
  EXPECT_EQ(got,
            "id,domain,ctia_disposition,ctia_disposition_name,ctia_judgement_id,ctia_valid_until,"
            "ctia_status\n1,nothing-known.example,,,,,no_verdict\n");
  struct stat st;
  ASSERT_EQ(stat(fifo.c_str(), &st), 0);
  EXPECT_TRUE(S_ISFIFO(st.st_mode)) << "the FIFO was replaced";
  std::vector<std::string> left;
  for (const auto& entry : std::filesystem::directory_iterator(dir_.path())) {
    left.push_back(entry.path().filename().string());
  }
  std::sort(left.begin(), left.end());
  EXPECT_EQ(left, (std::vector<std::string>{"in.csv", "out.fifo", "run.err"}));
}

TEST_F(CliTest, FieldsAddTheObservableLookedUpAndUnknownFieldsAreUsageErrors) {
  WriteFile("in.csv", "id,value\n1,MALWARE-C2[.]example\n2,\n3,hxxp://nothing-known[.]example/x\n");
  Result r = Run("run -i " + Path("in.csv") + " -o " + Path("out.csv") +
                 " --column value:auto --fields observable_type,observable_value,source "
                 "--judgements 2");
  ASSERT_EQ(r.exit_code, 0) << r.output;
  const std::string out = ReadFileBytes(Path("out.csv"));
  EXPECT_THAT(out, HasSubstr("id,value,ctia_disposition,ctia_disposition_name,ctia_judgement_id,"
                             "ctia_valid_until,ctia_status,ctia_observable_type,"
                             "ctia_observable_value,ctia_source,ctia_judgements\n"));
  EXPECT_THAT(out, HasSubstr("\n1,MALWARE-C2[.]example,2,Malicious,"));
  EXPECT_THAT(out, HasSubstr(",ok,domain,malware-c2.example,"));
  EXPECT_THAT(out, HasSubstr("\n2,,,,,,skipped,,,,\n"));
  EXPECT_THAT(out, HasSubstr("\n3,hxxp://nothing-known[.]example/x,,,,,no_verdict,url,"
                             "http://nothing-known.example/x,,\n"));

  for (const char* bad : {"--fields severity,colour", "--fields tlp,tlp", "--judgements -1",
                          "--judgements 1001"}) {
    r = Run("run -i " + Path("in.csv") + " -o " + Path("bad.csv") + " --column value:domain " +
            bad);
    EXPECT_EQ(r.exit_code, 2) << bad << r.output;
    EXPECT_FALSE(std::filesystem::exists(Path("bad.csv"))) << bad;
  }
  r = Run("run -i " + Path("in.csv") + " -o " + Path("bad.csv") +
          " --column value:domain --fields severity,colour");
  EXPECT_THAT(r.output, HasSubstr("ctia-enrich: --fields \"severity,colour\": unknown field "
                                  "\"colour\"; the fields are: source, source_uri, reason, "
                                  "severity, confidence, priority, tlp, observable_type, "
                                  "observable_value (or all)"));
  r = Run("run --help");
  EXPECT_THAT(r.output, HasSubstr("E.g. --fields source,reason,severity"));
  EXPECT_THAT(r.output, HasSubstr("--judgements INT=0"));
}

TEST_F(CliTest, AColumnGivenTwiceIsUsageError) {
  WriteFile("in.csv", "domain\na.example\n");
  Result r = Run("run -i " + Path("in.csv") + " -o " + Path("out.csv") +
                 " --column domain --column domain:url");
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_THAT(r.output, HasSubstr("ctia-enrich: --column \"domain\" is given twice: its added "
                                  "columns would have the same names"));
  EXPECT_FALSE(std::filesystem::exists(Path("out.csv")));
}

TEST_F(CliTest, NoHeaderColumnsByNameAreUsageErrorBeforeAnyRequest) {
  WriteFile("in.csv", "a.example,1\n");
  // Credentials and an endpoint that refuses: the column check comes before any connection.
  setenv("CTIA_CLIENT_ID", "client", 1);
  setenv("CTIA_CLIENT_SECRET", "secret", 1);
  for (const std::string column : {"0:domain", "domain", "x:domain", "-1:ip"}) {
    Result r = Run("run -i " + Path("in.csv") + " -o " + Path("out.csv") +
                   " --no-header --endpoint http://127.0.0.1:9 --column " + column);
    EXPECT_EQ(r.exit_code, 2) << column << ": " << r.output;
    EXPECT_THAT(r.output, HasSubstr("without a header line, columns are given by number "
                                    "(1 = first)"))
        << column;
    EXPECT_THAT(r.output, Not(HasSubstr("token"))) << column;
    EXPECT_FALSE(std::filesystem::exists(Path("out.csv")));
    EXPECT_FALSE(std::filesystem::exists(Path("out.csv.journal")));
  }
}

TEST_F(CliTest, MissingInputFileIsNamed) {
  Result r = Run("run -i " + Path("nope.csv") + " -o " + Path("out.csv") + " --column domain");
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_THAT(r.output, HasSubstr("cannot open input \"" + Path("nope.csv") +
                                  "\": No such file or directory"));
  EXPECT_FALSE(std::filesystem::exists(Path("out.csv")));
}

TEST_F(CliTest, UnknownColumnListsColumnsAndLeavesNoOutput) {
  WriteFile("in.csv", "ts,host,dst\n1,a,b\n");
  Result r = Run("run -i " + Path("in.csv") + " -o " + Path("out.csv") + " --column fqdn:domain");
  EXPECT_EQ(r.exit_code, 2) << "a column the header lacks is bad usage";
  EXPECT_THAT(r.output, HasSubstr("no column \"fqdn\"; the columns are: ts, host, dst"));
  EXPECT_FALSE(std::filesystem::exists(Path("out.csv")));
  for (const auto& entry : std::filesystem::directory_iterator(dir_.path())) {
    EXPECT_THAT(entry.path().string(), Not(HasSubstr(".partial"))) << "left a partial file";
  }
}

TEST_F(CliTest, EndpointNeedsCredentialsFromEnvironment) {
  WriteFile("in.csv", "domain\na.com\n");
  Result r = Run("run -i " + Path("in.csv") + " -o " + Path("out.csv") +
                 " --column domain --endpoint http://127.0.0.1:9");
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_THAT(r.output, HasSubstr("CTIA_CLIENT_ID and CTIA_CLIENT_SECRET"));
}

TEST_F(CliTest, UnreachableEndpointIsReported) {
  // A port that was just free: bind, read it, close.
  uint16_t port;
  {
    boost::asio::io_context ctx;
    boost::asio::ip::tcp::acceptor a(
        ctx, {boost::asio::ip::make_address("127.0.0.1"), 0});
    port = a.local_endpoint().port();
  }
  WriteFile("in.csv", "domain\na.com\n");
  setenv("CTIA_CLIENT_ID", "client", 1);
  setenv("CTIA_CLIENT_SECRET", "secret", 1);
  Result r = Run("run -i " + Path("in.csv") + " -o " + Path("out.csv") +
                 " --column domain --endpoint http://127.0.0.1:" + std::to_string(port));
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_THAT(r.output, HasSubstr("cannot get a CTIA token: "));
  EXPECT_THAT(r.output, HasSubstr("http://127.0.0.1:" + std::to_string(port) +
                                  "/iroh/oauth2/token"));
  EXPECT_THAT(r.output, HasSubstr("Connection refused"));
  EXPECT_FALSE(std::filesystem::exists(Path("out.csv")));
}

TEST_F(CliTest, BadCredentialsAreReportedWithoutTheSecret) {
  const auto sim = ::enrich::testing::StartSim({});
  ASSERT_NE(sim, nullptr);
  WriteFile("in.csv", "domain\na.com\n");
  setenv("CTIA_CLIENT_ID", "client", 1);
  setenv("CTIA_CLIENT_SECRET", "Wrong-Secret-7f3a9", 1);
  Result r = Run("run -i " + Path("in.csv") + " -o " + Path("out.csv") +
                 " --column domain --endpoint " + sim->base_url());
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_THAT(r.output, HasSubstr("invalid_client"));
  EXPECT_THAT(r.output, HasSubstr("client"));
  EXPECT_THAT(r.output, Not(HasSubstr("Wrong-Secret-7f3a9")));
  EXPECT_FALSE(std::filesystem::exists(Path("out.csv")));
}

// A wrong secret that is an ordinary word leaves the message readable: no word of it redacted.
TEST_F(CliTest, PlainWordSecretDoesNotGarbleTheMessage) {
  const auto sim = ::enrich::testing::StartSim({});
  ASSERT_NE(sim, nullptr);
  WriteFile("in.csv", "domain\na.com\n");
  setenv("CTIA_CLIENT_ID", "client", 1);
  for (const char* secret : {"the", "a", "client"}) {
    setenv("CTIA_CLIENT_SECRET", secret, 1);
    Result r = Run("run -i " + Path("in.csv") + " -o " + Path("out.csv") +
                   " --column domain --endpoint " + sim->base_url());
    EXPECT_EQ(r.exit_code, 1) << secret;
    EXPECT_THAT(r.output, HasSubstr("rejected API client 'client': invalid_client")) << secret;
    EXPECT_THAT(r.output,
                HasSubstr("(the client id or secret is wrong, or the client was revoked)"))
        << secret;
    EXPECT_THAT(r.output, Not(HasSubstr("redacted"))) << secret;
  }
}

// --intel picks a host of the --region; without one it would be silently ignored.
TEST_F(CliTest, IntelWithoutRegionIsUsageError) {
  WriteFile("in.csv", "domain\na.com\n");
  const std::string run = "run -i " + Path("in.csv") + " -o " + Path("out.csv") +
                          " --column domain ";
  for (const std::string& extra :
       {std::string("--intel global"), std::string("--intel private"),
        std::string("--intel global --endpoint http://127.0.0.1:9")}) {
    Result r = Run(run + extra);
    EXPECT_EQ(r.exit_code, 2) << extra << "\n" << r.output;
    EXPECT_THAT(r.output, HasSubstr("needs --region us, eu or apjc")) << extra;
    EXPECT_THAT(r.output, HasSubstr("give --endpoint URL without --intel")) << extra;
    EXPECT_THAT(r.output, Not(HasSubstr("embedded ctia-sim"))) << extra;
  }
  Result r = Run("bench --target http://127.0.0.1:9 --duration 1 --synthetic 10 --intel global");
  EXPECT_EQ(r.exit_code, 2) << r.output;
  EXPECT_THAT(r.output, HasSubstr("--intel global needs --region"));
  EXPECT_FALSE(std::filesystem::exists(Path("out.csv")));
  // With a region, --intel and --endpoint go together (the endpoint overrides the preset).
  r = Run(run + "--region eu --intel global --endpoint http://127.0.0.1:9 --print-settings");
  EXPECT_EQ(r.exit_code, 0) << r.output;
  EXPECT_THAT(r.output, HasSubstr("intel = \"global\""));
  r = Run("run --help");
  EXPECT_THAT(r.output, HasSubstr("without --region it is an error"));
}

TEST_F(CliTest, RealEndpointWithGoodCredentialsEnriches) {
  const auto sim = ::enrich::testing::StartSim({});
  ASSERT_NE(sim, nullptr);
  sim->AddJudgements(sim::DemoJudgements(absl::Now()));
  WriteFile("in.csv", "domain\nmalware-c2.example\n");
  setenv("CTIA_CLIENT_ID", "client", 1);
  setenv("CTIA_CLIENT_SECRET", "secret", 1);
  Result r = Run("run -i " + Path("in.csv") + " -o " + Path("out.csv") +
                 " --column domain --endpoint " + sim->base_url() + " --summary-json " +
                 Path("summary.json"));
  ASSERT_EQ(r.exit_code, 0) << r.output;
  EXPECT_THAT(r.output, Not(HasSubstr("embedded")));
  EXPECT_THAT(ReadFileBytes(Path("out.csv")), HasSubstr("malware-c2.example,2,Malicious,"));
  EXPECT_THAT(ReadFileBytes(Path("summary.json")), HasSubstr("\"rows\":1"));
  EXPECT_EQ(sim->Counters().verdict_requests, 1u);
}

// A rotation with one rejected credential (issue: a bad line in --credentials-file) retires
// it with a notice and enriches with the others; only when every one is rejected does it stop.
TEST_F(CliTest, RejectedCredentialInARotationIsRetiredAndTheRunGoesOn) {
  const auto sim = ::enrich::testing::StartSim({});
  ASSERT_NE(sim, nullptr);
  sim->AddJudgements(sim::DemoJudgements(absl::Now()));
  WriteFile("in.csv", "domain\nmalware-c2.example\nupdate-check.example.org\n");
  WriteFile("creds", "client:Wrong-Secret-7f3a9\nclient:secret\n");
  std::filesystem::permissions(Path("creds"), std::filesystem::perms(0600));
  Result r = Run("run -i " + Path("in.csv") + " -o " + Path("out.csv") +
                 " --column domain --endpoint " + sim->base_url() + " --credentials-file " +
                 Path("creds"));
  ASSERT_EQ(r.exit_code, 0) << r.output;
  EXPECT_THAT(r.output, HasSubstr("was rejected"));
  EXPECT_THAT(r.output, HasSubstr("retired"));
  EXPECT_THAT(r.output, Not(HasSubstr("Wrong-Secret-7f3a9")));
  EXPECT_THAT(ReadFileBytes(Path("out.csv")), HasSubstr("malware-c2.example,2,Malicious,"));

  WriteFile("creds", "client:Wrong-Secret-7f3a9\nnobody:secret\n");
  std::filesystem::permissions(Path("creds"), std::filesystem::perms(0600));
  std::filesystem::remove(Path("out.csv"));
  r = Run("run -i " + Path("in.csv") + " -o " + Path("out.csv") + " --column domain --endpoint " +
          sim->base_url() + " --credentials-file " + Path("creds"));
  EXPECT_EQ(r.exit_code, 1) << r.output;
  EXPECT_THAT(r.output, HasSubstr("every credential was rejected"));
  EXPECT_THAT(r.output, Not(HasSubstr("Wrong-Secret-7f3a9")));
  EXPECT_FALSE(std::filesystem::exists(Path("out.csv")));
}

TEST_F(CliTest, QuotaCheckpointExits75AndResumeFinishesWithoutRepeatingLookups) {
  sim::SimOptions options;
  options.rate_limit = 5;  // per org per hour, as CTIA counts it
  options.rate_limit_window = absl::Hours(1);
  const auto sim = ::enrich::testing::StartSim(options);
  ASSERT_NE(sim, nullptr);
  std::string in = "id,domain\n";
  for (int i = 0; i < 8; ++i) absl::StrAppend(&in, i, ",host-", i, ".example\n");
  WriteFile("in.csv", in);
  const std::string args = QuotaRunArgs(*sim);

  // REST lookups (--batch-size 1: one rate-limit unit each). Five fit in the hour; the next
  // wait (about an hour) is longer than --max-wait.
  Result first = Run(args);
  ASSERT_EQ(first.exit_code, 75) << first.output;
  EXPECT_THAT(first.output, HasSubstr("checkpointed"));
  EXPECT_THAT(first.output, HasSubstr("run the same command with --resume"));
  EXPECT_FALSE(std::filesystem::exists(Path("out.csv")));
  EXPECT_TRUE(std::filesystem::exists(Path("out.csv.journal")));
  // Answered lookups: no judgement is CTIA's 404 "no verdict" (429s are not answers).
  auto answered = [&sim] {
    sim::EndpointCounts counts = sim->CountsByEndpoint();
    return counts["verdict"][200] + counts["verdict"][404];
  };
  EXPECT_EQ(answered(), 5u);

  // An hour later the quota is back; the resumed run asks only for the three left.
  sim->AdvanceClock(absl::Hours(1) + absl::Minutes(1));
  Result second = Run(args + " --resume");
  ASSERT_EQ(second.exit_code, 0) << second.output;
  EXPECT_THAT(second.output, HasSubstr("resuming: 5 settled lookups reloaded"));
  EXPECT_EQ(answered(), 8u);
  const std::string out = ReadFileBytes(Path("out.csv"));
  for (int i = 0; i < 8; ++i) {
    EXPECT_THAT(out, HasSubstr(absl::StrCat("\n", i, ",host-", i, ".example,,,,,no_verdict\n")));
  }
  EXPECT_FALSE(std::filesystem::exists(Path("out.csv.journal")));
}

TEST_F(CliTest, ADamagedInputReplacedByAnIntactCopyResumesWithoutRepeatingLookups) {
  sim::SimOptions options;
  options.test_api = true;  // the lookup tally
  const auto sim = ::enrich::testing::StartSim(options);
  ASSERT_NE(sim, nullptr);
  const std::string in = DistinctDomainsCsv(3000);
  {
    auto sink = engine::OpenSink(Path("intact.csv.gz"), engine::Compression::kGzip);
    ASSERT_TRUE(sink.ok()) << sink.status();
    ASSERT_TRUE((*sink)->Write(in).ok());
    ASSERT_TRUE((*sink)->Finish().ok());
  }
  const std::string gz = ReadFileBytes(Path("intact.csv.gz"));
  // A download cut short: the first half of the compressed file.
  WriteFile("in.csv.gz", gz.substr(0, gz.size() / 2));
  setenv("CTIA_CLIENT_ID", "client", 1);
  setenv("CTIA_CLIENT_SECRET", "secret", 1);
  const std::string args = "run -i " + Path("in.csv.gz") + " -o " + Path("out.csv") +
                           " --column domain --batch-size 20 --chunk-size 4096 --endpoint " +
                           sim->base_url();

  Result first = Run(args);
  ASSERT_EQ(first.exit_code, 1) << first.output;
  EXPECT_THAT(first.output, HasSubstr("truncated gzip data"));
  EXPECT_THAT(first.output, HasSubstr("settled lookups are kept in " + Path("out.csv.journal") +
                                      "; once the cause is fixed, run the same command with "
                                      "--resume"));
  EXPECT_FALSE(std::filesystem::exists(Path("out.csv")));
  const sim::LookupTally after_first = sim->Lookups();
  ASSERT_EQ(after_first.count("client"), 1u);
  const size_t asked_first = after_first.at("client").size();
  EXPECT_GT(asked_first, 100u) << "the damaged run looked up what it read before the damage";
  EXPECT_LT(asked_first, 3000u);

  // The intact file has another size: the journal still serves it (same endpoint).
  WriteFile("in.csv.gz", gz);
  Result second = ResumeAskingNoneAgain(args, *sim, asked_first, 3000);
  EXPECT_THAT(second.output, HasSubstr("note: the journal was written for another input or "
                                       "columns (input=" + Path("in.csv.gz") + " size=" +
                                       std::to_string(gz.size() / 2)));
  EXPECT_GT(ReadFileBytes(Path("out.csv")).size(), in.size());
  EXPECT_FALSE(std::filesystem::exists(Path("out.csv.journal")));

  // Another endpoint is another source of verdicts: its journal is refused.
  WriteFile("in.csv.gz", gz.substr(0, gz.size() / 2));
  ASSERT_EQ(Run(args).exit_code, 1);
  Result other = Run("run -i " + Path("in.csv.gz") + " -o " + Path("out2.csv") + " --journal " +
                     Path("out.csv.journal") + " --resume --column domain --endpoint " +
                     sim->base_url() + "/");
  EXPECT_EQ(other.exit_code, 2) << other.output;
  EXPECT_THAT(other.output, HasSubstr("the journal's lookups were made at another CTIA endpoint"));
}

TEST_F(CliTest, AStrictFailureAfterLookupsKeepsThemForTheFixedInput) {
  sim::SimOptions options;
  options.test_api = true;  // the lookup tally
  const auto sim = ::enrich::testing::StartSim(options);
  ASSERT_NE(sim, nullptr);
  const std::string good = DistinctDomainsCsv(3000);
  // A malformed row (a quote never closed) near the end: --strict stops there, after the
  // lookups of the chunks before it settled.
  WriteFile("in.csv", good + "3000,\"bad\n");
  setenv("CTIA_CLIENT_ID", "client", 1);
  setenv("CTIA_CLIENT_SECRET", "secret", 1);
  const std::string args = "run -i " + Path("in.csv") + " -o " + Path("out.csv") +
                           " --column domain --strict --batch-size 20 --chunk-size 4096 "
                           "--endpoint " + sim->base_url();
  Result first = Run(args);
  ASSERT_EQ(first.exit_code, 1) << first.output;
  EXPECT_THAT(first.output, HasSubstr(Path("in.csv") + ":3002:"));
  EXPECT_THAT(first.output, HasSubstr("settled lookups are kept in " + Path("out.csv.journal")));
  ASSERT_TRUE(std::filesystem::exists(Path("out.csv.journal")));
  const size_t asked_first = sim->Lookups().at("client").size();
  EXPECT_GT(asked_first, 1000u);

  // The input fixed (the bad row dropped): the journal's lookups are not paid again.
  WriteFile("in.csv", good);
  ResumeAskingNoneAgain(args, *sim, asked_first, 3000);
}

TEST_F(CliTest, AStrictFailureBeforeAnyLookupLeavesNoJournal) {
  WriteFile("in.csv", "id,domain\n1,\"bad\n");
  const auto sim = ::enrich::testing::StartSim({});
  ASSERT_NE(sim, nullptr);
  setenv("CTIA_CLIENT_ID", "client", 1);
  setenv("CTIA_CLIENT_SECRET", "secret", 1);
  Result r = Run("run -i " + Path("in.csv") + " -o " + Path("out.csv") +
                 " --column domain --strict --endpoint " + sim->base_url());
  ASSERT_EQ(r.exit_code, 1) << r.output;
  EXPECT_THAT(r.output, Not(HasSubstr("kept in")));
  EXPECT_FALSE(std::filesystem::exists(Path("out.csv.journal")));
  EXPECT_FALSE(std::filesystem::exists(Path("out.csv")));
}

// A resume starts the transport while the journal reloads: bad credentials still fail it
// (exit 1, the secret not shown), with the journal kept as it was for a later resume.
TEST_F(CliTest, ResumeWithBadCredentialsFailsAndKeepsTheJournal) {
  sim::SimOptions options;
  options.rate_limit = 2;
  options.rate_limit_window = absl::Hours(1);
  const auto sim = ::enrich::testing::StartSim(options);
  ASSERT_NE(sim, nullptr);
  WriteFile("in.csv", "domain\na.example\nb.example\nc.example\n");
  const std::string args = QuotaRunArgs(*sim);
  Result first = Run(args);
  ASSERT_EQ(first.exit_code, 75) << first.output;
  const std::string journal = ReadFileBytes(Path("out.csv.journal"));
  ASSERT_FALSE(journal.empty());

  setenv("CTIA_CLIENT_SECRET", "Wrong-Secret-7f3a9", 1);
  Result bad = Run(args + " --resume");
  EXPECT_EQ(bad.exit_code, 1) << bad.output;
  EXPECT_THAT(bad.output, HasSubstr("invalid_client"));
  EXPECT_THAT(bad.output, Not(HasSubstr("Wrong-Secret-7f3a9")));
  EXPECT_FALSE(std::filesystem::exists(Path("out.csv")));
  EXPECT_EQ(ReadFileBytes(Path("out.csv.journal")), journal);

  setenv("CTIA_CLIENT_SECRET", "secret", 1);
  sim->AdvanceClock(absl::Hours(1) + absl::Minutes(1));
  Result good = Run(args + " --resume");
  ASSERT_EQ(good.exit_code, 0) << good.output;
  EXPECT_THAT(good.output, HasSubstr("resuming: 2 settled lookups reloaded"));
  EXPECT_THAT(ReadFileBytes(Path("out.csv")), HasSubstr("\nc.example,,,,,no_verdict\n"));
}

// The checkpoint line of a run's output, with the time to resume and the wait it is in replaced
// by <time> and <wait>; `resume_at` and `wait` get them.
std::string CheckpointLine(const std::string& output, absl::Time* resume_at, std::string* wait) {
  std::istringstream lines(output);
  std::string line;
  while (std::getline(lines, line)) {
    if (line.find("; checkpointed: ") == std::string::npos) continue;
    static const std::regex kWhen(" after ([0-9T:-]+Z) \\(in ([0-9hms.]+)\\)");
    std::smatch m;
    if (std::regex_search(line, m, kWhen)) {
      std::string error;
      EXPECT_TRUE(absl::ParseTime("%Y-%m-%dT%H:%M:%SZ", m[1].str(), resume_at, &error)) << error;
      *wait = m[2].str();
    }
    return std::regex_replace(line, kWhen, " after <time> (in <wait>)");
  }
  return "no checkpoint line in: " + output;
}

TEST_F(CliTest, CheckpointAfterALong429GivesTheWaitOnce) {
  const auto sim = ::enrich::testing::StartSim({});
  ASSERT_NE(sim, nullptr);
  sim::FaultRule busy;
  busy.kind = sim::FaultKind::kBurst429;
  busy.path_prefix = "/ctia/";
  busy.retry_after_seconds = 3600;
  sim->AddFault(busy);
  WriteFile("in.csv", "id,domain\n1,a.example\n2,b.example\n");
  setenv("CTIA_CLIENT_ID", "client", 1);
  setenv("CTIA_CLIENT_SECRET", "secret", 1);
  const absl::Time before = absl::Now();
  Result r = Run("run -i " + Path("in.csv") + " -o " + Path("out.csv") +
                 " --column domain --batch-size 1 --max-wait 60 --endpoint " + sim->base_url());
  const absl::Time after = absl::Now();
  ASSERT_EQ(r.exit_code, 75) << r.output;
  absl::Time resume_at;
  std::string wait;
  EXPECT_EQ(CheckpointLine(r.output, &resume_at, &wait),
            "ctia-enrich: http 429: Too Many Requests from " + sim->base_url() +
                "; checkpointed: settled lookups are in " + Path("out.csv.journal") +
                "; run the same command with --resume after <time> (in <wait>) to continue "
                "without repeating them");
  EXPECT_EQ(wait, "1h");
  EXPECT_GE(resume_at, before + absl::Hours(1) - absl::Seconds(1));
  EXPECT_LE(resume_at, after + absl::Hours(1) + absl::Seconds(2));
}

TEST_F(CliTest, CheckpointWhenTheRequestBudgetIsSpentGivesTheWaitOnce) {
  const auto sim = ::enrich::testing::StartSim({});
  ASSERT_NE(sim, nullptr);
  WriteFile("in.csv", "id,domain\n1,a.example\n2,b.example\n3,c.example\n");
  setenv("CTIA_CLIENT_ID", "client", 1);
  setenv("CTIA_CLIENT_SECRET", "secret", 1);
  const std::string args = "run -i " + Path("in.csv") +
                           " --column domain --batch-size 1 --rate-limit 2/1h --max-wait 60 "
                           "--endpoint " + sim->base_url();
  absl::Time resume_at;
  std::string wait;
  Result r = Run(args + " -o " + Path("out.csv"));
  ASSERT_EQ(r.exit_code, 75) << r.output;
  EXPECT_EQ(CheckpointLine(r.output, &resume_at, &wait),
            "ctia-enrich: the request budget of group 'default' is spent; checkpointed: settled "
            "lookups are in " + Path("out.csv.journal") +
                "; run the same command with --resume after <time> (in <wait>) to continue "
                "without repeating them");
  EXPECT_TRUE(std::regex_match(wait, std::regex("1h|59m[0-9]+s"))) << wait;
  // Output on stdout: no journal to resume from.
  r = Run(args + " -o -");
  ASSERT_EQ(r.exit_code, 75) << r.output;
  EXPECT_EQ(CheckpointLine(r.output, &resume_at, &wait),
            "ctia-enrich: the request budget of group 'default' is spent; checkpointed: no "
            "journal (output is stdout): rerun after <time> (in <wait>) to start again");
}

TEST_F(CliTest, CompressionFlagThatContradictsTheInputIsUsageError) {
  WriteFile("in.csv", "domain\na.example\n");
  Result r = Run("run -i " + Path("in.csv") + " -o " + Path("out.csv") +
                 " --column domain --compression gzip");
  EXPECT_EQ(r.exit_code, 2) << r.output;
  EXPECT_THAT(r.output, HasSubstr(Path("in.csv") + ": not gzip data (no magic bytes at byte 0); "
                                  "--compression gzip applies to the input and the output"));
  EXPECT_THAT(r.output, HasSubstr("--output-compression"));
  EXPECT_FALSE(std::filesystem::exists(Path("out.csv")));

  // The output alone: plain in, gzip out under a name without .gz.
  r = Run("run -i " + Path("in.csv") + " -o " + Path("out.csv") +
          " --column domain --output-compression gzip");
  ASSERT_EQ(r.exit_code, 0) << r.output;
  EXPECT_EQ(ReadFileBytes(Path("out.csv")).substr(0, 2), "\x1f\x8b");
  r = Run("run -i " + Path("in.csv") + " -o " + Path("out2.csv") +
          " --column domain --output-compression lz4");
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_THAT(r.output, HasSubstr("--output-compression \"lz4\": expected auto, none, gzip or zstd"));
}

TEST_F(CliTest, BadUsageExitsTwo) {
  EXPECT_EQ(Run("run -i x.csv").exit_code, 2);
  EXPECT_EQ(Run("frobnicate").exit_code, 2);
  Result r = Run("run -i x.csv -o y.csv --column weird_column");
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_THAT(r.output, HasSubstr("NAME:TYPE"));
}

}  // namespace
}  // namespace enrich
