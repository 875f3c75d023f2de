#include "tools/cli/ctia_stack.h"

#include <sys/stat.h>

#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <future>
#include <optional>

#include "absl/strings/ascii.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_split.h"
#include "absl/time/clock.h"
#include "schema/clock.h"
#include "schema/rate_spec.h"
#include "schema/status_macros.h"
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

// A fixed token for servers that do not check it (bench against a fixed-answer server).
class FixedTokenSource final : public transport::TokenSource {
 public:
  void GetToken(Callback done) override { done(std::string(kToken)); }
  void Invalidate(absl::string_view) override {}
  bool CachedToken(std::string* token) override {
    token->assign(kToken);
    return true;
  }

 private:
  static constexpr char kToken[] = "none";
};

}  // namespace

absl::StatusOr<RegionHosts> RegionPreset(absl::string_view region) {
  // reference/ctia-api.md §8.4.
  if (region == "us" || region.empty()) {
    return RegionHosts{"https://visibility.amp.cisco.com", "https://private.intel.amp.cisco.com",
                       "https://intel.amp.cisco.com"};
  }
  if (region == "eu" || region == "apjc") {
    return RegionHosts{absl::StrCat("https://visibility.", region, ".amp.cisco.com"),
                       absl::StrCat("https://private.intel.", region, ".amp.cisco.com"),
                       absl::StrCat("https://intel.", region, ".amp.cisco.com")};
  }
  return absl::InvalidArgumentError(
      absl::StrCat("--region: unknown region \"", region, "\" (expected us, eu or apjc)"));
}

absl::StatusOr<std::vector<CredentialLine>> ReadCredentialsFile(const std::string& path) {
  struct stat st {};
  if (::stat(path.c_str(), &st) != 0) {
    return absl::InvalidArgumentError(
        absl::StrCat("--credentials-file ", path, ": cannot read it"));
  }
  if ((st.st_mode & 077) != 0) {
    return absl::InvalidArgumentError(absl::StrCat(
        "--credentials-file ", path, ": refused because its mode is ",
        absl::StrFormat("%04o", st.st_mode & 07777),
        "; it holds secrets, so make it private first: chmod 600 ", path));
  }
  std::ifstream in(path);
  if (!in) {
    return absl::InvalidArgumentError(absl::StrCat("--credentials-file ", path, ": cannot open"));
  }
  std::vector<CredentialLine> out;
  std::string line;
  for (int number = 1; std::getline(in, line); ++number) {
    absl::string_view text = absl::StripAsciiWhitespace(line);
    if (text.empty() || text.front() == '#') continue;
    std::vector<std::string> fields = absl::StrSplit(text, absl::MaxSplits(':', 2));
    if (fields.size() < 2 || fields[0].empty() || fields[1].empty()) {
      // Never quote the line: it may hold a secret.
      return absl::InvalidArgumentError(
          absl::StrCat("--credentials-file ", path, ":", number,
                       ": expected client_id:client_secret[:group]"));
    }
    CredentialLine c{fields[0], fields[1], fields.size() == 3 ? fields[2] : ""};
    out.push_back(std::move(c));
  }
  if (out.empty()) {
    return absl::InvalidArgumentError(
        absl::StrCat("--credentials-file ", path, ": no credentials in it"));
  }
  return out;
}

// Members in construction order; destroyed in reverse (client before pools before threads).
struct CtiaStack::Parts {
  explicit Parts(int io_threads) : io(io_threads) {}
  std::unique_ptr<sim::SimServer> embedded;
  transport::IoThreads io;
  std::unique_ptr<transport::ConnectionPool> ctia_pool;
  std::unique_ptr<transport::ConnectionPool> token_pool;
  std::vector<std::unique_ptr<transport::OAuthTokenSource>> tokens;
  std::unique_ptr<FixedTokenSource> fixed_token;
  std::unique_ptr<transport::BeastCtiaClient> client;
  bool stopped = false;
};

