#include "tools/cli/run_command.h"

#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <optional>

#include "absl/strings/str_cat.h"
#include "absl/time/time.h"
#include "engine/enricher.h"
#include "rapidjson/stringbuffer.h"
#include "rapidjson/writer.h"
#include "schema/observable.h"
#include "tools/cli/ctia_stack.h"

namespace enrich::cli {
namespace {

void Fail(absl::string_view message) {
  std::fprintf(stderr, "ctia-enrich: %.*s\n", static_cast<int>(message.size()), message.data());
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
  AddCtiaFlags(*run, flags.ctia);
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

  auto stack = CtiaStack::Start(flags.ctia);
  if (!stack.ok()) {
    Fail(stack.status().message());
    return ExitCodeFor(stack.status());
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
  options.max_in_flight = static_cast<size_t>(flags.ctia.connections) * 8;
  auto summary = engine::EnrichCsv(in.get(), out.get(), options, (*stack)->verdicts());
  (*stack)->Shutdown();

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
