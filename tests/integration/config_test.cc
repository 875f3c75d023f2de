// `ctia-enrich run|bench --config FILE` and `--print-settings` as a user runs them: the built
// binary, the example files of configs/, and the errors a bad file gets.

#include "tests/fakes/cli_rig.h"

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <sstream>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

namespace enrich {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;

using Result = ::enrich::testing::CommandResult;

// Every key of `run` with a value unlike its default, by table.
const std::map<std::string, std::vector<std::pair<std::string, std::string>>>& RunKeys() {
  static const auto* keys =
      new std::map<std::string, std::vector<std::pair<std::string, std::string>>>{
          {"input",
           {{"input", "\"in.csv\""},
            {"column", "[\"domain\", \"dst:ip\"]"},
            {"input-format", "\"csv\""},
            {"delimiter", "\";\""},
            {"no-header", "true"},
            {"compression", "\"gzip\""},
            {"max-record-bytes", "4096"},
            {"strict", "true"},
            {"allowlist", "\"allow.txt\""}}},
          {"output",
           {{"output", "\"out.ndjson\""},
            {"output-format", "\"ndjson\""},
            {"output-compression", "\"none\""},
            {"prefix", "\"intel_\""},
            {"fields", "\"source,observable_type\""},
            {"judgements", "3"}}},
          {"run",
           {{"threads", "3"},
            {"chunk-size", "65536"},
            {"resume", "true"},
            {"journal", "\"run.journal\""},
            {"summary-json", "\"summary.json\""},
            {"prometheus", "\"metrics.prom\""},
            {"max-cache-ttl", "3600.5"},
            {"redis", "\"redis://10.0.0.5:6379/2\""},
            {"redis-optional", "true"}}},
          {"ctia",
           {{"endpoint", "\"http://127.0.0.1:9\""},
            {"connections", "4"},
            {"timeout", "2.5"},
            {"region", "\"eu\""},
            {"intel", "\"global\""},
            {"token-url", "\"http://127.0.0.1:9/token\""},
            {"insecure-skip-tls-verify", "true"},
            {"credentials-file", "\"creds\""},
            {"rate-limit", "\"50/10s\""},
            {"max-wait", "60"},
            {"io-threads", "2"},
            {"batch-size", "1"},
            {"pipeline-depth", "2"}}},
      };
  return *keys;
}

class ConfigTest : public ::testing::Test {
 protected:
  // A fresh directory per test (dir_), and no credentials unless a test sets them.
  void SetUp() override {
    for (const char* name : {"CTIA_CLIENT_ID", "CTIA_CLIENT_SECRET"}) ::unsetenv(name);
  }

  std::string Path(const std::string& name) const { return dir_.File(name); }

  std::string WriteFile(const std::string& name, const std::string& text) {
    testing::WriteFileBytes(Path(name), text);
    return Path(name);
  }

  static Result Run(const std::string& args) { return testing::RunCliLine(args); }

  // The `key = value` lines of a printed settings document, by "table.key", without the
  // comment after the value.
  static std::map<std::string, std::string> Settings(const std::string& printed) {
    std::map<std::string, std::string> settings;
    std::string table;
    for (absl::string_view line : absl::StrSplit(printed, '\n')) {
      if (absl::ConsumePrefix(&line, "[")) {
        table = std::string(absl::StripSuffix(line, "]"));
        continue;
      }
      if (line.empty() || line.front() == '#') continue;
      std::vector<std::string> kv = absl::StrSplit(line, absl::MaxSplits(" = ", 1));
      if (kv.size() != 2) continue;
      const size_t comment = kv[1].rfind("  # ");
      settings[table + "." + kv[0]] = kv[1].substr(0, comment);
    }
    return settings;
  }

