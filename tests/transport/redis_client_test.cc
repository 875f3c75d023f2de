// RedisClient against a real redis-server (tests/transport/redis_server.h): commands, scripts,
// authentication, and a Redis that is absent, killed, restarted or hung.

#include "transport/redis/redis_client.h"

#include <atomic>
#include <chrono>
#include <future>
#include <memory>
#include <string>
#include <vector>

#include "absl/strings/match.h"
#include "absl/synchronization/mutex.h"
#include "gtest/gtest.h"
#include "tests/transport/redis_server.h"
#include "transport/io_threads.h"
#include "transport/redis/redis_endpoint.h"
#include "transport/redis/redis_reconnect.h"

namespace enrich::transport {
namespace {

using enrich::testing::Call;
using enrich::testing::RedisServer;
using enrich::testing::WaitUp;
using Steady = std::chrono::steady_clock;

RedisEndpoint Endpoint(const std::string& url) {
  auto e = ParseRedisUrl(url);
  EXPECT_TRUE(e.ok()) << e.status();
  return *e;
}

TEST(RedisEndpointTest, ParsesHostPortDbAndCredentials) {
  auto e = ParseRedisUrl("redis://alice:s3cret@redis.example:6380/4");
  ASSERT_TRUE(e.ok()) << e.status();
  EXPECT_EQ(e->host, "redis.example");
  EXPECT_EQ(e->port, 6380);
  EXPECT_EQ(e->db, 4);
  EXPECT_EQ(e->user, "alice");
  EXPECT_EQ(e->password, "s3cret");
  EXPECT_EQ(e->Redacted(), "redis://***@redis.example:6380/4");

  auto plain = ParseRedisUrl("redis://127.0.0.1");
  ASSERT_TRUE(plain.ok());
  EXPECT_EQ(plain->port, 6379);
  EXPECT_EQ(plain->db, 0);
  EXPECT_EQ(plain->Redacted(), "redis://127.0.0.1:6379/0");

  auto v6 = ParseRedisUrl("redis://[::1]:7000");
  ASSERT_TRUE(v6.ok());
  EXPECT_EQ(v6->host, "::1");

  auto sock = ParseRedisUrl("unix:///run/redis.sock?db=2");
  ASSERT_TRUE(sock.ok());
  EXPECT_EQ(sock->unix_path, "/run/redis.sock");
  EXPECT_EQ(sock->db, 2);
}

TEST(RedisEndpointTest, ErrorsNeverHoldThePassword) {
  for (const char* url : {"redis://:hunter2@h:99999", "redis://:hunter2@h/x", "http://:hunter2@h",
                          "redis://:hunter2@", "redis://:hunter2@h/1/2"}) {
    auto e = ParseRedisUrl(url);
    ASSERT_FALSE(e.ok()) << url;
    EXPECT_EQ(e.status().code(), absl::StatusCode::kInvalidArgument);
    EXPECT_FALSE(absl::StrContains(e.status().message(), "hunter2")) << e.status();
  }
}

TEST(RedisReconnectTest, BacksOffExponentiallyUpToTheCapAndResetsOnConnect) {
  RedisReconnect r({absl::Milliseconds(100), absl::Seconds(1), 2.0, 0.2, 7});
  const absl::Duration first = r.OnFailure();
  EXPECT_GE(first, absl::Milliseconds(80));
  EXPECT_LE(first, absl::Milliseconds(100));
  const absl::Duration second = r.OnFailure();
  EXPECT_GE(second, absl::Milliseconds(160));
  EXPECT_LE(second, absl::Milliseconds(200));
  for (int i = 0; i < 10; ++i) r.OnFailure();
  const absl::Duration capped = r.OnFailure();
  EXPECT_GE(capped, absl::Milliseconds(800));
  EXPECT_LE(capped, absl::Seconds(1));
  EXPECT_EQ(r.failures(), 13);
  r.OnConnected();
  EXPECT_LE(r.OnFailure(), absl::Milliseconds(100));
}

class RedisClientTest : public ::testing::Test {
 protected:
  RedisServer server_;
  IoThreads io_{2};
};

TEST_F(RedisClientTest, SetsAndGetsBinaryValues) {
  ASSERT_TRUE(server_.running());
  RedisClient client(io_.executor(), Endpoint(server_.url()));
  const std::string value("a\0b\r\nc", 6);
  auto set = Call(client, {"SET", "k", value});
  ASSERT_TRUE(set.ok()) << set.status();
  EXPECT_EQ(set->type, RedisReply::Type::kStatus);
  auto get = Call(client, {"GET", "k"});
  ASSERT_TRUE(get.ok());
  EXPECT_EQ(get->str, value);
  auto missing = Call(client, {"GET", "nope"});
  ASSERT_TRUE(missing.ok());
  EXPECT_TRUE(missing->is_nil());
  EXPECT_TRUE(client.up());
  EXPECT_EQ(client.health().connects, 1);
}

// Many commands in flight on one connection, and replies far larger than one read (hiredis
// reads 16 KiB at a time; the adapter must not wait for an edge that already passed).
TEST_F(RedisClientTest, PipelinesManyCommandsAndLargeReplies) {
  RedisClient client(io_.executor(), Endpoint(server_.url()));
  constexpr int kCommands = 5000;
  std::atomic<int> ok{0};
  std::promise<void> done;
  std::atomic<int> left{kCommands};
  for (int i = 0; i < kCommands; ++i) {
    client.Command({"INCR", "counter"}, [&](absl::StatusOr<RedisReply> r) {
      if (r.ok()) ++ok;
      if (--left == 0) done.set_value();
    });
  }
  ASSERT_EQ(done.get_future().wait_for(std::chrono::seconds(30)), std::future_status::ready);
  EXPECT_EQ(ok.load(), kCommands);
  auto counter = Call(client, {"GET", "counter"});
  ASSERT_TRUE(counter.ok());
  EXPECT_EQ(counter->str, std::to_string(kCommands));

  const std::string big(1 << 20, 'x');
  ASSERT_TRUE(Call(client, {"SET", "big", big}).ok());
  for (int i = 0; i < 5; ++i) {
    auto r = Call(client, {"GET", "big"});
    ASSERT_TRUE(r.ok()) << r.status();
    EXPECT_EQ(r->str.size(), big.size());
  }
}

TEST_F(RedisClientTest, AnErrorReplyIsNotUnavailable) {
  RedisClient client(io_.executor(), Endpoint(server_.url()));
  ASSERT_TRUE(Call(client, {"SET", "s", "v"}).ok());
  auto r = Call(client, {"LPUSH", "s", "x"});
  ASSERT_FALSE(r.ok());
  EXPECT_FALSE(IsRedisUnavailable(r.status()));
  EXPECT_TRUE(absl::StrContains(r.status().message(), "WRONGTYPE")) << r.status();
}

TEST_F(RedisClientTest, ScriptsRunBySha1AndReloadAfterAFlush) {
  RedisClient client(io_.executor(), Endpoint(server_.url()));
  RedisScript script("return {KEYS[1], ARGV[1]}");
  auto eval = [&] {
    std::promise<absl::StatusOr<RedisReply>> p;
    client.Eval(script, {"key"}, {"arg"}, [&](absl::StatusOr<RedisReply> r) { p.set_value(r); });
    return p.get_future().get();
  };
  for (int round = 0; round < 2; ++round) {
    auto r = eval();
    ASSERT_TRUE(r.ok()) << r.status();
    ASSERT_EQ(r->elements.size(), 2u);
    EXPECT_EQ(r->elements[0].str, "key");
    EXPECT_EQ(r->elements[1].str, "arg");
    auto exists = Call(client, {"SCRIPT", "EXISTS", script.sha1()});
    ASSERT_TRUE(exists.ok());
    EXPECT_EQ(exists->elements.at(0).integer, 1);  // loaded by the first EVAL
    ASSERT_TRUE(Call(client, {"SCRIPT", "FLUSH"}).ok());
  }
}

TEST(RedisAuthTest, AuthenticatesAndNeverShowsThePassword) {
  RedisServer server({"--requirepass", "pa55word"});
  ASSERT_TRUE(server.running());
  IoThreads io(1);
  RedisClient good(io.executor(),
                   Endpoint(absl::StrCat("redis://:pa55word@127.0.0.1:", server.port(), "/3")));
  ASSERT_TRUE(Call(good, {"SET", "k", "in-db-3"}).ok());
  EXPECT_EQ(good.name(), absl::StrCat("redis://***@127.0.0.1:", server.port(), "/3"));

  RedisClient bad(io.executor(),
                  Endpoint(absl::StrCat("redis://:wrong-secret@127.0.0.1:", server.port())));
  auto r = Call(bad, {"GET", "k"});
  EXPECT_FALSE(r.ok());
  for (int i = 0; i < 500 && bad.health().last_error.ok(); ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  const absl::Status last = bad.health().last_error;
  EXPECT_TRUE(absl::StrContains(last.message(), "authentication failed")) << last;
  EXPECT_FALSE(absl::StrContains(last.message(), "wrong-secret")) << last;
  EXPECT_FALSE(absl::StrContains(r.status().message(), "wrong-secret")) << r.status();
}

TEST_F(RedisClientTest, UnreachableRedisFailsFastWithADistinctStatus) {
  const int port = server_.port();
  server_.Kill();
  RedisClient client(io_.executor(),
                     Endpoint(absl::StrCat("redis://:topsecret@127.0.0.1:", port)));
  for (int i = 0; i < 20; ++i) {
    const auto start = Steady::now();
    auto r = Call(client, {"GET", "k"});
    const auto took = Steady::now() - start;
    ASSERT_FALSE(r.ok());
    EXPECT_TRUE(IsRedisUnavailable(r.status())) << r.status();
    EXPECT_LT(took, std::chrono::milliseconds(1500));  // the 2 s timeout is never waited out
    EXPECT_FALSE(absl::StrContains(r.status().message(), "topsecret"));
  }
  EXPECT_EQ(client.health().state, RedisHealth::State::kDown);
  EXPECT_TRUE(absl::StrContains(client.health().last_error.message(), "127.0.0.1"));
}

TEST_F(RedisClientTest, KilledMidRunFailsFastThenReconnectsWhenItRestarts) {
  RedisClient client(io_.executor(), Endpoint(server_.url()));
  ASSERT_TRUE(Call(client, {"SET", "k", "v"}).ok());
  server_.Kill();
  int unavailable = 0;
  const auto start = Steady::now();
  for (int i = 0; i < 50; ++i) {
    auto r = Call(client, {"GET", "k"});
    ASSERT_FALSE(r.ok());
    if (IsRedisUnavailable(r.status())) ++unavailable;
  }
  EXPECT_EQ(unavailable, 50);
  EXPECT_LT(Steady::now() - start, std::chrono::seconds(10));
  EXPECT_EQ(client.health().state, RedisHealth::State::kDown);

  ASSERT_TRUE(server_.Restart());
  ASSERT_TRUE(WaitUp(client, 20));
  auto r = Call(client, {"GET", "k"});
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_TRUE(r->is_nil());  // a new, empty server
  EXPECT_EQ(client.health().connects, 2);
}

// Commands written on a connection the killed server closed: write(2) raises SIGPIPE there,
// which must not end the process (SIGPIPE's default action, here as in ctia-enrich).
TEST_F(RedisClientTest, WritesToAKilledServerDoNotEndTheProcess) {
  RedisClient client(io_.executor(), Endpoint(server_.url()));
  ASSERT_TRUE(Call(client, {"PING"}).ok());
  // The server stops reading: the commands fill both socket buffers, and the client waits to
  // write more. Killed with unread data, the server's socket answers with a reset; the
  // client's next write meets it.
  server_.Freeze();
  const std::string big(256 * 1024, 'x');
  constexpr int kCommands = 64;
  std::atomic<int> failed{0};
  for (int i = 0; i < kCommands; ++i) {
    client.Command({"SET", absl::StrCat("k", i), big},
                   [&failed](absl::StatusOr<RedisReply> r) { failed += r.ok() ? 0 : 1; });
  }
  std::this_thread::sleep_for(std::chrono::milliseconds(200));
  server_.Kill();
  for (int i = 0; i < 1000 && failed.load() < kCommands; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  EXPECT_EQ(failed.load(), kCommands);
}

TEST_F(RedisClientTest, AHungRedisTimesOutAndTheClientRecovers) {
  RedisClientOptions options;
  options.timeout = absl::Milliseconds(300);
  RedisClient client(io_.executor(), Endpoint(server_.url()), options);
  ASSERT_TRUE(Call(client, {"PING"}).ok());
  server_.Freeze();
  const auto start = Steady::now();
  auto r = Call(client, {"GET", "k"});
  const auto took = Steady::now() - start;
  server_.Thaw();
  ASSERT_FALSE(r.ok());
  EXPECT_TRUE(IsRedisUnavailable(r.status())) << r.status();
  EXPECT_TRUE(absl::StrContains(r.status().message(), "timed out")) << r.status();
  EXPECT_GE(took, std::chrono::milliseconds(250));
  EXPECT_LT(took, std::chrono::seconds(5));
  ASSERT_TRUE(WaitUp(client, 20));
  auto ping = Call(client, {"PING"});
  EXPECT_TRUE(ping.ok()) << ping.status();
}

}  // namespace
}  // namespace enrich::transport