absl::Status CheckCtiaFlags(const CtiaFlags& flags) {
  if (!flags.intel.empty() && flags.region.empty()) {
    // Without a region there is no host to pick: the run would otherwise go, unnoticed, to
    // the embedded ctia-sim or to --endpoint, and not to the intel asked for.
    return absl::InvalidArgumentError(absl::StrCat(
        "--intel ", flags.intel, " needs --region us, eu or apjc (it picks that region's ",
        flags.intel == "global" ? "Global-Intel" : "Private-Intel",
        " host); to reach a host of your own, give --endpoint URL without --intel"));
  }
  return absl::OkStatus();
}

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
  cmd.add_option("--region", flags.region,
                 "CTIA region preset: us, eu or apjc (token from the region's visibility host, "
                 "lookups to its Private-Intel host); --endpoint and --token-url override")
      ->check(CLI::IsMember({"us", "eu", "apjc"}));
  cmd.add_option("--intel", flags.intel,
                 "With --region: private (the region's Private-Intel host) or global (its "
                 "read-only Global-Intel host); without --region it is an error (a host of "
                 "your own: --endpoint URL alone)")
      ->default_str("private")
      ->check(CLI::IsMember({"private", "global"}));
  cmd.add_option("--token-url", flags.token_url,
                 "OAuth2 token endpoint (default: <region visibility host or endpoint>"
                 "/iroh/oauth2/token)");
  cmd.add_option("--ca-file", flags.ca_file,
                 "PEM file of CA certificates to trust for https (default: the system store)")
      ->check(CLI::ExistingFile);
  cmd.add_flag("--insecure-skip-tls-verify", flags.insecure_skip_tls_verify,
               "Do not verify the server's TLS certificate (prints a warning; tests only)");
  cmd.add_option("--credentials-file", flags.credentials_file,
                 "File (mode 0600) with one client_id:client_secret[:group] per line; several "
                 "lines rotate credentials, each group (org) has its own request budget");
  cmd.add_option("--rate-limit", flags.rate_limit,
                 "Request budget per group, N/WINDOW (e.g. 18000/1h); default: learned from "
                 "X-RateLimit-*-Limit");
  cmd.add_option("--max-wait", flags.max_wait_seconds,
                 "Longest wait for budget or a 429 before checkpointing (exit code 75)")
      ->default_val(900)
      ->check(CLI::Range(0.0, 86400.0));
  cmd.add_option("--io-threads", flags.io_threads, "Network I/O threads")
      ->default_val(1)
      ->check(CLI::Range(1, 64));
  cmd.add_option("--batch-size", flags.batch_size,
                 "Verdicts asked in one POST /ctia/graphql (one rate-limit unit); 1 = REST "
                 "lookups only. Servers without GraphQL fall back to REST by themselves")
      ->default_val(100)
      ->check(CLI::Range(1, static_cast<int>(transport::kMaxVerdictBatch)));
  cmd.add_option("--pipeline-depth", flags.pipeline_depth,
                 "HTTP/1.1 pipelining: idempotent requests in flight per connection once every "
                 "connection is busy (1 = off)")
      ->default_val(1)
      ->check(CLI::Range(1, 64));
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

