// Golden cases: each folder tests/golden/<case>/ is one run of the real `ctia-enrich run`
// binary, against ctia-sim (in this process, on 127.0.0.1:0) seeded with tests/golden/seed.ndjson,
// whose judgements have fixed ids and validity and whose long ids use a fixed public base, so
// the expected files do not depend on the port or the day.
//
// A case folder holds:
//   args       the arguments after `run`, one per line (no quoting); `{out}` stands for an
//              empty scratch folder. The runner adds `--endpoint <sim>` and the credentials (in
//              the environment). The run's working folder is the case folder, so `-i input`.
//              `-i -` feeds `input` on stdin; `-o -` takes stdout as the output.
//   input      the input bytes
//   expected   the exact output bytes (after decompression when the output is gzip or zstd:
//              by `--output-compression`, `--compression` or the output's extension; the magic
//              bytes are checked)
//   exit_code  optional, default 0; when not 0 there is no `expected` and no file may be left
//              in {out} (no output, no partial file, no journal) but those `left` names
//   left       optional, for a failing case: the names the run must leave in {out}, one per
//              line (the journal of lookups settled before a --strict failure)
//   stderr     optional: every line of it must appear in the run's stderr
// Every successful case runs twice: as given, and with `--chunk-size 5 --threads 2` appended
// (unless the case sets --chunk-size itself); both outputs must equal `expected`.
//
// ENRICH_GOLDEN_UPDATE=1 writes the output of the first run into `expected` instead of
// comparing (review every change by hand before committing it).

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_replace.h"
#include "absl/strings/str_split.h"
#include "engine/byte_io.h"
#include "tests/engine/temp_dir.h"
#include "tests/fakes/child_process.h"
#include "tools/sim/sim_server.h"

namespace enrich {
namespace {

namespace fs = std::filesystem;

constexpr char kPublicBase[] = "https://private.intel.amp.cisco.com";

std::string ReadFile(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  std::stringstream s;
  s << f.rdbuf();
  return s.str();
}

void WriteFile(const std::string& path, const std::string& bytes) {
  std::ofstream(path, std::ios::binary | std::ios::trunc) << bytes;
}

std::vector<std::string> ListCases() {
  std::vector<std::string> names;
  for (const auto& entry : fs::directory_iterator(GOLDEN_DIR)) {
    if (entry.is_directory() && fs::exists(entry.path() / "args")) {
      names.push_back(entry.path().filename().string());
    }
  }
  std::sort(names.begin(), names.end());
  return names;
}

// `diff -u` of the two texts with line ends and control bytes made visible (cat -A).
std::string Diff(const std::string& dir, const std::string& expected, const std::string& actual) {
  const std::string e = dir + "/diff.expected";
  const std::string a = dir + "/diff.actual";
  WriteFile(e, expected);
  WriteFile(a, actual);
  const std::string cmd = "diff -u --text '" + e + "' '" + a + "' | cat -A | head -n 80";
  std::string out;
  if (FILE* p = popen(cmd.c_str(), "r")) {
    char buf[4096];
    size_t n;
    while ((n = fread(buf, 1, sizeof buf, p)) > 0) out.append(buf, n);
    pclose(p);
  }
  return out;
}

// The output's expected compression: `--output-compression X`, else `--compression X`, else by
// the output's extension.
engine::Compression OutputCompression(const std::vector<std::string>& args,
                                      const std::string& output) {
  for (const char* flag : {"--output-compression", "--compression"}) {
    for (size_t i = 0; i + 1 < args.size(); ++i) {
      if (args[i] != flag) continue;
      if (args[i + 1] == "gzip") return engine::Compression::kGzip;
      if (args[i + 1] == "zstd") return engine::Compression::kZstd;
      if (args[i + 1] == "none") return engine::Compression::kNone;
    }
  }
  if (absl::EndsWith(output, ".gz")) return engine::Compression::kGzip;
  if (absl::EndsWith(output, ".zst")) return engine::Compression::kZstd;
  return engine::Compression::kNone;
}

class GoldenTest : public ::testing::TestWithParam<std::string> {
 protected:
  static void SetUpTestSuite() {
    sim::SimOptions options;
    options.public_base = kPublicBase;
    sim_ = new sim::SimServer(options);
    auto port = sim_->Start();
    ASSERT_TRUE(port.ok()) << port.status();
    auto loaded = sim_->LoadNdjson(std::string(GOLDEN_DIR) + "/seed.ndjson");
    ASSERT_TRUE(loaded.ok()) << loaded.status();
    ASSERT_GT(*loaded, 0u);
  }
  static void TearDownTestSuite() {
    if (sim_ != nullptr) sim_->Stop();
    delete sim_;
    sim_ = nullptr;
  }

  struct Outcome {
    int exit_code = -1;
    std::string output;  // decompressed
    std::string stderr_text;
    std::vector<std::string> left_in_out;  // names in {out} after the run, besides the output
  };

