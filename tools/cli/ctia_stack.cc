#include "tools/cli/ctia_stack.h"

#include <cstdio>
#include <cstdlib>
#include <future>
#include <optional>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "schema/clock.h"
#include "tools/sim/sim_server.h"
#include "transport/connection_pool.h"
#include "transport/io_threads.h"
#include "transport/oauth_token_source.h"
#include "transport/url.h"

namespace enrich::cli {
namespace {

std::optional<std::string> Env(const char* name) {
  const char* v = std::getenv(name);
  if (v == nullptr || *v == '\0') return std::nullopt;
  return std::string(v);
}

}  // namespace

// Members in construction order; destroyed in reverse (client before pools before threads).
struct CtiaStack::Parts {
  std::unique_ptr<sim::SimServer> embedded;
  transport::IoThreads io{1};
  std::unique_ptr<transport::ConnectionPool> ctia_pool;
  std::unique_ptr<transport::ConnectionPool> token_pool;
  std::unique_ptr<transport::OAuthTokenSource> tokens;
  std::unique_ptr<transport::BeastCtiaClient> client;
  bool stopped = false;
};

void AddCtiaFlags(CLI::App& cmd, CtiaFlags& flags) {
  cmd.add_option("--endpoint", flags.endpoint,
                 "CTIA base URL, e.g. https://private.intel.amp.cisco.com. The token comes from "
                 "<endpoint>/iroh/oauth2/token. Without it, an embedded ctia-sim with demo data "
                 "is used.");
  cmd.add_option("--connections", flags.connections, "Keep-alive connections to CTIA")
      ->default_val(16)
      ->check(CLI::Range(1, 1024));
  cmd.add_option("--timeout", flags.timeout_seconds,
                 "Seconds allowed for one HTTP request (write + whole answer)")
      ->default_val(30)
      ->check(CLI::Range(0.1, 3600.0));
}

CtiaStack::CtiaStack(std::unique_ptr<Parts> parts) : parts_(std::move(parts)) {}

CtiaStack::~CtiaStack() { Shutdown(); }

transport::BeastCtiaClient& CtiaStack::client() { return *parts_->client; }

void CtiaStack::Shutdown() {
  if (parts_->stopped) return;
  parts_->stopped = true;
  parts_->ctia_pool->Shutdown();
  parts_->token_pool->Shutdown();
  parts_->io.Stop();
  if (parts_->embedded) parts_->embedded->Stop();
}

absl::StatusOr<std::unique_ptr<CtiaStack>> CtiaStack::Start(const CtiaFlags& flags) {
  auto parts = std::make_unique<Parts>();
  std::string endpoint = flags.endpoint;
  transport::ClientCredentials credentials;
  if (endpoint.empty()) {
    sim::SimOptions sim_options;
    parts->embedded = std::make_unique<sim::SimServer>(sim_options);
    auto port = parts->embedded->Start();
    if (!port.ok()) {
      return absl::UnavailableError(
          absl::StrCat("cannot start the embedded ctia-sim: ", port.status().message()));
    }
    parts->embedded->AddJudgements(sim::DemoJudgements(absl::Now()));
    endpoint = parts->embedded->base_url();
    credentials = {sim_options.clients[0].id, sim_options.clients[0].secret};
    std::fprintf(stderr,
                 "ctia-enrich: no --endpoint given: using the embedded ctia-sim with its demo "
                 "data at %s (offline demo; verdicts are not real intelligence)\n",
                 endpoint.c_str());
  } else {
    auto id = Env("CTIA_CLIENT_ID");
    auto secret = Env("CTIA_CLIENT_SECRET");
    if (!id.has_value() || !secret.has_value()) {
      return absl::InvalidArgumentError(
          "set CTIA_CLIENT_ID and CTIA_CLIENT_SECRET in the environment to the CTIA API "
          "client's credentials (they are never taken from the command line)");
    }
    credentials = {*std::move(id), *std::move(secret)};
  }
  auto ctia_url = transport::ParseUrl(endpoint);
  if (!ctia_url.ok()) {
    return absl::InvalidArgumentError(absl::StrCat("--endpoint: ", ctia_url.status().message()));
  }
  auto token_url = transport::ParseUrl(absl::StrCat(endpoint, "/iroh/oauth2/token"));
  if (!token_url.ok()) return absl::InvalidArgumentError(token_url.status().message());

  transport::PoolOptions pool_options;
  pool_options.connections = static_cast<size_t>(flags.connections);
  pool_options.request_timeout = absl::Seconds(flags.timeout_seconds);
  parts->ctia_pool =
      std::make_unique<transport::ConnectionPool>(parts->io.executor(), *ctia_url, pool_options);
  transport::PoolOptions token_pool_options = pool_options;
  token_pool_options.connections = 1;
  parts->token_pool = std::make_unique<transport::ConnectionPool>(parts->io.executor(),
                                                                  *token_url, token_pool_options);
  parts->tokens = std::make_unique<transport::OAuthTokenSource>(
      *parts->token_pool, token_url->path, credentials, schema::SystemClock::Instance());
  parts->client = std::make_unique<transport::BeastCtiaClient>(*parts->ctia_pool, *parts->tokens);

  // Fail fast on an unreachable endpoint or rejected credentials.
  std::promise<absl::Status> got;
  parts->tokens->GetToken(
      [&got](absl::StatusOr<std::string> token) { got.set_value(token.status()); });
  auto stack = std::unique_ptr<CtiaStack>(new CtiaStack(std::move(parts)));
  if (absl::Status status = got.get_future().get(); !status.ok()) {
    // The transport's message names the token URL and the cause; never the secret.
    return absl::Status(status.code(),
                        absl::StrCat("cannot get a CTIA token: ", status.message()));
  }
  return stack;
}

int ExitCodeFor(const absl::Status& status) {
  return status.code() == absl::StatusCode::kInvalidArgument ? 2 : 1;
}

}  // namespace enrich::cli
