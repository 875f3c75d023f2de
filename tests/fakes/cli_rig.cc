#include "tests/fakes/cli_rig.h"

#include <filesystem>
#include <system_error>
#include <utility>

#include "absl/time/clock.h"
#include <gtest/gtest.h>

namespace enrich::testing {

const std::string& CliBinary() {
  static const std::string path = CTIA_ENRICH_BIN;
  return path;
}

std::unique_ptr<sim::SimServer> StartSim(sim::SimOptions options) {
  auto sim = std::make_unique<sim::SimServer>(std::move(options));
  absl::StatusOr<uint16_t> port = sim->Start();
  EXPECT_TRUE(port.ok()) << "ctia-sim: " << port.status();
  return port.ok() ? std::move(sim) : nullptr;
}

std::map<std::string, uint64_t> LookupsByObservable(const sim::SimServer& sim) {
  std::map<std::string, uint64_t> asked;
  for (const auto& [client, tally] : sim.Lookups()) {
    for (const auto& [observable, n] : tally) asked[observable] += n;
  }
  return asked;
}

uintmax_t FileSize(const std::string& path) {
  std::error_code ec;
  const uintmax_t size = std::filesystem::file_size(path, ec);
  return ec ? 0 : size;
}

bool WaitForFileSize(const std::string& path, uintmax_t bytes, absl::Duration timeout) {
  const absl::Time deadline = absl::Now() + timeout;
  while (FileSize(path) < bytes) {
    if (absl::Now() > deadline) return false;
    absl::SleepFor(absl::Milliseconds(5));
  }
  return true;
}

rapidjson::Document ParseJson(const std::string& text) {
  rapidjson::Document doc;
  doc.Parse(text.data(), text.size());
  EXPECT_FALSE(doc.HasParseError()) << "not JSON: " << text;
  return doc;
}

ChildSpec CliSpec(std::vector<std::string> args, std::string stdout_path,
                  std::string stderr_path, std::string client) {
  ChildSpec spec;
  spec.program = CliBinary();
  spec.args = std::move(args);
  spec.stdout_path = std::move(stdout_path);
  spec.stderr_path = std::move(stderr_path);
  spec.env = {{"CTIA_CLIENT_ID", std::move(client)}, {"CTIA_CLIENT_SECRET", "secret"}};
  return spec;
}

absl::StatusOr<ChildProcess> StartCli(const ChildSpec& spec) {
  absl::StatusOr<ChildProcess> child = ChildProcess::Start(spec);
  EXPECT_TRUE(child.ok()) << spec.program << ": " << child.status();
  return child;
}

int RunCli(const ChildSpec& spec) {
  absl::StatusOr<ChildProcess> child = StartCli(spec);
  return child.ok() ? child->Wait() : -1;
}

CommandResult RunCliLine(const std::string& args) { return RunCommandLine(CliBinary(), args); }

}  // namespace enrich::testing
