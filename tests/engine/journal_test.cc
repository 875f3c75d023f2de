#include "engine/journal.h"

#include "tests/engine/temp_dir.h"

#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <filesystem>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include <gmock/gmock.h>
#include <gtest/gtest.h>

namespace enrich::engine {
namespace {

using enrich::testing::ReadFileBytes;
using enrich::testing::TempDir;
using enrich::testing::WriteFileBytes;
using ::testing::HasSubstr;

const char kFingerprint[] = "input=events.csv size=123 columns=domain endpoint=https://ctia";

JournalEntry VerdictEntry(int i) {
  schema::Verdict v;
  v.disposition = schema::Disposition::kMalicious;
  v.disposition_name = "Malicious";
  v.judgement_id = "https://private.intel/ctia/judgement/judgement-" + std::to_string(i);
  v.valid_time.start_time = absl::FromUnixSeconds(1700000000 + i);
  v.valid_time.end_time =
      i % 2 == 0 ? absl::InfiniteFuture() : absl::FromUnixMicros(1800000000123456);
  v.observable = {"domain", "Evil" + std::to_string(i) + ".Example"};
  return {{"domain", "evil" + std::to_string(i) + ".example"},
          v,
          absl::FromUnixMicros(1750000000000000 + i)};
}

JournalEntry NoVerdictEntry(int i) {
  return {{"ip", "10.0.0." + std::to_string(i)}, schema::NoVerdict{}, absl::FromUnixSeconds(i)};
}

JournalEntry ErrorEntry(int i, std::string code) {
  return {{"sha256", std::string(64, static_cast<char>('a' + i % 6))},
          LookupError{code},
          absl::FromUnixSeconds(1000 + i)};
}

// Field-by-field equality (schema::Verdict has no operator==).
void ExpectSameEntry(const JournalEntry& a, const JournalEntry& b) {
  EXPECT_EQ(a.observable, b.observable);
  EXPECT_EQ(a.settled_at, b.settled_at);
  ASSERT_EQ(a.outcome.index(), b.outcome.index());
  if (const auto* va = std::get_if<schema::Verdict>(&a.outcome)) {
    const auto& vb = std::get<schema::Verdict>(b.outcome);
    EXPECT_EQ(va->disposition, vb.disposition);
    EXPECT_EQ(va->disposition_name, vb.disposition_name);
    EXPECT_EQ(va->judgement_id, vb.judgement_id);
    EXPECT_EQ(va->valid_time.start_time, vb.valid_time.start_time);
    EXPECT_EQ(va->valid_time.end_time, vb.valid_time.end_time);
    EXPECT_EQ(va->observable, vb.observable);
  }
  if (const auto* ea = std::get_if<LookupError>(&a.outcome)) {
    EXPECT_EQ(ea->code, std::get<LookupError>(b.outcome).code);
  }
}

class JournalTest : public ::testing::Test {
 protected:
  absl::StatusOr<std::unique_ptr<Journal>> Reopen(std::vector<JournalEntry>* loaded,
                                                  absl::string_view fp = kFingerprint) {
    return Journal::Open(path_, fp, /*resume=*/true, {},
                         [loaded](JournalEntry&& e) { loaded->push_back(std::move(e)); });
  }

