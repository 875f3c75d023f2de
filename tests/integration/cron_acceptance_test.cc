// Acceptance (issue 14): "a test runs the README's cron line twice (crash in between) and gets
// the complete output". The line is taken from README.md, between its `cron-line:begin` and
// `cron-line:end` markers, and the settings file it names from configs/; both get their
// absolute paths moved under a scratch folder and the settings the address of ctia-sim (on
// 127.0.0.1:0, answering slowly). /bin/sh runs the line as cron does. The first run is killed
// (SIGKILL) once it has journaled lookups; the same line then completes the output, byte for
// byte what an uninterrupted run of the line writes.

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/stat.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <optional>
#include <sstream>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_replace.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "engine/byte_io.h"
#include "tests/fakes/cli_rig.h"

namespace enrich {
namespace {

namespace fs = std::filesystem;
using ::testing::HasSubstr;

using testing::ReadFileBytes;

// The crontab line of README.md between the markers: the first line of the block there that
// is neither blank, a comment nor a code fence.
std::optional<std::string> ReadmeCronLine() {
  const std::string readme = ReadFileBytes(absl::StrCat(ENRICH_SOURCE_DIR, "/README.md"));
  const size_t begin = readme.find("<!-- cron-line:begin");
  const size_t end = readme.find("<!-- cron-line:end", begin);
  if (begin == std::string::npos || end == std::string::npos) return std::nullopt;
  for (absl::string_view line :
       absl::StrSplit(absl::string_view(readme).substr(begin, end - begin), '\n')) {
    line = absl::StripAsciiWhitespace(line);
    if (line.empty() || line.front() == '#' || absl::StartsWith(line, "<!--") ||
        absl::StartsWith(line, "```")) {
      continue;
    }
    return std::string(line);
  }
  return std::nullopt;
}

// The command of a crontab line: what follows its five time fields.
std::string CronCommand(absl::string_view line) {
  for (int field = 0; field < 5; ++field) {
    line = absl::StripLeadingAsciiWhitespace(line);
    const size_t space = line.find_first_of(" \t");
    line = space == absl::string_view::npos ? absl::string_view() : line.substr(space);
  }
  return std::string(absl::StripAsciiWhitespace(line));
}

// The processes below `root` (children, their children, ...), from /proc.
std::vector<pid_t> Descendants(pid_t root) {
  std::vector<std::pair<pid_t, pid_t>> parent_of;  // (pid, ppid)
  for (const auto& entry : fs::directory_iterator("/proc")) {
    pid_t pid = 0;
    if (!absl::SimpleAtoi(entry.path().filename().string(), &pid)) continue;
    const std::string stat = ReadFileBytes(entry.path().string() + "/stat");
    // "pid (comm) state ppid ...": comm may hold spaces, so read after its last ')'.
    const size_t close = stat.rfind(')');
    if (close == std::string::npos) continue;
    std::vector<std::string> fields = absl::StrSplit(stat.substr(close + 2), ' ');
    pid_t ppid = 0;
    if (fields.size() > 1 && absl::SimpleAtoi(fields[1], &ppid)) parent_of.emplace_back(pid, ppid);
  }
  std::vector<pid_t> out = {root};
  for (size_t i = 0; i < out.size(); ++i) {
    for (const auto& [pid, ppid] : parent_of) {
      if (ppid == out[i]) out.push_back(pid);
    }
  }
  out.erase(out.begin());
  return out;
}

std::string Decompressed(const std::string& path) {
  auto source = engine::OpenSource(path, engine::Compression::kAuto);
  EXPECT_TRUE(source.ok()) << source.status();
  if (!source.ok()) return "";
  std::string out;
  char buf[1 << 16];
  for (;;) {
    auto n = (*source)->Read(buf, sizeof buf);
    EXPECT_TRUE(n.ok()) << n.status();
    if (!n.ok() || *n == 0) return out;
    out.append(buf, *n);
  }
}

class CronAcceptanceTest : public ::testing::Test {
 protected:
  static constexpr int kRows = 6000;

  void SetUp() override {
    sim::SimOptions options;
    options.synthetic_percent = 30;  // every observable answered, from a hash (fixed ids)
    options.public_base = "https://private.intel.amp.cisco.com";
    sim_ = testing::StartSim(options);
    ASSERT_NE(sim_, nullptr);
    const std::optional<std::string> line = ReadmeCronLine();
    ASSERT_TRUE(line.has_value()) << "README.md has no cron line between its markers";
    cron_command_ = CronCommand(*line);
    ASSERT_THAT(cron_command_, HasSubstr("--config /etc/ctia-enrich/nightly-proxy-logs.toml"));
    ASSERT_THAT(cron_command_, HasSubstr("--resume"));
  }

