// Sharded runs, `run --shard K/N` (issue 16, "Sharded runs"): the real binary against ctia-sim
// on 127.0.0.1:0. For N = 1 .. 7 the N shard outputs concatenated in order equal one run's
// output byte for byte, on CSV built so that the cuts fall inside quoted fields holding
// newlines and lines that look like records (CRLF, a BOM, no final newline) and on NDJSON
// (blank lines, CRLF); shards without a record write nothing; the README's `xargs -P 4`
// recipe, run as written with 4 processes, gives the same merged output; `plan --shard`
// counts its shard; the Kubernetes Indexed Job and the systemd template build the shard
// arguments; compressed or piped inputs are usage errors.

#include "tests/fakes/cli_rig.h"

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <random>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_replace.h"
#include "rapidjson/document.h"
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <signal.h>

namespace enrich {
namespace {

using ::testing::HasSubstr;

using testing::ParseJson;
using testing::ReadFileBytes;

// CSV whose bytes are mostly quoted notes holding LF, CRLF, doubled quotes, delimiters and
// lines that look like records ("7,bad-7.example,x"): most cuts fall inside a quoted field.
// A BOM, CRLF header, LF and CRLF record ends, no final newline.
std::string TrickyCsv(int rows) {
  std::mt19937 rng(16);
  std::string text = "\xEF\xBB\xBFid,domain,note\r\n";
  for (int r = 0; r < rows; ++r) {
    const std::string domain =
        absl::StrCat(rng() % 3 == 0 ? "bad-" : "host-", rng() % 97, ".example");
    std::string note = "\"";
    for (unsigned l = 0; l < 1 + rng() % 4; ++l) {
      absl::StrAppend(&note, l, ",bad-", rng() % 50, ".example,\"\"x\"\"", rng() % 2 ? "\n" : "\r\n");
    }
    note += "\"";
    absl::StrAppend(&text, r, ",", domain, ",", note, r + 1 < rows ? (r % 2 ? "\r\n" : "\n") : "");
  }
  return text;
}

// NDJSON with blank lines, CRLF, escaped quotes and newlines in strings, no final newline.
std::string TrickyNdjson(int rows) {
  std::mt19937 rng(61);
  std::string text;
  for (int r = 0; r < rows; ++r) {
    if (r % 9 == 4) text += r % 2 ? "\n" : "  \r\n";
    absl::StrAppend(&text, "{\"id\":", r, ",\"domain\":\"", rng() % 3 == 0 ? "bad-" : "host-",
                    rng() % 97, ".example\",\"note\":\"a\\\"b\\n{\\\"c\\\":1}\"}",
                    r + 1 < rows ? (r % 2 ? "\r\n" : "\n") : "");
  }
  return text;
}

class ShardSimTest : public ::testing::Test {
 protected:
  void SetUp() override {
    sim::SimOptions options;
    options.synthetic_percent = 30;
    options.threads = 2;
    sim_ = testing::StartSim(options);
    ASSERT_NE(sim_, nullptr);
  }
  void TearDown() override { sim_->Stop(); }

  // ctia-enrich with `args`, stdout and stderr in <name>.out and <name>.err.
  testing::ChildSpec Spec(const std::vector<std::string>& args, const std::string& name) const {
    return testing::CliSpec(args, dir_.File(name + ".out"), dir_.File(name + ".err"));
  }
  int Run(const std::vector<std::string>& args, const std::string& name) {
    return testing::RunCli(Spec(args, name));
  }
  // `run` of `input` into `output` on column domain, small chunks (several per shard), then
  // `extra`.
  std::vector<std::string> RunArgs(const std::string& input, const std::string& output,
                                   const std::vector<std::string>& extra) const {
    std::vector<std::string> args = {"run",      "-i",   input, "-o", output, "--column",
                                     "domain",   "--endpoint", sim_->base_url(), "--threads",
                                     "2",        "--chunk-size", "4096"};
    args.insert(args.end(), extra.begin(), extra.end());
    return args;
  }