  TempDir dir_;
  std::string path_ = dir_.File("run.journal");
};

TEST_F(JournalTest, AppendedEntriesReloadInOrder) {
  std::vector<JournalEntry> written = {VerdictEntry(1), NoVerdictEntry(2), ErrorEntry(3, "503"),
                                       VerdictEntry(4), ErrorEntry(5, "deadline_exceeded")};
  {
    auto journal = Journal::Open(path_, kFingerprint, /*resume=*/false);
    ASSERT_TRUE(journal.ok()) << journal.status();
    for (const auto& e : written) ASSERT_TRUE((*journal)->Append(e).ok());
    ASSERT_TRUE((*journal)->Sync().ok());
  }
  std::vector<JournalEntry> loaded;
  auto journal = Reopen(&loaded);
  ASSERT_TRUE(journal.ok()) << journal.status();
  EXPECT_EQ((*journal)->load().entries, written.size());
  EXPECT_EQ((*journal)->load().dropped_bytes, 0u);
  ASSERT_EQ(loaded.size(), written.size());
  for (size_t i = 0; i < written.size(); ++i) ExpectSameEntry(loaded[i], written[i]);
}

TEST_F(JournalTest, AppendBatchEntriesReloadInOrderAfterSingleAppends) {
  std::vector<JournalEntry> written = {VerdictEntry(1), NoVerdictEntry(2), ErrorEntry(3, "503"),
                                       VerdictEntry(4)};
  {
    auto journal = Journal::Open(path_, kFingerprint, /*resume=*/false);
    ASSERT_TRUE(journal.ok()) << journal.status();
    ASSERT_TRUE((*journal)->Append(written[0]).ok());
    ASSERT_TRUE((*journal)->AppendBatch(absl::MakeConstSpan(written).subspan(1)).ok());
    ASSERT_TRUE((*journal)->AppendBatch({}).ok());
    ASSERT_TRUE((*journal)->Sync().ok());
  }
  std::vector<JournalEntry> loaded;
  auto journal = Reopen(&loaded);
  ASSERT_TRUE(journal.ok()) << journal.status();
  EXPECT_EQ((*journal)->load().dropped_bytes, 0u);
  ASSERT_EQ(loaded.size(), written.size());
  for (size_t i = 0; i < written.size(); ++i) ExpectSameEntry(loaded[i], written[i]);
}

TEST_F(JournalTest, AppendViewsWritesTheSameRecordsAsAppendBatch) {
  std::vector<JournalEntry> written = {VerdictEntry(1), NoVerdictEntry(2), ErrorEntry(3, "503"),
                                       VerdictEntry(4), ErrorEntry(5, "deadline_exceeded")};
  std::vector<JournalEntryView> views;
  for (const JournalEntry& e : written) {
    JournalEntryView& v = views.emplace_back();
    v.type = e.observable.type;
    v.value = e.observable.value;
    v.verdict = std::get_if<schema::Verdict>(&e.outcome);
    if (const auto* error = std::get_if<LookupError>(&e.outcome)) {
      v.failed = true;
      v.error_code = error->code;
    }
    v.settled_at = e.settled_at;
  }
  {
    auto journal = Journal::Open(path_, kFingerprint, /*resume=*/false);
    ASSERT_TRUE(journal.ok()) << journal.status();
    // Two batches of views, then one of entries: all decode alike, in order.
    ASSERT_TRUE((*journal)->AppendViews(absl::MakeConstSpan(views).subspan(0, 2)).ok());
    ASSERT_TRUE((*journal)->AppendViews(absl::MakeConstSpan(views).subspan(2)).ok());
    ASSERT_TRUE((*journal)->AppendBatch(written).ok());
    ASSERT_TRUE((*journal)->Sync().ok());
  }
  const std::string bytes = ReadFileBytes(path_);
  std::vector<JournalEntry> loaded;
  auto journal = Reopen(&loaded);
  ASSERT_TRUE(journal.ok()) << journal.status();
  EXPECT_EQ((*journal)->load().dropped_bytes, 0u);
  ASSERT_EQ(loaded.size(), 2 * written.size());
  for (size_t i = 0; i < loaded.size(); ++i) {
    ExpectSameEntry(loaded[i], written[i % written.size()]);
  }
  // The views' records are byte for byte the entries' records.
  size_t records = 0;
  for (const JournalEntry& e : written) records += 8 + EncodeJournalEntry(e).size();
  ASSERT_GE(bytes.size(), 2 * records);
  const std::string tail = bytes.substr(bytes.size() - 2 * records);
  EXPECT_EQ(tail.substr(0, records), tail.substr(records));
}

TEST_F(JournalTest, ResumedJournalKeepsAppending) {
  {
    auto journal = Journal::Open(path_, kFingerprint, false);
    ASSERT_TRUE(journal.ok());
    ASSERT_TRUE((*journal)->Append(VerdictEntry(1)).ok());
  }  // the destructor flushes
  {
    std::vector<JournalEntry> loaded;
    auto journal = Reopen(&loaded);
    ASSERT_TRUE(journal.ok());
    ASSERT_EQ(loaded.size(), 1u);
    ASSERT_TRUE((*journal)->Append(NoVerdictEntry(2)).ok());
    ASSERT_TRUE((*journal)->Close().ok());
    EXPECT_FALSE((*journal)->Append(NoVerdictEntry(3)).ok());
  }
  std::vector<JournalEntry> loaded;
  ASSERT_TRUE(Reopen(&loaded).ok());
  ASSERT_EQ(loaded.size(), 2u);
  ExpectSameEntry(loaded[1], NoVerdictEntry(2));
}

TEST_F(JournalTest, ExistingJournalWithoutResumeIsRefused) {
  ASSERT_TRUE(Journal::Open(path_, kFingerprint, false).ok());
  auto again = Journal::Open(path_, kFingerprint, false);
  ASSERT_FALSE(again.ok());
  EXPECT_EQ(again.status().code(), absl::StatusCode::kAlreadyExists);
  EXPECT_THAT(again.status().message(), HasSubstr(path_));
  EXPECT_THAT(again.status().message(), HasSubstr("--resume"));
}

TEST_F(JournalTest, ResumeWithoutJournalStartsOne) {
  std::vector<JournalEntry> loaded;
  auto journal = Reopen(&loaded);
  ASSERT_TRUE(journal.ok());
  EXPECT_TRUE(loaded.empty());
  EXPECT_TRUE(std::filesystem::exists(path_));
}

TEST_F(JournalTest, AnotherEndpointIsRefused) {
  {
    auto journal = Journal::Open(path_, kFingerprint, false);
    ASSERT_TRUE(journal.ok());
    ASSERT_TRUE((*journal)->Append(NoVerdictEntry(1)).ok());
  }
  std::vector<JournalEntry> loaded;
  for (const char* fp : {"input=events.csv size=123 columns=domain endpoint=https://other",
                         "input=events.csv size=123 columns=domain endpoint=https://ctia/",
                         "input=events.csv size=123 columns=domain", "something else"}) {
    auto journal = Reopen(&loaded, fp);
    ASSERT_FALSE(journal.ok()) << fp;
    EXPECT_EQ(journal.status().code(), absl::StatusCode::kFailedPrecondition);
    EXPECT_THAT(journal.status().message(), HasSubstr("lookups were made at another CTIA endpoint"));
    EXPECT_THAT(journal.status().message(), HasSubstr(std::string("this run: ") + fp));
    EXPECT_THAT(journal.status().message(), HasSubstr(std::string("journal:  ") + kFingerprint));
  }
  EXPECT_TRUE(loaded.empty());
}

// A journal without a record holds nothing of its endpoint (a run stopped before any lookup
// settled, e.g. on a wrong --endpoint): resumed at another endpoint, it starts afresh.
TEST_F(JournalTest, AnotherEndpointsJournalWithoutRecordsStartsAfresh) {
  ASSERT_TRUE(Journal::Open(path_, kFingerprint, false).ok());
  const char kOther[] = "input=events.csv size=123 columns=domain endpoint=https://ctia.fixed";
  std::vector<JournalEntry> loaded;
  {
    auto journal = Reopen(&loaded, kOther);
    ASSERT_TRUE(journal.ok()) << journal.status();
    EXPECT_EQ((*journal)->load().entries, 0u);
    EXPECT_EQ((*journal)->load().other_run, "");
    ASSERT_TRUE((*journal)->Append(NoVerdictEntry(2)).ok());
  }
  // It is now the fixed endpoint's journal: that endpoint resumes it, the old one is refused.
  auto again = Reopen(&loaded, kOther);
  ASSERT_TRUE(again.ok()) << again.status();
  ASSERT_EQ(loaded.size(), 1u);
  ExpectSameEntry(loaded[0], NoVerdictEntry(2));
  again->reset();
  EXPECT_EQ(Reopen(&loaded, kFingerprint).status().code(),
            absl::StatusCode::kFailedPrecondition);
}

TEST_F(JournalTest, AnotherInputOrColumnsAtTheSameEndpointIsResumed) {
  {
    auto journal = Journal::Open(path_, kFingerprint, false);
    ASSERT_TRUE(journal.ok());
    ASSERT_TRUE((*journal)->Append(VerdictEntry(1)).ok());
    ASSERT_TRUE((*journal)->Close().ok());
  }
  const char kOther[] = "input=other.csv size=9 columns=domain,dst:ip endpoint=https://ctia";
  std::vector<JournalEntry> loaded;
  {
    auto journal = Reopen(&loaded, kOther);
    ASSERT_TRUE(journal.ok()) << journal.status();
    EXPECT_EQ((*journal)->load().entries, 1u);
    EXPECT_EQ((*journal)->load().other_run, kFingerprint);
    ASSERT_TRUE((*journal)->Append(NoVerdictEntry(2)).ok());
    ASSERT_TRUE((*journal)->Close().ok());
  }
  ASSERT_EQ(loaded.size(), 1u);
  ExpectSameEntry(loaded[0], VerdictEntry(1));
  // The header still names the run that created the journal; both entries reload.
  loaded.clear();
  auto journal = Reopen(&loaded);
  ASSERT_TRUE(journal.ok()) << journal.status();
  EXPECT_EQ((*journal)->load().other_run, "");
  EXPECT_EQ(loaded.size(), 2u);
}

TEST_F(JournalTest, OtherFileIsNotAJournal) {
  WriteFileBytes(path_, "domain,count\nexample.com,1\n");
  std::vector<JournalEntry> loaded;
  auto journal = Reopen(&loaded);
  ASSERT_FALSE(journal.ok());
  EXPECT_THAT(journal.status().message(), HasSubstr(path_ + ": not a ctia-enrich journal"));
}

TEST_F(JournalTest, HeaderTornAtCreationStartsAfresh) {
  ASSERT_TRUE(Journal::Open(path_, kFingerprint, false).ok());
  const std::string header = ReadFileBytes(path_);
  for (size_t len = 0; len < header.size(); ++len) {
    WriteFileBytes(path_, header.substr(0, len));
    std::vector<JournalEntry> loaded;
    auto journal = Reopen(&loaded);
    ASSERT_TRUE(journal.ok()) << len << ": " << journal.status();
    ASSERT_TRUE((*journal)->Close().ok());
    EXPECT_EQ(ReadFileBytes(path_), header) << len;
  }
}

// A crash can cut the last record anywhere; reload must give exactly the earlier entries and
// later appends must follow them.
TEST_F(JournalTest, TornLastRecordIsDroppedAtEveryCut) {
  std::vector<JournalEntry> written = {VerdictEntry(1), ErrorEntry(2, "429")};
  {
    auto journal = Journal::Open(path_, kFingerprint, false);
    ASSERT_TRUE(journal.ok());
    for (const auto& e : written) ASSERT_TRUE((*journal)->Append(e).ok());
    ASSERT_TRUE((*journal)->Sync().ok());
  }
  const std::string before_last = ReadFileBytes(path_);
  {
    std::vector<JournalEntry> ignored;
    auto journal = Reopen(&ignored);
    ASSERT_TRUE(journal.ok());
    ASSERT_TRUE((*journal)->Append(VerdictEntry(3)).ok());
  }
  const std::string full = ReadFileBytes(path_);
  ASSERT_GT(full.size(), before_last.size());

  for (size_t len = before_last.size(); len < full.size(); ++len) {
    WriteFileBytes(path_, full.substr(0, len));
    std::vector<JournalEntry> loaded;
    auto journal = Reopen(&loaded);
    ASSERT_TRUE(journal.ok()) << len << ": " << journal.status();
    ASSERT_EQ(loaded.size(), written.size()) << "cut at " << len;
    for (size_t i = 0; i < written.size(); ++i) ExpectSameEntry(loaded[i], written[i]);
    EXPECT_EQ((*journal)->load().dropped_bytes, len - before_last.size());
    ASSERT_TRUE((*journal)->Append(NoVerdictEntry(9)).ok());
    ASSERT_TRUE((*journal)->Close().ok());
    EXPECT_EQ(ReadFileBytes(path_).substr(0, before_last.size()), before_last);

    loaded.clear();
    ASSERT_TRUE(Reopen(&loaded).ok());
    ASSERT_EQ(loaded.size(), written.size() + 1) << "cut at " << len;
    ExpectSameEntry(loaded.back(), NoVerdictEntry(9));
  }
}

TEST_F(JournalTest, DamagedLastRecordIsDroppedAtEveryByte) {
  {
    auto journal = Journal::Open(path_, kFingerprint, false);
    ASSERT_TRUE(journal.ok());
    ASSERT_TRUE((*journal)->Append(NoVerdictEntry(1)).ok());
    ASSERT_TRUE((*journal)->Sync().ok());
  }
  const size_t before_last = ReadFileBytes(path_).size();
  {
    std::vector<JournalEntry> ignored;
    auto journal = Reopen(&ignored);
    ASSERT_TRUE(journal.ok());
    ASSERT_TRUE((*journal)->Append(VerdictEntry(2)).ok());
  }
  const std::string full = ReadFileBytes(path_);
  for (size_t i = before_last; i < full.size(); ++i) {
    std::string bad = full;
    bad[i] = static_cast<char>(bad[i] ^ 0x01);
    WriteFileBytes(path_, bad);
    std::vector<JournalEntry> loaded;
    auto journal = Reopen(&loaded);
    ASSERT_TRUE(journal.ok()) << i;
    ASSERT_EQ(loaded.size(), 1u) << "flipped byte " << i;
    ExpectSameEntry(loaded[0], NoVerdictEntry(1));
  }
}

// The reader hands records over a read buffer (64 KiB) at a time: records cut by a buffer's
// end, one larger than a buffer, and a torn last record must all come out as written, in
// order, through the batch (view) callback as through the per-entry one.
TEST_F(JournalTest, BatchedViewsSpanningReadBuffersMatchTheWrittenEntries) {
  std::vector<JournalEntry> written;
  for (int i = 0; i < 3000; ++i) {
    written.push_back(i % 3 == 0   ? VerdictEntry(i)
                      : i % 3 == 1 ? NoVerdictEntry(i)
                                   : ErrorEntry(i, absl::StrCat("5", i % 10, "3")));
  }
  JournalEntry big = VerdictEntry(5000);
  std::get<schema::Verdict>(big.outcome).judgement_id = std::string(200 << 10, 'j');
  written.insert(written.begin() + 1700, big);
  {
    auto journal = Journal::Open(path_, kFingerprint, /*resume=*/false);
    ASSERT_TRUE(journal.ok()) << journal.status();
    ASSERT_TRUE((*journal)->AppendBatch(written).ok());
    ASSERT_TRUE((*journal)->Append(VerdictEntry(9999)).ok());
  }
  const std::string full = ReadFileBytes(path_);
  WriteFileBytes(path_, full.substr(0, full.size() - 5));  // the last record torn

  std::vector<JournalEntry> loaded;
  size_t batches = 0;
  auto journal = Journal::Open(path_, kFingerprint, /*resume=*/true, {},
                               [&](absl::Span<const JournalRecordView> batch) {
                                 ++batches;
                                 for (const auto& v : batch) loaded.push_back(ToJournalEntry(v));
                               });
  ASSERT_TRUE(journal.ok()) << journal.status();
  EXPECT_GT(batches, 2u);
  EXPECT_EQ((*journal)->load().entries, written.size());
  EXPECT_GT((*journal)->load().dropped_bytes, 0u);
  ASSERT_EQ(loaded.size(), written.size());
  for (size_t i = 0; i < written.size(); ++i) {
    SCOPED_TRACE(i);
    ExpectSameEntry(loaded[i], written[i]);
  }
  ASSERT_TRUE((*journal)->Close().ok());

  std::vector<JournalEntry> one_by_one;
  ASSERT_TRUE(Reopen(&one_by_one).ok());
  ASSERT_EQ(one_by_one.size(), written.size());
  ExpectSameEntry(one_by_one[1700], big);
}

// An intact journal is reopened as it is: nothing to cut, its bytes unchanged.
TEST_F(JournalTest, IntactJournalIsLeftAsItIs) {
  {
    auto journal = Journal::Open(path_, kFingerprint, false);
    ASSERT_TRUE(journal.ok());
    ASSERT_TRUE((*journal)->Append(VerdictEntry(1)).ok());
  }
  const std::string before = ReadFileBytes(path_);
  std::vector<JournalEntry> loaded;
  {
    auto journal = Reopen(&loaded);
    ASSERT_TRUE(journal.ok());
    EXPECT_EQ((*journal)->load().dropped_bytes, 0u);
  }
  EXPECT_EQ(loaded.size(), 1u);
  EXPECT_EQ(ReadFileBytes(path_), before);
}

// The checksums are CRC-32 as zlib computes it (IEEE polynomial, reflected, init and final
// xor 0xFFFFFFFF), so journals written by any version read back: checked against a bitwise
// reference implementation, on the header and on every record of a written journal.
uint32_t ReferenceCrc32(absl::string_view bytes) {
  uint32_t crc = 0xFFFFFFFFu;
  for (char c : bytes) {
    crc ^= static_cast<uint8_t>(c);
    for (int k = 0; k < 8; ++k) crc = (crc >> 1) ^ (0xEDB88320u & (0u - (crc & 1u)));
  }
  return ~crc;
}

uint32_t U32At(absl::string_view bytes, size_t at) {
  uint32_t v = 0;
  for (int i = 0; i < 4; ++i) v |= uint32_t{static_cast<uint8_t>(bytes[at + i])} << (8 * i);
  return v;
}

TEST_F(JournalTest, ChecksumsAreZlibCrc32) {
  {
    auto journal = Journal::Open(path_, kFingerprint, /*resume=*/false);
    ASSERT_TRUE(journal.ok()) << journal.status();
    for (int i = 0; i < 20; ++i) {
      ASSERT_TRUE((*journal)->Append(i % 3 == 0 ? VerdictEntry(i) : NoVerdictEntry(i)).ok());
    }
  }
  const std::string bytes = ReadFileBytes(path_);
  ASSERT_EQ(bytes.substr(0, 8), "CTIAJNL1");
  const uint32_t n = U32At(bytes, 8);
  ASSERT_EQ(absl::string_view(bytes).substr(12, n), kFingerprint);
  EXPECT_EQ(U32At(bytes, 12 + n), ReferenceCrc32(kFingerprint));
  size_t at = 16 + n;
  int records = 0;
  while (at < bytes.size()) {
    ASSERT_LE(at + 8, bytes.size());
    const uint32_t length = U32At(bytes, at);
    ASSERT_LE(at + 8 + length, bytes.size());
    const std::string covered =
        absl::StrCat(bytes.substr(at, 4), bytes.substr(at + 8, length));  // length, payload
    EXPECT_EQ(U32At(bytes, at + 4), ReferenceCrc32(covered)) << "record " << records;
    at += 8 + length;
    ++records;
  }
  EXPECT_EQ(records, 20);
}

TEST_F(JournalTest, ConcurrentAppendsAreAllKept) {
  constexpr int kThreads = 8, kPerThread = 500;
  {
    JournalOptions options;
    options.flush_entries = 64;
    options.flush_interval = absl::Milliseconds(1);
    auto journal = Journal::Open(path_, kFingerprint, false, options);
    ASSERT_TRUE(journal.ok());
    std::vector<std::thread> threads;
    for (int t = 0; t < kThreads; ++t) {
      threads.emplace_back([&journal, t] {
        for (int i = 0; i < kPerThread; ++i) {
          JournalEntry e = ErrorEntry(i, "t" + std::to_string(t) + "-" + std::to_string(i));
          EXPECT_TRUE((*journal)->Append(e).ok());
          if (i % 100 == 0) {
            EXPECT_TRUE((*journal)->Sync().ok());
          }
        }
      });
    }
    for (auto& th : threads) th.join();
    ASSERT_TRUE((*journal)->Close().ok());
  }
  std::vector<JournalEntry> loaded;
  ASSERT_TRUE(Reopen(&loaded).ok());
  ASSERT_EQ(loaded.size(), size_t{kThreads * kPerThread});
  std::set<std::string> codes;
  std::vector<int> next(kThreads, 0);  // each thread's entries stay in its order
  for (const auto& e : loaded) {
    const std::string& code = std::get<LookupError>(e.outcome).code;
    codes.insert(code);
    int t = code[1] - '0';
    EXPECT_EQ(code, "t" + std::to_string(t) + "-" + std::to_string(next[t]++));
  }
  EXPECT_EQ(codes.size(), size_t{kThreads * kPerThread});
}

TEST_F(JournalTest, EveryReturnedAppendSurvivesAKill) {
  // A child process appends and is killed (SIGKILL) right after its last Append returned,
  // long before the flusher's interval: nothing it was told is written may be lost.
  constexpr int kEntries = 300;
  const pid_t pid = ::fork();
  ASSERT_GE(pid, 0);
  if (pid == 0) {
    JournalOptions options;
    options.flush_interval = absl::Hours(1);
    options.flush_entries = 1 << 20;
    auto journal = Journal::Open(path_, kFingerprint, false, options);
    if (!journal.ok()) ::_exit(3);
    for (int i = 0; i < kEntries; ++i) {
      if (!(*journal)->Append(NoVerdictEntry(i)).ok()) ::_exit(4);
    }
    ::kill(::getpid(), SIGKILL);
    ::_exit(5);
  }
  int status = 0;
  ASSERT_EQ(::waitpid(pid, &status, 0), pid);
  ASSERT_TRUE(WIFSIGNALED(status)) << "child exited with " << WEXITSTATUS(status);
  ASSERT_EQ(WTERMSIG(status), SIGKILL);
  std::vector<JournalEntry> loaded;
  auto journal = Reopen(&loaded);
  ASSERT_TRUE(journal.ok()) << journal.status();
  EXPECT_EQ((*journal)->load().dropped_bytes, 0u);
  ASSERT_EQ(loaded.size(), size_t{kEntries});
  for (int i = 0; i < kEntries; ++i) ExpectSameEntry(loaded[i], NoVerdictEntry(i));
}

TEST(JournalCodecTest, DecodeRejectsWhatEncodeCannotWrite) {
  std::string payload = EncodeJournalEntry(VerdictEntry(1));
  ASSERT_TRUE(DecodeJournalEntry(payload).ok());
  EXPECT_FALSE(DecodeJournalEntry(payload + "x").ok());
  EXPECT_FALSE(DecodeJournalEntry(payload.substr(0, payload.size() - 1)).ok());
  std::string bad_kind = payload;
  bad_kind[0] = 9;
  EXPECT_FALSE(DecodeJournalEntry(bad_kind).ok());
  EXPECT_FALSE(DecodeJournalEntry("").ok());
}

TEST(JournalCodecTest, FingerprintNamesEveryPart) {
  EXPECT_EQ(RunFingerprint("in.csv.gz", 42, "domain,ip:ip", "https://x"),
            "input=in.csv.gz size=42 columns=domain,ip:ip endpoint=https://x");
}

}  // namespace
}  // namespace enrich::engine
