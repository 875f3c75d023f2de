#include "transport/connection_pool.h"

#include "tests/fakes/await.h"
#include "tests/fakes/scripted_http_server.h"
#include "transport/io_threads.h"

#include <atomic>
#include <chrono>
#include <memory>
#include <set>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "absl/synchronization/notification.h"
#include "boost/asio/ip/tcp.hpp"
#include "boost/asio/post.hpp"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace enrich::transport {
namespace {

using ::enrich::testing::Await;
using ::enrich::testing::HttpAnswer;
using ::enrich::testing::Reply;
using ::enrich::testing::ScriptedAction;
using ::enrich::testing::ScriptedHttpServer;
using ::enrich::testing::ScriptedReply;
using ::enrich::testing::ScriptedRequest;
using ::testing::HasSubstr;
using ::testing::StartsWith;

using Result = absl::StatusOr<HttpResponse>;

HttpRequest Get(std::string target) {
  HttpRequest r;
  r.target = std::move(target);
  return r;
}

// Every test runs with two io threads (connections on strands) and with one
// (PoolOptions::single_io_thread: no strands, plain sockets read through SocketReadiness).
class ConnectionPoolTest : public ::testing::TestWithParam<bool> {
 protected:
  std::unique_ptr<ConnectionPool> MakePool(const std::string& url, PoolOptions options = {}) {
    absl::StatusOr<Url> origin = ParseUrl(url);
    EXPECT_TRUE(origin.ok()) << origin.status();
    options.single_io_thread = GetParam();
    return std::make_unique<ConnectionPool>(io_.executor(), *origin, std::move(options));
  }

  Result SendAndWait(ConnectionPool& pool, HttpRequest request) {
    return Await<Result>(
        [&](ConnectionPool::Callback done) { pool.Send(std::move(request), std::move(done)); });
  }

  // Sends `n` requests at once and waits for all answers.
  std::vector<Result> SendMany(ConnectionPool& pool, int n) {
    absl::Mutex mu;
    std::vector<Result> results;
    absl::Notification all_done;
    for (int i = 0; i < n; ++i) {
      pool.Send(Get("/r/" + std::to_string(i)), [&, n](Result r) {
        absl::MutexLock lock(&mu);
        results.push_back(std::move(r));
        if (static_cast<int>(results.size()) == n) all_done.Notify();
      });
    }
    EXPECT_TRUE(all_done.WaitForNotificationWithTimeout(absl::Seconds(20)));
    absl::MutexLock lock(&mu);
    return results;
  }

  // Sends every request at once; waits for all answers, each paired with its request's target.
  std::vector<std::pair<std::string, Result>> SendAll(ConnectionPool& pool,
                                                      const std::vector<HttpRequest>& requests) {
    absl::Mutex mu;
    std::vector<std::pair<std::string, Result>> results;
    absl::Notification all_done;
    for (const HttpRequest& request : requests) {
      pool.Send(request, [&, target = request.target, n = requests.size()](Result r) {
        absl::MutexLock lock(&mu);
        results.emplace_back(target, std::move(r));
        if (results.size() == n) all_done.Notify();
      });
    }
    EXPECT_TRUE(all_done.WaitForNotificationWithTimeout(absl::Seconds(30)));
    absl::MutexLock lock(&mu);
    return results;
  }

