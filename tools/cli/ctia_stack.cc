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
#include "absl/strings/strip.h"
#include "absl/time/clock.h"
#include "schema/clock.h"
#include "schema/rate_spec.h"
#include "schema/status_macros.h"
#include "tools/sim/sim_server.h"
#include "transport/connection_pool.h"
#include "transport/dual_intel_source.h"
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

// One CTIA host's side of the stack: pools, token sources and client. Members in
// construction order; destroyed in reverse (client before token sources before pools).
struct IntelParts {
  std::unique_ptr<transport::ConnectionPool> ctia_pool;
  std::unique_ptr<transport::ConnectionPool> token_pool;
  std::vector<std::unique_ptr<transport::OAuthTokenSource>> tokens;
  std::unique_ptr<FixedTokenSource> fixed_token;
  std::unique_ptr<transport::BeastCtiaClient> client;
  std::vector<CredentialLine> credentials;  // of `tokens`, in order
  void Shutdown() {
    ctia_pool->Shutdown();
    token_pool->Shutdown();
  }
};

// Members in construction order; destroyed in reverse (the merge before the clients before
// the io threads).
struct CtiaStack::Parts {
  explicit Parts(int io_threads) : io(io_threads) {}
  std::unique_ptr<sim::SimServer> embedded;
  transport::IoThreads io;
  IntelParts main;                     // the only intel, or Private-Intel under --intel both
  std::unique_ptr<IntelParts> global;  // Global-Intel under --intel both
  std::unique_ptr<transport::DualIntelSource> dual;
  transport::MergeRule rule = transport::MergeRule::kCtia;  // under --intel both
  transport::IntelEndpoints where;                          // under --intel both
  bool stopped = false;
};

absl::Status CheckCtiaFlags(const CtiaFlags& flags) {
  const bool both = flags.intel == "both";
  if (both && flags.region.empty() && (flags.endpoint.empty() || flags.global_endpoint.empty())) {
    return absl::InvalidArgumentError(
        "--intel both needs --region us, eu or apjc (that region's Private-Intel and "
        "Global-Intel hosts), or both hosts given: --endpoint URL (Private-Intel) and "
        "--global-endpoint URL (Global-Intel)");
  }
  if (!both && !flags.intel.empty() && flags.region.empty()) {
    // Without a region there is no host to pick: the run would otherwise go, unnoticed, to
    // the embedded ctia-sim or to --endpoint, and not to the intel asked for.
    return absl::InvalidArgumentError(absl::StrCat(
        "--intel ", flags.intel, " needs --region us, eu or apjc (it picks that region's ",
        flags.intel == "global" ? "Global-Intel" : "Private-Intel",
        " host); to reach a host of your own, give --endpoint URL without --intel"));
  }
  if (!both) {
    // The global side's flags and the merge mean nothing with one intel: refused rather than
    // ignored, so a run never looks in one intel believing it looks in both.
    for (const auto& [flag, value] :
         {std::pair<const char*, const std::string*>{"--global-endpoint", &flags.global_endpoint},
          {"--global-credentials-file", &flags.global_credentials_file},
          {"--global-rate-limit", &flags.global_rate_limit},
          {"--merge", &flags.merge}}) {
      if (!value->empty()) {
        return absl::InvalidArgumentError(absl::StrCat(
            flag, " needs --intel both (a lookup in Private-Intel and Global-Intel at once)"));
      }
    }
  }
  if (!flags.merge.empty()) {
    ENRICH_RETURN_IF_ERROR(transport::ParseMergeRule(flags.merge).status());
  }
  return absl::OkStatus();
}

std::string JournalEndpoint(const CtiaFlags& flags) {
  if (flags.intel != "both") return flags.endpoint;
  auto host = [&flags](const std::string& endpoint, absl::string_view intel) {
    return endpoint.empty() ? absl::StrCat("region:", flags.region, ":", intel) : endpoint;
  };
  return absl::StrCat(host(flags.endpoint, "private"), " + ",
                      host(flags.global_endpoint, "global"),
                      " merge:", flags.merge.empty() ? "ctia" : flags.merge);
}