  // One run of the case with `extra` arguments appended.
  Outcome RunCase(const std::string& case_dir, const std::vector<std::string>& extra) {
    Outcome o;
    testing::TempDir scratch;
    const std::string out_dir = scratch.File("out");
    fs::create_directories(out_dir);
    std::vector<std::string> args = {"run"};
    for (absl::string_view line : absl::StrSplit(ReadFile(case_dir + "/args"), '\n')) {
      if (line.empty()) continue;
      args.push_back(absl::StrReplaceAll(line, {{"{out}", out_dir}}));
    }
    args.insert(args.end(), extra.begin(), extra.end());
    args.push_back("--endpoint");
    args.push_back(sim_->base_url());

    std::string input_arg;
    std::string output_arg;
    for (size_t i = 1; i + 1 < args.size(); ++i) {
      if (args[i] == "-i" || args[i] == "--input") input_arg = args[i + 1];
      if (args[i] == "-o" || args[i] == "--output") output_arg = args[i + 1];
    }
    testing::ChildSpec spec;
    spec.program = CTIA_ENRICH_BIN;
    spec.args = args;
    spec.cwd = case_dir;
    if (input_arg == "-") spec.stdin_path = case_dir + "/input";
    spec.stdout_path = scratch.File("stdout");
    spec.stderr_path = scratch.File("stderr");
    spec.env = {{"CTIA_CLIENT_ID", "client"}, {"CTIA_CLIENT_SECRET", "secret"}};
    auto code = testing::RunChild(spec);
    EXPECT_TRUE(code.ok()) << code.status();
    o.exit_code = code.value_or(-1);
    o.stderr_text = ReadFile(scratch.File("stderr"));

    const std::string output_path = output_arg == "-" ? scratch.File("stdout") : output_arg;
    for (const auto& e : fs::directory_iterator(out_dir)) {
      if (e.path().string() != output_path) o.left_in_out.push_back(e.path().filename());
    }
    if (o.exit_code != 0) {
      if (output_arg != "-" && fs::exists(output_path)) o.left_in_out.push_back("(output)");
      return o;
    }
    const engine::Compression compression = OutputCompression(args, output_arg);
    const std::string raw = ReadFile(output_path);
    if (compression == engine::Compression::kGzip) {
      EXPECT_TRUE(absl::StartsWith(raw, "\x1f\x8b")) << "output is not gzip";
    } else if (compression == engine::Compression::kZstd) {
      EXPECT_TRUE(absl::StartsWith(raw, "\x28\xb5\x2f\xfd")) << "output is not zstd";
    }
    if (compression == engine::Compression::kNone) {
      o.output = raw;
      return o;
    }
    auto source = engine::OpenSource(output_path, compression);
    EXPECT_TRUE(source.ok()) << source.status();
    if (!source.ok()) return o;
    char buf[1 << 16];
    for (;;) {
      auto n = (*source)->Read(buf, sizeof buf);
      EXPECT_TRUE(n.ok()) << n.status();
      if (!n.ok() || *n == 0) break;
      o.output.append(buf, *n);
    }
    return o;
  }

  static sim::SimServer* sim_;
};

sim::SimServer* GoldenTest::sim_ = nullptr;

TEST_P(GoldenTest, OutputMatchesExpected) {
  const std::string case_dir = std::string(GOLDEN_DIR) + "/" + GetParam();
  const std::string expected_path = case_dir + "/expected";
  const int want_exit =
      fs::exists(case_dir + "/exit_code") ? std::atoi(ReadFile(case_dir + "/exit_code").c_str())
                                          : 0;
  const bool update = std::getenv("ENRICH_GOLDEN_UPDATE") != nullptr;

  std::vector<std::vector<std::string>> variants = {{}};
  if (want_exit == 0 && !absl::StrContains(ReadFile(case_dir + "/args"), "--chunk-size")) {
    variants.push_back({"--chunk-size", "5", "--threads", "2"});
  }
  for (const std::vector<std::string>& extra : variants) {
    SCOPED_TRACE(extra.empty() ? "as given" : "with --chunk-size 5 --threads 2");
    Outcome o = RunCase(case_dir, extra);
    ASSERT_EQ(o.exit_code, want_exit) << o.stderr_text;
    std::vector<std::string> want_left;
    if (fs::exists(case_dir + "/left")) {
      for (absl::string_view line : absl::StrSplit(ReadFile(case_dir + "/left"), '\n')) {
        if (!line.empty()) want_left.emplace_back(line);
      }
    }
    std::sort(o.left_in_out.begin(), o.left_in_out.end());
    std::sort(want_left.begin(), want_left.end());
    EXPECT_EQ(o.left_in_out, want_left) << "files left beside the output (journal, partial file)";
    if (fs::exists(case_dir + "/stderr")) {
      for (absl::string_view line : absl::StrSplit(ReadFile(case_dir + "/stderr"), '\n')) {
        if (!line.empty()) {
          EXPECT_THAT(o.stderr_text, ::testing::HasSubstr(std::string(line)));
        }
      }
    }
    if (want_exit != 0) {
      EXPECT_FALSE(fs::exists(expected_path)) << "a failing case has no expected output";
      continue;
    }
    if (update && extra.empty()) {
      WriteFile(expected_path, o.output);
      continue;
    }
    const std::string expected = ReadFile(expected_path);
    if (o.output != expected) {
      testing::TempDir scratch;
      ADD_FAILURE() << "output differs from " << expected_path << " (- expected, + actual):\n"
                    << Diff(scratch.path(), expected, o.output);
    }
  }
}

INSTANTIATE_TEST_SUITE_P(Cases, GoldenTest, ::testing::ValuesIn(ListCases()),
                         [](const ::testing::TestParamInfo<std::string>& p) { return p.param; });

}  // namespace
}  // namespace enrich
