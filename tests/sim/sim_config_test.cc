#include "tools/sim/sim_config.h"

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <string>
#include <unistd.h>

#include "absl/strings/str_cat.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace enrich::sim {
namespace {

using ::testing::HasSubstr;

class SimConfigTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = std::filesystem::temp_directory_path() /
           absl::StrCat("sim_config_test_", getpid(), "_",
                        ::testing::UnitTest::GetInstance()->current_test_info()->name());
    std::filesystem::create_directories(dir_);
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }

  std::string Write(const std::string& text, const std::string& name = "sim.toml") {
    const std::string path = (dir_ / name).string();
    std::ofstream(path) << text;
    return path;
  }

  // Runs ctia-sim with `args`; returns what it printed (stdout and stderr).
  static std::string RunSim(const std::string& args, int* exit_code = nullptr) {
    const std::string command = absl::StrCat(CTIA_SIM_BINARY, " ", args, " 2>&1");
    FILE* pipe = popen(command.c_str(), "r");
    std::string out;
    if (pipe == nullptr) return out;
    char chunk[4096];
    size_t n = 0;
    while ((n = fread(chunk, 1, sizeof(chunk), pipe)) > 0) out.append(chunk, n);
    const int status = pclose(pipe);
    if (exit_code != nullptr) *exit_code = WEXITSTATUS(status);
    return out;
  }

  std::filesystem::path dir_;
};

TEST_F(SimConfigTest, ShippedLocalConfigLoadsWithTheDefaults) {
  SimSettings s;
  ASSERT_TRUE(LoadSimConfig(absl::StrCat(ENRICH_SOURCE_DIR, "/configs/sim-local.toml"), s).ok());
  EXPECT_EQ(s.options.bind, "127.0.0.1");
  EXPECT_EQ(s.options.port, 8080);
  EXPECT_EQ(s.options.threads, 2);
  EXPECT_EQ(s.options.header_limit, 8192u);
  EXPECT_EQ(s.options.body_limit, 16u * 1024 * 1024);
  EXPECT_EQ(s.token_ttl_seconds, 600);
  ASSERT_EQ(s.options.clients.size(), 1u);
  EXPECT_EQ(s.options.clients[0].id, "client");
  EXPECT_EQ(s.options.clients[0].secret, "secret");
  EXPECT_EQ(s.options.bulk_max, 2000u);
  EXPECT_FALSE(s.no_demo);
  EXPECT_EQ(s.rate_limit, "");
  EXPECT_FALSE(s.options.test_api);
}

TEST_F(SimConfigTest, EveryKeyIsReadAndSeedIsRelativeToTheFile) {
  SimSettings s;
  const std::string path = Write(R"(
[server]
bind = "0.0.0.0"
port = 9443
threads = 3
public_base = "https://private.intel.amp.cisco.com:443"
header_limit = 4096
body_limit = 2048
idle_timeout = 5
latency_ms = 25
[auth]
token_ttl = 30
[[auth.clients]]
id = "a"
secret = "s1"
org = "org-a"
login = "alice"
scopes = ["private-intel:read"]
[[auth.clients]]
id = "b"
secret = "s2"
[data]
seed = "seed.ndjson"
demo = false
bulk_max = 100
synthetic = 30
visibility = "group"
[rate_limit]
limit = "5/10s"
orgs = { "org-a" = 7 }
unlimited_clients = ["b"]
header = "ORG"
remaining = true
[test]
api = true
fault_seed = 42
)");
  ASSERT_TRUE(LoadSimConfig(path, s).ok()) << LoadSimConfig(path, s);
  EXPECT_EQ(s.options.bind, "0.0.0.0");
  EXPECT_EQ(s.options.port, 9443);
  EXPECT_EQ(s.options.threads, 3);
  EXPECT_EQ(s.options.public_base, "https://private.intel.amp.cisco.com:443");
  EXPECT_EQ(s.options.header_limit, 4096u);
  EXPECT_EQ(s.options.body_limit, 2048u);
  EXPECT_EQ(s.idle_timeout_seconds, 5);
  EXPECT_EQ(s.latency_ms, 25);
  EXPECT_EQ(s.token_ttl_seconds, 30);
  ASSERT_EQ(s.options.clients.size(), 2u);
  EXPECT_EQ(s.options.clients[0].org, "org-a");
  EXPECT_EQ(s.options.clients[0].login, "alice");
  EXPECT_EQ(s.options.clients[0].scopes, std::vector<std::string>{"private-intel:read"});
  EXPECT_EQ(s.options.clients[1].org, "org-1");
  EXPECT_EQ(s.seed_file, (dir_ / "seed.ndjson").string());
  EXPECT_TRUE(s.no_demo);
  EXPECT_EQ(s.options.bulk_max, 100u);
  EXPECT_EQ(s.options.synthetic_percent, 30);
  EXPECT_EQ(s.rate_limit_customs, std::vector<std::string>{"org-a=7"});
  EXPECT_EQ(s.options.unlimited_client_ids, std::vector<std::string>{"b"});
  EXPECT_EQ(s.options.rate_limit_header_group, "ORG");
  EXPECT_TRUE(s.options.rate_limit_remaining);
  EXPECT_TRUE(s.options.test_api);
  EXPECT_EQ(s.options.fault_seed, 42u);

  absl::StatusOr<SimOptions> o = FinishSimOptions(s);
  ASSERT_TRUE(o.ok()) << o.status();
  EXPECT_EQ(o->rate_limit, 5);
  EXPECT_EQ(o->rate_limit_window, absl::Seconds(10));
  ASSERT_EQ(o->rate_limit_customs.size(), 1u);
  EXPECT_EQ(o->rate_limit_customs[0].second, 7);
  EXPECT_FALSE(o->green_visible_to_everyone);
  EXPECT_EQ(o->token_ttl, absl::Seconds(30));
  EXPECT_EQ(o->idle_timeout, absl::Seconds(5));
  EXPECT_EQ(o->latency, absl::Milliseconds(25));
}

