// Bad requests against a real SimServer on 127.0.0.1:0: each gets a clean HTTP error or a
// closed connection, memory stays bounded, and the server keeps serving afterwards.

#include <atomic>
#include <cstdint>
#include <fstream>
#include <string>
#include <thread>

#include <boost/asio/write.hpp>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "rapidjson/document.h"
#include "tests/sim/sim_test_client.h"
#include "tools/sim/sim_server.h"

namespace enrich::sim {
namespace {

using test_support::Response;
using test_support::TestClient;
using ::testing::HasSubstr;
namespace http = boost::beast::http;
namespace net = boost::asio;

constexpr uint64_t kMiB = 1024 * 1024;

// This process's resident set size in bytes (the server runs in it), from /proc.
uint64_t ResidentBytes() {
  std::ifstream status("/proc/self/status");
  std::string line;
  while (std::getline(status, line)) {
    if (line.rfind("VmRSS:", 0) != 0) continue;
    std::vector<std::string> parts = absl::StrSplit(line, ' ', absl::SkipEmpty());
    uint64_t kib = 0;
    if (parts.size() >= 2 && absl::SimpleAtoi(parts[1], &kib)) return kib * 1024;
  }
  return 0;
}

class BadRequestTest : public test_support::SimServerFixture {
 protected:
  void SetUp() override { StartServer(); }