  IoThreads io_{GetParam() ? 1 : 2};
};

INSTANTIATE_TEST_SUITE_P(IoThreads, ConnectionPoolTest, ::testing::Bool(),
                         [](const ::testing::TestParamInfo<bool>& param) {
                           return param.param ? "OneIoThread" : "TwoIoThreads";
                         });

// Every one of `n` requests was answered 200 with its own target as the body.
void ExpectEachAnsweredWithItsTarget(const std::vector<std::pair<std::string, Result>>& results,
                                     size_t n) {
  ASSERT_EQ(results.size(), n);
  for (const auto& [target, r] : results) {
    ASSERT_TRUE(r.ok()) << target << ": " << r.status();
    EXPECT_EQ(r->body, target);
  }
}

std::vector<HttpRequest> Gets(int n) {
  std::vector<HttpRequest> out;
  for (int i = 0; i < n; ++i) out.push_back(Get("/r/" + std::to_string(i)));
  return out;
}

// A port nothing listens on: bound once, then released.
uint16_t UnusedPort() {
  boost::asio::io_context ctx;
  boost::asio::ip::tcp::acceptor acceptor(
      ctx, boost::asio::ip::tcp::endpoint(boost::asio::ip::make_address("127.0.0.1"), 0));
  return acceptor.local_endpoint().port();
}

TEST_P(ConnectionPoolTest, SendsRequestWithHostUserAgentAndLength) {
  ScriptedHttpServer server(
      [](const ScriptedRequest&) { return Reply(200, "{}", {"X-Extra: yes"}); });
  auto pool = MakePool(server.url());
  HttpRequest req;
  req.method = "POST";
  req.target = "/a/b%2Fc";
  req.headers = {{"Content-Type", "text/plain"}};
  req.body = "hello";
  Result r = SendAndWait(*pool, req);
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->status, 200);
  EXPECT_EQ(r->body, "{}");
  EXPECT_EQ(r->Header("x-extra"), "yes");
  EXPECT_EQ(r->Header("content-type"), "application/json");

  std::vector<ScriptedRequest> seen = server.recorded();
  ASSERT_EQ(seen.size(), 1u);
  EXPECT_EQ(seen[0].method, "POST");
  EXPECT_EQ(seen[0].target, "/a/b%2Fc");
  EXPECT_EQ(seen[0].Header("host"), "127.0.0.1:" + std::to_string(server.port()));
  EXPECT_EQ(seen[0].Header("user-agent"), "ctia-enrich/0.1");
  EXPECT_EQ(seen[0].Header("content-length"), "5");
  EXPECT_EQ(seen[0].Header("content-type"), "text/plain");
  EXPECT_EQ(seen[0].Header("accept"), "");
  EXPECT_EQ(seen[0].body, "hello");
}

TEST_P(ConnectionPoolTest, SequentialRequestsReuseOneConnection) {
  ScriptedHttpServer server([](const ScriptedRequest&) { return Reply(200, "ok"); });
  PoolOptions options;
  options.connections = 4;
  auto pool = MakePool(server.url(), options);
  for (int i = 0; i < 100; ++i) {
    Result r = SendAndWait(*pool, Get("/x"));
    ASSERT_TRUE(r.ok()) << r.status();
  }
  EXPECT_EQ(server.connections(), 1u);
  EXPECT_EQ(server.requests(), 100u);
  PoolCounters c = pool->Snapshot();
  EXPECT_EQ(c.requests, 100u);
  EXPECT_EQ(c.connects, 1u);
  EXPECT_EQ(c.failures, 0u);
}

TEST_P(ConnectionPoolTest, ConcurrentRequestsShareAtMostNConnections) {
  ScriptedHttpServer server([](const ScriptedRequest&) { return Reply(200, "ok"); });
  PoolOptions options;
  options.connections = 4;
  auto pool = MakePool(server.url(), options);
  std::vector<Result> results = SendMany(*pool, 100);
  ASSERT_EQ(results.size(), 100u);
  for (const Result& r : results) ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_GE(server.connections(), 1u);
  EXPECT_LE(server.connections(), 4u);
  EXPECT_EQ(server.requests(), 100u);
}