void AddCtiaFlags(CLI::App& cmd, CtiaFlags& flags) {
  cmd.add_option("--endpoint", flags.endpoint,
                 "CTIA base URL, e.g. https://private.intel.amp.cisco.com. The token comes from "
                 "<endpoint>/iroh/oauth2/token. Without it, an embedded ctia-sim with demo data "
                 "is used. Under --intel both: the Private-Intel URL (beside --global-endpoint)");
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
                 "With --region: private (the region's Private-Intel host), global (its "
                 "read-only Global-Intel host) or both (each observable looked up in both at "
                 "once, merged by --merge; the ctia_intel column says which decided). both "
                 "also works with two hosts of your own: --endpoint URL (private) and "
                 "--global-endpoint URL. Otherwise, without --region it is an error (a host "
                 "of your own: --endpoint URL alone)")
      ->default_str("private")
      ->check(CLI::IsMember({"private", "global", "both"}));
  cmd.add_option("--global-endpoint", flags.global_endpoint,
                 "--intel both: the Global-Intel base URL (default: the --region's "
                 "https://intel[.eu|.apjc].amp.cisco.com). Its token comes from --token-url, "
                 "else the region's visibility host, else <global-endpoint>/iroh/oauth2/token");
  cmd.add_option("--global-credentials-file", flags.global_credentials_file,
                 "--intel both: credentials file (as --credentials-file) for Global-Intel; "
                 "default: the same credentials as Private-Intel (CTIA_CLIENT_ID/SECRET or "
                 "--credentials-file)");
  cmd.add_option("--global-rate-limit", flags.global_rate_limit,
                 "--intel both: Global-Intel's own request budget, N/WINDOW (--rate-limit is "
                 "Private-Intel's); default: learned from its X-RateLimit-*-Limit");
  cmd.add_option("--merge", flags.merge,
                 "--intel both: which verdict a row gets. ctia (default): CTIA's own verdict "
                 "order over the two deciding judgements: higher priority (counted only when "
                 "both verdicts carry their judgement's details, else left out), then "
                 "disposition Clean < Malicious < Suspicious < Common < Unknown, then the "
                 "earlier valid_time.start_time; a full tie goes to private. private-first: "
                 "the private verdict if there is one, else the global. both: as ctia, and "
                 "the other intel's verdict in its own columns. An observable known to one "
                 "intel only gets that one's verdict; a lookup that failed in either intel "
                 "fails (error:<code>), except a global failure under private-first beside a "
                 "private verdict. Example: --region eu --intel both --merge private-first")
      ->check(CLI::IsMember({"ctia", "private-first", "both"}));
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

transport::BeastCtiaClient& CtiaStack::client() { return *parts_->main.client; }

transport::VerdictSource& CtiaStack::verdicts() {
  if (parts_->dual != nullptr) return *parts_->dual;
  return *parts_->main.client;
}

transport::BeastCtiaClient* CtiaStack::global_client() {
  return parts_->global != nullptr ? parts_->global->client.get() : nullptr;
}

std::unique_ptr<transport::DualIntelSource> CtiaStack::MergeOf(
    transport::VerdictSource& private_side, transport::VerdictSource& global_side) {
  return std::make_unique<transport::DualIntelSource>(private_side, global_side, parts_->rule,
                                                      parts_->where);
}

boost::asio::any_io_executor CtiaStack::executor() { return parts_->io.executor(); }

transport::CtiaClientCounters CtiaStack::Snapshot() {
  transport::CtiaClientCounters counters = parts_->main.client->Snapshot();
  if (parts_->global != nullptr) counters += parts_->global->client->Snapshot();
  return counters;
}

