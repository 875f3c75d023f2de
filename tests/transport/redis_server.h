#ifndef ENRICH_TESTS_TRANSPORT_REDIS_SERVER_H_
#define ENRICH_TESTS_TRANSPORT_REDIS_SERVER_H_

// A real redis-server for the Redis tests (never a mock): started on 127.0.0.1 at a free port
// in a temporary directory, without persistence; it can be killed and restarted on the same
// port to test a lost Redis. Plus Call(), a blocking wrapper of RedisClient::Command for tests.

#include <arpa/inet.h>
#include <netinet/in.h>
#include <signal.h>
#include <spawn.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <future>
#include <string>
#include <thread>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"
#include "gtest/gtest.h"
#include "transport/redis/redis_client.h"

extern char** environ;

namespace enrich::testing {

class RedisServer {
 public:
  // `extra`: more redis-server options, e.g. {"--requirepass", "pw"}.
  explicit RedisServer(std::vector<std::string> extra = {}) : extra_(std::move(extra)) {
    char tmpl[] = "/tmp/enrich-redis-XXXXXX";
    dir_ = ::mkdtemp(tmpl);
    for (int attempt = 0; attempt < 20 && pid_ <= 0; ++attempt) {
      port_ = FreePort();
      if (!Spawn()) Reap();  // the port was taken meanwhile: try another
    }
  }
  ~RedisServer() {
    Kill();
    std::error_code ignored;
    std::filesystem::remove_all(dir_, ignored);
  }

  bool running() const { return pid_ > 0; }
  int port() const { return port_; }
  std::string url(int db = 0) const { return absl::StrCat("redis://127.0.0.1:", port_, "/", db); }

  // SIGSTOP / SIGCONT: a server that accepts nothing and answers nothing (a hung Redis).
  void Freeze() { ::kill(pid_, SIGSTOP); }
  void Thaw() { ::kill(pid_, SIGCONT); }
  // SIGKILL: connections drop at once, nothing is saved.
  void Kill() {
    if (pid_ <= 0) return;
    ::kill(pid_, SIGKILL);
    Reap();
  }
  // Starts again on the same port (empty: no persistence).
  bool Restart() {
    Kill();
    for (int attempt = 0; attempt < 50; ++attempt) {
      if (Spawn()) return true;
      Reap();
      std::this_thread::sleep_for(std::chrono::milliseconds(100));
    }
    return false;
  }

 private:
  static int FreePort() {
    int fd = ::socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    addr.sin_port = 0;
    ::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr));
    socklen_t len = sizeof(addr);
    ::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len);
    ::close(fd);
    return ntohs(addr.sin_port);
  }

  static bool Accepts(int port) {
    int fd = ::socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    addr.sin_port = htons(static_cast<uint16_t>(port));
    const bool ok = ::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) == 0;
    ::close(fd);
    return ok;
  }

  // Whether this server's own log says it listens: the port accepting is not enough, another
  // process (a test of another checkout) may have taken it between FreePort() and the bind.
  bool LogSaysReady(const std::string& log) const {
    std::ifstream in(log);
    std::string line;
    while (std::getline(in, line)) {
      if (line.find("Ready to accept connections") != std::string::npos) return true;
    }
    return false;
  }

  // Starts redis-server and waits until it accepts connections; false if it exited (port
  // clash) or did not come up in 10 s.
  bool Spawn() {
    const std::string port = std::to_string(port_);
    const std::string log = dir_ + "/redis.log";
    std::error_code ignored;
    std::filesystem::remove(log, ignored);  // a restart's log says nothing of the last run
    std::vector<std::string> args = {"redis-server", "--port", port, "--bind", "127.0.0.1",
                                     "--save", "", "--appendonly", "no", "--dir", dir_,
                                     "--logfile", log, "--daemonize", "no"};
    args.insert(args.end(), extra_.begin(), extra_.end());
    std::vector<char*> argv;
    for (std::string& a : args) argv.push_back(a.data());
    argv.push_back(nullptr);
    if (::posix_spawnp(&pid_, "redis-server", nullptr, nullptr, argv.data(), environ) != 0) {
      pid_ = -1;
      ADD_FAILURE() << "redis-server not found: tools/setup-deps.sh installs it";
      return false;
    }
    for (int i = 0; i < 200; ++i) {
      if (Accepts(port_) && LogSaysReady(log)) return true;
      int status = 0;
      if (::waitpid(pid_, &status, WNOHANG) == pid_) {
        pid_ = -1;
        return false;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
    return false;
  }

  void Reap() {
    if (pid_ > 0) {
      ::kill(pid_, SIGKILL);
      int status = 0;
      ::waitpid(pid_, &status, 0);
    }
    pid_ = -1;
  }

  std::vector<std::string> extra_;
  std::string dir_;
  int port_ = 0;
  pid_t pid_ = -1;
};

// Sends `args` and waits for the answer (at most 10 s).
inline absl::StatusOr<transport::RedisReply> Call(transport::RedisClient& client,
                                                  std::vector<std::string> args) {
  auto promise = std::make_shared<std::promise<absl::StatusOr<transport::RedisReply>>>();
  auto future = promise->get_future();
  client.Command(std::move(args),
                 [promise](absl::StatusOr<transport::RedisReply> r) { promise->set_value(r); });
  if (future.wait_for(std::chrono::seconds(10)) != std::future_status::ready) {
    return absl::DeadlineExceededError("test: no answer in 10 s");
  }
  return future.get();
}

// Waits until `client` is up (at most `seconds`).
inline bool WaitUp(transport::RedisClient& client, int seconds = 10) {
  for (int i = 0; i < seconds * 100; ++i) {
    if (client.up()) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  return false;
}

}  // namespace enrich::testing

#endif  // ENRICH_TESTS_TRANSPORT_REDIS_SERVER_H_