TEST_P(ConnectionPoolTest, SixtyFourConcurrentSendsOnFourSlowConnectionsAllComplete) {
  std::atomic<int> in_flight{0};
  std::atomic<int> max_in_flight{0};
  ScriptedHttpServer server([&](const ScriptedRequest& req) {
    int now = ++in_flight;
    int prev = max_in_flight.load();
    while (now > prev && !max_in_flight.compare_exchange_weak(prev, now)) {
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
    --in_flight;
    return Reply(200, req.target);
  });
  PoolOptions options;
  options.connections = 4;
  IoThreads more_io(4);
  auto pool =
      std::make_unique<ConnectionPool>(more_io.executor(), *ParseUrl(server.url()), options);
  std::vector<Result> results = SendMany(*pool, 64);
  ASSERT_EQ(results.size(), 64u);
  std::set<std::string> bodies;
  for (const Result& r : results) {
    ASSERT_TRUE(r.ok()) << r.status();
    bodies.insert(r->body);
  }
  EXPECT_EQ(bodies.size(), 64u);  // every answer went to its own request
  EXPECT_LE(server.connections(), 4u);
  EXPECT_LE(max_in_flight.load(), 4);
}

TEST_P(ConnectionPoolTest, StaleKeepAliveConnectionIsResentOnceOnAFreshOne) {
  ScriptedHttpServer server([](const ScriptedRequest&) { return Reply(200, "ok"); });
  auto pool = MakePool(server.url());
  ASSERT_TRUE(SendAndWait(*pool, Get("/1")).ok());
  server.CloseConnections();  // the server's idle timeout
  Result r = SendAndWait(*pool, Get("/2"));
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->status, 200);
  EXPECT_EQ(server.connections(), 2u);
  EXPECT_EQ(server.requests(), 2u);
  PoolCounters c = pool->Snapshot();
  EXPECT_EQ(c.stale_retries, 1u);
  EXPECT_EQ(c.connects, 2u);
  EXPECT_EQ(c.failures, 0u);
}

TEST_P(ConnectionPoolTest, StaleConnectionIsNotResentForNonIdempotentRequest) {
  ScriptedHttpServer server([](const ScriptedRequest&) { return Reply(201, "ok"); });
  auto pool = MakePool(server.url());
  ASSERT_TRUE(SendAndWait(*pool, Get("/1")).ok());
  server.CloseConnections();
  HttpRequest post = Get("/create");
  post.method = "POST";
  post.idempotent = false;
  Result r = SendAndWait(*pool, post);
  ASSERT_FALSE(r.ok());
  EXPECT_TRUE(absl::IsUnavailable(r.status())) << r.status();
  EXPECT_THAT(std::string(r.status().message()), HasSubstr(server.url()));
  EXPECT_EQ(pool->Snapshot().stale_retries, 0u);
  // The next request reconnects.
  EXPECT_TRUE(SendAndWait(*pool, Get("/3")).ok());
}

TEST_P(ConnectionPoolTest, ServerClosingRightAfterAnswerWithoutSayingSoIsSurvived) {
  ScriptedHttpServer server([](const ScriptedRequest&) {
    return ScriptedReply{HttpAnswer(200, "ok"), ScriptedAction::kReplyAndClose};
  });
  auto pool = MakePool(server.url());
  for (int i = 0; i < 5; ++i) {
    Result r = SendAndWait(*pool, Get("/x"));
    ASSERT_TRUE(r.ok()) << r.status();
  }
  EXPECT_EQ(server.requests(), 5u);
  EXPECT_EQ(server.connections(), 5u);
}

TEST_P(ConnectionPoolTest, ConnectionCloseAnswerClosesAndNextRequestReconnects) {
  ScriptedHttpServer server([](const ScriptedRequest&) {
    return ScriptedReply{HttpAnswer(200, "ok", {"Connection: close"}),
                         ScriptedAction::kReplyAndClose};
  });
  auto pool = MakePool(server.url());
  for (int i = 0; i < 3; ++i) {
    Result r = SendAndWait(*pool, Get("/x"));
    ASSERT_TRUE(r.ok()) << r.status();
    EXPECT_EQ(r->body, "ok");
  }
  EXPECT_EQ(server.connections(), 3u);
  PoolCounters c = pool->Snapshot();
  EXPECT_EQ(c.connects, 3u);
  EXPECT_EQ(c.stale_retries, 0u);  // closed on purpose, not found stale
}

