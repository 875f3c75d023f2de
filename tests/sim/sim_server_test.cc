// Socket-level tests: a real SimServer on 127.0.0.1, port 0, and a small synchronous Beast
// client. Only the loopback address is used.

#include "tools/sim/sim_server.h"

#include <atomic>
#include <string>
#include <thread>
#include <vector>

#include <boost/asio/connect.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/read.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>

#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "rapidjson/document.h"
#include "tests/sim/sim_test_client.h"

namespace enrich::sim {
namespace {

namespace beast = boost::beast;
namespace http = beast::http;
namespace net = boost::asio;
using tcp = net::ip::tcp;
using ::testing::HasSubstr;

using Response = http::response<http::string_body>;
using test_support::TestClient;

class SimServerTest : public test_support::SimServerFixture {};

TEST_F(SimServerTest, StartsOnAFreePortAndAnswersVersion) {
  StartServer();
  EXPECT_NE(port_, 0);
  EXPECT_EQ(server_->port(), port_);
  EXPECT_EQ(server_->base_url(), absl::StrCat("http://127.0.0.1:", port_));
  TestClient c(port_);
  Response r = c.Send(http::verb::get, "/ctia/version");
  ASSERT_FALSE(c.ec()) << c.ec().message();
  EXPECT_EQ(r.result_int(), 200u);
  EXPECT_EQ(r[http::field::content_type], "application/json;charset=utf-8");
  EXPECT_EQ(r["X-Content-Type-Options"], "nosniff");
  EXPECT_EQ(r["X-Ctim-Version"], "1.3.29");
}

TEST_F(SimServerTest, SecondServerOnSamePortFailsUnavailable) {
  StartServer();
  SimOptions options;
  options.port = port_;
  SimServer other(options);
  auto port = other.Start();
  EXPECT_EQ(port.status().code(), absl::StatusCode::kUnavailable);
  EXPECT_THAT(std::string(port.status().message()), HasSubstr("127.0.0.1"));
}

TEST_F(SimServerTest, KeepAliveServesHundredRequestsOnOneConnection) {
  StartServer();
  server_->AddJudgements(DemoJudgements(absl::Now()));
  const std::string auth = Bearer();
  TestClient c(port_);
  ASSERT_TRUE(c.connected());
  const uint16_t local = c.local_port();
  for (int i = 0; i < 100; ++i) {
    Response r = c.Send(http::verb::get, "/ctia/domain/MALWARE-C2.example/verdict", auth);
    ASSERT_FALSE(c.ec()) << "request " << i << ": " << c.ec().message();
    ASSERT_EQ(r.result_int(), 200u) << r.body();
    ASSERT_TRUE(r.keep_alive());
  }
  EXPECT_EQ(c.local_port(), local);
  const SimCounters counters = server_->Counters();
  EXPECT_EQ(counters.verdict_requests, 100u);
  EXPECT_EQ(counters.total, 101u);
}

TEST_F(SimServerTest, ConnectionCloseIsHonoured) {
  StartServer();
  TestClient c(port_);
  Response r = c.Send(http::verb::get, "/ctia/version", "", "", /*keep_alive=*/false);
  EXPECT_EQ(r.result_int(), 200u);
  EXPECT_FALSE(r.keep_alive());
  EXPECT_TRUE(c.ServerClosed());
}

TEST_F(SimServerTest, FiftyConcurrentConnections) {
  SimOptions options;
  options.threads = 2;
  StartServer(options);
  server_->AddJudgements(DemoJudgements(absl::Now()));
  const std::string auth = Bearer();
  std::atomic<int> ok{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < 50; ++t) {
    threads.emplace_back([&] {
      TestClient c(port_);
      for (int i = 0; i < 10; ++i) {
        Response r = c.Send(http::verb::get, "/ctia/ip/198.51.100.7/verdict", auth);
        if (!c.ec() && r.result_int() == 200 && r.body().find("Malicious") != std::string::npos) {
          ++ok;
        }
      }
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_EQ(ok.load(), 500);
}

TEST_F(SimServerTest, PostThenVerdictOverHttp) {
  StartServer();
  const std::string auth = Bearer();
  TestClient c(port_);
  Response r = c.Send(http::verb::post, "/ctia/judgement", auth,
                      R"({"observable":{"type":"ip","value":"203.0.113.9"},"source":"s",)"
                      R"("priority":90,"confidence":"High","severity":"High","disposition":3})");
  ASSERT_EQ(r.result_int(), 201u) << r.body();
  const std::string location(r[http::field::location]);
  EXPECT_THAT(location, HasSubstr(absl::StrCat("http://127.0.0.1:", port_, "/ctia/judgement/")));
  r = c.Send(http::verb::get, "/ctia/ip/203.0.113.9/verdict", auth);
  EXPECT_EQ(r.result_int(), 200u);
  EXPECT_THAT(r.body(), HasSubstr(location));
  EXPECT_EQ(server_->JudgementCount(), 1u);
}

TEST_F(SimServerTest, ExpectContinueBodyIsRead) {
  StartServer();
  const std::string auth = Bearer();
  const std::string body =
      R"({"observable":{"type":"ip","value":"203.0.113.10"},"source":"s",)"
      R"("priority":90,"confidence":"High","severity":"High"})";
  TestClient c(port_);
  c.WriteRaw(absl::StrCat("POST /ctia/judgement HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: ",
                          auth, "\r\nContent-Type: application/json\r\nContent-Length: ",
                          body.size(), "\r\nExpect: 100-continue\r\n\r\n"));
  Response interim = c.ReadResponse();
  ASSERT_FALSE(c.ec()) << c.ec().message();
  EXPECT_EQ(interim.result_int(), 100u);
  c.WriteRaw(body);
  Response r = c.ReadResponse();
  EXPECT_EQ(r.result_int(), 201u) << r.body();
}

TEST_F(SimServerTest, GarbageGets400AndServerStaysUp) {
  StartServer();
  // The start of a TLS ClientHello, embedded NULs included.
  static constexpr char kTlsHello[] = "\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03\r\n\r\n";
  for (const std::string& garbage :
       {std::string(kTlsHello, sizeof(kTlsHello) - 1),
        std::string("GET / HTTP/9.9 nonsense\r\n\r\n"), std::string("NOT HTTP AT ALL\r\n\r\n"),
        std::string("GET /ctia/version HTTP/1.1\r\nContent-Length: -5\r\n\r\n")}) {
    ExpectRefusedAndClosed(garbage);
  }
  TestClient after(port_);
  EXPECT_EQ(after.Send(http::verb::get, "/ctia/version").result_int(), 200u);
}

TEST_F(SimServerTest, PeerThatHangsUpMidRequestDoesNotHurtTheServer) {
  StartServer();
  {
    TestClient c(port_);
    c.WriteRaw("POST /ctia/judgement HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n{\"a");
  }
  TestClient after(port_);
  EXPECT_EQ(after.Send(http::verb::get, "/ctia/version").result_int(), 200u);
}

TEST_F(SimServerTest, OversizedBodyGets413) {
  SimOptions options;
  options.body_limit = 1024;
  StartServer(options);
  TestClient c(port_);
  Response r = c.Send(http::verb::post, "/ctia/judgement", Bearer(), std::string(2048, 'x'));
  EXPECT_EQ(r.result_int(), 413u);
  EXPECT_TRUE(c.ServerClosed());
}

TEST_F(SimServerTest, DefaultBodyLimitIs16MiB) {
  StartServer();
  TestClient c(port_);
  c.WriteRaw(absl::StrCat("POST /ctia/bulk HTTP/1.1\r\nHost: x\r\nContent-Length: ",
                          16 * 1024 * 1024 + 1, "\r\n\r\n"));
  EXPECT_EQ(c.ReadResponse().result_int(), 413u);
}

TEST_F(SimServerTest, OversizedHeaderGets431) {
  StartServer();
  TestClient c(port_);
  c.WriteRaw(absl::StrCat("GET /ctia/version HTTP/1.1\r\nHost: x\r\nX-Big: ",
                          std::string(16 * 1024, 'a'), "\r\n\r\n"));
  EXPECT_EQ(c.ReadResponse().result_int(), 431u);
}

TEST_F(SimServerTest, IdleConnectionIsClosedAfterTimeout) {
  SimOptions options;
  options.idle_timeout = absl::Milliseconds(200);
  StartServer(options);
  TestClient c(port_);
  ASSERT_TRUE(c.connected());
  EXPECT_TRUE(c.ServerClosed());  // blocks until the server drops the idle connection
}

TEST_F(SimServerTest, StalledPartialRequestIsClosedAfterTheIdleTimeout) {
  SimOptions options;
  options.idle_timeout = absl::Milliseconds(200);
  StartServer(options);
  TestClient c(port_);
  c.WriteRaw("GET /ctia/version HTTP/1.1\r\nHost: x\r\n");  // never finished
  EXPECT_TRUE(c.ServerClosed());  // blocks until the server drops it
  TestClient after(port_);
  EXPECT_EQ(after.Send(http::verb::get, "/ctia/version").result_int(), 200u);
}

TEST_F(SimServerTest, StopClosesConnectionsAndIsIdempotent) {
  StartServer();
  TestClient c(port_);
  EXPECT_EQ(c.Send(http::verb::get, "/ctia/version").result_int(), 200u);
  server_->Stop();
  server_->Stop();
  EXPECT_TRUE(c.ServerClosed());
  TestClient late(port_);
  EXPECT_FALSE(late.connected() && !late.Send(http::verb::get, "/ctia/version").body().empty());
}

}  // namespace
}  // namespace enrich::sim