TEST_F(SimConfigTest, AbsentKeysKeepTheirValues) {
  SimSettings s;
  s.options.port = 1234;
  s.token_ttl_seconds = 77;
  ASSERT_TRUE(LoadSimConfig(Write("[server]\nthreads = 4\n[data]\nseed = \"x.ndjson\"\n"), s)
                  .ok());
  EXPECT_EQ(s.visibility, "everyone");  // the key read before it does not leak into it
  EXPECT_EQ(s.options.port, 1234);
  EXPECT_EQ(s.token_ttl_seconds, 77);
  EXPECT_EQ(s.options.threads, 4);
}

TEST_F(SimConfigTest, ErrorsNameTheFileTheLineAndTheKey) {
  struct Case {
    std::string toml;
    std::string message;  // after "<path>:"
  };
  const Case kCases[] = {
      {"[server]\nport = 70000\n", "2: key 'server.port': expected an integer in 0..65535, got 70000"},
      {"[server]\n\nport = \"80\"\n", "3: key 'server.port': expected an integer in 0..65535, got a string"},
      {"[server]\nprot = 1\n", "2: unknown key 'server.prot' (known: bind, port"},
      {"[servr]\nport = 1\n", "1: unknown key 'servr' (known: server, auth, data, rate_limit, test)"},
      {"server = 1\n", "1: key 'server': expected a table [server], got an integer"},
      {"[data]\nvisibility = \"all\"\n", "2: key 'data.visibility': expected one of everyone, group, got \"all\""},
      {"[data]\ndemo = \"yes\"\n", "2: key 'data.demo': expected true or false, got a string"},
      {"[data]\nsynthetic = 101\n", "2: key 'data.synthetic': expected an integer in 0..100, got 101"},
      {"[rate_limit]\nlimit = \"5/xyz\"\n", "2: key 'rate_limit.limit': \"5/xyz\" is not N/WINDOW"},
      {"[rate_limit]\norgs = { a = -1 }\n", "2: key 'rate_limit.orgs.a': expected a non-negative integer, got -1"},
      {"[rate_limit]\nunlimited_clients = [1]\n", "2: key 'rate_limit.unlimited_clients': expected strings, got an integer"},
      {"[rate_limit]\nheader = \"group\"\n", "2: key 'rate_limit.header': expected one of GROUP, ORG"},
      {"[[auth.clients]]\nid = \"x\"\n", "1: key 'auth.clients': every client needs a non-empty id and secret"},
      {"[[auth.clients]]\nid = \"x\"\nsecret = \"y\"\nrole = \"z\"\n", "4: unknown key 'auth.clients.role'"},
      {"[auth]\ntoken_ttl = 0\n", "2: key 'auth.token_ttl': expected an integer in 1..31536000, got 0"},
      {"[test]\napi = 1\n", "2: key 'test.api': expected true or false, got an integer"},
      {"[server\n", "1:8: Error while parsing table header"},
  };
  for (const Case& c : kCases) {
    const std::string path = Write(c.toml);
    SimSettings s;
    s.options.port = 4321;
    absl::Status status = LoadSimConfig(path, s);
    EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument) << c.toml;
    EXPECT_THAT(std::string(status.message()), HasSubstr(absl::StrCat(path, ":", c.message)))
        << c.toml;
    EXPECT_EQ(s.options.port, 4321) << "a bad file changed the settings: " << c.toml;
  }
  SimSettings untouched;
  absl::Status missing = LoadSimConfig((dir_ / "none.toml").string(), untouched);
  EXPECT_EQ(missing.code(), absl::StatusCode::kNotFound);
  EXPECT_THAT(std::string(missing.message()), HasSubstr("none.toml: cannot open"));
}