TEST_P(ConnectionPoolTest, ConnectRefusedIsUnavailableNamingOrigin) {
  const std::string url = "http://127.0.0.1:" + std::to_string(UnusedPort());
  auto pool = MakePool(url);
  Result r = SendAndWait(*pool, Get("/x"));
  ASSERT_FALSE(r.ok());
  EXPECT_TRUE(absl::IsUnavailable(r.status())) << r.status();
  EXPECT_THAT(std::string(r.status().message()), StartsWith("connect to " + url + ": "));
  EXPECT_EQ(pool->Snapshot().failures, 1u);
}

TEST_P(ConnectionPoolTest, HungServerIsDeadlineExceededWithinTimeout) {
  ScriptedHttpServer server([](const ScriptedRequest&) {
    return ScriptedReply{"", ScriptedAction::kHang};
  });
  PoolOptions options;
  options.request_timeout = absl::Milliseconds(200);
  auto pool = MakePool(server.url(), options);
  const auto start = std::chrono::steady_clock::now();
  Result r = SendAndWait(*pool, Get("/x"));
  const auto elapsed = std::chrono::steady_clock::now() - start;
  ASSERT_FALSE(r.ok());
  EXPECT_TRUE(absl::IsDeadlineExceeded(r.status())) << r.status();
  EXPECT_EQ(r.status().message(), "read from " + server.url() + ": timed out after 200ms");
  EXPECT_GE(elapsed, std::chrono::milliseconds(150));
  EXPECT_LT(elapsed, std::chrono::seconds(2));
}

TEST_P(ConnectionPoolTest, OversizedBodyIsResourceExhausted) {
  ScriptedHttpServer server(
      [](const ScriptedRequest&) { return Reply(200, std::string(5000, 'x')); });
  PoolOptions options;
  options.max_response_bytes = 1000;
  auto pool = MakePool(server.url(), options);
  Result r = SendAndWait(*pool, Get("/x"));
  ASSERT_FALSE(r.ok());
  EXPECT_TRUE(absl::IsResourceExhausted(r.status())) << r.status();
  EXPECT_EQ(r.status().message(), "response from " + server.url() + " exceeds 1000 bytes");
}

TEST_P(ConnectionPoolTest, TruncatedBodyIsUnavailable) {
  ScriptedHttpServer server([](const ScriptedRequest&) {
    std::string answer = HttpAnswer(200, std::string(100, 'x'));
    answer.resize(answer.size() - 90);
    return ScriptedReply{answer, ScriptedAction::kPartialThenClose};
  });
  auto pool = MakePool(server.url());
  Result r = SendAndWait(*pool, Get("/x"));
  ASSERT_FALSE(r.ok());
  EXPECT_TRUE(absl::IsUnavailable(r.status())) << r.status();
  EXPECT_THAT(std::string(r.status().message()), HasSubstr("mid-response"));
  EXPECT_EQ(server.requests(), 1u);  // got bytes: never resent
}

TEST_P(ConnectionPoolTest, CloseWithoutReplyOnFreshConnectionIsNotResent) {
  ScriptedHttpServer server([](const ScriptedRequest&) {
    return ScriptedReply{"", ScriptedAction::kCloseWithoutReply};
  });
  auto pool = MakePool(server.url());
  Result r = SendAndWait(*pool, Get("/x"));
  ASSERT_FALSE(r.ok());
  EXPECT_TRUE(absl::IsUnavailable(r.status())) << r.status();
  EXPECT_THAT(std::string(r.status().message()), StartsWith("read from " + server.url()));
  EXPECT_EQ(server.requests(), 1u);
  EXPECT_EQ(pool->Snapshot().stale_retries, 0u);
}