  // For N = 1 .. 7, the N shards of `input` concatenated equal `whole` (and their --hits
  // outputs `whole_hits`); each shard's summary names it, and their rows add up to `rows`.
  void ExpectShardsMatch(const std::string& input, const std::string& ext,
                         const std::string& whole, const std::string& whole_hits,
                         uint64_t rows) {
    for (uint32_t n = 1; n <= 7; ++n) {
      std::string merged;
      std::string merged_hits;
      uint64_t shard_rows = 0;
      for (uint32_t k = 0; k < n; ++k) {
        const std::string shard = absl::StrCat(k, "/", n);
        const std::string out = dir_.File(absl::StrCat("part-", k, "-of-", n, ext));
        const std::string hits = dir_.File(absl::StrCat("hits-", k, "-of-", n, ext));
        const std::string summary = dir_.File(absl::StrCat("summary-", k, "-of-", n, ".json"));
        ASSERT_EQ(Run(RunArgs(input, out,
                              {"--shard", shard, "--summary-json", summary, "--hits", hits}),
                      "shard"),
                  0)
            << shard << ": " << ReadFileBytes(dir_.File("shard.err"));
        merged += ReadFileBytes(out);
        merged_hits += ReadFileBytes(hits);
        rapidjson::Document doc = ParseJson(ReadFileBytes(summary));
        ASSERT_TRUE(doc.IsObject() && doc.HasMember("shard") && doc.HasMember("rows"));
        EXPECT_EQ(std::string(doc["shard"].GetString()), shard);
        shard_rows += doc["rows"].GetUint64();
      }
      EXPECT_EQ(merged.size(), whole.size()) << n << " shards";
      EXPECT_TRUE(merged == whole) << n << " shards: the merged output differs";
      EXPECT_TRUE(merged_hits == whole_hits) << n << " shards: the merged hits differ";
      EXPECT_EQ(shard_rows, rows) << n << " shards";
    }
  }

