#include "transport/internal/plain_http_answer.h"

#include <random>
#include <string>
#include <vector>

#include "absl/strings/ascii.h"
#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "boost/beast/http/parser.hpp"
#include "boost/beast/http/string_body.hpp"
#include "gtest/gtest.h"
#include "tests/fakes/differential.h"

namespace enrich::transport::internal {
namespace {

namespace http = boost::beast::http;

constexpr size_t kHeaderLimit = 64 << 10;
constexpr size_t kBodyLimit = 1 << 20;

const std::string kNginx =
    "HTTP/1.1 200 OK\r\nServer: nginx/1.22.1\r\nDate: Sun, 29 Nov 2026 18:00:00 GMT\r\n"
    "Content-Type: application/json\r\nContent-Length: 11\r\nConnection: keep-alive\r\n\r\n"
    "{\"a\":\"b c\"}";

// Whenever the plain reader takes an answer, Beast's parser (as the pool sets it up) reads the
// same bytes to the same status, fields, body, length and keep-alive.
void ExpectSameAsBeast(const std::string& data) {
  SCOPED_TRACE(absl::StrCat("data: ", absl::CEscape(data)));
  HttpResponse plain;
  plain.headers = {{"stale", "x"}, {"stale2", "y"}};  // a recycled answer
  plain.body = "stale";
  bool keep_alive = false;
  const size_t used = ReadPlainAnswer(data, kHeaderLimit, kBodyLimit, plain, &keep_alive);
  if (used == 0) return;  // Beast reads it
  http::response_parser<http::string_body> beast;
  beast.eager(true);
  beast.body_limit(kBodyLimit);
  beast.header_limit(kHeaderLimit);
  boost::beast::error_code ec;
  const size_t beast_used = beast.put(boost::asio::buffer(data), ec);
  ASSERT_FALSE(ec) << ec.message();
  ASSERT_TRUE(beast.is_done());
  EXPECT_EQ(used, beast_used);
  const auto& msg = beast.get();
  EXPECT_EQ(plain.status, static_cast<int>(msg.result_int()));
  EXPECT_EQ(plain.body, msg.body());
  EXPECT_EQ(keep_alive, beast.keep_alive());
  std::vector<std::pair<std::string, std::string>> fields;
  for (const auto& f : msg) {
    fields.emplace_back(absl::AsciiStrToLower(std::string(f.name_string())),
                        std::string(f.value()));
  }
  EXPECT_EQ(plain.headers, fields);
}

TEST(PlainHttpAnswerTest, ReadsAnNginxAnswerLikeBeast) {
  HttpResponse out;
  bool keep_alive = false;
  ASSERT_EQ(ReadPlainAnswer(kNginx, kHeaderLimit, kBodyLimit, out, &keep_alive), kNginx.size());
  EXPECT_EQ(out.status, 200);
  EXPECT_EQ(out.Header("content-type"), "application/json");
  EXPECT_EQ(out.body, "{\"a\":\"b c\"}");
  EXPECT_TRUE(keep_alive);
  ExpectSameAsBeast(kNginx);
}

TEST(PlainHttpAnswerTest, TakesOnlyWholeAnswersAndOneAtATime) {
  HttpResponse out;
  bool keep_alive = false;
  for (size_t cut = 0; cut < kNginx.size(); ++cut) {
    EXPECT_EQ(ReadPlainAnswer(kNginx.substr(0, cut), kHeaderLimit, kBodyLimit, out, &keep_alive),
              0u)
        << cut;
  }
  // Pipelined answers: the first only.
  EXPECT_EQ(ReadPlainAnswer(kNginx + kNginx, kHeaderLimit, kBodyLimit, out, &keep_alive),
            kNginx.size());
  // Limits: a header block at the limit or a body above it is left to Beast (which fails it).
  EXPECT_EQ(ReadPlainAnswer(kNginx, kNginx.size() - 11, kBodyLimit, out, &keep_alive), 0u);
  EXPECT_EQ(ReadPlainAnswer(kNginx, kHeaderLimit, 10, out, &keep_alive), 0u);
  EXPECT_EQ(ReadPlainAnswer(kNginx, kHeaderLimit, 11, out, &keep_alive), kNginx.size());
}

std::string Answer(absl::string_view status_line, absl::string_view fields, absl::string_view body) {
  return absl::StrCat(status_line, "\r\n", fields, "\r\n", body);
}

TEST(PlainHttpAnswerTest, AgreesWithBeastOnShapes) {
  std::vector<std::string> cases = {
      kNginx,
      Answer("HTTP/1.1 404 Not Found", "Content-Length: 2\r\n", "{}"),
      Answer("HTTP/1.1 429 ", "Retry-After: 3590\r\nContent-Length: 0\r\n", ""),
      Answer("HTTP/1.1 503 Service Unavailable", "content-length:5\r\nConnection: close\r\n",
             "<p/>\n"),
      Answer("HTTP/1.1 200 OK", "Content-Length: 3\r\nConnection: Keep-Alive\r\n", "abc"),
      Answer("HTTP/1.1 200 OK", "Content-Length: 3\r\nConnection: CLOSE\r\n", "abc"),
      Answer("HTTP/1.1 200 OK", "Content-Length: 3\r\nConnection: close, keep-alive\r\n", "abc"),
      Answer("HTTP/1.1 200 OK", "Content-Length: 3\r\nConnection: upgrade\r\n", "abc"),
      Answer("HTTP/1.1 200 OK", "Content-Length: 3\r\nContent-Length: 3\r\n", "abc"),
      Answer("HTTP/1.1 200 OK", "Content-Length: 03\r\n", "abc"),
      Answer("HTTP/1.1 200 OK", "Content-Length: 3 \r\n", "abc"),
      Answer("HTTP/1.1 200 OK", "Content-Length: +3\r\n", "abc"),
      Answer("HTTP/1.1 200 OK", "Content-Length: 99999999999999999999\r\n", "abc"),
      Answer("HTTP/1.1 200 OK", "Transfer-Encoding: chunked\r\n", "3\r\nabc\r\n0\r\n\r\n"),
      Answer("HTTP/1.1 200 OK", "", "no length"),
      Answer("HTTP/1.0 200 OK", "Content-Length: 3\r\n", "abc"),
      Answer("HTTP/1.1 204 No Content", "Content-Length: 3\r\n", "abc"),
      Answer("HTTP/1.1 304 Not Modified", "Content-Length: 3\r\n", "abc"),
      Answer("HTTP/1.1 101 Switching", "Upgrade: h2c\r\nContent-Length: 0\r\n", ""),
      Answer("HTTP/1.1 200 OK", "X-A:   spaced value \t \r\nContent-Length: 1\r\n", "x"),
      Answer("HTTP/1.1 200 OK", "X-A:\r\nContent-Length: 1\r\n", "x"),
      Answer("HTTP/1.1 200 OK", "X-A: folded\r\n  more\r\nContent-Length: 1\r\n", "x"),
      Answer("HTTP/1.1 200 OK", "X A: 1\r\nContent-Length: 1\r\n", "x"),
      Answer("HTTP/1.1 200 OK", ": 1\r\nContent-Length: 1\r\n", "x"),
      Answer("HTTP/1.1 200 OK", "X-A: caf\xc3\xa9\r\nContent-Length: 1\r\n", "x"),
      Answer("HTTP/1.1 200 OK", "X-A: a\x01z\r\nContent-Length: 1\r\n", "x"),
      Answer("HTTP/1.1 200 OK", "X-A: a\x7fz\r\nContent-Length: 1\r\n", "x"),
      Answer("HTTP/1.1 200 OK", "X-Next: limit=3&offset=4&search_after=id\r\nContent-Length: 1\r\n",
             "x"),
      Answer("HTTP/1.1 200 OK", "X-A: 1\nContent-Length: 1\r\n", "x"),
      Answer("HTTP/1.1 200 OK\r", "Content-Length: 1\r\n", "x"),
      Answer("HTTP/1.1 2000 OK", "Content-Length: 1\r\n", "x"),
      Answer("HTTP/1.1 20 OK", "Content-Length: 1\r\n", "x"),
      Answer("HTTP/1.1 099 Low", "Content-Length: 1\r\n", "x"),
      Answer("HTTP/1.1 600 High", "Content-Length: 1\r\n", "x"),
      Answer("HTTP/1.1 200\tTab", "Content-Length: 1\r\n", "x"),
      Answer("http/1.1 200 OK", "Content-Length: 1\r\n", "x"),
      Answer("HTTP/1.1 200 OK", "Proxy-Connection: close\r\nContent-Length: 1\r\n", "x"),
      Answer("HTTP/1.1 200 OK", "Content-Length: 0\r\n", ""),
  };
  for (const std::string& c : cases) ExpectSameAsBeast(c);
}

// Random damage to answers: whenever the plain reader takes one, Beast reads it alike.
TEST(PlainHttpAnswerTest, AgreesWithBeastOnDamagedAnswers) {
  std::mt19937 rng(1129);
  const std::string alphabet = "\r\n :\t0123456789-aZ,;\"\x01\x7f\xc3";
  int taken = 0;
  for (int i = 0; i < 20000; ++i) {
    std::string data = kNginx;
    ::enrich::testing::Damage(data, rng, alphabet);
    ExpectSameAsBeast(data);
    HttpResponse out;
    bool keep_alive = false;
    if (ReadPlainAnswer(data, kHeaderLimit, kBodyLimit, out, &keep_alive) > 0) ++taken;
    if (HasFailure()) return;
  }
  EXPECT_GT(taken, 1000);
}

}  // namespace
}  // namespace enrich::transport::internal
