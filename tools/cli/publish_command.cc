#include "tools/cli/publish_command.h"

#include "engine/exit_codes.h"
#include "engine/job.h"
#include "engine/publish_job.h"
#include "tools/cli/run_flags.h"

#include <cstdio>
#include <memory>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"

namespace enrich::cli {
namespace {

constexpr char kFooter[] = R"(
Columns (CSV header names or NDJSON field paths; --map FIELD=COLUMN renames one):
  value type disposition disposition_name source source_uri priority severity confidence
  reason tlp start_time end_time external_id
  `type` may be `auto` (detected from the value). The flags --type --source --source-uri
  --disposition --priority --severity --confidence --reason --tlp give a value for every row;
  a row's own non-empty cell wins over the flag. Left empty everywhere: priority 95,
  confidence High, severity Medium, disposition 5 (Unknown), tlp/start_time/end_time as CTIA
  fills them (green, now, 2525-01-01). source is required (column or --source).

Each row is checked before anything is sent (observable type and value, disposition number and
name agree, confidence/severity/tlp names, integer priority, source <= 2048 and reason <= 1024
characters, RFC 3339 times with end after start). A bad row is not sent: its status is
`invalid: <field>: <why>` and stderr names file:line: field (the first --max-messages).
Valid rows go out in POST /ctia/bulk requests of --bulk-size (at most 2000, CTIA's limit),
paced by the same rate limit and retries as `run`.

Result file (-o, CSV or NDJSON as the input; written to a temp file and renamed): every input
row in order, plus ctia_judgement_id and ctia_publish_status:
  created                       created by this run
  exists                        already in CTIA (in the journal, or found by its external id)
  invalid: <field>: <why>       not sent
  <the server's error>          CTIA refused the item or the request failed (exit code 3)

Idempotence: every row gets a stable external id, its external_id column or else
  ctia-enrich:<source>:<sha256 of the row's judgement content>
The publish journal (--journal, default <input>.publish-journal, <result>.journal for stdin)
records the ids of each bulk before it is sent and the judgement each one created after the
answer. It is kept after the run. A run that finds it is refused (exit 2) unless --resume:
then rows the journal has as created are not sent again (status exists), and only the rows of
a bulk that was in flight when an earlier run died (CTIA may have created them) are looked up
first, with GET /ctia/judgement/external_id/{xid}, one request each. The journal makes a
rerun cost nothing; lookups for every row would cost one request per row against the quota.
--check-existing looks up every row the journal does not know (the journal was lost, or
another host published the rows).

Examples:
  export CTIA_CLIENT_ID=... CTIA_CLIENT_SECRET=...
  ctia-enrich publish -i findings.csv -o findings.published.csv \
      --endpoint https://private.intel.amp.cisco.com --source my-soc --confidence High
  ctia-enrich publish -i iocs.ndjson --map value=indicator --type auto --source feed-x --dry-run
  ctia-enrich publish -i findings.csv -o findings.published.csv --resume ...   # after exit 75

Exit codes: 0 done (invalid rows included), 1 failure, 2 usage (or a journal without
--resume), 3 some rows failed on the server, 75 checkpointed (rate-limit wait longer than
--max-wait, or SIGINT/SIGTERM): rerun the same command with --resume.
)";

absl::StatusOr<engine::PublishOptions> OptionsFromFlags(const PublishFlags& flags) {
  engine::PublishOptions o;
  o.input.path = flags.input;
  if (!flags.input_format.empty()) {
    if (flags.input_format == "csv") {
      o.input.format = engine::PublishFormat::kCsv;
    } else if (flags.input_format == "ndjson") {
      o.input.format = engine::PublishFormat::kNdjson;
    } else {
      return absl::InvalidArgumentError(
          absl::StrCat("--input-format \"", flags.input_format, "\": expected csv or ndjson"));
    }
  }
  absl::StatusOr<engine::Compression> compression =
      ParseCompression("--compression", flags.compression);
  if (!compression.ok()) return compression.status();
  o.input.compression = *compression;
  absl::StatusOr<char> delimiter = ParseDelimiter(flags.delimiter);
  if (!delimiter.ok()) return delimiter.status();
  o.input.delimiter = *delimiter;
  o.input.header = !flags.no_header;
  for (const std::string& map : flags.maps) {
    const size_t eq = map.find('=');
    std::optional<engine::PublishField> field =
        eq == std::string::npos ? std::nullopt : engine::PublishFieldFromName(map.substr(0, eq));
    if (!field.has_value() || eq + 1 == map.size()) {
      std::vector<std::string> names;
      for (size_t f = 0; f < engine::kPublishFieldCount; ++f) {
        names.emplace_back(engine::PublishFieldName(static_cast<engine::PublishField>(f)));
      }
      return absl::InvalidArgumentError(absl::StrCat("--map \"", map,
                                                     "\": expected FIELD=COLUMN with FIELD one of ",
                                                     absl::StrJoin(names, " ")));
    }
    o.input.columns[static_cast<size_t>(*field)] = map.substr(eq + 1);
  }
  const std::pair<engine::PublishField, const std::string*> defaults[] = {
      {engine::PublishField::kType, &flags.type},
      {engine::PublishField::kDisposition, &flags.disposition},
      {engine::PublishField::kSource, &flags.source},
      {engine::PublishField::kSourceUri, &flags.source_uri},
      {engine::PublishField::kPriority, &flags.priority},
      {engine::PublishField::kSeverity, &flags.severity},
      {engine::PublishField::kConfidence, &flags.confidence},
      {engine::PublishField::kReason, &flags.reason},
      {engine::PublishField::kTlp, &flags.tlp}};
  for (const auto& [field, value] : defaults) {
    if (!value->empty()) o.defaults[static_cast<size_t>(field)] = *value;
  }
  o.output = flags.output;
  o.journal = flags.journal;
  o.bulk_size = flags.bulk_size;
  o.dry_run = flags.dry_run;
  o.resume = flags.resume;
  o.check_existing = flags.check_existing;
  o.max_messages = flags.max_messages;
  return o;
}

void Fail(absl::string_view message) {
  std::fprintf(stderr, "ctia-enrich: %.*s\n", static_cast<int>(message.size()), message.data());
}

}  // namespace

CLI::App* AddPublishCommand(CLI::App& app, PublishFlags& flags) {
  CLI::App* cmd = app.add_subcommand(
      "publish",
      "Create judgements in CTIA (Private-Intel) from the rows of a CSV or NDJSON file, "
      "idempotently");
  cmd->add_option("-i,--input", flags.input,
                  "Input file (CSV or NDJSON; .gz/.zst read as such; - = stdin)")
      ->required();
  cmd->add_option("-o,--output", flags.output,
                  "Result file: every row with ctia_judgement_id and ctia_publish_status");
  cmd->add_option("--input-format", flags.input_format,
                  "csv or ndjson (default: NDJSON when the first byte is '{')");
  cmd->add_option("--delimiter", flags.delimiter, "CSV delimiter: , ; | tab")->default_val(",");
  cmd->add_flag("--no-header", flags.no_header,
                "CSV input without a header row: name columns by position with --map "
                "(--map value=1 --map disposition=3); the result has no header either");
  cmd->add_option("--compression", flags.compression, "Input compression: auto none gzip zstd")
      ->default_val("auto");
  cmd->add_option("--map", flags.maps,
                  "FIELD=COLUMN: read FIELD from COLUMN (repeatable), e.g. --map value=indicator");
  cmd->add_option("--type", flags.type, "Observable type of every row (or auto)");
  cmd->add_option("--source", flags.source,
                  "Source of every row; also the namespace of derived external ids");
  cmd->add_option("--source-uri", flags.source_uri, "source_uri of every row");
  cmd->add_option("--disposition", flags.disposition,
                  "Disposition of every row: 1..5 or Clean Malicious Suspicious Common Unknown");
  cmd->add_option("--priority", flags.priority, "Priority of every row (integer; default 95)");
  cmd->add_option("--severity", flags.severity,
                  "Info Low Medium High None Unknown Critical (default Medium)");
  cmd->add_option("--confidence", flags.confidence,
                  "Info Low Medium High None Unknown (default High)");
  cmd->add_option("--reason", flags.reason, "Reason of every row (<= 1024 characters)");
  cmd->add_option("--tlp", flags.tlp, "red amber green white (default: CTIA's, green)");
  cmd->add_option("--bulk-size", flags.bulk_size, "Judgements per POST /ctia/bulk (1..2000)")
      ->default_val(2000)
      ->check(CLI::Range(1, engine::kMaxPublishBulk));
  cmd->add_flag("--dry-run", flags.dry_run,
                "Check and count the rows, send nothing (-o gets status valid or invalid: ...)");
  cmd->add_flag("--resume", flags.resume,
                "Continue from the publish journal: rows it records are not sent again");
  cmd->add_flag("--check-existing", flags.check_existing,
                "Look up every row's external id the journal does not know before sending it "
                "(one request per row)");
  cmd->add_option("--journal", flags.journal,
                  "Publish journal (default <input>.publish-journal, or <output>.journal for stdin): it belongs to the input, so the same file published again into any result file is refused without --resume");
  cmd->add_option("--max-messages", flags.max_messages,
                  "Invalid rows named on stderr; the rest are counted")
      ->default_val(20)
      ->check(CLI::Range(0, 1000000));
  AddCtiaFlags(*cmd, flags.ctia);
  cmd->footer(kFooter);
  return cmd;
}

int RunPublish(const PublishFlags& flags) {
  absl::StatusOr<engine::PublishOptions> options = OptionsFromFlags(flags);
  if (!options.ok()) {
    Fail(options.status().message());
    return engine::kExitUsage;
  }
  if (absl::Status s = CheckCtiaFlags(flags.ctia); !s.ok()) {
    Fail(s.message());
    return engine::kExitUsage;
  }
  absl::StatusOr<std::unique_ptr<engine::PublishJob>> job =
      engine::PublishJob::Open(*std::move(options));
  if (!job.ok()) {
    Fail(job.status().message());
    return engine::JobExitCode(job.status());
  }
  if (flags.dry_run) return (*job)->Run(nullptr).exit_code;
  absl::StatusOr<std::unique_ptr<CtiaStack>> stack = CtiaStack::Start(flags.ctia);
  if (!stack.ok()) {
    Fail(stack.status().message());
    return ExitCodeFor(stack.status());
  }
  const engine::PublishResult result = (*job)->Run(&(*stack)->client().publisher());
  (*stack)->Shutdown();
  return result.exit_code;
}

}  // namespace enrich::cli