void CtiaStack::Shutdown() {
  if (parts_->stopped) return;
  parts_->stopped = true;
  parts_->main.Shutdown();
  if (parts_->global != nullptr) parts_->global->Shutdown();
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

namespace {

// Where one intel's client goes and with which credentials.
struct IntelTarget {
  std::string endpoint;
  std::string endpoint_flag;  // the flag that gives `endpoint`, named in its errors
  std::string token_endpoint;  // "" = <endpoint>/iroh/oauth2/token
  std::vector<CredentialLine> credentials;  // empty: a fixed token (bench --no-auth)
  std::string rate_limit;
  std::string rate_flag;
  bool global = false;  // Global-Intel under --intel both
};

// The credentials of `file` (`flag` names it in errors), or without one those of the
// environment.
absl::StatusOr<std::vector<CredentialLine>> CredentialsFrom(const std::string& file,
                                                            absl::string_view flag) {
  if (!file.empty()) {
    absl::StatusOr<std::vector<CredentialLine>> lines = ReadCredentialsFile(file);
    if (lines.ok() || flag == "--credentials-file") return lines;
    absl::string_view message = lines.status().message();
    absl::ConsumePrefix(&message, "--credentials-file");
    return absl::Status(lines.status().code(), absl::StrCat(flag, message));
  }
  auto id = Env("CTIA_CLIENT_ID");
  auto secret = Env("CTIA_CLIENT_SECRET");
  if (!id.has_value() || !secret.has_value()) {
    return absl::InvalidArgumentError(
        "set CTIA_CLIENT_ID and CTIA_CLIENT_SECRET in the environment (or use "
        "--credentials-file) to the CTIA API client's credentials (they are never taken "
        "from the command line)");
  }
  return std::vector<CredentialLine>{{*std::move(id), *std::move(secret), ""}};
}

// Starts the embedded ctia-sim with its demo data: the target of a run without an endpoint.
absl::StatusOr<IntelTarget> StartEmbedded(std::unique_ptr<sim::SimServer>& embedded,
                                          IntelTarget target) {
  sim::SimOptions sim_options;
  embedded = std::make_unique<sim::SimServer>(sim_options);
  auto port = embedded->Start();
  if (!port.ok()) {
    return absl::UnavailableError(
        absl::StrCat("cannot start the embedded ctia-sim: ", port.status().message()));
  }
  embedded->AddJudgements(sim::DemoJudgements(absl::Now()));
  target.endpoint = embedded->base_url();
  target.credentials = {{sim_options.clients[0].id, sim_options.clients[0].secret, ""}};
  std::fprintf(stderr,
               "ctia-enrich: no --endpoint given: using the embedded ctia-sim with its demo "
               "data at %s (offline demo; verdicts are not real intelligence)\n",
               target.endpoint.c_str());
  return target;
}

// The hosts a run talks to: one, or under --intel both Private-Intel then Global-Intel. The
// region fills what --endpoint, --global-endpoint and --token-url leave out; without any
// endpoint, the embedded ctia-sim is started.
absl::StatusOr<std::vector<IntelTarget>> ResolveTargets(
    const CtiaFlags& flags, std::unique_ptr<sim::SimServer>& embedded) {
  IntelTarget priv{flags.endpoint, "--endpoint", flags.token_url, {}, flags.rate_limit,
                   "--rate-limit"};
  IntelTarget glob{flags.global_endpoint, "--global-endpoint", flags.token_url, {},
                   flags.global_rate_limit, "--global-rate-limit"};
  if (!flags.region.empty()) {
    ENRICH_ASSIGN_OR_RETURN(RegionHosts hosts, RegionPreset(flags.region));
    if (priv.endpoint.empty()) {
      priv.endpoint = flags.intel == "global" ? hosts.global_intel : hosts.private_intel;
    }
    if (glob.endpoint.empty()) glob.endpoint = hosts.global_intel;
    // One token host for both intels: the region's visibility host.
    for (IntelTarget* t : {&priv, &glob}) {
      if (t->token_endpoint.empty()) t->token_endpoint = hosts.token_base + "/iroh/oauth2/token";
    }
  }
  if (priv.endpoint.empty()) {
    ENRICH_ASSIGN_OR_RETURN(priv, StartEmbedded(embedded, std::move(priv)));
    return std::vector<IntelTarget>{std::move(priv)};
  }
  if (!flags.no_auth) {
    ENRICH_ASSIGN_OR_RETURN(priv.credentials,
                            CredentialsFrom(flags.credentials_file, "--credentials-file"));
  }
  std::vector<IntelTarget> targets = {priv};
  if (flags.intel == "both") {
    if (flags.global_credentials_file.empty()) {
      glob.credentials = priv.credentials;
    } else {
      ENRICH_ASSIGN_OR_RETURN(
          glob.credentials,
          CredentialsFrom(flags.global_credentials_file, "--global-credentials-file"));
    }
    glob.global = true;
    targets.push_back(std::move(glob));
  }
  return targets;
}

}  // namespace

transport::VerdictDetailsOptions DetailsAsked(const CtiaFlags& flags) {
  transport::VerdictDetailsOptions details = flags.details;
  // The `ctia` and `both` merge rules rank the two verdicts by their judgements' priority first
  // (CTIA's order): each side's verdict must carry its judgement (free over GraphQL; one GET per
  // distinct judgement id over REST).
  if (flags.intel == "both" && flags.merge != "private-first") details.judgement = true;
  return details;
}

namespace {

absl::StatusOr<transport::CtiaClientOptions> ClientOptionsFor(const CtiaFlags& flags,
                                                              const IntelTarget& target) {
  transport::CtiaClientOptions options;
  options.rate_limit.max_wait = absl::Seconds(flags.max_wait_seconds);
  options.batch_size = static_cast<size_t>(flags.batch_size);
  options.batch_linger = flags.batch_linger;
  // Adaptive concurrency up to what the connections can carry (one request each, or the
  // pipeline depth each): it only ever lowers that, on 429s or a server whose latency climbs.
  options.max_concurrency = flags.connections * flags.pipeline_depth;
  options.details = DetailsAsked(flags);
  options.shared_quota = target.global ? flags.global_shared_quota : flags.shared_quota;
  if (!target.rate_limit.empty()) {
    absl::StatusOr<schema::RateSpec> rate = schema::ParseRateSpec(target.rate_limit);
    if (!rate.ok()) {
      return absl::InvalidArgumentError(
          absl::StrCat(target.rate_flag, ": ", rate.status().message()));
    }
    options.rate_limit.limit = rate->limit;
    options.rate_limit.window = rate->window;
  }
  return options;
}

transport::PoolOptions PoolOptionsFor(const CtiaFlags& flags) {
  transport::PoolOptions options;
  options.connections = static_cast<size_t>(flags.connections);
  options.pipeline_depth = static_cast<size_t>(flags.pipeline_depth);
  options.request_timeout = absl::Seconds(flags.timeout_seconds);
  options.first_byte_timeout = options.request_timeout;
  options.tls.ca_file = flags.ca_file;
  options.tls.verify_peer = !flags.insecure_skip_tls_verify;
  options.single_io_thread = flags.io_threads == 1;
  return options;
}

// Builds one intel's pools, token sources and client on `io`.
absl::Status BuildIntel(const CtiaFlags& flags, const IntelTarget& target,
                        transport::IoThreads& io, IntelParts& out) {
  auto ctia_url = transport::ParseUrl(target.endpoint);
  if (!ctia_url.ok()) {
    return absl::InvalidArgumentError(
        absl::StrCat(target.endpoint_flag, ": ", ctia_url.status().message()));
  }
  const std::string token_endpoint = target.token_endpoint.empty()
                                         ? absl::StrCat(target.endpoint, "/iroh/oauth2/token")
                                         : target.token_endpoint;
  auto token_url = transport::ParseUrl(token_endpoint);
  if (!token_url.ok()) {
    return absl::InvalidArgumentError(absl::StrCat("--token-url: ", token_url.status().message()));
  }
  ENRICH_ASSIGN_OR_RETURN(transport::CtiaClientOptions client_options,
                          ClientOptionsFor(flags, target));
  const transport::PoolOptions pool_options = PoolOptionsFor(flags);
  out.ctia_pool = std::make_unique<transport::ConnectionPool>(io.executor(), *ctia_url,
                                                              pool_options);
  ENRICH_RETURN_IF_ERROR(out.ctia_pool->setup_status());
  transport::PoolOptions token_pool_options = pool_options;
  token_pool_options.connections = 1;
  token_pool_options.pipeline_depth = 1;
  out.token_pool =
      std::make_unique<transport::ConnectionPool>(io.executor(), *token_url, token_pool_options);
  std::vector<transport::CredentialLane> lanes;
  if (target.credentials.empty()) {
    out.fixed_token = std::make_unique<FixedTokenSource>();
    lanes.push_back({out.fixed_token.get(), "default", "none"});
  }
  for (const CredentialLine& c : target.credentials) {
    out.tokens.push_back(std::make_unique<transport::OAuthTokenSource>(
        *out.token_pool, token_url->path,
        transport::ClientCredentials{c.client_id, c.client_secret},
        schema::SystemClock::Instance()));
    lanes.push_back({out.tokens.back().get(), c.group.empty() ? "default" : c.group,
                     c.client_id});
  }
  out.credentials = target.credentials;
  out.client = std::make_unique<transport::BeastCtiaClient>(*out.ctia_pool, std::move(lanes),
                                                            client_options);
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<std::unique_ptr<CtiaStack>> CtiaStack::Start(const CtiaFlags& flags) {
  ENRICH_RETURN_IF_ERROR(CheckCtiaFlags(flags));
  auto parts = std::make_unique<Parts>(flags.io_threads);
  ENRICH_ASSIGN_OR_RETURN(std::vector<IntelTarget> targets,
                          ResolveTargets(flags, parts->embedded));
  if (flags.insecure_skip_tls_verify) {
    std::fprintf(stderr,
                 "ctia-enrich: WARNING: --insecure-skip-tls-verify: the server's certificate is "
                 "not checked; anyone on the path can read the token and forge answers\n");
  }
  ENRICH_RETURN_IF_ERROR(BuildIntel(flags, targets[0], parts->io, parts->main));
  if (targets.size() == 2) {
    parts->global = std::make_unique<IntelParts>();
    ENRICH_RETURN_IF_ERROR(BuildIntel(flags, targets[1], parts->io, *parts->global));
    ENRICH_ASSIGN_OR_RETURN(
        const transport::MergeRule rule,
        transport::ParseMergeRule(flags.merge.empty() ? "ctia" : flags.merge));
    parts->rule = rule;
    parts->where.private_url = targets[0].endpoint;
    parts->where.global_url = targets[1].endpoint;
    parts->dual = std::make_unique<transport::DualIntelSource>(
        *parts->main.client, *parts->global->client, rule, parts->where);
  }

  auto stack = std::unique_ptr<CtiaStack>(new CtiaStack(std::move(parts)));
  for (const IntelParts* intel : {&stack->parts_->main, stack->parts_->global.get()}) {
    if (intel != nullptr) ENRICH_RETURN_IF_ERROR(FirstTokens(intel->tokens, intel->credentials));
  }
  return stack;
}

uint64_t CtiaStack::token_requests() const {
  uint64_t n = 0;
  for (const IntelParts* intel : {&parts_->main, parts_->global.get()}) {
    if (intel == nullptr) continue;
    for (const auto& t : intel->tokens) n += t->token_requests();
  }
  return n;
}

transport::ConnectionPool& CtiaStack::ctia_pool() { return *parts_->main.ctia_pool; }

int ExitCodeFor(const absl::Status& status) {
  return status.code() == absl::StatusCode::kInvalidArgument ? 2 : 1;
}

}  // namespace enrich::cli
