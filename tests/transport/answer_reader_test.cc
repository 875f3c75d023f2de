// The pool's one answer parser: whole plain answers in one pass, anything else (split over
// reads, chunked, HEAD, ended by EOF) through Beast's parser, errors as Status.

#include "transport/internal/answer_reader.h"

#include <initializer_list>
#include <string>

#include "absl/status/status.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace enrich::transport::internal {
namespace {

using ::testing::HasSubstr;
using ::testing::StartsWith;

constexpr size_t kHeaderLimit = 64 << 10;
constexpr size_t kBodyLimit = 1 << 10;

const std::string kPlain = "HTTP/1.1 200 OK\r\nContent-Length: 5\r\nX-A: b\r\n\r\nhello";

class AnswerReaderTest : public ::testing::Test {
 protected:
  // Feeds `chunks` one after the other as a connection's buffer receives them, reading after
  // each; returns the last progress.
  AnswerReader::Progress Feed(std::initializer_list<std::string> chunks, bool head = false) {
    AnswerReader::Progress progress;
    progress.kind = AnswerReader::Progress::kNeedMore;
    for (const std::string& chunk : chunks) {
      buffer_ += chunk;
      // As PoolConnection::ParseAnswers: read while bytes are left and the reader takes some.
      do {
        progress = reader_.Read(buffer_, head, out_);
        buffer_.erase(0, progress.used);
      } while (progress.kind == AnswerReader::Progress::kPartial && !buffer_.empty());
      if (progress.kind == AnswerReader::Progress::kComplete ||
          progress.kind == AnswerReader::Progress::kError) {
        break;
      }
    }
    return progress;
  }

  AnswerReader reader_{kHeaderLimit, kBodyLimit};
  HttpResponse out_;
  std::string buffer_;
};

TEST_F(AnswerReaderTest, WholePlainAnswerIsReadInOnePass) {
  const AnswerReader::Progress p = reader_.Read(kPlain + "next", false, out_);
  EXPECT_EQ(p.kind, AnswerReader::Progress::kComplete);
  EXPECT_EQ(p.used, kPlain.size());
  EXPECT_TRUE(p.headers_done);
  EXPECT_TRUE(p.keep_alive);
  EXPECT_EQ(out_.status, 200);
  EXPECT_EQ(out_.body, "hello");
  EXPECT_EQ(out_.Header("x-a"), "b");
  EXPECT_FALSE(reader_.got_some());
}

TEST_F(AnswerReaderTest, AnswerSplitAtEveryByteIsReadWhole) {
  for (size_t cut = 1; cut < kPlain.size(); ++cut) {
    SCOPED_TRACE(cut);
    buffer_.clear();
    const AnswerReader::Progress p = Feed({kPlain.substr(0, cut), kPlain.substr(cut)});
    ASSERT_EQ(p.kind, AnswerReader::Progress::kComplete);
    EXPECT_EQ(out_.body, "hello");
    EXPECT_EQ(out_.Header("x-a"), "b");
    EXPECT_TRUE(buffer_.empty());
  }
}

TEST_F(AnswerReaderTest, ChunkedAnswerAndConnectionCloseAreReadByBeast) {
  const AnswerReader::Progress p =
      Feed({"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n"
            "3\r\nabc\r\n2\r\nde\r\n0\r\n\r\n"});
  ASSERT_EQ(p.kind, AnswerReader::Progress::kComplete);
  EXPECT_FALSE(p.keep_alive);
  EXPECT_EQ(out_.body, "abcde");
}

TEST_F(AnswerReaderTest, AnswerToHeadHasNoBodyWhateverItsLength) {
  const AnswerReader::Progress p =
      Feed({"HTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\n"}, /*head=*/true);
  ASSERT_EQ(p.kind, AnswerReader::Progress::kComplete);
  EXPECT_EQ(p.used, 38u);
  EXPECT_TRUE(out_.body.empty());
}

TEST_F(AnswerReaderTest, AnswerWithoutLengthEndsAtEof) {
  const AnswerReader::Progress p = Feed({"HTTP/1.1 200 OK\r\n\r\nuntil eof"});
  EXPECT_EQ(p.kind, AnswerReader::Progress::kPartial);
  EXPECT_TRUE(p.headers_done);
  EXPECT_TRUE(reader_.got_some());
  bool keep_alive = true;
  ASSERT_TRUE(reader_.FinishAtEof(&keep_alive));
  EXPECT_FALSE(keep_alive);
  EXPECT_EQ(out_.body, "until eof");
}

TEST_F(AnswerReaderTest, EofInsideALengthIsNotAnAnswer) {
  Feed({"HTTP/1.1 200 OK\r\nContent-Length: 9\r\n\r\nhalf"});
  bool keep_alive = true;
  EXPECT_FALSE(reader_.FinishAtEof(&keep_alive));
  EXPECT_TRUE(reader_.got_some());
  reader_.Reset();
  EXPECT_FALSE(reader_.got_some());
}

TEST_F(AnswerReaderTest, GarbageIsInvalidArgumentNamingTheOrigin) {
  const AnswerReader::Progress p = Feed({"SSH-2.0-OpenSSH_9.2\r\n\r\n"});
  ASSERT_EQ(p.kind, AnswerReader::Progress::kError);
  const absl::Status status = reader_.ErrorStatus(p.error, "http://ctia.test");
  EXPECT_TRUE(absl::IsInvalidArgument(status));
  EXPECT_THAT(std::string(status.message()), StartsWith("bad HTTP from http://ctia.test: "));
}

TEST_F(AnswerReaderTest, BodyOverTheLimitIsResourceExhausted) {
  const AnswerReader::Progress p = Feed({"HTTP/1.1 200 OK\r\nContent-Length: 2000\r\n\r\n"});
  ASSERT_EQ(p.kind, AnswerReader::Progress::kError);
  const absl::Status status = reader_.ErrorStatus(p.error, "http://ctia.test");
  EXPECT_TRUE(absl::IsResourceExhausted(status));
  EXPECT_THAT(std::string(status.message()), HasSubstr("exceeds 1024 bytes"));
}

}  // namespace
}  // namespace enrich::transport::internal