  testing::TempDir dir_;
};

TEST_F(ConfigTest, EveryRunKeyRoundTripsThroughPrintSettings) {
  std::string file;
  for (const auto& [table, keys] : RunKeys()) {
    absl::StrAppend(&file, "[", table, "]\n");
    for (const auto& [key, value] : keys) absl::StrAppend(&file, key, " = ", value, "\n");
  }
  const std::string config = WriteFile("all.toml", file);
  const Result first = Run("run --config " + config + " --print-settings");
  ASSERT_EQ(first.exit_code, 0) << first.output;
  const std::map<std::string, std::string> printed = Settings(first.output);
  for (const auto& [table, keys] : RunKeys()) {
    for (const auto& [key, value] : keys) {
      EXPECT_EQ(printed.count(table + "." + key), 1u) << table << "." << key;
      if (printed.count(table + "." + key) == 1) {
        EXPECT_EQ(printed.at(table + "." + key), value) << table << "." << key;
      }
    }
  }
  EXPECT_THAT(first.output, HasSubstr("all.toml:"));  // each key names where it came from

  // The printed document is itself a settings file that gives the same settings, every key
  // (including ones this test does not list) included.
  const std::string again = WriteFile("again.toml", first.output);
  const Result second = Run("run --config " + again + " --print-settings");
  ASSERT_EQ(second.exit_code, 0) << second.output;
  EXPECT_EQ(Settings(second.output), printed);
}

TEST_F(ConfigTest, DefaultsRoundTripAndNameEveryKey) {
  const Result defaults = Run("run --print-settings");
  ASSERT_EQ(defaults.exit_code, 0) << defaults.output;
  const std::map<std::string, std::string> printed = Settings(defaults.output);
  EXPECT_EQ(printed.at("ctia.connections"), "16");
  EXPECT_EQ(printed.at("output.prefix"), "\"ctia_\"");
  EXPECT_EQ(printed.count("input.column"), 0u);
  EXPECT_THAT(defaults.output, HasSubstr("\n# column = []  # not set\n"));
  EXPECT_THAT(defaults.output, HasSubstr("\n# input = \"\"  # not set\n"));
  const std::string again = WriteFile("defaults.toml", defaults.output);
  const Result second = Run("run --config " + again + " --print-settings");
  ASSERT_EQ(second.exit_code, 0) << second.output;
  EXPECT_EQ(Settings(second.output), printed);

  const Result bench = Run("bench --print-settings");
  ASSERT_EQ(bench.exit_code, 0) << bench.output;
  EXPECT_THAT(bench.output, HasSubstr("\n# synthetic =  # not set\n"));
  const Result bench_again =
      Run("bench --config " + WriteFile("bench.toml", bench.output) + " --print-settings");
  ASSERT_EQ(bench_again.exit_code, 0) << bench_again.output;
  EXPECT_EQ(Settings(bench_again.output), Settings(bench.output));
}

TEST_F(ConfigTest, EveryBenchKeyRoundTripsThroughPrintSettings) {
  const std::string config = WriteFile(
      "bench.toml",
      "[bench]\ntarget = \"http://127.0.0.1:9\"\nduration = 1.5\nobservables = \"obs.txt\"\n"
      "synthetic = 100\nin-flight = 7\nno-auth = true\n[ctia]\nconnections = 3\n"
      "batch-size = 10\n[input]\ncolumn = [\"a\"]\n");  // [input]: run's table, skipped
  const Result r = Run("bench --config " + config + " --print-settings");
  ASSERT_EQ(r.exit_code, 0) << r.output;
  const std::map<std::string, std::string> printed = Settings(r.output);
  EXPECT_EQ(printed.at("bench.target"), "\"http://127.0.0.1:9\"");
  EXPECT_EQ(printed.at("bench.duration"), "1.5");
  EXPECT_EQ(printed.at("bench.observables"), "\"obs.txt\"");
  EXPECT_EQ(printed.at("bench.synthetic"), "100");
  EXPECT_EQ(printed.at("bench.in-flight"), "7");
  EXPECT_EQ(printed.at("bench.no-auth"), "true");
  EXPECT_EQ(printed.at("ctia.connections"), "3");
  EXPECT_EQ(printed.at("ctia.batch-size"), "10");
  EXPECT_EQ(printed.count("input.column"), 0u);
}

TEST_F(ConfigTest, PublishKeysGoInPublishAndRunsTablesAreSkipped) {
  const std::string config = WriteFile(
      "publish.toml",
      "[publish]\ninput = \"findings.csv\"\nno-header = true\nmap = [\"value=1\", \"type=2\"]\n"
      "source = \"my-soc\"\nconfidence = \"High\"\nbulk-size = 500\n[ctia]\nconnections = 3\n"
      "[input]\ncolumn = [\"a\"]\n[run]\nthreads = 2\n");  // run's tables: skipped
  const Result r = Run("publish --config " + config + " --print-settings");
  ASSERT_EQ(r.exit_code, 0) << r.output;
  const std::map<std::string, std::string> printed = Settings(r.output);
  EXPECT_EQ(printed.at("publish.input"), "\"findings.csv\"");
  EXPECT_EQ(printed.at("publish.no-header"), "true");
  EXPECT_EQ(printed.at("publish.map"), "[\"value=1\", \"type=2\"]");
  EXPECT_EQ(printed.at("publish.source"), "\"my-soc\"");
  EXPECT_EQ(printed.at("publish.bulk-size"), "500");
  EXPECT_EQ(printed.at("ctia.connections"), "3");
  EXPECT_EQ(printed.count("input.column"), 0u);
  // The printed settings read back to the same settings.
  const std::string again = WriteFile("again.toml", r.output);
  const Result r2 = Run("publish --config " + again + " --print-settings");
  ASSERT_EQ(r2.exit_code, 0) << r2.output;
  EXPECT_EQ(Settings(r2.output), printed);
  // A key of publish in run's file is found where it belongs, and an unknown one is named.
  const std::string bad = WriteFile("bad.toml", "[publish]\nbulk-sise = 5\n");
  const Result r3 = Run("publish --config " + bad + " --print-settings");
  EXPECT_EQ(r3.exit_code, 2) << r3.output;
  EXPECT_THAT(r3.output, HasSubstr(bad + ":2"));
  EXPECT_THAT(r3.output, HasSubstr("bulk-sise"));
  // run ignores [publish].
  const Result run = Run("run --config " + config + " --print-settings");
  EXPECT_EQ(run.exit_code, 0) << run.output;
}

TEST_F(ConfigTest, FlagsOverrideTheFileBeforeOrAfterIt) {
  const std::string config = WriteFile(
      "c.toml", "[ctia]\nconnections = 4\n[input]\ncolumn = [\"a\", \"b\"]\n[run]\nthreads = 2\n");
  for (const std::string& args :
       {"run --connections 8 --column c --config " + config + " --print-settings",
        "run --config " + config + " --connections 8 --column c --print-settings"}) {
    const Result r = Run(args);
    ASSERT_EQ(r.exit_code, 0) << args << "\n" << r.output;
    const std::map<std::string, std::string> printed = Settings(r.output);
    EXPECT_EQ(printed.at("ctia.connections"), "8") << args;
    EXPECT_EQ(printed.at("input.column"), "[\"c\"]") << args;
    EXPECT_EQ(printed.at("run.threads"), "2") << args;
  }
}

TEST_F(ConfigTest, UnderscoresStandForDashesInKeys) {
  const std::string config = WriteFile("u.toml", "[ctia]\nbatch_size = 7\n");
  const Result r = Run("run --config " + config + " --print-settings");
  ASSERT_EQ(r.exit_code, 0) << r.output;
  EXPECT_EQ(Settings(r.output).at("ctia.batch-size"), "7");
}

TEST_F(ConfigTest, BadKeysAndValuesNameFileLineAndKey) {
  struct Case {
    std::string text;
    std::string key;
    std::string line;
    std::string says;
  };
  const std::vector<Case> cases = {
      {"[ctia]\n\nconections = 4\n", "ctia.conections", ":3", "unknown key"},
      {"[run]\nregion = \"us\"\n", "run.region", ":2", "is a key of [ctia]"},
      {"[ctia]\nconnections = 0\n", "ctia.connections", ":2", "not in range 1 to 1024"},
      {"[ctia]\nconnections = \"many\"\n", "ctia.connections", ":2", "expected an integer"},
      {"[ctia]\ntimeout = \"fast\"\n", "ctia.timeout", ":2", "expected a number"},
      {"[ctia]\nregion = \"mars\"\n", "ctia.region", ":2", "mars"},
      {"[input]\nstrict = \"yes\"\n", "input.strict", ":2", "expected true or false"},
      {"[input]\ncolumn = [1]\n", "input.column", ":2", "expected an array of strings"},
      {"[input]\nmax-record-bytes = 1.5\n", "input.max-record-bytes", ":2", "integer"},
      {"connections = 4\n", "connections", ":1", "is a key of [ctia]"},
      {"[run]\ncredentials-file = \"c\"\n", "run.credentials-file", ":2", "is a key of [ctia]"},
  };
  for (const Case& c : cases) {
    const std::string config = WriteFile("bad.toml", c.text);
    const Result r = Run("run --config " + config + " -i in.csv -o out.csv --column d");
    EXPECT_EQ(r.exit_code, 2) << c.text << r.output;
    EXPECT_THAT(r.output, HasSubstr(config + c.line)) << c.text;
    EXPECT_THAT(r.output, HasSubstr("'" + c.key + "'")) << c.text;
    EXPECT_THAT(r.output, HasSubstr(c.says)) << c.text;
  }
}

TEST_F(ConfigTest, UnknownTableAndSyntaxErrorNameFileAndLine) {
  std::string config = WriteFile("t.toml", "[ctia]\nconnections = 4\n\n[outptu]\nprefix = \"x\"\n");
  Result r = Run("run --config " + config + " --print-settings");
  EXPECT_EQ(r.exit_code, 2) << r.output;
  EXPECT_THAT(r.output, HasSubstr(config + ":4: unknown table [outptu]"));
  config = WriteFile("s.toml", "[ctia]\nconnections = = 4\n");
  r = Run("run --config " + config + " --print-settings");
  EXPECT_EQ(r.exit_code, 2) << r.output;
  EXPECT_THAT(r.output, HasSubstr(config + ":2:"));
  r = Run("run --config " + Path("missing.toml") + " --print-settings");
  EXPECT_EQ(r.exit_code, 2) << r.output;
  EXPECT_THAT(r.output, HasSubstr("missing.toml: cannot open"));
}

TEST_F(ConfigTest, AKeyForASecretIsRefusedWithoutShowingIt) {
  for (const std::string key : {"client-secret", "client_id", "password", "secret"}) {
    const std::string config =
        WriteFile("secret.toml", "[ctia]\n" + key + " = \"hunter2-value\"\n");
    const Result r = Run("run --config " + config + " --print-settings");
    EXPECT_EQ(r.exit_code, 2) << key << r.output;
    EXPECT_THAT(r.output, HasSubstr(config + ":2: key 'ctia." + key + "'"));
    EXPECT_THAT(r.output, HasSubstr("CTIA_CLIENT_SECRET"));
    EXPECT_THAT(r.output, Not(HasSubstr("hunter2-value")));
  }
  Result top = Run("run --config " + WriteFile("top.toml", "client_secret = \"hunter2-top\"\n") +
                   " --print-settings");
  EXPECT_EQ(top.exit_code, 2) << top.output;
  EXPECT_THAT(top.output, HasSubstr("secrets never go in a settings file"));
  EXPECT_THAT(top.output, Not(HasSubstr("hunter2-top")));
  const std::string config = WriteFile("table.toml", "[credentials]\nid = \"a\"\n");
  const Result r = Run("run --config " + config + " --print-settings");
  EXPECT_EQ(r.exit_code, 2) << r.output;
  EXPECT_THAT(r.output, HasSubstr("secrets never go in a settings file"));
}

TEST_F(ConfigTest, PrintedSettingsNeverShowASecret) {
  setenv("CTIA_CLIENT_ID", "env-client-id-7", 1);
  setenv("CTIA_CLIENT_SECRET", "env-secret-value-7", 1);
  Result r = Run("run --endpoint https://user:url-secret-7@ctia.example --print-settings");
  unsetenv("CTIA_CLIENT_ID");
  unsetenv("CTIA_CLIENT_SECRET");
  ASSERT_EQ(r.exit_code, 0) << r.output;
  EXPECT_THAT(r.output, Not(HasSubstr("env-secret-value-7")));
  EXPECT_THAT(r.output, Not(HasSubstr("url-secret-7")));
  EXPECT_THAT(r.output, HasSubstr("https://REDACTED@ctia.example"));
  EXPECT_THAT(r.output, HasSubstr("CTIA_CLIENT_SECRET is set"));

  const std::string creds =
      WriteFile("creds", "id-a:file-secret-a:org-1\nid-b:file-secret-b:org-2\n");
  ASSERT_EQ(::chmod(creds.c_str(), 0600), 0);
  const std::string config = WriteFile("c.toml", "[ctia]\ncredentials-file = \"" + creds + "\"\n");
  r = Run("run --config " + config + " --print-settings");
  ASSERT_EQ(r.exit_code, 0) << r.output;
  EXPECT_THAT(r.output, Not(HasSubstr("file-secret")));
  EXPECT_THAT(r.output, HasSubstr("# credentials: 2 from credentials-file"));
}

TEST_F(ConfigTest, ExampleConfigsLoad) {
  for (const std::string name : {"private-intel-us", "global-intel-eu", "nightly-proxy-logs"}) {
    const std::string path = absl::StrCat(ENRICH_SOURCE_DIR, "/configs/", name, ".toml");
    const Result r = Run("run --config " + path + " --print-settings");
    EXPECT_EQ(r.exit_code, 0) << name << "\n" << r.output;
    EXPECT_THAT(r.output, HasSubstr("[ctia]")) << name;
    EXPECT_THAT(r.output, HasSubstr(path + ":")) << name;  // keys from the file
    const Result bench = Run("bench --config " + path + " --print-settings");
    EXPECT_EQ(bench.exit_code, 0) << name << "\n" << bench.output;
    const Result publish = Run("publish --config " + path + " --print-settings");
    EXPECT_EQ(publish.exit_code, 0) << name << "\n" << publish.output;
  }
  const std::map<std::string, std::string> nightly =
      Settings(Run(absl::StrCat("run --config ", ENRICH_SOURCE_DIR,
                                "/configs/nightly-proxy-logs.toml --print-settings"))
                   .output);
  EXPECT_EQ(nightly.at("run.resume"), "true");
  EXPECT_THAT(nightly.at("input.column"), HasSubstr("\"c-ip:ip\""));
}

TEST_F(ConfigTest, ASettingsFileDrivesARun) {
  WriteFile("in.csv", "id,domain\n1,example.com\n2,malware.example\n");
  const std::string config = WriteFile(
      "run.toml", absl::StrCat("[input]\ninput = \"", Path("in.csv"),
                               "\"\ncolumn = [\"domain\"]\n[output]\noutput = \"", Path("out.csv"),
                               "\"\nprefix = \"intel_\"\n[run]\nthreads = 1\n"));
  const Result r = Run("run --config " + config);
  ASSERT_EQ(r.exit_code, 0) << r.output;
  std::ifstream out(Path("out.csv"));
  std::string header;
  std::getline(out, header);
  EXPECT_THAT(header, HasSubstr("intel_status"));
}

TEST_F(ConfigTest, HelpEndsWithExamplesExitCodesAndStatuses) {
  const Result run = Run("run --help");
  EXPECT_EQ(run.exit_code, 0);
  EXPECT_THAT(run.output, HasSubstr("Examples:\n  # Offline demo"));
  EXPECT_THAT(run.output, HasSubstr("--config configs/nightly-proxy-logs.toml"));
  EXPECT_THAT(run.output, HasSubstr("Exit codes:"));
  for (const char* code : {"0 +every row", "3 +output complete", "1 +failed", "2 +usage",
                           "75 +checkpointed", "130 +a second SIGINT \\(143: SIGTERM\\)"}) {
    EXPECT_THAT(run.output, ::testing::ContainsRegex(absl::StrCat("\n  ", code))) << code;
  }
  EXPECT_THAT(run.output, HasSubstr("HTML\n       404s"));
  EXPECT_THAT(run.output, HasSubstr("ctia_status values"));
  EXPECT_THAT(run.output, HasSubstr("invalid_row"));
  EXPECT_THAT(run.output, HasSubstr("error:<code>"));
  const Result bench = Run("bench --help");
  EXPECT_EQ(bench.exit_code, 0);
  EXPECT_THAT(bench.output, HasSubstr("Examples:"));
  EXPECT_THAT(bench.output, HasSubstr("Exit codes:"));
}

}  // namespace
}  // namespace enrich