TEST_P(ConnectionPoolTest, GarbageAnswerIsInvalidArgument) {
  ScriptedHttpServer server([](const ScriptedRequest&) {
    return ScriptedReply{"SPDY/9 what\r\n\r\n", ScriptedAction::kReplyAndClose};
  });
  auto pool = MakePool(server.url());
  Result r = SendAndWait(*pool, Get("/x"));
  ASSERT_FALSE(r.ok());
  EXPECT_TRUE(absl::IsInvalidArgument(r.status())) << r.status();
  EXPECT_THAT(std::string(r.status().message()), StartsWith("bad HTTP from " + server.url()));
}

TEST_P(ConnectionPoolTest, ShutdownCancelsQueuedAndInFlightRequests) {
  ScriptedHttpServer server([](const ScriptedRequest&) {
    return ScriptedReply{"", ScriptedAction::kHang};
  });
  PoolOptions options;
  options.connections = 1;
  auto pool = MakePool(server.url(), options);
  absl::Mutex mu;
  std::vector<Result> results;
  absl::Notification all_done;
  for (int i = 0; i < 3; ++i) {
    pool->Send(Get("/x"), [&](Result r) {
      absl::MutexLock lock(&mu);
      results.push_back(std::move(r));
      if (results.size() == 3) all_done.Notify();
    });
  }
  // Wait until the first request is on the wire.
  for (int i = 0; i < 200 && server.requests() == 0; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  ASSERT_EQ(server.requests(), 1u);
  pool->Shutdown();
  ASSERT_TRUE(all_done.WaitForNotificationWithTimeout(absl::Seconds(5)));
  absl::MutexLock lock(&mu);
  for (const Result& r : results) {
    EXPECT_TRUE(absl::IsCancelled(r.status())) << r.status();
  }
  Result after = SendAndWait(*pool, Get("/late"));
  EXPECT_TRUE(absl::IsCancelled(after.status())) << after.status();
}

TEST_P(ConnectionPoolTest, CallbackNeverRunsInlineInSend) {
  PoolOptions options;
  options.tls.ca_file = "/nonexistent/ca.pem";
  auto pool = MakePool("https://127.0.0.1:1", options);
  const auto caller = std::this_thread::get_id();
  Result r = Await<Result>([&](ConnectionPool::Callback done) {
    pool->Send(Get("/x"), [&, done](Result res) {
      EXPECT_NE(std::this_thread::get_id(), caller);
      done(std::move(res));
    });
  });
  EXPECT_TRUE(absl::IsFailedPrecondition(r.status())) << r.status();
}

TEST_P(ConnectionPoolTest, HeaderWithLineBreakIsRefusedBeforeSending) {
  ScriptedHttpServer server([](const ScriptedRequest&) { return Reply(200, "ok"); });
  auto pool = MakePool(server.url());
  HttpRequest req = Get("/x");
  req.headers = {{"Authorization", "Bearer abc\r\nX-Injected: 1"}};
  Result r = SendAndWait(*pool, req);
  ASSERT_FALSE(r.ok());
  EXPECT_TRUE(absl::IsInvalidArgument(r.status())) << r.status();
  EXPECT_THAT(std::string(r.status().message()), HasSubstr("header Authorization"));
  EXPECT_EQ(r.status().message().find("abc"), absl::string_view::npos);  // value not quoted
  EXPECT_EQ(server.requests(), 0u);
}

TEST_P(ConnectionPoolTest, LineBreakAnywhereInALongHeaderValueIsRefused) {
  ScriptedHttpServer server([](const ScriptedRequest&) { return Reply(200, "ok"); });
  auto pool = MakePool(server.url());
  for (const char line_break : {'\r', '\n'}) {
    for (size_t at = 0; at < 43; ++at) {
      HttpRequest req = Get("/x");
      std::string value(43, 'a');
      value[at] = line_break;
      req.headers = {{"Authorization", value}};
      Result r = SendAndWait(*pool, req);
      EXPECT_TRUE(absl::IsInvalidArgument(r.status())) << "at " << at << ": " << r.status();
    }
  }
  EXPECT_EQ(server.requests(), 0u);
  HttpRequest clean = Get("/x");
  clean.headers = {{"Authorization", std::string(40, 'a')}};
  EXPECT_TRUE(SendAndWait(*pool, clean).ok());
}

TEST_P(ConnectionPoolTest, BlankOrLineBreakInTargetOrMethodAndBadHeaderNamesAreRefused) {
  ScriptedHttpServer server([](const ScriptedRequest&) { return Reply(200, "ok"); });
  auto pool = MakePool(server.url());
  auto refused = [&](HttpRequest req, absl::string_view what) {
    Result r = SendAndWait(*pool, std::move(req));
    EXPECT_TRUE(absl::IsInvalidArgument(r.status())) << r.status();
    EXPECT_THAT(std::string(r.status().message()), HasSubstr(what));
  };
  for (const char bad : {' ', '\t', '\r', '\n'}) {
    const std::string clean = "/ctia/ip/10.0.0.1/verdict/xyz";
    for (size_t at = 1; at < clean.size(); ++at) {
      std::string target = clean;
      target[at] = bad;
      SCOPED_TRACE(absl::StrCat("at ", at, " char ", static_cast<int>(bad)));
      refused(Get(target), "bad target");
    }
    HttpRequest method = Get("/x");
    method.method = std::string("GE") + bad + "T";
    refused(method, "bad method");
  }
  for (const std::string name : {"X Bad", "X:Bad", "X\rBad", ""}) {
    HttpRequest req = Get("/x");
    req.headers = {{name, "v"}};
    refused(req, "bad header name");
  }
  EXPECT_EQ(server.requests(), 0u);
  EXPECT_TRUE(SendAndWait(*pool, Get("/ctia/ip/10.0.0.1/verdict/xyz")).ok());
}

TEST_P(ConnectionPoolTest, WithoutPipeliningNothingIsWrittenBehindAnUnansweredRequest) {
  ScriptedHttpServer server([](const ScriptedRequest& req) { return Reply(200, req.target); });
  PoolOptions options;
  options.connections = 2;
  auto pool = MakePool(server.url(), options);
  std::vector<Result> results = SendMany(*pool, 40);
  ASSERT_EQ(results.size(), 40u);
  for (const Result& r : results) ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(pool->Snapshot().pipelined, 0u);
}

// The scripted server reads one request at a time from each connection, so pipelined requests
// wait in its socket and are answered strictly in order.
TEST_P(ConnectionPoolTest, PipelinedAnswersAreMatchedToTheirRequestsInOrder) {
  ScriptedHttpServer server([](const ScriptedRequest& req) { return Reply(200, req.target); });
  PoolOptions options;
  options.connections = 2;
  options.pipeline_depth = 8;
  auto pool = MakePool(server.url(), options);
  constexpr int kRequests = 200;
  ExpectEachAnsweredWithItsTarget(SendAll(*pool, Gets(kRequests)), kRequests);
  EXPECT_LE(server.connections(), 2u);
  EXPECT_EQ(server.requests(), static_cast<size_t>(kRequests));
  const PoolCounters c = pool->Snapshot();
  EXPECT_GT(c.pipelined, 0u);
  EXPECT_EQ(c.requests, static_cast<uint64_t>(kRequests));
  EXPECT_EQ(c.stale_retries, 0u);
}

// nginx's keepalive_requests: the n-th answer on a connection says `Connection: close` and the
// server stops reading; the requests pipelined behind it were never answered and go out again.
TEST_P(ConnectionPoolTest, ConnectionClosedMidPipelineResendsTheUnansweredRequests) {
  ScriptedHttpServer server([](const ScriptedRequest& req) {
    if (req.on_connection == 2) {
      return ScriptedReply{HttpAnswer(200, req.target, {"Connection: close"}),
                           ScriptedAction::kReplyAndClose};
    }
    // The first answer on each connection comes late, so that requests queue behind it and
    // are pipelined however the test's and the pool's threads are scheduled (a loaded machine
    // could otherwise send each one after the previous answer).
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
    return Reply(200, req.target);
  });
  PoolOptions options;
  options.connections = 1;
  options.pipeline_depth = 6;
  auto pool = MakePool(server.url(), options);
  constexpr int kRequests = 30;
  ExpectEachAnsweredWithItsTarget(SendAll(*pool, Gets(kRequests)), kRequests);
  // Every answered request was answered once; what the server read beyond them was resent.
  std::set<std::string> answered;
  for (const ScriptedRequest& req : server.recorded()) {
    if (req.on_connection <= 2) {
      EXPECT_TRUE(answered.insert(req.target).second) << req.target;
    }
  }
  EXPECT_EQ(answered.size(), static_cast<size_t>(kRequests));
  const PoolCounters c = pool->Snapshot();
  EXPECT_GT(c.pipelined, 0u);
  EXPECT_GT(c.stale_retries, 0u);
  EXPECT_EQ(c.failures, 0u);
  EXPECT_GE(server.connections(), static_cast<size_t>(kRequests / 3));
}

TEST_P(ConnectionPoolTest, NonIdempotentRequestIsNeverPipelinedNorResent) {
  ScriptedHttpServer server([](const ScriptedRequest& req) {
    if (req.method == "POST") return ScriptedReply{"", ScriptedAction::kCloseWithoutReply};
    return Reply(200, req.target);
  });
  PoolOptions options;
  options.connections = 1;
  options.pipeline_depth = 4;
  auto pool = MakePool(server.url(), options);
  std::vector<HttpRequest> requests = {Get("/a"), Get("/post"), Get("/b"), Get("/c"), Get("/d")};
  requests[1].method = "POST";
  requests[1].body = "{}";
  requests[1].idempotent = false;
  const auto results = SendAll(*pool, requests);
  ASSERT_EQ(results.size(), requests.size());
  for (const auto& [target, r] : results) {
    if (target == "/post") {
      EXPECT_TRUE(absl::IsUnavailable(r.status())) << r.status();
    } else {
      ASSERT_TRUE(r.ok()) << target << ": " << r.status();
      EXPECT_EQ(r->body, target);
    }
  }
  // The POST went out alone: the server read it once, right after /a was answered, and it was
  // the last request read on its connection.
  std::vector<ScriptedRequest> seen = server.recorded();
  size_t posts = 0;
  for (const ScriptedRequest& req : seen) {
    if (req.method != "POST") continue;
    ++posts;
    for (const ScriptedRequest& other : seen) {
      if (other.connection == req.connection) {
        EXPECT_LE(other.on_connection, req.on_connection);
      }
    }
  }
  EXPECT_EQ(posts, 1u);
  ASSERT_GE(seen.size(), 2u);
  EXPECT_EQ(seen[0].target, "/a");
  EXPECT_EQ(seen[1].target, "/post");
}

TEST_P(ConnectionPoolTest, PipelinedRequestBehindATimedOutOneIsResent) {
  ScriptedHttpServer server([](const ScriptedRequest& req) {
    if (req.target == "/hang") return ScriptedReply{"", ScriptedAction::kHang};
    return Reply(200, req.target);
  });
  PoolOptions options;
  options.connections = 1;
  options.pipeline_depth = 4;
  options.request_timeout = absl::Milliseconds(300);
  auto pool = MakePool(server.url(), options);
  const auto results = SendAll(*pool, {Get("/first"), Get("/hang"), Get("/after")});
  ASSERT_EQ(results.size(), 3u);
  for (const auto& [target, r] : results) {
    if (target == "/hang") {
      EXPECT_TRUE(absl::IsDeadlineExceeded(r.status())) << r.status();
    } else {
      ASSERT_TRUE(r.ok()) << target << ": " << r.status();
      EXPECT_EQ(r->body, target);
    }
  }
  EXPECT_EQ(server.connections(), 2u);
}

// One io thread (PoolOptions::single_io_thread): requests started from callbacks go to their
// connection directly. Chains of sends from callbacks, some on connections the server closes
// after each answer, all complete, each with its own answer, never inside the Start() that
// started another request.
thread_local bool t_inside_start = false;

class ChainedExchange final : public HttpExchange {
 public:
  ChainedExchange(ConnectionPool& pool, std::string prefix, int count, absl::Mutex& mu,
                  std::vector<std::string>& bodies, absl::Notification& done, int& chains_left)
      : pool_(pool), prefix_(std::move(prefix)), count_(count), mu_(mu), bodies_(bodies),
        done_(done), chains_left_(chains_left) {}
  const HttpRequest& request() const override { return request_; }
  void Complete(const absl::Status& status, HttpResponse* response) override {
    EXPECT_FALSE(t_inside_start);
    {
      absl::MutexLock lock(&mu_);
      bodies_.push_back(status.ok() ? response->body : std::string(status.message()));
    }
    Next();
  }
  void Next() {
    if (sent_ == count_) {
      absl::MutexLock lock(&mu_);
      if (--chains_left_ == 0) done_.Notify();
      return;
    }
    request_.target = prefix_ + std::to_string(sent_++);
    t_inside_start = true;
    pool_.Start(this);
    t_inside_start = false;
  }

 private:
  ConnectionPool& pool_;
  const std::string prefix_;
  const int count_;
  absl::Mutex& mu_;
  std::vector<std::string>& bodies_;
  absl::Notification& done_;
  int& chains_left_;
  HttpRequest request_;
  int sent_ = 0;
};

TEST_P(ConnectionPoolTest, OneIoThreadChainsOfStartsFromCallbacksAllComplete) {
  std::atomic<int> answered{0};
  ScriptedHttpServer server([&](const ScriptedRequest& req) {
    // Every third answer closes its connection without saying so.
    const bool close = ++answered % 3 == 0;
    return ScriptedReply{HttpAnswer(200, req.target),
                         close ? ScriptedAction::kReplyAndClose : ScriptedAction::kReply};
  });
  IoThreads one(1);
  PoolOptions options;
  options.connections = 4;
  options.single_io_thread = true;
  ConnectionPool pool(one.executor(), *ParseUrl(server.url()), options);
  constexpr int kChains = 8;
  constexpr int kPerChain = 40;
  absl::Mutex mu;
  std::vector<std::string> bodies;
  absl::Notification done;
  int chains_left = kChains;
  std::vector<std::unique_ptr<ChainedExchange>> chains;
  for (int c = 0; c < kChains; ++c) {
    chains.push_back(std::make_unique<ChainedExchange>(pool, "/c" + std::to_string(c) + "/",
                                                       kPerChain, mu, bodies, done, chains_left));
  }
  // The first sends come from the io thread too, so every Start() takes the direct path.
  boost::asio::post(one.executor(), [&] {
    for (auto& chain : chains) chain->Next();
  });
  ASSERT_TRUE(done.WaitForNotificationWithTimeout(absl::Seconds(60)));
  std::set<std::string> expected;
  for (int c = 0; c < kChains; ++c) {
    for (int i = 0; i < kPerChain; ++i) expected.insert(absl::StrCat("/c", c, "/", i));
  }
  absl::MutexLock lock(&mu);
  EXPECT_EQ(std::set<std::string>(bodies.begin(), bodies.end()), expected);
  EXPECT_EQ(bodies.size(), expected.size());
  EXPECT_LE(pool.Snapshot().connects, server.connections());
  EXPECT_EQ(pool.Snapshot().failures, 0u);
}

}  // namespace
}  // namespace enrich::transport
