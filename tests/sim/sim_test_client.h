// Socket-level test helpers: a blocking HTTP/1.1 client on one 127.0.0.1 connection.
#ifndef ENRICH_TESTS_SIM_SIM_TEST_CLIENT_H_
#define ENRICH_TESTS_SIM_SIM_TEST_CLIENT_H_

#include <array>
#include <chrono>
#include <cstdint>
#include <functional>
#include <string>

#include <boost/asio/connect.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/read.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>

#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "gtest/gtest.h"
#include "rapidjson/document.h"
#include "tools/sim/sim_server.h"

namespace enrich::sim::test_support {

namespace beast = boost::beast;
namespace http = beast::http;
namespace net = boost::asio;
using tcp = net::ip::tcp;
using Response = http::response<http::string_body>;

// A blocking HTTP/1.1 client on one connection.
class TestClient {
 public:
  explicit TestClient(uint16_t port) : socket_(ioc_) {
    socket_.connect(tcp::endpoint(net::ip::make_address("127.0.0.1"), port), ec_);
  }

  bool connected() const { return !ec_ && socket_.is_open(); }
  uint16_t local_port() const {
    beast::error_code ec;
    return socket_.local_endpoint(ec).port();
  }

  // Sends one request and reads the answer; `ec` says whether that worked.
  Response Send(http::verb verb, const std::string& target, const std::string& auth = "",
                const std::string& body = "", bool keep_alive = true) {
    http::request<http::string_body> req(verb, target, 11);
    req.set(http::field::host, "127.0.0.1");
    if (!auth.empty()) req.set(http::field::authorization, auth);
    if (!body.empty()) {
      req.set(http::field::content_type, "application/json");
      req.body() = body;
    }
    req.keep_alive(keep_alive);
    req.prepare_payload();
    Response res;
    http::write(socket_, req, ec_);
    if (ec_) return res;
    http::read(socket_, buffer_, res, ec_);
    return res;
  }

  void WriteRaw(const std::string& bytes) { net::write(socket_, net::buffer(bytes), ec_); }

  Response ReadResponse() {
    Response res;
    http::read(socket_, buffer_, res, ec_);
    return res;
  }

  // True when the server closed the connection (a read sees EOF).
  bool ServerClosed() {
    char c;
    beast::error_code ec;
    socket_.read_some(net::buffer(&c, 1), ec);
    return ec == net::error::eof || ec == net::error::connection_reset;
  }

  beast::error_code ec() const { return ec_; }

  // Reads whatever arrives within `timeout` (bytes already buffered by earlier reads are not
  // included). `closed` = the server closed the connection within the time.
  struct RawRead {
    std::string bytes;
    bool closed = false;
  };
  RawRead ReadRawFor(std::chrono::milliseconds timeout) {
    RawRead out;
    std::array<char, 4096> chunk;
    std::function<void(beast::error_code, std::size_t)> on_read =
        [&](beast::error_code ec, std::size_t n) {
          out.bytes.append(chunk.data(), n);
          if (ec) {
            out.closed = ec != net::error::operation_aborted;
            return;
          }
          socket_.async_read_some(net::buffer(chunk), on_read);
        };
    socket_.async_read_some(net::buffer(chunk), on_read);
    ioc_.restart();
    ioc_.run_for(timeout);
    if (!ioc_.stopped()) {
      beast::error_code ignored;
      socket_.cancel(ignored);
      ioc_.run();  // the cancelled read completes
    }
    return out;
  }

 private:
  net::io_context ioc_;
  tcp::socket socket_;
  beast::flat_buffer buffer_;
  beast::error_code ec_;
};

// A real SimServer on 127.0.0.1, port 0, started by StartServer(); Bearer() fetches a token
// for a client (the default one unless given) through the token endpoint.
class SimServerFixture : public ::testing::Test {
 protected:
  void StartServer(SimOptions options = {}) {
    server_.reset();
    options.bind = "127.0.0.1";
    options.port = 0;
    server_ = std::make_unique<SimServer>(std::move(options));
    auto port = server_->Start();
    ASSERT_TRUE(port.ok()) << port.status();
    port_ = *port;
  }

  Response Send(http::verb verb, const std::string& target, const std::string& auth = "",
                const std::string& body = "") {
    TestClient c(port_);
    return c.Send(verb, target, auth, body);
  }

  Response Token(const std::string& id = "client", const std::string& secret = "secret") {
    return Send(http::verb::post, "/iroh/oauth2/token",
                "Basic " + absl::Base64Escape(id + ":" + secret), "grant_type=client_credentials");
  }

  std::string Bearer(const std::string& id = "client", const std::string& secret = "secret") {
    Response r = Token(id, secret);
    EXPECT_EQ(r.result_int(), 200u) << r.body();
    rapidjson::Document doc;
    doc.Parse(r.body().c_str());
    if (!doc.IsObject() || !doc.HasMember("access_token")) return "Bearer none";
    return absl::StrCat("Bearer ", doc["access_token"].GetString());
  }

  // Writes `bytes` on a fresh connection: the server must answer 400 (when it answers at all)
  // and close the connection.
  void ExpectRefusedAndClosed(const std::string& bytes) {
    TestClient c(port_);
    c.WriteRaw(bytes);
    Response r = c.ReadResponse();
    if (!c.ec()) {
      EXPECT_EQ(r.result_int(), 400u) << ::testing::PrintToString(bytes.substr(0, 64));
    }
    EXPECT_TRUE(c.ServerClosed()) << ::testing::PrintToString(bytes.substr(0, 64));
  }

  std::unique_ptr<SimServer> server_;
  uint16_t port_ = 0;
};

}  // namespace enrich::sim::test_support

#endif  // ENRICH_TESTS_SIM_SIM_TEST_CLIENT_H_