  // A machine's folders under `root`: the cron line and its settings with their paths moved
  // there, the settings pointed at the sim, credentials, allowlist and the night's export.
  // Returns the command to give /bin/sh.
  std::string Install(const std::string& root) {
    const std::vector<std::pair<std::string, std::string>> moves = {
        {"/usr/local/bin/ctia-enrich", CTIA_ENRICH_BIN},
        {"/etc/ctia-enrich/", root + "/etc/"},
        {"/var/lib/ctia-enrich/", root + "/lib/"},
        {"/var/log/ctia-enrich/", root + "/log/"},
        {"/var/log/proxy/", root + "/proxy/"},
        {"/var/lib/node_exporter/textfile/", root + "/textfile/"},
    };
    for (const char* dir : {"etc", "lib", "log", "proxy", "textfile"}) {
      fs::create_directories(root + "/" + dir);
    }
    std::string settings =
        ReadFileBytes(absl::StrCat(ENRICH_SOURCE_DIR, "/configs/nightly-proxy-logs.toml"));
    EXPECT_THAT(settings, HasSubstr("\n[ctia]\n"));
    settings = absl::StrReplaceAll(settings, moves);
    settings = absl::StrReplaceAll(
        settings, {{"\n[ctia]\n", absl::StrCat("\n[ctia]\nendpoint = \"", sim_->base_url(),
                                               "\"\ntoken-url = \"", sim_->base_url(),
                                               "/iroh/oauth2/token\"\n")}});
    const std::string command = absl::StrReplaceAll(cron_command_, moves);
    for (const std::string* text : {static_cast<const std::string*>(&settings), &command}) {
      // Nothing may reach the machine's own folders.
      EXPECT_THAT(*text, ::testing::Not(HasSubstr(" /etc/"))) << *text;
      EXPECT_THAT(*text, ::testing::Not(HasSubstr("\"/etc/"))) << *text;
      EXPECT_THAT(*text, ::testing::Not(HasSubstr("\"/var/"))) << *text;
      EXPECT_THAT(*text, ::testing::Not(HasSubstr(" /var/"))) << *text;
      EXPECT_THAT(*text, ::testing::Not(HasSubstr(">/var/"))) << *text;
    }
    testing::WriteFileBytes(root + "/etc/nightly-proxy-logs.toml", settings);
    testing::WriteFileBytes(root + "/etc/credentials", "client:secret\n");
    ::chmod((root + "/etc/credentials").c_str(), 0600);
    testing::WriteFileBytes(root + "/etc/allowlist.txt", "# our own\n10.0.0.0/8\n*.corp.example\n");
    WriteExport(root + "/proxy/export.csv.gz");
    return command;
  }

  // The night's proxy export, gzip: client, server, host and URL columns, every value distinct
  // (the client addresses are allowlisted, one server address in ten is IPv6).
  static void WriteExport(const std::string& path) {
    std::string csv = "date,c-ip,s-ip,cs-host,cs-uri\n";
    for (int i = 0; i < kRows; ++i) {
      const std::string server =
          i % 10 == 0 ? absl::StrCat("2001:db8::", i)
                      : absl::StrCat("198.", 18 + i / 65536, ".", (i / 256) % 256, ".", i % 256);
      absl::StrAppend(&csv, "2026-11-30T02:", i % 60, ",10.0.", i / 256 % 256, ".", i % 256, ",",
                      server, ",host-", i, ".example,http://host-", i, ".example/p?q=", i, "\n");
    }
    auto sink = engine::OpenSink(path, engine::Compression::kGzip);
    ASSERT_TRUE(sink.ok()) << sink.status();
    ASSERT_TRUE((*sink)->Write(csv).ok());
    ASSERT_TRUE((*sink)->Finish().ok());
  }

  static absl::StatusOr<testing::ChildProcess> StartShell(const std::string& command) {
    testing::ChildSpec spec;
    spec.program = "/bin/sh";
    spec.args = {"-c", command};
    // Cron's environment: no credentials in it (they come from the credentials file).
    spec.env = {{"CTIA_CLIENT_ID", ""}, {"CTIA_CLIENT_SECRET", ""}};
    return testing::ChildProcess::Start(spec);
  }

