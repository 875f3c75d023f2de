#include "engine/byte_io.h"

#include "tests/engine/temp_dir.h"

#include <sys/wait.h>
#include <unistd.h>

#include <filesystem>
#include <random>
#include <string>
#include <tuple>
#include <vector>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

namespace enrich::engine {
namespace {

using enrich::testing::ReadFileBytes;
using enrich::testing::TempDir;
using enrich::testing::WriteFileBytes;
using ::testing::HasSubstr;

// Random bytes, compressible enough to exercise several deflate blocks but not trivially.
std::string RandomData(size_t n, uint32_t seed) {
  std::mt19937 rng(seed);
  std::string s(n, '\0');
  for (size_t i = 0; i < n; ++i) {
    s[i] = (i % 3 == 0) ? static_cast<char>(rng() & 0xff) : static_cast<char>('a' + rng() % 4);
  }
  return s;
}

absl::Status WriteInChunks(ByteSink& sink, const std::string& data, uint32_t seed) {
  std::mt19937 rng(seed);
  size_t pos = 0;
  while (pos < data.size()) {
    size_t n = std::min<size_t>(data.size() - pos, 1 + rng() % 70000);
    if (absl::Status s = sink.Write(absl::string_view(data).substr(pos, n)); !s.ok()) return s;
    pos += n;
  }
  return sink.Finish();
}

absl::StatusOr<std::string> ReadAll(ByteSource& source, uint32_t seed) {
  std::mt19937 rng(seed);
  std::string out;
  std::vector<char> buf(300000);
  while (true) {
    size_t want = 1 + rng() % buf.size();
    absl::StatusOr<size_t> n = source.Read(buf.data(), want);
    if (!n.ok()) return n.status();
    if (*n == 0) return out;
    EXPECT_LE(*n, want);
    out.append(buf.data(), *n);
  }
}

absl::StatusOr<std::string> ReadPath(const std::string& path, Compression c = Compression::kAuto) {
  absl::StatusOr<std::unique_ptr<ByteSource>> source = OpenSource(path, c);
  if (!source.ok()) return source.status();
  return ReadAll(**source, 7);
}

void WritePath(const std::string& path, const std::string& data,
               Compression c = Compression::kAuto) {
  absl::StatusOr<std::unique_ptr<ByteSink>> sink = OpenSink(path, c);
  ASSERT_TRUE(sink.ok()) << sink.status();
  ASSERT_TRUE(WriteInChunks(**sink, data, 3).ok());
}

class ByteIoRoundTripTest : public ::testing::TestWithParam<std::tuple<Compression, size_t>> {};

TEST_P(ByteIoRoundTripTest, ReadsBackWhatWasWritten) {
  auto [compression, size] = GetParam();
  TempDir dir;
  const char* ext = compression == Compression::kGzip   ? ".gz"
                    : compression == Compression::kZstd ? ".zst"
                                                        : ".csv";
  std::string path = dir.File(std::string("data") + ext);
  std::string data = RandomData(size, static_cast<uint32_t>(size));

  WritePath(path, data);
  EXPECT_EQ(dir.List(), std::set<std::string>{std::string("data") + ext});

  absl::StatusOr<std::unique_ptr<ByteSource>> source = OpenSource(path, Compression::kAuto);
  ASSERT_TRUE(source.ok()) << source.status();
  EXPECT_EQ((*source)->compression(), compression);
  absl::StatusOr<std::string> back = ReadAll(**source, 11);
  ASSERT_TRUE(back.ok()) << back.status();
  EXPECT_EQ(back->size(), data.size());
  EXPECT_TRUE(*back == data);
  EXPECT_EQ((*source)->raw_bytes_read(), ReadFileBytes(path).size());
  EXPECT_EQ((*source)->raw_size(), ReadFileBytes(path).size());
  // The end stays the end.
  char c;
  EXPECT_EQ(*(*source)->Read(&c, 1), 0u);
}

INSTANTIATE_TEST_SUITE_P(
    AllCompressions, ByteIoRoundTripTest,
    ::testing::Combine(::testing::Values(Compression::kNone, Compression::kGzip,
                                         Compression::kZstd),
                       ::testing::Values(size_t{0}, size_t{1}, size_t{(1 << 20) + 1})),
    [](const auto& p) {
      return std::string(CompressionName(std::get<0>(p.param))) + "_" +
             std::to_string(std::get<1>(p.param));
    });

TEST(ByteIoTest, ExplicitCompressionWinsOverExtensionAndMagicDetectsIt) {
  TempDir dir;
  std::string path = dir.File("data.bin");
  std::string data = RandomData(5000, 1);
  WritePath(path, data, Compression::kZstd);
  EXPECT_NE(ReadFileBytes(path), data);
  absl::StatusOr<std::unique_ptr<ByteSource>> source = OpenSource(path, Compression::kAuto);
  ASSERT_TRUE(source.ok());
  EXPECT_EQ((*source)->compression(), Compression::kZstd);
  EXPECT_EQ(*ReadAll(**source, 1), data);
}

class ByteIoDamageTest : public ::testing::TestWithParam<Compression> {
 protected:
  std::string Ext() const { return GetParam() == Compression::kGzip ? ".gz" : ".zst"; }
  std::string Name() const { return std::string(CompressionName(GetParam())); }
};

// Concatenated gzip members (RFC 1952 §2.2) and zstd frames, an empty one among them, read as
// one stream.
TEST_P(ByteIoDamageTest, ReadsEveryMemberOfConcatenatedFiles) {
  TempDir dir;
  std::string all_bytes, all_data;
  for (size_t size : {300000, 0, 10, 70000}) {
    std::string part = dir.File("part" + Ext());
    std::string data = RandomData(size, static_cast<uint32_t>(size));
    WritePath(part, data);
    all_bytes += ReadFileBytes(part);
    all_data += data;
  }
  WriteFileBytes(dir.File("all" + Ext()), all_bytes);
  absl::StatusOr<std::string> back = ReadPath(dir.File("all" + Ext()));
  ASSERT_TRUE(back.ok()) << back.status();
  EXPECT_TRUE(*back == all_data);
}

TEST_P(ByteIoDamageTest, TruncatedFileIsAnErrorAtEveryLength) {
  TempDir dir;
  std::string good = dir.File("good" + Ext());
  WritePath(good, RandomData(600, 9));
  std::string bytes = ReadFileBytes(good);
  std::string cut = dir.File("cut" + Ext());
  for (size_t len = 0; len < bytes.size(); ++len) {
    WriteFileBytes(cut, bytes.substr(0, len));
    absl::StatusOr<std::string> back = ReadPath(cut, GetParam());
    ASSERT_FALSE(back.ok()) << "length " << len;
    EXPECT_EQ(back.status().code(), absl::StatusCode::kDataLoss) << back.status();
    EXPECT_THAT(back.status().message(), HasSubstr(cut + ": ")) << len;
    EXPECT_THAT(back.status().message(), HasSubstr(Name() + " data")) << len;
  }
  WriteFileBytes(cut, bytes.substr(0, bytes.size() / 2));
  EXPECT_THAT(ReadPath(cut, GetParam()).status().message(),
              HasSubstr("truncated " + Name() + " data (unexpected end of file at byte " +
                        std::to_string(bytes.size() / 2) + ")"));
}

TEST_P(ByteIoDamageTest, CorruptByteIsAnErrorWithItsPosition) {
  TempDir dir;
  std::string path = dir.File("bad" + Ext());
  WritePath(path, RandomData(200000, 10));
  std::string bytes = ReadFileBytes(path);
  bytes[bytes.size() / 2] = static_cast<char>(bytes[bytes.size() / 2] ^ 0x5a);
  WriteFileBytes(path, bytes);
  absl::StatusOr<std::string> back = ReadPath(path);
  ASSERT_FALSE(back.ok());
  EXPECT_EQ(back.status().code(), absl::StatusCode::kDataLoss);
  EXPECT_THAT(back.status().message(), HasSubstr(path + ": corrupt " + Name() + " data at byte "));
}

TEST_P(ByteIoDamageTest, TrailingGarbageIsAnError) {
  TempDir dir;
  std::string path = dir.File("tail" + Ext());
  WritePath(path, RandomData(100, 10));
  WriteFileBytes(path, ReadFileBytes(path) + "garbage!");
  absl::StatusOr<std::string> back = ReadPath(path);
  ASSERT_FALSE(back.ok());
  EXPECT_THAT(back.status().message(), HasSubstr("corrupt " + Name() + " data at byte"));
}

INSTANTIATE_TEST_SUITE_P(Compressed, ByteIoDamageTest,
                         ::testing::Values(Compression::kGzip, Compression::kZstd),
                         [](const auto& p) { return std::string(CompressionName(p.param)); });

TEST(ByteIoTest, CompressedExtensionWithoutMagicIsAnError) {
  TempDir dir;
  WriteFileBytes(dir.File("plain.csv.gz"), "a,b\n1,2\n");
  absl::StatusOr<std::unique_ptr<ByteSource>> source =
      OpenSource(dir.File("plain.csv.gz"), Compression::kAuto);
  ASSERT_FALSE(source.ok());
  EXPECT_THAT(source.status().message(), HasSubstr("plain.csv.gz: not gzip data"));

  WriteFileBytes(dir.File("empty.zst"), "");
  source = OpenSource(dir.File("empty.zst"), Compression::kAuto);
  ASSERT_FALSE(source.ok());
  EXPECT_THAT(source.status().message(), HasSubstr("empty.zst: not zstd data (the file is empty"));
}

TEST(ByteIoTest, PlainTextWithoutMagicIsReadAsIs) {
  TempDir dir;
  WriteFileBytes(dir.File("x.csv"), "\x1f");  // shorter than any magic number
  EXPECT_EQ(*ReadPath(dir.File("x.csv")), "\x1f");
}

TEST(ByteIoTest, MissingFileErrorNamesThePath) {
  TempDir dir;
  absl::StatusOr<std::unique_ptr<ByteSource>> source =
      OpenSource(dir.File("nope.csv"), Compression::kAuto);
  ASSERT_FALSE(source.ok());
  EXPECT_EQ(source.status().code(), absl::StatusCode::kNotFound);
  EXPECT_THAT(source.status().message(), HasSubstr(dir.File("nope.csv") + ": cannot open"));
}

TEST(ByteIoTest, DirectoryIsNotAnInput) {
  TempDir dir;
  absl::StatusOr<std::unique_ptr<ByteSource>> source = OpenSource(dir.path(), Compression::kNone);
  ASSERT_FALSE(source.ok());
  EXPECT_THAT(source.status().message(), HasSubstr("is a directory"));
}

TEST(ByteIoTest, SinkWritesToPartialFileUntilFinish) {
  TempDir dir;
  std::string path = dir.File("out.csv.gz");
  WriteFileBytes(path, "old contents");
  absl::StatusOr<std::unique_ptr<ByteSink>> sink = OpenSink(path, Compression::kAuto);
  ASSERT_TRUE(sink.ok());
  std::string data = RandomData(600000, 12);
  ASSERT_TRUE((*sink)->Write(data).ok());
  EXPECT_EQ(ReadFileBytes(path), "old contents");
  std::string partial = PartialPathFor(path);
  EXPECT_EQ(partial, path + ".partial-" + std::to_string(::getpid()));
  EXPECT_EQ(dir.List(), (std::set<std::string>{
                            "out.csv.gz", "out.csv.gz.partial-" + std::to_string(::getpid())}));
  ASSERT_TRUE((*sink)->Finish().ok());
  EXPECT_EQ(dir.List(), std::set<std::string>{"out.csv.gz"});
  EXPECT_TRUE(*ReadPath(path) == data);
  EXPECT_FALSE((*sink)->Write("more").ok());
  EXPECT_FALSE((*sink)->Finish().ok());
}

TEST(ByteIoTest, ExplicitCompressionMustMatchTheData) {
  TempDir dir;
  const std::string plain = dir.File("plain.csv");
  const std::string gz = dir.File("data.bin");
  const std::string zst = dir.File("data2.bin");
  WriteFileBytes(plain, "id,domain\n1,a.example\n");
  WritePath(gz + ".gz", "id\n1\n");
  WritePath(zst + ".zst", "id\n1\n");
  std::filesystem::rename(gz + ".gz", gz);
  std::filesystem::rename(zst + ".zst", zst);

  EXPECT_EQ(*ReadPath(gz, Compression::kGzip), "id\n1\n");
  EXPECT_EQ(*ReadPath(zst, Compression::kZstd), "id\n1\n");
  EXPECT_EQ(*ReadPath(plain, Compression::kNone), "id,domain\n1,a.example\n");
  struct Mismatch {
    std::string path;
    Compression asked;
    std::string message;
  };
  for (const Mismatch& m : std::vector<Mismatch>{
           {plain, Compression::kGzip, plain + ": not gzip data (no magic bytes at byte 0)"},
           {zst, Compression::kGzip, zst + ": not gzip data (it is zstd)"},
           {gz, Compression::kZstd, gz + ": not zstd data (it is gzip)"},
           {gz, Compression::kNone,
            gz + ": gzip data (its magic bytes at byte 0), but uncompressed input was asked for"},
       }) {
    absl::StatusOr<std::string> back = ReadPath(m.path, m.asked);
    ASSERT_FALSE(back.ok()) << m.message;
    EXPECT_EQ(back.status().code(), absl::StatusCode::kInvalidArgument);
    EXPECT_EQ(back.status().message(), m.message);
  }
}

TEST(ByteIoTest, StalePartialFilesOfEndedProcessesAreRemoved) {
  TempDir dir;
  // A pid that has ended: a child that exited and was reaped.
  const pid_t dead = ::fork();
  ASSERT_GE(dead, 0);
  if (dead == 0) ::_exit(0);
  ASSERT_EQ(::waitpid(dead, nullptr, 0), dead);
  const std::string d = std::to_string(dead);
  const std::string alive = std::to_string(::getppid());
  const std::string self = std::to_string(::getpid());
  for (const std::string& name :
       {std::string("out.csv"), "out.csv.partial-" + d, "out.csv.partial-" + alive, "out.csv.partial-" + self,
        "other.csv.partial-" + d, "out.csv.partial-x" + d, "out.csv.partial-0" + d}) {
    WriteFileBytes(dir.File(name), "x");
  }
  absl::StatusOr<std::vector<std::string>> removed = RemoveStalePartialFiles(dir.File("out.csv"));
  ASSERT_TRUE(removed.ok()) << removed.status();
  EXPECT_EQ(*removed, std::vector<std::string>{dir.File("out.csv.partial-" + d)});
  EXPECT_EQ(dir.List(),
            (std::set<std::string>{"out.csv", "out.csv.partial-" + alive,
                                   "out.csv.partial-" + self, "other.csv.partial-" + d,
                                   "out.csv.partial-x" + d, "out.csv.partial-0" + d}));
  EXPECT_FALSE(RemoveStalePartialFiles(dir.File("missing/out.csv")).ok());
}

TEST(ByteIoTest, AbandonLeavesNothingAndKeepsTheOldFile) {
  TempDir dir;
  std::string path = dir.File("out.zst");
  WriteFileBytes(path, "old");
  absl::StatusOr<std::unique_ptr<ByteSink>> sink = OpenSink(path, Compression::kAuto);
  ASSERT_TRUE(sink.ok());
  ASSERT_TRUE((*sink)->Write(RandomData(400000, 13)).ok());
  (*sink)->Abandon();
  (*sink)->Abandon();
  EXPECT_EQ(dir.List(), std::set<std::string>{"out.zst"});
  EXPECT_EQ(ReadFileBytes(path), "old");
  EXPECT_FALSE((*sink)->Finish().ok());
}

TEST(ByteIoTest, DestroyingAnUnfinishedSinkAbandonsIt) {
  TempDir dir;
  {
    absl::StatusOr<std::unique_ptr<ByteSink>> sink =
        OpenSink(dir.File("out.csv"), Compression::kNone);
    ASSERT_TRUE(sink.ok());
    ASSERT_TRUE((*sink)->Write("a,b\n").ok());
  }
  EXPECT_TRUE(dir.List().empty());
}

TEST(ByteIoTest, SinkInMissingDirectoryNamesThePath) {
  TempDir dir;
  std::string path = dir.File("no/such/out.csv");
  absl::StatusOr<std::unique_ptr<ByteSink>> sink = OpenSink(path, Compression::kAuto);
  ASSERT_FALSE(sink.ok());
  EXPECT_EQ(sink.status().code(), absl::StatusCode::kNotFound);
  EXPECT_THAT(sink.status().message(), HasSubstr(path + ": cannot create"));
}

TEST(ByteIoTest, WriteFileAtomicallyReplacesTheFile) {
  TempDir dir;
  std::string path = dir.File("metrics.prom");
  WriteFileBytes(path, "old");
  ASSERT_TRUE(WriteFileAtomically(path, "new\n").ok());
  EXPECT_EQ(ReadFileBytes(path), "new\n");
  EXPECT_EQ(dir.List(), std::set<std::string>{"metrics.prom"});
}

}  // namespace
}  // namespace enrich::engine