TEST_F(SimConfigTest, PrintedSettingsReadBackTheSameAndHideSecrets) {
  SimSettings s;
  ASSERT_TRUE(LoadSimConfig(Write(R"(
[server]
port = 9000
[auth]
[[auth.clients]]
id = "a"
secret = "top-secret"
org = "org-a"
scopes = ["private-intel"]
[data]
synthetic = 10
[rate_limit]
limit = "100/1h"
orgs = { "org-a" = 3 }
)"),
                            s)
                  .ok());
  const std::string printed = FormatSimSettings(s);
  EXPECT_THAT(printed, ::testing::Not(HasSubstr("top-secret")));
  SimSettings back;
  ASSERT_TRUE(LoadSimConfig(Write(printed, "printed.toml"), back).ok()) << printed;
  EXPECT_EQ(FormatSimSettings(back), printed);
  EXPECT_EQ(back.options.port, 9000);
  EXPECT_EQ(back.rate_limit, "100/1h");
  EXPECT_EQ(back.rate_limit_customs, std::vector<std::string>{"org-a=3"});
  EXPECT_EQ(back.options.synthetic_percent, 10);
}

TEST_F(SimConfigTest, FinishRefusesBadFlagValuesNamingTheFlag) {
  SimSettings s;
  s.client_flags = {"no-secret"};
  EXPECT_THAT(std::string(FinishSimOptions(s).status().message()), HasSubstr("--client no-secret"));
  s = SimSettings{};
  s.rate_limit_customs = {"org=abc"};
  EXPECT_THAT(std::string(FinishSimOptions(s).status().message()), HasSubstr("--rate-limit-org"));
  s = SimSettings{};
  s.rate_limit = "ten/1h";
  EXPECT_THAT(std::string(FinishSimOptions(s).status().message()), HasSubstr("--rate-limit"));
}

// ---- the ctia-sim executable ----

TEST_F(SimConfigTest, CommandLineFlagsOverrideTheFile) {
  const std::string path = Write(R"(
[server]
port = 9000
threads = 3
[[auth.clients]]
id = "file-client"
secret = "s"
[rate_limit]
unlimited_clients = ["from-file"]
)");
  int code = -1;
  std::string out = RunSim(absl::StrCat("--config ", path, " --print-settings"), &code);
  EXPECT_EQ(code, 0) << out;
  EXPECT_THAT(out, HasSubstr("port = 9000"));
  EXPECT_THAT(out, HasSubstr("id = 'file-client'"));
  out = RunSim(absl::StrCat("--port 0 --config ", path,
                            " --client cli:pw:org-9 --unlimited-client from-cli --print-settings"),
               &code);
  EXPECT_EQ(code, 0) << out;
  EXPECT_THAT(out, HasSubstr("port = 0\n"));
  EXPECT_THAT(out, HasSubstr("threads = 3\n"));  // not on the command line: the file's
  EXPECT_THAT(out, HasSubstr("id = 'cli'"));
  EXPECT_THAT(out, ::testing::Not(HasSubstr("file-client")));
  EXPECT_THAT(out, HasSubstr("unlimited_clients = ['from-cli']"));
  EXPECT_THAT(out, ::testing::Not(HasSubstr("pw")));
}

TEST_F(SimConfigTest, BadConfigStopsTheServerWithExitTwo) {
  const std::string path = Write("[server]\nport = -1\n");
  int code = -1;
  const std::string out = RunSim(absl::StrCat("--config=", path), &code);
  EXPECT_EQ(code, 2);
  EXPECT_THAT(out, HasSubstr(absl::StrCat("ctia-sim: --config: ", path,
                                          ":2: key 'server.port': expected an integer")));
}

TEST_F(SimConfigTest, BadSeedLineStopsTheServerNamingFileAndLine) {
  const std::string seed = Write(
      "{\"observable\":{\"type\":\"ip\",\"value\":\"1.2.3.4\"},\"source\":\"s\","
      "\"priority\":90,\"confidence\":\"High\",\"severity\":\"High\"}\n"
      "\n{\"observable\":{\"type\":\"ip\"}\n",
      "seed.ndjson");
  const std::string config = Write("[server]\nport = 0\n[data]\nseed = \"seed.ndjson\"\n");
  int code = -1;
  const std::string out = RunSim(absl::StrCat("--config ", config, " --no-demo"), &code);
  EXPECT_EQ(code, 2) << out;
  EXPECT_THAT(out, HasSubstr(absl::StrCat("ctia-sim: --seed: ", seed, ":3: invalid JSON")));
}

TEST_F(SimConfigTest, HelpExplainsEveryKnob) {
  int code = -1;
  const std::string help = RunSim("--help", &code);
  EXPECT_EQ(code, 0);
  for (const char* flag :
       {"--config", "--port", "--bind", "--threads", "--client", "--token-ttl", "--seed",
        "--no-demo", "--public-base", "--bulk-max", "--visibility", "--header-limit",
        "--body-limit", "--idle-timeout", "--rate-limit", "--rate-limit-org",
        "--unlimited-client", "--rate-limit-header", "--rate-limit-remaining", "--test-api",
        "--fault-seed", "--synthetic", "--print-synthetic", "--print-settings"}) {
    // The flag followed, on its line or the next, by a description of some length.
    const size_t at = help.find(absl::StrCat("  ", flag));
    ASSERT_NE(at, std::string::npos) << flag;
    const size_t line_end = help.find('\n', help.find('\n', at) + 1);
    EXPECT_GT(line_end - at, std::string(flag).size() + 30) << flag;
  }
  EXPECT_THAT(help, HasSubstr("override the file"));
}

}  // namespace
}  // namespace enrich::sim