  static int RunShell(const std::string& command) {
    auto child = StartShell(command);
    EXPECT_TRUE(child.ok()) << child.status();
    return child.ok() ? child->Wait() : -1;
  }

  std::unique_ptr<sim::SimServer> sim_;
  std::string cron_command_;
};

TEST_F(CronAcceptanceTest, TheReadmeCronLineRunTwiceWithACrashBetweenGivesTheCompleteOutput) {
  // An uninterrupted night, on a machine of its own.
  testing::TempDir reference_machine;
  const std::string reference_line = Install(reference_machine.path());
  ASSERT_EQ(RunShell(reference_line), 0)
      << ReadFileBytes(reference_machine.File("log/nightly.log"));
  const std::string reference = Decompressed(reference_machine.File("lib/proxy.enriched.csv.gz"));
  ASSERT_THAT(reference, HasSubstr(",ok\n"));
  ASSERT_EQ(std::count(reference.begin(), reference.end(), '\n'), kRows + 1);

  // The night with a crash: answers 300 ms late, so the run is killed midway.
  testing::TempDir machine;
  const std::string line = Install(machine.path());
  const std::string output = machine.File("lib/proxy.enriched.csv.gz");
  const std::string journal = machine.File("lib/proxy.journal");
  sim::FaultRule slow;
  slow.kind = sim::FaultKind::kLatency;
  slow.path_prefix = "/ctia/";
  slow.lookups_only = true;
  slow.latency = absl::Milliseconds(300);
  sim_->AddFault(slow);
  {
    const uint64_t answered_before = sim_->Counters().graphql_observables;
    auto answered = [&] { return sim_->Counters().graphql_observables - answered_before; };
    auto shell = StartShell(line);
    ASSERT_TRUE(shell.ok()) << shell.status();
    // Midway: a third of the lookups answered (host, server address and URL of every row; the
    // client addresses are allowlisted), and journaled.
    constexpr uint64_t kLookups = 3 * kRows;
    constexpr uint64_t kThird = kLookups / 3;
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(60);
    while ((answered() < kThird || testing::ReadFileBytes(journal).size() < 4096) &&
           std::chrono::steady_clock::now() < deadline && !shell->Poll().has_value()) {
      std::this_thread::sleep_for(std::chrono::milliseconds(5));
    }
    ASSERT_GE(answered(), kThird) << ReadFileBytes(machine.File("log/nightly.log"));
    ASSERT_GE(testing::ReadFileBytes(journal).size(), 4096u)
        << ReadFileBytes(machine.File("log/nightly.log"));
    int killed = 0;
    const fs::path binary = fs::canonical(CTIA_ENRICH_BIN);
    for (pid_t pid : Descendants(shell->pid())) {
      std::error_code ec;
      if (fs::read_symlink(absl::StrCat("/proc/", pid, "/exe"), ec) == binary) {
        ASSERT_EQ(::kill(pid, SIGKILL), 0);
        ++killed;
      }
    }
    if (killed == 0 && fs::read_symlink(absl::StrCat("/proc/", shell->pid(), "/exe")) == binary) {
      shell->Signal(SIGKILL);  // the shell exec'd the command
      ++killed;
    }
    ASSERT_EQ(killed, 1);
    EXPECT_NE(shell->Wait(), 0);
  }
  EXPECT_FALSE(fs::exists(output)) << "the killed run left an output under the final name";
  EXPECT_TRUE(fs::exists(journal));

  // The next run of the same line, the faults gone.
  sim_->ClearFaults();
  ASSERT_EQ(RunShell(line), 0) << ReadFileBytes(machine.File("log/nightly.log"));
  const std::string log = ReadFileBytes(machine.File("log/nightly.log"));
  EXPECT_THAT(log, HasSubstr("resuming: "));
  if (const size_t at = log.find("resuming: "); at != std::string::npos) {
    std::printf("second run: %s\n", log.substr(at, log.find('\n', at) - at).c_str());
  }
  EXPECT_TRUE(Decompressed(output) == reference) << "the rerun's output differs from the reference";
  EXPECT_FALSE(fs::exists(journal)) << "a complete run leaves no journal";
  EXPECT_THAT(ReadFileBytes(machine.File("lib/proxy.summary.json")),
              HasSubstr("\"outcome\":\"done\""));
  EXPECT_THAT(ReadFileBytes(machine.File("textfile/ctia_enrich.prom")),
              HasSubstr("ctia_enrich_last_run_exit_code 0\n"));
}

}  // namespace
}  // namespace enrich
