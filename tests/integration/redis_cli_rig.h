#ifndef ENRICH_TESTS_INTEGRATION_REDIS_CLI_RIG_H_
#define ENRICH_TESTS_INTEGRATION_REDIS_CLI_RIG_H_

// The fixture of the integration tests that run the ctia-enrich binary with `--redis`: a real
// redis-server (tests/transport/redis_server.h) started for each test on 127.0.0.1 at a free
// port, a temp dir, and on top of the CLI rig (cli_rig.h) the binary started or run with its
// stderr in a file of that dir, `--redis URL` appended to a command line, and several workers
// started at once and waited for.

#include "tests/fakes/cli_rig.h"
#include "tests/transport/redis_server.h"

#include <functional>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"
#include <gtest/gtest.h>

namespace enrich::testing {

class RedisCliTest : public ::testing::Test {
 protected:
  void SetUp() override { ASSERT_TRUE(redis_.running()); }

  // `args`, then `--redis URL` of the test's redis-server.
  std::vector<std::string> WithRedis(std::vector<std::string> args) const {
    args.insert(args.end(), {"--redis", redis_.url()});
    return args;
  }

  // The bytes of the file `name` in the temp dir ("" while it does not exist).
  std::string Read(const std::string& name) const { return ReadFileBytes(dir_.File(name)); }

  // ctia-enrich with `args`, its stderr in the file `stderr_name` of the temp dir; a failure
  // to start fails the test.
  absl::StatusOr<ChildProcess> Start(std::vector<std::string> args,
                                     const std::string& stderr_name) {
    return StartCli(CliSpec(std::move(args), "", dir_.File(stderr_name)));
  }

  // Runs to the end: whether it exited 0; a failed expectation (with its stderr) if not.
  bool RunOk(std::vector<std::string> args, const std::string& stderr_name) {
    const int code = RunCli(CliSpec(std::move(args), "", dir_.File(stderr_name)));
    EXPECT_EQ(code, 0) << Read(stderr_name);
    return code == 0;
  }

  // One worker per command line of `args`, all started before any is waited for (`midway`
  // runs in between); worker w's stderr in `<prefix><w>.txt`. Whether all started and exited
  // 0; a failed expectation (with the worker's stderr) for each that did not.
  bool RunWorkers(
      const std::vector<std::vector<std::string>>& args, const std::string& prefix,
      const std::function<void()>& midway = [] {}) {
    std::vector<ChildProcess> workers;
    for (size_t w = 0; w < args.size(); ++w) {
      absl::StatusOr<ChildProcess> child = Start(args[w], absl::StrCat(prefix, w, ".txt"));
      if (!child.ok()) return false;
      workers.push_back(*std::move(child));
    }
    midway();
    bool all_ok = true;
    for (size_t w = 0; w < workers.size(); ++w) {
      const int code = workers[w].Wait();
      EXPECT_EQ(code, 0) << Read(absl::StrCat(prefix, w, ".txt"));
      all_ok = all_ok && code == 0;
    }
    return all_ok;
  }

  RedisServer redis_;
  TempDir dir_;
};

}  // namespace enrich::testing

#endif  // ENRICH_TESTS_INTEGRATION_REDIS_CLI_RIG_H_