  // The server still answers a plain request on a new connection.
  void ExpectStillServing() {
    TestClient after(port_);
    EXPECT_EQ(after.Send(http::verb::get, "/ctia/version").result_int(), 200u);
  }
};

TEST_F(BadRequestTest, OneMegabyteHeaderIs431OrClosed) {
  TestClient c(port_);
  // Written from a thread: the server stops reading after 8 KiB, so the write may fail.
  std::thread writer([&] {
    c.WriteRaw(absl::StrCat("GET /ctia/version HTTP/1.1\r\nHost: x\r\nX-Big: ",
                            std::string(kMiB, 'a'), "\r\n\r\n"));
  });
  Response r = c.ReadResponse();
  writer.join();
  if (!c.ec()) {
    EXPECT_EQ(r.result_int(), 431u);
    EXPECT_EQ(r.body(), R"({"error":"Request header fields too large"})");
  }
  EXPECT_TRUE(c.ServerClosed());
  ExpectStillServing();
}

TEST_F(BadRequestTest, ManySmallHeadersOverTheLimitAre431) {
  TestClient c(port_);
  std::string request = "GET /ctia/version HTTP/1.1\r\nHost: x\r\n";
  for (int i = 0; i < 2000; ++i) absl::StrAppend(&request, "X-H", i, ": v\r\n");
  absl::StrAppend(&request, "\r\n");
  c.WriteRaw(request);
  Response r = c.ReadResponse();
  if (!c.ec()) {
    EXPECT_EQ(r.result_int(), 431u);
  }
  EXPECT_TRUE(c.ServerClosed());
  ExpectStillServing();
}

// The refusal comes from Content-Length alone: the 413 arrives before any body byte is sent.
TEST_F(BadRequestTest, HundredMegabyteContentLengthIsRefusedBeforeTheBody) {
  TestClient c(port_);
  c.WriteRaw(absl::StrCat("POST /ctia/bulk HTTP/1.1\r\nHost: x\r\nAuthorization: ", Bearer(),
                          "\r\nContent-Type: application/json\r\nContent-Length: ", 100 * kMiB,
                          "\r\n\r\n"));
  Response r = c.ReadResponse();
  ASSERT_FALSE(c.ec()) << c.ec().message();
  EXPECT_EQ(r.result_int(), 413u);
  EXPECT_EQ(r.body(), R"({"error":"Request body too large"})");
  EXPECT_TRUE(c.ServerClosed());
  ExpectStillServing();
}

// A client that streams the 100 MB anyway is cut off after a few socket buffers: the server
// never reads (let alone buffers) the body, so memory stays flat.
TEST_F(BadRequestTest, HundredMegabyteBodyIsCutOffEarlyWithBoundedMemory) {
  const uint64_t rss_before = ResidentBytes();
  TestClient c(port_);
  std::atomic<uint64_t> written{0};
  std::atomic<bool> writing{true};
  std::thread writer([&] {
    c.WriteRaw(absl::StrCat("POST /ctia/judgement HTTP/1.1\r\nHost: x\r\nContent-Length: ",
                            100 * kMiB, "\r\n\r\n"));
    const std::string chunk(kMiB, 'x');
    while (!c.ec() && written.load() < 100 * kMiB) {
      c.WriteRaw(chunk);
      if (!c.ec()) written += chunk.size();
    }
    writing = false;
  });
  uint64_t rss_peak = rss_before;
  while (writing.load()) {
    rss_peak = std::max(rss_peak, ResidentBytes());
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  writer.join();
  rss_peak = std::max(rss_peak, ResidentBytes());
  EXPECT_TRUE(c.ec()) << "the server took the whole 100 MB body";
  EXPECT_LT(written.load(), 100 * kMiB);
  // Socket buffers and the client's own 1 MiB chunk, not the body: generous bound.
  EXPECT_LT(rss_peak - rss_before, 48 * kMiB) << "written " << written.load();
  ExpectStillServing();
}

TEST_F(BadRequestTest, ChunkedBodyPastTheLimitIsRefusedWhileStreaming) {
  SimOptions options;
  options.body_limit = kMiB;
  StartServer(options);
  TestClient c(port_);
  std::thread writer([&] {
    c.WriteRaw("POST /ctia/judgement HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n");
    const std::string chunk = absl::StrCat("10000\r\n", std::string(0x10000, 'x'), "\r\n");
    for (int i = 0; i < 128 && !c.ec(); ++i) c.WriteRaw(chunk);  // 8 MiB
  });
  Response r = c.ReadResponse();
  writer.join();
  if (!c.ec()) {
    EXPECT_EQ(r.result_int(), 413u);
  }
  ExpectStillServing();
}

TEST_F(BadRequestTest, InvalidJsonIs400AndTheConnectionStaysUsable) {
  const std::string auth = Bearer();
  TestClient c(port_);
  for (const std::string& body :
       {std::string("{\"observable\":"), std::string("not json"), std::string("{\"a\":1}}"),
        std::string("\xff\xfe{}", 4)}) {
    Response r = c.Send(http::verb::post, "/ctia/judgement", auth, body);
    ASSERT_FALSE(c.ec()) << c.ec().message();
    EXPECT_EQ(r.result_int(), 400u) << body;
    rapidjson::Document doc;
    doc.Parse(r.body().c_str());
    ASSERT_TRUE(doc.IsObject()) << r.body();
    EXPECT_EQ(std::string(doc["type"].GetString()), "json-parse-exception");
  }
  // Same connection, next request.
  EXPECT_EQ(c.Send(http::verb::get, "/ctia/status", auth).result_int(), 200u);
}

TEST_F(BadRequestTest, DeepJsonNestingIs400OverHttp) {
  const std::string auth = Bearer();
  TestClient c(port_);
  const std::string deep = std::string(500000, '[') + std::string(500000, ']');
  for (const char* target : {"/ctia/judgement", "/ctia/bulk", "/ctia/graphql"}) {
    Response r = c.Send(http::verb::post, target, auth, deep);
    ASSERT_FALSE(c.ec()) << c.ec().message();
    EXPECT_EQ(r.result_int(), 400u) << target;
    EXPECT_THAT(r.body(), HasSubstr("nested deeper than 64")) << target;
  }
  Response r = c.Send(http::verb::post, "/ctia/judgement", auth,
                      std::string(200000, '{') + "\"a\":1");
  EXPECT_EQ(r.result_int(), 400u);
  EXPECT_EQ(c.Send(http::verb::get, "/ctia/status", auth).result_int(), 200u);
}

TEST_F(BadRequestTest, GarbageOfEveryKindLeavesTheServerServing) {
  static constexpr char kNuls[] = "GET /\0\0\0 HTTP/1.1\r\n\r\n";
  for (const std::string& garbage :
       {std::string(kNuls, sizeof(kNuls) - 1), std::string(64 * 1024, '\n'),
        std::string("GET /ctia/version HTTP/1.1\r\nHost x\r\n\r\n"),
        std::string("GET /ctia/version HTTP/1.1\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\n"),
        std::string("POST /ctia/judgement HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n"),
        std::string("\x80\x81\x82\x83\r\n\r\n")}) {
    ExpectRefusedAndClosed(garbage);
  }
  ExpectStillServing();
}

}  // namespace
}  // namespace enrich::sim
