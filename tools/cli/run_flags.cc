#include "tools/cli/run_flags.h"

#include "engine/pipeline.h"
#include "engine/shard.h"
#include "engine/top_hits.h"
#include "schema/observable.h"

#include <algorithm>
#include <optional>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/time/time.h"

namespace enrich::cli {
namespace {

// "ndjson" for *.ndjson / *.jsonl, "csv" for *.csv / *.tsv (optionally .gz / .zst), else
// nullopt.
std::optional<std::string> FormatByExtension(absl::string_view path) {
  for (absl::string_view z : {".gz", ".zst"}) {
    if (absl::EndsWith(path, z)) path.remove_suffix(z.size());
  }
  if (absl::EndsWith(path, ".ndjson") || absl::EndsWith(path, ".jsonl")) return "ndjson";
  if (absl::EndsWith(path, ".csv") || absl::EndsWith(path, ".tsv")) return "csv";
  return std::nullopt;
}

absl::StatusOr<engine::DataFormat> ParseFormat(absl::string_view flag, absl::string_view value) {
  if (value == "csv") return engine::DataFormat::kCsv;
  if (value == "ndjson") return engine::DataFormat::kNdjson;
  return absl::InvalidArgumentError(
      absl::StrCat(flag, " \"", value, "\": expected csv or ndjson"));
}

}  // namespace

absl::StatusOr<engine::Compression> ParseCompression(absl::string_view flag,
                                                     absl::string_view value) {
  if (value == "auto") return engine::Compression::kAuto;
  if (value == "none") return engine::Compression::kNone;
  if (value == "gzip" || value == "gz") return engine::Compression::kGzip;
  if (value == "zstd" || value == "zst") return engine::Compression::kZstd;
  return absl::InvalidArgumentError(
      absl::StrCat(flag, " \"", value, "\": expected auto, none, gzip or zstd"));
}

absl::StatusOr<char> ParseDelimiter(absl::string_view value) {
  if (value == "\\t" || value == "tab" || value == "\t") return '\t';
  if (value == "," || value == ";" || value == "|") return value[0];
  return absl::InvalidArgumentError(
      absl::StrCat("--delimiter \"", value, "\": expected one of , ; | tab"));
}

namespace {

// The --column specs, parsed; a type this build does not know is an error.
absl::StatusOr<std::vector<engine::ColumnSpec>> ParseColumns(
    const std::vector<std::string>& specs) {
  std::vector<engine::ColumnSpec> columns;
  for (const std::string& spec : specs) {
    auto column = engine::ParseColumnSpec(spec);
    if (!column.ok()) return column.status();
    if (column->type != "auto" && !schema::IsKnownObservableType(column->type)) {
      // CTIA would answer every lookup of it with an error: refused before any request.
      return absl::InvalidArgumentError(
          absl::StrCat("--column \"", spec, "\": unknown observable type \"", column->type,
                       "\"; expected auto or one of ",
                       absl::StrJoin(schema::KnownObservableTypes(), ", ")));
    }
    for (const engine::ColumnSpec& earlier : columns) {
      if (earlier.name == column->name) {
        return absl::InvalidArgumentError(
            absl::StrCat("--column \"", column->name,
                         "\" is given twice: its added columns would have the same names"));
      }
    }
    columns.push_back(*column);
  }
  return columns;
}

}  // namespace

CLI::App* AddRunCommand(CLI::App& app, RunFlags& flags) {
  CLI::App* run = app.add_subcommand(
      "run",
      "Enrich a log export (CSV or NDJSON): look up the CTIA verdict of each distinct observable "
      "of the given columns and write every row back, in order, with ctia_disposition, "
      "ctia_disposition_name, ctia_judgement_id, ctia_valid_until and ctia_status added "
      "(ctia_<column>_<field> with several columns, a dot of the column made _: "
      "ctia_dns_query_name_status; added keys never hold a dot). --fields and --judgements add "
      "the judgement behind each verdict; looked up in both intels, ctia_intel says which one "
      "decided (private or global), and --merge both adds each intel's own verdict as "
      "ctia_private_disposition, ctia_private_disposition_name, ctia_private_judgement_id, "
      "ctia_private_valid_until and the same with ctia_global_.");
  AddRunFlags(*run, flags, /*output_required=*/true);
  return run;
}

void AddRunFlags(CLI::App& cmd, RunFlags& flags, bool output_required) {
  CLI::App* run = &cmd;
  run->add_option("-i,--input", flags.input,
                  "Input file ('-' = stdin); gzip/zstd detected by their magic bytes")
      ->required();
  run->add_option("-o,--output", flags.output,
                  "Output file ('-' = stdout). Written to a temporary file beside it and renamed "
                  "when complete, so a partial file never appears (a device or pipe such as "
                  "/dev/null is written in place, without a journal).")
      ->required(output_required);
  run->add_option("--column", flags.columns,
                  "Observable column as NAME[:TYPE|auto], repeatable, e.g. 'domain', 'dst:ip', "
                  "'url:auto', 'dns.query.name:domain' (NDJSON path), '3:ip' (--no-header). An "
                  "ip column's IPv6 addresses are looked up as CTIA type ipv6")
      ->required();
  run->add_option("--input-format", flags.input_format,
                  "csv or ndjson (default: by extension, .ndjson/.jsonl = ndjson; stdin or "
                  "another extension: by the first byte that is not whitespace or a BOM, '{' = "
                  "ndjson, else csv). NDJSON: a "
                  "line that is not a JSON object gets invalid_row; a blank line (empty or "
                  "whitespace) is not a row: kept as it is (left out of CSV output), no status, "
                  "counted as a blank line in the summary");
  run->add_option("--output-format", flags.output_format,
                  "csv or ndjson (default: by the output's extension, else the input format)");
  run->add_option("--delimiter", flags.delimiter, "CSV delimiter: , ; | or tab")
      ->capture_default_str();
  run->add_flag("--no-header", flags.no_header,
                "CSV input has no header line; columns are numbers (1 = first)");
  run->add_option("--compression", flags.compression,
                  "Compression of the input and the output: auto (input by its magic bytes, "
                  "output by extension .gz/.zst), none, gzip, zstd; an input that is not what "
                  "was given is an error")
      ->capture_default_str();
  run->add_option("--output-compression", flags.output_compression,
                  "Compression of the output alone (auto, none, gzip, zstd); default: "
                  "--compression");
  run->add_option("--allowlist", flags.allowlist,
                  "File of observables never looked up (exact, *.suffix, CIDR, type:value); "
                  "their rows get status skipped");
  run->add_option("--threads", flags.threads, "Worker threads (0 = all cores)");
  run->add_option("--chunk-size", flags.chunk_size, "Bytes per pipeline chunk")
      ->capture_default_str();
  run->add_option("--max-record-bytes", flags.max_record_bytes,
                  absl::StrCat("Longest record in bytes (a CSV record with its quoted line ends, "
                               "or an NDJSON line; without its line end), 1 to ",
                               kMaxRecordBytesLimit,
                               ": a longer one stops the run with its file:line (most often a "
                               "quote that is never closed)"))
      ->capture_default_str();
  run->add_flag("--strict", flags.strict,
                "Stop at the first malformed row (file:line) instead of passing it through "
                "with status invalid_row (a blank NDJSON line is not a row)");
  run->add_flag("--resume", flags.resume,
                "Continue an interrupted run: reload the journal, skip its settled lookups "
                "(the input and columns may have changed since; the endpoint may not)");
  run->add_option("--journal", flags.journal,
                  "Journal of settled lookups (default <output>.journal; none for stdout)");
  run->add_option("--shard", flags.shard,
                  "Be worker K (0-based) of N: take the records that start in the K-th of N "
                  "equal byte ranges of the input, which must be an uncompressed regular file "
                  "(compressed inputs shard by file: one file per worker, no --shard). The CSV "
                  "header is read by every shard and written by shard 0 alone, so `cat` of the "
                  "N outputs in order is one run's output, byte for byte. Each shard has its "
                  "own output, journal (--resume) and summary. Example: --shard 2/4")
      ->type_name("K/N");
  run->add_option("--summary-json", flags.summary_json, "Also write the run summary as JSON here");
  run->add_option("--prometheus", flags.prometheus,
                  "Also write the run's metrics as a Prometheus textfile here");
  run->add_option("--report", flags.report,
                  "Also write the run's report as one self-contained HTML page here (summary, "
                  "rows per disposition, top hits, lookup latency, quota use over time; inline "
                  "SVG, no script, no network), at every end the summary JSON is written, e.g. "
                  "--report run.html");
  run->add_option("--hits", flags.hits,
                  "Also write the hit rows alone here: the rows any of whose observable columns "
                  "has a disposition of --hit-dispositions, in input order, with the same added "
                  "columns, format and header as -o; written to a temporary file and renamed "
                  "at the end like -o (compression by its own extension under --compression "
                  "auto), e.g. --hits malicious.csv");
  run->add_option("--hit-dispositions", flags.hit_dispositions,
                  "Dispositions that make a row a hit, a comma list of Clean, Malicious, "
                  "Suspicious, Common, Unknown (any case): for --hits and the summary's top hits")
      ->capture_default_str();
  run->add_option("--top-hits", flags.top_hits,
                  "Observables per hit disposition in the summary's top hits (text summary, "
                  "--summary-json top_hits, --report), by rows; 0 = none")
      ->capture_default_str();
  run->add_option("--max-error-rate", flags.max_error_rate,
                  "Share of rows (0 to 1; status cells with several columns) that may end with "
                  "an error:<code> status for the run to exit 0; more exit 3. A run whose "
                  "lookups all failed exits 3 whatever the rate")
      ->capture_default_str();
  run->add_option("--stop-timeout", flags.stop_timeout_seconds,
                  "After SIGINT/SIGTERM: seconds to wait for the answers in flight before "
                  "checkpointing without them (exit 75)")
      ->capture_default_str();
  run->add_option("--max-cache-ttl", flags.max_cache_ttl_seconds,
                  "Longest time a verdict is reused, seconds: within a run, and across runs "
                  "with --cache (a verdict is kept until its valid_time.end_time, at most this)")
      ->capture_default_str();
  run->add_option(
      "--cache", flags.cache,
      "Keep settled lookups across runs in DIR (an LMDB environment, created if absent): a "
      "later run answers them from there without a request while they are valid. Several "
      "runs may share DIR at once. Verdicts are kept until valid_time.end_time (at most "
      "--max-cache-ttl), \"no verdict\" for --negative-ttl, failures never. Upkeep: "
      "`ctia-enrich cache stats|prune|clear DIR`. E.g. --cache /var/cache/ctia-enrich");
  run->add_option("--negative-ttl", flags.negative_ttl_seconds,
                  "With --cache or --redis: seconds a \"no verdict\" answer is kept (in Redis: "
                  "its key's TTL; 0 = never kept, so every run asks again)")
      ->capture_default_str();
  run->add_option("--cache-damaged", flags.cache_damaged,
                  "With --cache: what a damaged cache DIR does (it is never served): skip = "
                  "say so and run without it, fail = stop before any lookup (exit 2)")
      ->check(CLI::IsMember({"skip", "fail"}))
      ->capture_default_str();
  run->add_option("--prefix", flags.prefix,
                  "Prefix of the added columns (for NDJSON output, without a dot)")
      ->capture_default_str();
  run->add_option(
      "--fields", flags.fields,
      "Also add these columns after each column's five, comma-separated, in the order given "
      "(named ctia_<field>, ctia_<column>_<field> with several columns): the deciding "
      "judgement's source, source_uri, reason, severity, confidence, priority, tlp (over "
      "GraphQL in the same batched request, no extra quota; over REST one GET "
      "/ctia/judgement/{id} per distinct judgement id), and observable_type (the type looked "
      "up, the detected one under auto) and observable_value (the normalized, refanged value "
      "looked up), which cost no request; 'all' = every field. Empty (CSV) or null (NDJSON, "
      "where priority is a number) without a verdict. E.g. --fields source,reason,severity");
  run->add_option("--judgements", flags.judgements,
                  absl::StrCat("Also add ctia_judgements: the first N (0 to ", kMaxJudgements,
                               ") of each observable's judgements, every source's opinion, "
                               "not only the winner's: in CSV source:disposition_name joined "
                               "by ';' (e.g. 'Talos:Malicious;my-feed:Clean'), in NDJSON an "
                               "array of {source, disposition_name, id}; empty for an observable "
                               "without a verdict (none of its judgements in force); 0 = none"))
      ->capture_default_str();
  run->add_option("--redis", flags.redis,
                  "Share verdicts and the org's quota with the other workers of one job "
                  "through Redis: an answer another worker paid for is reused, an observable "
                  "another worker is looking up is waited for, never asked twice, and the "
                  "workers together stay under --rate-limit (or the limit CTIA's headers "
                  "teach), the org's quota, not each worker's; hedging is off with it. The "
                  "shared answers carry what --fields and --judgements need; under --intel "
                  "both each intel's answers are shared on their own. With "
                  "plan: counts the lookups the shared cache answers now. URL "
                  "redis://HOST[:PORT][/DB] (default port 6379, db 0) or unix:///PATH[?db=N]; "
                  "the password comes from "
                  "ENRICH_REDIS_PASSWORD, never the command line. Unreachable at start: the run "
                  "stops (exit 1) unless --redis-optional; lost mid-run: the run goes on alone, "
                  "paces itself at its share of the quota (the limit / the most workers seen, at "
                  "least N of --shard K/N), says so, "
                  "and rejoins when Redis is back. E.g. --shard 0/4 --rate-limit 18000/1h "
                  "--redis redis://10.0.0.5:6379/2");
  run->add_flag("--redis-optional", flags.redis_optional,
                "With --redis: if Redis cannot be reached at start, run alone (and join when it "
                "answers) instead of stopping");
  AddCtiaFlags(*run, flags.ctia);
}


absl::StatusOr<engine::JobOptions> JobOptionsFromFlags(const RunFlags& flags) {
  if (absl::Status s = CheckCtiaFlags(flags.ctia); !s.ok()) return s;
  engine::JobOptions job;
  engine::PipelineOptions& options = job.pipeline;
  auto columns = ParseColumns(flags.columns);
  if (!columns.ok()) return columns.status();
  options.columns = *std::move(columns);
  // Input: the flag, else the input's extension, else its first byte (`{`: NDJSON; stdin, a
  // file without a known extension), unless --no-header says it is CSV.
  const std::optional<std::string> in_by_name =
      !flags.input_format.empty() ? std::optional<std::string>(flags.input_format)
                                  : FormatByExtension(flags.input);
  options.detect_input_format = !in_by_name.has_value() && !flags.no_header;
  auto in_format = ParseFormat("--input-format", in_by_name.value_or("csv"));
  // Output: the flag, else the output's extension, else the input's format.
  const std::optional<std::string> out_by_name =
      !flags.output_format.empty() ? std::optional<std::string>(flags.output_format)
                                   : FormatByExtension(flags.output);
  options.output_format_follows_input = !out_by_name.has_value();
  auto out_format = ParseFormat(
      "--output-format",
      out_by_name.value_or(in_format.ok() && *in_format == engine::DataFormat::kNdjson
                               ? "ndjson"
                               : "csv"));
  auto delimiter = ParseDelimiter(flags.delimiter);
  auto compression = ParseCompression("--compression", flags.compression);
  auto output_compression =
      flags.output_compression.empty()
          ? compression
          : ParseCompression("--output-compression", flags.output_compression);
  for (const absl::Status& s : {in_format.status(), out_format.status(), delimiter.status(),
                                compression.status(), output_compression.status()}) {
    if (!s.ok()) return s;
  }
  options.input_format = *in_format;
  options.output_format = *out_format;
  options.delimiter = *delimiter;
  options.header = !flags.no_header;
  options.prefix = flags.prefix;
  if (!flags.fields.empty()) {
    auto fields = engine::ParseDetailFields(flags.fields);
    if (!fields.ok()) return fields.status();
    options.fields = *std::move(fields);
  }
  if (flags.judgements < 0 || flags.judgements > kMaxJudgements) {
    return absl::InvalidArgumentError(absl::StrCat("--judgements ", flags.judgements,
                                                   ": expected 0 to ", kMaxJudgements));
  }
  options.judgements = static_cast<size_t>(flags.judgements);
  // Looked up in both intels: the ctia_intel column says which one decided.
  options.intel_column = flags.ctia.intel == "both";
  options.both_intel_columns = options.intel_column && flags.ctia.merge == "both";
  options.strict = flags.strict;
  options.chunk_size = flags.chunk_size;
  if (flags.max_record_bytes < 1 || flags.max_record_bytes > kMaxRecordBytesLimit) {
    return absl::InvalidArgumentError(absl::StrCat("--max-record-bytes ", flags.max_record_bytes,
                                                   ": expected 1 to ", kMaxRecordBytesLimit,
                                                   " bytes (1 GiB)"));
  }
  options.max_record_bytes = static_cast<size_t>(flags.max_record_bytes);
  options.threads = flags.threads > 0 ? static_cast<size_t>(flags.threads) : 0;
  // Two full GraphQL batches per request slot: one on the wire, the next waiting, so a slot
  // that frees is refilled at once rather than after the answered batch has been settled and
  // journaled and its slots handed back (about 5% of the rate at 20 ms round trips).
  options.max_in_flight = 2 * static_cast<size_t>(flags.ctia.connections) *
                          static_cast<size_t>(flags.ctia.pipeline_depth) *
                          std::max<size_t>(8, static_cast<size_t>(flags.ctia.batch_size));
  job.input = flags.input;
  job.output = flags.output;
  job.input_compression = *compression;
  job.output_compression = *output_compression;
  job.compression_flag = flags.compression;
  job.allowlist = flags.allowlist;
  job.column_specs = absl::StrJoin(flags.columns, ",");
  job.endpoint = JournalEndpoint(flags.ctia);
  job.journal = flags.journal;
  if (!flags.shard.empty()) {
    absl::StatusOr<engine::Shard> shard = engine::ParseShard(flags.shard);
    if (!shard.ok()) return shard.status();
    job.pipeline.shard = *shard;
  }
  job.resume = flags.resume;
  job.max_cache_ttl = absl::Seconds(flags.max_cache_ttl_seconds);
  if (!(flags.negative_ttl_seconds >= 0)) {
    return absl::InvalidArgumentError(absl::StrCat(
        "--negative-ttl ", flags.negative_ttl_seconds, ": expected seconds >= 0 (0 = never)"));
  }
  job.cache_dir = flags.cache;
  job.cache_negative_ttl = absl::Seconds(flags.negative_ttl_seconds);
  job.cache_damaged_fail = flags.cache_damaged == "fail";
  job.cache_intel = absl::StrCat(flags.ctia.intel.empty() ? "private" : flags.ctia.intel,
                                 flags.ctia.endpoint.empty() && !flags.ctia.region.empty()
                                     ? absl::StrCat(" region:", flags.ctia.region)
                                     : "");
  if (!(flags.max_error_rate >= 0 && flags.max_error_rate <= 1)) {
    return absl::InvalidArgumentError(absl::StrCat(
        "--max-error-rate ", flags.max_error_rate, ": expected a share from 0 to 1 (0.01 = 1%)"));
  }
  if (!(flags.stop_timeout_seconds >= 0)) {
    return absl::InvalidArgumentError(
        absl::StrCat("--stop-timeout ", flags.stop_timeout_seconds, ": expected seconds >= 0"));
  }
  job.max_error_rate = flags.max_error_rate;
  job.stop_timeout = absl::Seconds(flags.stop_timeout_seconds);
  job.summary_json = flags.summary_json;
  job.prometheus = flags.prometheus;
  job.report = flags.report;
  auto hit_dispositions = engine::ParseDispositionSet("--hit-dispositions", flags.hit_dispositions);
  if (!hit_dispositions.ok()) return absl::InvalidArgumentError(hit_dispositions.status().message());
  if (flags.top_hits < 0) {
    return absl::InvalidArgumentError(
        absl::StrCat("--top-hits ", flags.top_hits, ": expected a count >= 0 (0 = none)"));
  }
  job.hits = flags.hits;
  job.top_hits = static_cast<size_t>(flags.top_hits);
  // Hits are picked out only when something uses them: no cost otherwise.
  if (!flags.hits.empty() || flags.top_hits > 0) {
    options.hit_dispositions = *hit_dispositions;
  }
  return job;
}

CtiaFlags CtiaFlagsForRun(const RunFlags& flags) {
  CtiaFlags ctia = flags.ctia;
  ctia.details = {};
  if (!flags.fields.empty()) {
    auto fields = engine::ParseDetailFields(flags.fields);
    ctia.details.judgement =
        fields.ok() && std::any_of(fields->begin(), fields->end(), engine::IsJudgementField);
  }
  ctia.details.judgements = flags.judgements;
  return ctia;
}

}  // namespace enrich::cli
