// Crash safety of `ctia-enrich run`, as a user meets it: the real binary is killed with SIGKILL
// at random moments (seeded) against ctia-sim on 127.0.0.1:0, then rerun with --resume until
// it completes. The final output must be byte-identical to an uninterrupted run, and ctia-sim's
// request counters must show that no journaled lookup was paid twice: over REST (one request
// per lookup) and with GraphQL batching (several observables per request).

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <signal.h>

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <filesystem>
#include <optional>
#include <fstream>
#include <random>
#include <set>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "engine/journal.h"
#include "tests/fakes/cli_rig.h"

namespace enrich {
namespace {

using ::testing::HasSubstr;

using testing::FileSize;
using testing::ReadFileBytes;

// The observables ("<type>:<value>", as ctia-sim tallies them) in the intact part of the
// journal at `path`, read as --resume reads it (from a copy: resuming truncates a torn tail).
std::vector<std::string> JournaledObservables(const std::string& path, const std::string& copy) {
  std::vector<std::string> out;
  if (!std::filesystem::exists(path)) return out;
  std::filesystem::copy_file(path, copy, std::filesystem::copy_options::overwrite_existing);
  // Header: "CTIAJNL1", u32 (little-endian) fingerprint length, the fingerprint (journal.h).
  const std::string bytes = ReadFileBytes(copy);
  EXPECT_GE(bytes.size(), 12u);
  if (bytes.size() < 12) return out;
  const uint32_t n = static_cast<uint8_t>(bytes[8]) | static_cast<uint8_t>(bytes[9]) << 8 |
                     static_cast<uint8_t>(bytes[10]) << 16 |
                     static_cast<uint32_t>(static_cast<uint8_t>(bytes[11])) << 24;
  auto journal = engine::Journal::Open(
      copy, bytes.substr(12, n), /*resume=*/true, {}, [&out](engine::JournalEntry&& e) {
        out.push_back(absl::StrCat(e.observable.type, ":", e.observable.value));
      });
  EXPECT_TRUE(journal.ok()) << journal.status();
  return out;
}

class CrashResumeTest : public ::testing::Test {
 protected:
  // REST lookups (--batch-size 1), so the sim's verdict request counter counts lookups.
  // --connections 4: the run keeps at most 2 × 8 × 4 lookups in flight (run_command.cc sets
  // max_in_flight to two batches of 8 per connection with --batch-size 1). A lookup is
  // journaled (written, not only queued) before its result is used, so a kill can lose at most
  // the lookups in flight at that moment: each kill may repeat at most this many requests.
  static constexpr int kConnections = 4;
  static constexpr uint64_t kMaxInFlight = 2 * 8 * kConnections;
  static constexpr int kUnique = 12000;
  static constexpr int kRows = 60000;

  void SetUp() override {
    sim::SimOptions options;
    options.synthetic_percent = 30;  // every domain answered, from a hash (fixed ids)
    options.public_base = "https://private.intel.amp.cisco.com";
    options.threads = 2;
    options.test_api = true;  // the per-client lookup tally
    // "client", and one client per run of the batched test, so the tally says which run asked.
    for (const char* id : {"reference", "run-0", "run-1", "run-2", "run-3", "run-4", "run-5"}) {
      options.clients.push_back(sim::SimClient{id, "secret"});
    }
    sim_ = testing::StartSim(options);
    ASSERT_NE(sim_, nullptr);
    // A millisecond per lookup, so a run takes long enough to be killed in the middle of it.
    sim::FaultRule slow;
    slow.kind = sim::FaultKind::kLatency;
    slow.path_prefix = "/ctia/domain/";
    slow.latency = absl::Milliseconds(1);
    sim_->AddFault(slow);

    // kRows rows over kUnique domains in a seeded random order, with quoted fields.
    std::mt19937_64 rng(20261129);
    std::string text = "id,domain,note\n";
    for (int i = 0; i < kRows; ++i) {
      const int k = i < kUnique ? i : static_cast<int>(rng() % kUnique);
      absl::StrAppend(&text, i, ",", k % 7 == 0 ? "\"" : "", "Host-", k, ".example",
                      k % 7 == 0 ? "\"" : "", ",\"note ", i, ", \"\"quoted\"\"\"\n");
    }
    std::ofstream(dir_.File("in.csv"), std::ios::binary) << text;
  }

