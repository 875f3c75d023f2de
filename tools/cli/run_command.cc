#include "tools/cli/run_command.h"

#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <future>
#include <memory>
#include <optional>

#include "absl/strings/str_cat.h"
#include "absl/time/time.h"
#include "engine/enricher.h"
#include "rapidjson/stringbuffer.h"
#include "rapidjson/writer.h"
#include "schema/clock.h"
#include "schema/observable.h"
#include "tools/sim/sim_server.h"
#include "transport/connection_pool.h"
#include "transport/ctia_client.h"
#include "transport/io_threads.h"
#include "transport/oauth_token_source.h"
#include "transport/url.h"

namespace enrich::cli {
namespace {

void Fail(absl::string_view message) {
  std::fprintf(stderr, "ctia-enrich: %.*s\n", static_cast<int>(message.size()), message.data());
}

std::optional<std::string> Env(const char* name) {
  const char* v = std::getenv(name);
  if (v == nullptr || *v == '\0') return std::nullopt;
  return std::string(v);
}

// Closes a FILE* we opened (not stdin/stdout).
struct FileCloser {
  void operator()(std::FILE* f) const {
    if (f != stdin && f != stdout) std::fclose(f);
  }
};
using FilePtr = std::unique_ptr<std::FILE, FileCloser>;

bool WriteSummaryJson(const std::string& path, const engine::EnrichSummary& s) {
  rapidjson::StringBuffer buf;
  rapidjson::Writer<rapidjson::StringBuffer> w(buf);
  w.StartObject();
  w.Key("rows");
  w.Uint64(s.rows);
  w.Key("unique_observables");
  w.Uint64(s.unique_observables);
  w.Key("lookups");
  w.Uint64(s.lookups);
  w.Key("statuses");
  w.StartObject();
  for (const auto& [status, count] : s.statuses) {
    w.Key(status.c_str());
    w.Uint64(count);
  }
  w.EndObject();
  w.Key("seconds");
  w.Double(s.seconds);
  w.EndObject();
  FilePtr f(std::fopen(path.c_str(), "w"));
  if (!f) return false;
  return std::fwrite(buf.GetString(), 1, buf.GetSize(), f.get()) == buf.GetSize() &&
         std::fputc('\n', f.get()) != EOF;
}

}  // namespace

CLI::App* AddRunCommand(CLI::App& app, RunFlags& flags) {
  CLI::App* run = app.add_subcommand(
      "run",
      "Enrich a CSV log export: look up the CTIA verdict of each distinct value of one column "
      "and write every row back, in order, with ctia_disposition, ctia_disposition_name, "
      "ctia_judgement_id, ctia_valid_until and ctia_status columns added.");
  run->add_option("-i,--input", flags.input, "Input CSV with a header line ('-' = stdin)")
      ->required();
  run->add_option("-o,--output", flags.output,
                  "Output CSV ('-' = stdout). Written to a temporary file beside it and renamed "
                  "when complete, so a partial file never appears.")
      ->required();
  run->add_option("--column", flags.column,
                  "Observable column as NAME[:TYPE], e.g. 'domain' or 'dst:ip'. TYPE is a CTIA "
                  "observable type; it may be left out when NAME is one.")
      ->required();
  run->add_option("--endpoint", flags.endpoint,
                  "CTIA base URL, e.g. https://private.intel.amp.cisco.com. The token comes from "
                  "<endpoint>/iroh/oauth2/token. Without it, an embedded ctia-sim with demo data "
                  "is used.");
  run->add_option("--connections", flags.connections, "Keep-alive connections to CTIA")
      ->default_val(16)
      ->check(CLI::Range(1, 1024));
  run->add_option("--timeout", flags.timeout_seconds,
                  "Seconds allowed for one HTTP request (write + whole answer)")
      ->default_val(30)
      ->check(CLI::Range(0.1, 3600.0));
  run->add_option("--summary-json", flags.summary_json, "Also write the run summary as JSON here");
  return run;
}

int RunEnrich(const RunFlags& flags) {
  auto column = engine::ParseColumnSpec(flags.column);
  if (!column.ok()) {
    Fail(column.status().message());
    return 2;
  }
  if (!schema::IsKnownObservableType(column->type)) {
    std::fprintf(stderr,
                 "ctia-enrich: warning: \"%s\" is not an observable type this build knows; "
                 "sending it to CTIA as given\n",
                 column->type.c_str());
  }

  // Input.
  const bool from_stdin = flags.input == "-";
  FilePtr in(from_stdin ? stdin : std::fopen(flags.input.c_str(), "rb"));
  if (!in) {
    Fail(absl::StrCat("cannot open input \"", flags.input, "\": ", std::strerror(errno)));
    return 1;
  }

  // Endpoint and credentials.
  std::unique_ptr<sim::SimServer> embedded;
  std::string endpoint = flags.endpoint;
  transport::ClientCredentials credentials;
  if (endpoint.empty()) {
    sim::SimOptions sim_options;
    embedded = std::make_unique<sim::SimServer>(sim_options);
    auto port = embedded->Start();
    if (!port.ok()) {
      Fail(absl::StrCat("cannot start the embedded ctia-sim: ", port.status().message()));
      return 1;
    }
    embedded->AddJudgements(sim::DemoJudgements(absl::Now()));
    endpoint = embedded->base_url();
    credentials = {sim_options.clients[0].id, sim_options.clients[0].secret};
    std::fprintf(stderr,
                 "ctia-enrich: no --endpoint given: using the embedded ctia-sim with its demo "
                 "data at %s (offline demo; verdicts are not real intelligence)\n",
                 endpoint.c_str());
  } else {
    auto id = Env("CTIA_CLIENT_ID");
    auto secret = Env("CTIA_CLIENT_SECRET");
    if (!id.has_value() || !secret.has_value()) {
      Fail("set CTIA_CLIENT_ID and CTIA_CLIENT_SECRET in the environment to the CTIA API "
           "client's credentials (they are never taken from the command line)");
      return 2;
    }
    credentials = {*std::move(id), *std::move(secret)};
  }
  auto ctia_url = transport::ParseUrl(endpoint);
  if (!ctia_url.ok()) {
    Fail(absl::StrCat("--endpoint: ", ctia_url.status().message()));
    return 2;
  }
  const std::string token_url_text = absl::StrCat(endpoint, "/iroh/oauth2/token");
  auto token_url = transport::ParseUrl(token_url_text);
  if (!token_url.ok()) {
    Fail(token_url.status().message());
    return 2;
  }

  // Transport.
  transport::IoThreads io(1);
  transport::PoolOptions pool_options;
  pool_options.connections = static_cast<size_t>(flags.connections);
  pool_options.request_timeout = absl::Seconds(flags.timeout_seconds);
  transport::ConnectionPool ctia_pool(io.executor(), *ctia_url, pool_options);
  transport::PoolOptions token_pool_options = pool_options;
  token_pool_options.connections = 1;
  transport::ConnectionPool token_pool(io.executor(), *token_url, token_pool_options);
  transport::OAuthTokenSource tokens(token_pool, token_url->path, credentials,
                                     schema::SystemClock::Instance());
  transport::BeastCtiaClient client(ctia_pool, tokens);

  // Fail fast on an unreachable endpoint or rejected credentials, before any output exists.
  {
    std::promise<absl::Status> got;
    tokens.GetToken([&got](absl::StatusOr<std::string> token) { got.set_value(token.status()); });
    absl::Status status = got.get_future().get();
    if (!status.ok()) {
      // The transport's message names the token URL and the cause; never the secret.
      Fail(absl::StrCat("cannot get a CTIA token: ", status.message()));
      return 1;
    }
  }

  // Output: a temporary file beside the target, renamed when complete.
  const bool to_stdout = flags.output == "-";
  const std::string partial =
      to_stdout ? "" : absl::StrCat(flags.output, ".partial-", static_cast<long>(getpid()));
  FilePtr out(to_stdout ? stdout : std::fopen(partial.c_str(), "wb"));
  if (!out) {
    Fail(absl::StrCat("cannot create output \"", partial, "\": ", std::strerror(errno)));
    return 1;
  }

  engine::EnrichOptions options;
  options.column = *column;
  options.input_name = from_stdin ? "<stdin>" : flags.input;
  options.max_in_flight = static_cast<size_t>(flags.connections) * 8;
  auto summary = engine::EnrichCsv(in.get(), out.get(), options, client);
  ctia_pool.Shutdown();
  token_pool.Shutdown();
  io.Stop();
  if (embedded) embedded->Stop();

  if (!summary.ok()) {
    if (!to_stdout) {
      out.reset();
      std::remove(partial.c_str());
    }
    Fail(summary.status().message());
    return 1;
  }
  if (!to_stdout) {
    const bool flushed = std::fflush(out.get()) == 0 && fsync(fileno(out.get())) == 0;
    const bool closed = std::fclose(out.release()) == 0;
    if (!flushed || !closed || std::rename(partial.c_str(), flags.output.c_str()) != 0) {
      Fail(absl::StrCat("cannot write output \"", flags.output, "\": ", std::strerror(errno)));
      std::remove(partial.c_str());
      return 1;
    }
  }
  std::fprintf(stderr, "%s", engine::FormatSummary(*summary).c_str());
  if (!to_stdout) std::fprintf(stderr, "output:             %s\n", flags.output.c_str());
  if (!flags.summary_json.empty() && !WriteSummaryJson(flags.summary_json, *summary)) {
    Fail(absl::StrCat("cannot write summary \"", flags.summary_json, "\": ",
                      std::strerror(errno)));
    return 1;
  }
  return 0;
}

}  // namespace enrich::cli