namespace {

// Fail fast on an unreachable endpoint or rejected credentials: every credential asks for a
// first token. One that the token endpoint rejects (invalid_client: Unauthenticated) is retired
// with a notice, as the client retires it mid-run, and the run goes on with the others; only
// when every credential is rejected, or the endpoint cannot be reached, does the run stop here.
// `sources[i]` is the token source of `credentials[i]`.
absl::Status FirstTokens(const std::vector<std::unique_ptr<transport::OAuthTokenSource>>& sources,
                         const std::vector<CredentialLine>& credentials) {
  absl::Status rejected;
  size_t rejected_count = 0;
  for (size_t i = 0; i < sources.size(); ++i) {
    std::promise<absl::Status> got;
    sources[i]->GetToken(
        [&got](absl::StatusOr<std::string> token) { got.set_value(token.status()); });
    absl::Status status = got.get_future().get();
    if (status.ok()) continue;
    // The transport's message names the token URL and the cause; never the secret.
    if (status.code() != absl::StatusCode::kUnauthenticated || sources.size() == 1) {
      return absl::Status(status.code(),
                          absl::StrCat("cannot get a CTIA token: ", status.message()));
    }
    std::fprintf(stderr,
                 "ctia-enrich: credential %s was rejected: %.*s; retired, the run goes on with the "
                 "others\n",
                 credentials[i].client_id.c_str(),
                 static_cast<int>(status.message().size()), status.message().data());
    if (rejected.ok()) rejected = std::move(status);
    if (++rejected_count == sources.size()) {
      return absl::Status(rejected.code(),
                          absl::StrCat("cannot get a CTIA token: every credential was rejected; "
                                       "the first: ",
                                       rejected.message()));
    }
  }
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<std::unique_ptr<CtiaStack>> CtiaStack::Start(const CtiaFlags& flags) {
  ENRICH_RETURN_IF_ERROR(CheckCtiaFlags(flags));
  auto parts = std::make_unique<Parts>(flags.io_threads);
  std::string endpoint = flags.endpoint;
  std::string token_endpoint = flags.token_url;
  std::vector<CredentialLine> credentials;
  if (!flags.region.empty()) {
    ENRICH_ASSIGN_OR_RETURN(RegionHosts hosts, RegionPreset(flags.region));
    if (endpoint.empty()) {
      endpoint = flags.intel == "global" ? hosts.global_intel : hosts.private_intel;
    }
    if (token_endpoint.empty()) token_endpoint = hosts.token_base + "/iroh/oauth2/token";
  }
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
    credentials.push_back({sim_options.clients[0].id, sim_options.clients[0].secret, ""});
    std::fprintf(stderr,
                 "ctia-enrich: no --endpoint given: using the embedded ctia-sim with its demo "
                 "data at %s (offline demo; verdicts are not real intelligence)\n",
                 endpoint.c_str());
  } else if (flags.no_auth) {
    // No credentials: a fixed-answer server.
  } else if (!flags.credentials_file.empty()) {
    ENRICH_ASSIGN_OR_RETURN(credentials, ReadCredentialsFile(flags.credentials_file));
  } else {
    auto id = Env("CTIA_CLIENT_ID");
    auto secret = Env("CTIA_CLIENT_SECRET");
    if (!id.has_value() || !secret.has_value()) {
      return absl::InvalidArgumentError(
          "set CTIA_CLIENT_ID and CTIA_CLIENT_SECRET in the environment (or use "
          "--credentials-file) to the CTIA API client's credentials (they are never taken "
          "from the command line)");
    }
    credentials.push_back({*std::move(id), *std::move(secret), ""});
  }
  auto ctia_url = transport::ParseUrl(endpoint);
  if (!ctia_url.ok()) {
    return absl::InvalidArgumentError(absl::StrCat("--endpoint: ", ctia_url.status().message()));
  }
  if (token_endpoint.empty()) token_endpoint = absl::StrCat(endpoint, "/iroh/oauth2/token");
  auto token_url = transport::ParseUrl(token_endpoint);
  if (!token_url.ok()) {
    return absl::InvalidArgumentError(absl::StrCat("--token-url: ", token_url.status().message()));
  }

  transport::CtiaClientOptions client_options;
  client_options.rate_limit.max_wait = absl::Seconds(flags.max_wait_seconds);
  client_options.batch_size = static_cast<size_t>(flags.batch_size);
  client_options.batch_linger = flags.batch_linger;
  // Adaptive concurrency up to what the connections can carry (one request each, or the
  // pipeline depth each): it only ever lowers that, on 429s or a server whose latency climbs.
  client_options.max_concurrency = flags.connections * flags.pipeline_depth;
  if (!flags.rate_limit.empty()) {
    absl::StatusOr<schema::RateSpec> rate = schema::ParseRateSpec(flags.rate_limit);
    if (!rate.ok()) {
      return absl::InvalidArgumentError(absl::StrCat("--rate-limit: ", rate.status().message()));
    }
    client_options.rate_limit.limit = rate->limit;
    client_options.rate_limit.window = rate->window;
  }

  transport::PoolOptions pool_options;
  pool_options.connections = static_cast<size_t>(flags.connections);
  pool_options.pipeline_depth = static_cast<size_t>(flags.pipeline_depth);
  pool_options.request_timeout = absl::Seconds(flags.timeout_seconds);
  pool_options.first_byte_timeout = pool_options.request_timeout;
  pool_options.tls.ca_file = flags.ca_file;
  pool_options.tls.verify_peer = !flags.insecure_skip_tls_verify;
  pool_options.single_io_thread = flags.io_threads == 1;
  if (flags.insecure_skip_tls_verify) {
    std::fprintf(stderr,
                 "ctia-enrich: WARNING: --insecure-skip-tls-verify: the server's certificate is "
                 "not checked; anyone on the path can read the token and forge answers\n");
  }
  parts->ctia_pool =
      std::make_unique<transport::ConnectionPool>(parts->io.executor(), *ctia_url, pool_options);
  ENRICH_RETURN_IF_ERROR(parts->ctia_pool->setup_status());
  transport::PoolOptions token_pool_options = pool_options;
  token_pool_options.connections = 1;
  token_pool_options.pipeline_depth = 1;
  parts->token_pool = std::make_unique<transport::ConnectionPool>(parts->io.executor(),
                                                                  *token_url, token_pool_options);
  std::vector<transport::CredentialLane> lanes;
  if (credentials.empty()) {
    parts->fixed_token = std::make_unique<FixedTokenSource>();
    lanes.push_back({parts->fixed_token.get(), "default", "none"});
  }
  for (const CredentialLine& c : credentials) {
    parts->tokens.push_back(std::make_unique<transport::OAuthTokenSource>(
        *parts->token_pool, token_url->path,
        transport::ClientCredentials{c.client_id, c.client_secret},
        schema::SystemClock::Instance()));
    lanes.push_back({parts->tokens.back().get(), c.group.empty() ? "default" : c.group,
                     c.client_id});
  }
  parts->client = std::make_unique<transport::BeastCtiaClient>(*parts->ctia_pool,
                                                               std::move(lanes), client_options);

  auto stack = std::unique_ptr<CtiaStack>(new CtiaStack(std::move(parts)));
  ENRICH_RETURN_IF_ERROR(FirstTokens(stack->parts_->tokens, credentials));
  return stack;
}

uint64_t CtiaStack::token_requests() const {
  uint64_t n = 0;
  for (const auto& t : parts_->tokens) n += t->token_requests();
  return n;
}

transport::ConnectionPool& CtiaStack::ctia_pool() { return *parts_->ctia_pool; }

int ExitCodeFor(const absl::Status& status) {
  return status.code() == absl::StatusCode::kInvalidArgument ? 2 : 1;
}

}  // namespace enrich::cli