  // Starts `ctia-enrich run` writing `output` with `batch_size_`, logged in as `client`; stderr
  // goes to `stderr_name` in the temp dir.
  absl::StatusOr<testing::ChildProcess> Start(const std::string& output, bool resume,
                                              const std::string& stderr_name,
                                              const std::string& client = "client") {
    std::vector<std::string> args = {"run",          "-i",
                                     dir_.File("in.csv"), "-o",
                                     output,         "--column",
                                     "domain",       "--endpoint",
                                     sim_->base_url(), "--connections",
                                     std::to_string(kConnections), "--threads",
                                     "2",            "--chunk-size",
                                     "65536",        "--batch-size",
                                     std::to_string(batch_size_)};
    if (resume) args.push_back("--resume");
    return testing::StartCli(testing::CliSpec(std::move(args), "", dir_.File(stderr_name), client));
  }

  uint64_t VerdictRequests() const { return sim_->Counters().verdict_requests; }
  // Observables asked for: through GraphQL aliases, or one per REST verdict request (the
  // batched client sends a batch of one as a GET).
  uint64_t ObservablesAsked() const {
    const sim::SimCounters c = sim_->Counters();
    return c.graphql_observables + c.verdict_requests;
  }

  int batch_size_ = 1;
  testing::TempDir dir_;
  std::unique_ptr<sim::SimServer> sim_;
};

TEST_F(CrashResumeTest, KilledRunsResumeToTheUninterruptedOutputWithoutRepeatingLookups) {
  // The uninterrupted reference run, timed to place the kills.
  const uint64_t before_reference = VerdictRequests();
  const auto started = std::chrono::steady_clock::now();
  {
    auto child = Start(dir_.File("reference.csv"), false, "reference.err");
    ASSERT_TRUE(child.ok()) << child.status();
    ASSERT_EQ(child->Wait(), 0) << ReadFileBytes(dir_.File("reference.err"));
  }
  const auto reference_time = std::chrono::steady_clock::now() - started;
  const std::string reference = ReadFileBytes(dir_.File("reference.csv"));
  ASSERT_EQ(VerdictRequests() - before_reference, uint64_t{kUnique});
  ASSERT_EQ(std::count(reference.begin(), reference.end(), '\n'), kRows + 1);
  ASSERT_TRUE(absl::StrContains(reference, "\n1,Host-1.example,\"note 1, \"\"quoted\"\"\","));

  // Kill rounds: each run is killed after a random fraction (0 to 40 %) of the reference run's
  // time, or completes first; then the next one resumes.
  std::mt19937 rng(7);
  std::uniform_real_distribution<double> fraction(0.0, 0.4);
  const std::string output = dir_.File("out.csv");
  const uint64_t before = VerdictRequests();
  int kills = 0;
  bool completed = false;
  bool last_killed = false;
  std::string stale;  // the partial file the last killed run left
  int stale_removed = 0;
  for (int round = 0; round < 6 && !completed; ++round) {
    const std::string err = absl::StrCat("round", round, ".err");
    auto child = Start(output, round > 0, err);
    ASSERT_TRUE(child.ok()) << child.status();
    // The last round is never killed: it completes the run.
    if (round < 5) {
      std::this_thread::sleep_for(std::chrono::duration_cast<std::chrono::microseconds>(
          reference_time * fraction(rng)));
      child->Signal(SIGKILL);  // no effect if it has already ended
    }
    const pid_t pid = child->pid();
    const int exit_code = child->Wait();
    if (!stale.empty()) {
      if (!std::filesystem::exists(stale)) {
        // This run started after the previous one was killed and removed its temp file.
        EXPECT_THAT(ReadFileBytes(dir_.File(err)), HasSubstr(absl::StrCat("removed ", stale)));
        stale.clear();
        ++stale_removed;
      } else {
        // Only a run killed before it got that far (a slow start: a sanitizer build, a loaded
        // machine) leaves it; the next run removes it.
        EXPECT_EQ(exit_code, 128 + SIGKILL) << "a run that went on left " << stale;
      }
    }
    if (exit_code == 128 + SIGKILL) {
      if (stale.empty() && std::filesystem::exists(absl::StrCat(output, ".partial-", pid))) {
        stale = absl::StrCat(output, ".partial-", pid);
      }
      ++kills;
      // The output appears only complete (renamed at the end): a kill after the rename leaves
      // a finished run, which a user would not resume.
      completed = std::filesystem::exists(output);
      last_killed = true;
      continue;
    }
    ASSERT_EQ(exit_code, 0) << ReadFileBytes(dir_.File(err));
    if (round > 0) {
      EXPECT_THAT(ReadFileBytes(dir_.File(err)), HasSubstr("resuming: "));
    }
    completed = true;
    last_killed = false;
  }
  ASSERT_TRUE(completed);
  // The first run does the reference run's work, so a kill at < 40 % of its time lands in it.
  ASSERT_GE(kills, 1);

  EXPECT_TRUE(ReadFileBytes(output) == reference) << "resumed output differs from the reference";
  const uint64_t requests = VerdictRequests() - before;
  EXPECT_GE(requests, uint64_t{kUnique});
  EXPECT_LE(requests, kUnique + kills * kMaxInFlight)
      << kills << " kills; each may repeat only the lookups in flight at that moment";
  // Nothing is left: no partial file of a killed run, no journal after the success.
  std::set<std::string> left = dir_.List();
  EXPECT_EQ(left.count("out.csv"), 1u);
  for (const std::string& name : left) {
    EXPECT_THAT(name, ::testing::Not(HasSubstr(".partial-")));
    // (A run killed between its rename and its journal's removal leaves the journal.)
    if (!last_killed) {
      EXPECT_THAT(name, ::testing::Not(HasSubstr(".journal")));
    }
  }
  std::printf("%d kills, %d stale partial files removed; %llu verdict requests for %d unique "
              "observables\n",
              kills, stale_removed, static_cast<unsigned long long>(requests), kUnique);
}

// The same with GraphQL batching: batches of 20, so that several are in flight on the 4
// connections (the run keeps 2 × 4 × max(8, 20) = 160 lookups in flight). Each run is killed once
// its journal has grown by a seeded random share of a whole run's journal, so every kill lands
// while lookups are in flight and some are journaled. Each run logs in as its own client, so
// ctia-sim's per-client tally tells which run asked for which observable: no run may ask for
// one that the journal it resumed from holds.
TEST_F(CrashResumeTest, KilledBatchedRunsNeverAskAgainForJournaledObservables) {
  batch_size_ = 20;
  static constexpr uint64_t kBatchedInFlight = 2 * kConnections * 20;
  sim::FaultRule slow;
  slow.kind = sim::FaultKind::kLatency;
  slow.path_prefix = "/ctia/graphql";
  slow.latency = absl::Milliseconds(5);
  sim_->AddFault(slow);

  // The uninterrupted reference run; its journal's largest size seen tells how big a whole
  // run's journal grows (it is removed at the end).
  uintmax_t journal_total = 0;
  {
    auto child = Start(dir_.File("reference.csv"), false, "reference.err", "reference");
    ASSERT_TRUE(child.ok()) << child.status();
    std::optional<int> exit_code;
    while (!(exit_code = child->Poll()).has_value()) {
      journal_total = std::max(journal_total, FileSize(dir_.File("reference.csv.journal")));
      std::this_thread::sleep_for(std::chrono::milliseconds(2));
    }
    ASSERT_EQ(*exit_code, 0) << ReadFileBytes(dir_.File("reference.err"));
  }
  const std::string reference = ReadFileBytes(dir_.File("reference.csv"));
  ASSERT_EQ(std::count(reference.begin(), reference.end(), '\n'), kRows + 1);
  ASSERT_EQ(ObservablesAsked(), uint64_t{kUnique});
  ASSERT_GT(sim_->Counters().graphql_observables, uint64_t{kUnique} / 2)
      << "the batched run did not batch";
  ASSERT_GT(journal_total, 0u);
  const uint64_t observables_before = ObservablesAsked();
  const uint64_t graphql_before = sim_->Counters().graphql_observables;

  std::mt19937 rng(11);
  std::uniform_real_distribution<double> share(0.05, 0.3);
  const std::string output = dir_.File("out.csv");
  const std::string journal = output + ".journal";
  // journaled[k]: the intact journal when run k started (empty for the first run).
  std::vector<std::vector<std::string>> journaled(1);
  int kills = 0;
  bool completed = false;
  int round = 0;
  for (; round < 6 && !completed; ++round) {
    const std::string err = absl::StrCat("round", round, ".err");
    auto child = Start(output, round > 0, err, absl::StrCat("run-", round));
    ASSERT_TRUE(child.ok()) << child.status();
    const uintmax_t kill_at =
        FileSize(journal) + static_cast<uintmax_t>(share(rng) * static_cast<double>(journal_total));
    std::optional<int> exit_code;
    // The last round is never killed: it completes the run.
    while (!(exit_code = child->Poll()).has_value()) {
      if (round < 5 && FileSize(journal) >= kill_at) {
        child->Signal(SIGKILL);
        exit_code = child->Wait();
        break;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(1));
    }
    if (round > 0 && !journaled[round].empty()) {
      EXPECT_THAT(ReadFileBytes(dir_.File(err)),
                  HasSubstr(absl::StrCat("resuming: ", journaled[round].size(),
                                         " settled lookups reloaded")));
    }
    if (*exit_code == 128 + SIGKILL) {
      ++kills;
      completed = std::filesystem::exists(output);  // killed after the rename
      journaled.push_back(JournaledObservables(journal, dir_.File("journal.copy")));
      continue;
    }
    ASSERT_EQ(*exit_code, 0) << ReadFileBytes(dir_.File(err));
    completed = true;
  }
  ASSERT_TRUE(completed);
  ASSERT_GE(kills, 1);
  EXPECT_TRUE(ReadFileBytes(output) == reference) << "resumed output differs from the reference";

  // No run asked for an observable of the journal it resumed from.
  const sim::LookupTally tally = sim_->Lookups();
  size_t checked = 0;
  std::set<std::string> asked;
  for (int k = 0; k < round; ++k) {
    auto it = tally.find(absl::StrCat("run-", k));
    if (it == tally.end()) continue;
    for (const auto& [observable, n] : it->second) asked.insert(observable);
    for (const std::string& observable : journaled[k]) {
      ++checked;
      EXPECT_EQ(it->second.count(observable), 0u)
          << "run " << k << " asked again for " << observable << ", journaled before it started";
    }
  }
  ASSERT_GT(checked, 0u) << "no resumed run had journaled lookups to skip";
  EXPECT_EQ(asked.size(), size_t{kUnique});
  const uint64_t observables = ObservablesAsked() - observables_before;
  EXPECT_GE(observables, uint64_t{kUnique});
  EXPECT_LE(observables, kUnique + kills * kBatchedInFlight)
      << kills << " kills; each may repeat only the lookups in flight at that moment";
  std::printf(
      "%d kills; %zu journaled observables checked against later runs; %llu observables "
      "asked (%llu of them through GraphQL) for %d unique\n",
      kills, checked, static_cast<unsigned long long>(observables),
      static_cast<unsigned long long>(sim_->Counters().graphql_observables - graphql_before),
      kUnique);
}

}  // namespace
}  // namespace enrich