  std::unique_ptr<sim::SimServer> sim_;
  testing::TempDir dir_;
};

TEST_F(ShardSimTest, CsvShardsConcatenateToOneRun) {
  constexpr int kRows = 300;
  std::ofstream(dir_.File("in.csv"), std::ios::binary) << TrickyCsv(kRows);
  ASSERT_EQ(Run(RunArgs(dir_.File("in.csv"), dir_.File("whole.csv"),
                        {"--hits", dir_.File("whole-hits.csv")}),
                "whole"),
            0)
      << ReadFileBytes(dir_.File("whole.err"));
  const std::string whole = ReadFileBytes(dir_.File("whole.csv"));
  ASSERT_THAT(whole, HasSubstr("ctia_disposition"));
  const std::string hits = ReadFileBytes(dir_.File("whole-hits.csv"));
  ASSERT_THAT(hits, HasSubstr("Malicious"));
  ExpectShardsMatch(dir_.File("in.csv"), ".csv", whole, hits, kRows);
}

TEST_F(ShardSimTest, NdjsonShardsConcatenateToOneRun) {
  constexpr int kRows = 300;
  std::ofstream(dir_.File("in.ndjson"), std::ios::binary) << TrickyNdjson(kRows);
  ASSERT_EQ(Run(RunArgs(dir_.File("in.ndjson"), dir_.File("whole.ndjson"),
                        {"--hits", dir_.File("whole-hits.ndjson")}),
                "whole"),
            0)
      << ReadFileBytes(dir_.File("whole.err"));
  const std::string whole = ReadFileBytes(dir_.File("whole.ndjson"));
  ASSERT_THAT(whole, HasSubstr("ctia_disposition"));
  const std::string hits = ReadFileBytes(dir_.File("whole-hits.ndjson"));
  ASSERT_THAT(hits, HasSubstr("Malicious"));
  ExpectShardsMatch(dir_.File("in.ndjson"), ".ndjson", whole, hits, kRows);
}

// More shards than records: the shards where no record starts write nothing (shard 0 writes
// the header in any case).
TEST_F(ShardSimTest, ShardsWithoutRecordsAreEmpty) {
  const std::string input = dir_.File("small.csv");
  std::ofstream(input, std::ios::binary) << "id,domain\n1,bad-1.example\n2,host-2.example\n";
  ASSERT_EQ(Run(RunArgs(input, dir_.File("whole.csv"), {}), "whole"), 0);
  std::string merged;
  int empty = 0;
  for (int k = 0; k < 7; ++k) {
    const std::string out = dir_.File(absl::StrCat("small-", k, ".csv"));
    ASSERT_EQ(Run(RunArgs(input, out, {"--shard", absl::StrCat(k, "/7")}), "shard"), 0)
        << ReadFileBytes(dir_.File("shard.err"));
    const std::string part = ReadFileBytes(out);
    if (part.empty()) ++empty;
    merged += part;
  }
  EXPECT_EQ(merged, ReadFileBytes(dir_.File("whole.csv")));
  EXPECT_EQ(empty, 4);  // 7 shards: one with the header, two with a record each
}

TEST_F(ShardSimTest, UsageErrors) {
  const std::string input = dir_.File("in.csv");
  std::ofstream(input, std::ios::binary) << "id,domain\n1,bad-1.example\n";
  const std::string out = dir_.File("out.csv");
  EXPECT_EQ(Run(RunArgs(input, out, {"--shard", "4/4"}), "bad"), 2);
  EXPECT_THAT(ReadFileBytes(dir_.File("bad.err")), HasSubstr("K must be less than N"));
  EXPECT_EQ(Run(RunArgs(input, out, {"--shard", "two"}), "bad"), 2);
  EXPECT_THAT(ReadFileBytes(dir_.File("bad.err")), HasSubstr("expected K/N"));

  // A compressed input shards by file.
  const std::string gz = dir_.File("in.csv.gz");
  ASSERT_EQ(testing::RunCommandLine("gzip", absl::StrCat("-k ", input)).exit_code, 0);
  EXPECT_EQ(Run(RunArgs(gz, out, {"--shard", "1/2"}), "gz"), 2);
  EXPECT_THAT(ReadFileBytes(dir_.File("gz.err")), HasSubstr("compressed inputs shard by file"));
  // Standard input (a pipe, or even a file redirected) has no byte ranges to cut.
  testing::ChildSpec piped = Spec(RunArgs("-", out, {"--shard", "0/2"}), "pipe");
  piped.stdin_path = input;
  auto code = testing::RunChild(piped);
  ASSERT_TRUE(code.ok());
  EXPECT_EQ(*code, 2);
  EXPECT_THAT(ReadFileBytes(dir_.File("pipe.err")), HasSubstr("is not a regular file"));
  // Nothing was left behind by the refused runs.
  EXPECT_FALSE(std::ifstream(dir_.File("out.csv.journal")).good());
}

// A shard's journal is its own: stopped by SIGTERM, shard 1/2 resumes from its journal (whose
// identity names the shard), asks only what the journal lacks, and ends with the output an
// uninterrupted shard 1/2 writes.
TEST_F(ShardSimTest, ResumeIsPerShard) {
  const std::string input = dir_.File("in.csv");
  std::string text = "id,domain\n";
  for (int i = 0; i < 3000; ++i) absl::StrAppend(&text, i, ",host-", i, ".example\n");
  std::ofstream(input, std::ios::binary) << text;
  const std::vector<std::string> shard = {"--shard", "1/2", "--batch-size", "20"};
  auto with = [&](std::vector<std::string> extra) {
    extra.insert(extra.begin(), shard.begin(), shard.end());
    return extra;
  };
  ASSERT_EQ(Run(RunArgs(input, dir_.File("ref.csv"), with({"--summary-json",
                                                             dir_.File("ref.json")})),
                "ref"),
            0)
      << ReadFileBytes(dir_.File("ref.err"));
  const uint64_t all_lookups =
      ParseJson(ReadFileBytes(dir_.File("ref.json")))["lookups"].GetUint64();
  ASSERT_GT(all_lookups, 1000u);

  for (const char* prefix : {"/ctia/domain/", "/ctia/graphql"}) {
    sim::FaultRule slow;
    slow.kind = sim::FaultKind::kLatency;
    slow.path_prefix = prefix;
    slow.latency = absl::Milliseconds(300);
    sim_->AddFault(slow);
  }
  const std::string out = dir_.File("out.csv");
  auto child = testing::StartCli(Spec(RunArgs(input, out, with({})), "stopped"));
  ASSERT_TRUE(child.ok()) << child.status();
  const std::string journal = out + ".journal";
  ASSERT_TRUE(testing::WaitForFileSize(journal, 2000, absl::Seconds(60)))
      << ReadFileBytes(dir_.File("stopped.err"));
  child->Signal(SIGTERM);
  ASSERT_EQ(child->Wait(), 75) << ReadFileBytes(dir_.File("stopped.err"));
  sim_->ClearFaults();
  EXPECT_THAT(ReadFileBytes(journal), HasSubstr(absl::StrCat("input=", input, " shard=1/2 size=")));

  const std::string summary = dir_.File("resumed.json");
  ASSERT_EQ(Run(RunArgs(input, out, with({"--resume", "--summary-json", summary})), "resumed"), 0)
      << ReadFileBytes(dir_.File("resumed.err"));
  EXPECT_TRUE(ReadFileBytes(out) == ReadFileBytes(dir_.File("ref.csv")));
  const uint64_t resumed_lookups = ParseJson(ReadFileBytes(summary))["lookups"].GetUint64();
  EXPECT_GT(resumed_lookups, 0u);
  EXPECT_LT(resumed_lookups, all_lookups);
  EXPECT_FALSE(std::filesystem::exists(journal));
}

// plan --shard K/N counts its shard: the shards' rows add up to the input's, each shard's to
// what its run reads.
TEST_F(ShardSimTest, PlanCountsItsShard) {
  constexpr int kRows = 120;
  const std::string input = dir_.File("in.csv");
  std::ofstream(input, std::ios::binary) << TrickyCsv(kRows);
  uint64_t total = 0;
  for (int k = 0; k < 3; ++k) {
    const std::string shard = absl::StrCat(k, "/3");
    std::vector<std::string> args = RunArgs(input, dir_.File("out.csv"), {"--shard", shard});
    args[0] = "plan";
    args.push_back("--json");
    ASSERT_EQ(Run(args, "plan"), 0) << ReadFileBytes(dir_.File("plan.err"));
    rapidjson::Document plan = ParseJson(ReadFileBytes(dir_.File("plan.out")));
    ASSERT_TRUE(plan.IsObject() && plan.HasMember("rows") && plan.HasMember("shard"));
    EXPECT_EQ(std::string(plan["shard"].GetString()), shard);
    const std::string summary = dir_.File("summary.json");
    ASSERT_EQ(Run(RunArgs(input, dir_.File("out.csv"), {"--shard", shard, "--summary-json",
                                                        summary}),
                  "run"),
              0)
        << ReadFileBytes(dir_.File("run.err"));
    rapidjson::Document run = ParseJson(ReadFileBytes(summary));
    EXPECT_EQ(plan["rows"].GetUint64(), run["rows"].GetUint64()) << shard;
    EXPECT_GT(plan["rows"].GetUint64(), 0u) << shard;
    total += plan["rows"].GetUint64();
  }
  EXPECT_EQ(total, static_cast<uint64_t>(kRows));
}

// The README's recipe, as written there, with 4 worker processes at once on this machine.
TEST_F(ShardSimTest, XargsRecipeRunsFourWorkers) {
  constexpr int kRows = 400;
  std::ofstream(dir_.File("export.csv"), std::ios::binary) << TrickyCsv(kRows);
  const std::string env = "CTIA_CLIENT_ID=client CTIA_CLIENT_SECRET=secret ";
  const testing::CommandResult whole = testing::RunCommandLine(
      "cd", absl::StrCat(dir_.path(), " && ", env, CTIA_ENRICH_BIN,
                         " run -i export.csv -o whole.csv --column domain --endpoint ",
                         sim_->base_url()));
  ASSERT_EQ(whole.exit_code, 0) << whole.output;
  // README.md, "Sharding over several workers": its two lines, with the built binary and the
  // sim's address.
  const std::string readme = ReadFileBytes(absl::StrCat(ENRICH_SOURCE_DIR, "/README.md"));
  std::string recipe;
  for (const char* start : {"seq 0 3 | xargs -P 4 -I{} ctia-enrich run ", "cat part-0.csv "}) {
    const size_t at = readme.find(start);
    ASSERT_NE(at, std::string::npos) << start;
    const std::string line = readme.substr(at, readme.find('\n', at) - at);
    absl::StrAppend(&recipe, recipe.empty() ? "" : " && ", line);
  }
  EXPECT_THAT(recipe, HasSubstr("--shard {}/4"));
  recipe = absl::StrReplaceAll(recipe, {{"-I{} ctia-enrich ", absl::StrCat("-I{} ", CTIA_ENRICH_BIN, " ")},
                                        {"https://private.intel.amp.cisco.com", sim_->base_url()}});
  const testing::CommandResult merged =
      testing::RunCommandLine("cd", absl::StrCat(dir_.path(), " && export ", env, " && ", recipe));
  ASSERT_EQ(merged.exit_code, 0) << merged.output;
  EXPECT_TRUE(ReadFileBytes(dir_.File("enriched.csv")) == ReadFileBytes(dir_.File("whole.csv")));
  EXPECT_GT(ReadFileBytes(dir_.File("part-3.csv")).size(), 0u);
}

// configs/k8s: an Indexed Job whose pods run --shard $(JOB_COMPLETION_INDEX)/N with N its
// completions; read with python3's yaml.
TEST_F(ShardSimTest, KubernetesIndexedJobBuildsTheShardArguments) {
  const std::string path = absl::StrCat(ENRICH_SOURCE_DIR, "/configs/k8s/ctia-enrich-shards.yaml");
  const testing::CommandResult json = testing::RunCommandLine(
      "python3", absl::StrCat("-c 'import json,sys,yaml; print(json.dumps(yaml.safe_load("
                              "open(sys.argv[1]))))' ",
                              path));
  ASSERT_EQ(json.exit_code, 0) << json.output;
  rapidjson::Document job = ParseJson(json.output);
  ASSERT_TRUE(job.IsObject());
  EXPECT_EQ(std::string(job["kind"].GetString()), "Job");
  const auto& spec = job["spec"];
  EXPECT_EQ(std::string(spec["completionMode"].GetString()), "Indexed");
  const int n = spec["completions"].GetInt();
  EXPECT_EQ(spec["parallelism"].GetInt(), n);
  const auto& container = spec["template"]["spec"]["containers"][0];
  std::vector<std::string> args;
  for (const auto& a : container["args"].GetArray()) args.push_back(a.GetString());
  auto at = std::find(args.begin(), args.end(), "--shard");
  ASSERT_NE(at, args.end());
  ASSERT_NE(at + 1, args.end());
  EXPECT_EQ(*(at + 1), absl::StrCat("$(JOB_COMPLETION_INDEX)/", n));
  // Each pod's arguments, as Kubernetes expands them, name a shard the binary accepts.
  for (int i = 0; i < n; ++i) {
    const std::string shard = absl::StrReplaceAll(*(at + 1), {{"$(JOB_COMPLETION_INDEX)",
                                                               absl::StrCat(i)}});
    EXPECT_EQ(shard, absl::StrCat(i, "/", n));
  }
  // Every pod writes an output of its own.
  auto out = std::find(args.begin(), args.end(), "-o");
  ASSERT_NE(out, args.end());
  EXPECT_THAT(*(out + 1), HasSubstr("$(JOB_COMPLETION_INDEX)"));
}

// configs/systemd: the template unit passes its instance as K of N; systemd-analyze verify
// accepts it (with ExecStart pointing at the built binary).
TEST_F(ShardSimTest, SystemdTemplateUnitVerifies) {
  const std::string unit =
      ReadFileBytes(absl::StrCat(ENRICH_SOURCE_DIR, "/configs/systemd/ctia-enrich-shard@.service"));
  ASSERT_THAT(unit, HasSubstr("--shard %i/${SHARDS}"));
  const std::string copy = absl::StrReplaceAll(unit, {{"/usr/local/bin/ctia-enrich", CTIA_ENRICH_BIN}});
  std::ofstream(dir_.File("ctia-enrich-shard@.service"), std::ios::binary) << copy;
  // The instance is K, SHARDS is N, and every worker writes a file of its own.
  EXPECT_THAT(unit, HasSubstr("Environment=SHARDS=4\n"));
  EXPECT_THAT(unit, HasSubstr("-o /var/lib/ctia-enrich/out/part-%i.csv"));
  // Where systemd is installed (a build machine may lack it), systemd itself checks the unit.
  if (testing::RunCommandLine("command", "-v systemd-analyze").exit_code != 0) return;
  const testing::CommandResult verify = testing::RunCommandLine(
      "systemd-analyze", absl::StrCat("verify --man=no ", dir_.File("ctia-enrich-shard@2.service")));
  EXPECT_EQ(verify.exit_code, 0) << verify.output;
  EXPECT_THAT(verify.output, ::testing::Not(HasSubstr("ignoring"))) << verify.output;
}

}  // namespace
}  // namespace enrich
