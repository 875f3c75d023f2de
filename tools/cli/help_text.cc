#include "tools/cli/help_text.h"

#include "engine/exit_codes.h"

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"

namespace enrich::cli {

namespace {

// The exit codes of `run` (engine/exit_codes.h), as README "Exit codes" explains them.
std::string RunExitCodes() {
  return absl::StrCat(
      "Exit codes:\n",
      absl::StrFormat("  %-4d every row settled without an error status; output complete\n",
                      engine::kExitDone),
      absl::StrFormat(
          "  %-4d output complete, but more rows than --max-error-rate allows (default 0: any)\n"
          "       ended with an error:<code> status; a run whose lookups all failed exits 3\n",
          engine::kExitErrorRows),
      absl::StrFormat(
          "  %-4d failed (I/O error, rejected credentials, bad input under --strict, or a wrong\n"
          "       setup: the first 20 lookups all failed alike, e.g. the endpoint answers HTML\n"
          "       404s, refuses connections, does not resolve, fails certificate checks); the\n"
          "       journal keeps the settled lookups: fix the cause, rerun with --resume\n",
          engine::kExitFailed),
      absl::StrFormat("  %-4d usage or configuration error, found before any request\n",
                      engine::kExitUsage),
      absl::StrFormat(
          "  %-4d checkpointed (a rate-limit wait beyond --max-wait, or SIGINT/SIGTERM): rerun\n"
          "       the same command with --resume (after the time printed, for a rate limit)\n",
          engine::kExitCheckpointed),
      absl::StrFormat("  %-4d a second SIGINT (%d: SIGTERM) during the stop: ended at once, "
                      "journal usable\n",
                      engine::kExitSecondSigint, engine::kExitSecondSigterm),
      "--resume with no journal starts fresh, so one command line serves every night.\n");
}

}  // namespace

std::string RunHelpFooter() {
  return absl::StrCat(
      "Examples:\n"
      "  # Offline demo: without --endpoint or --region an embedded ctia-sim answers\n"
      "  ctia-enrich run -i proxy.csv -o proxy.enriched.csv --column domain\n"
      "  # Private Intel in the US, credentials from the environment, two columns\n"
      "  export CTIA_CLIENT_ID=... CTIA_CLIENT_SECRET=...\n"
      "  ctia-enrich run --region us -i dns.ndjson.gz -o dns.enriched.ndjson.gz \\\n"
      "      --column query.name:domain --column answer:ip --summary-json dns.summary.json\n"
      "  # Private Intel and Global Intel at once (EU), CTIA's verdict order between them;\n"
      "  # ctia_intel says which decided (--merge private-first | both: README)\n"
      "  ctia-enrich run --region eu --intel both -i proxy.csv -o proxy.enriched.csv \\\n"
      "      --column domain\n"
      "  # Every night (cron, systemd: README \"Running every night\"); after a crash or exit 75\n"
      "  # the same line goes on from the journal, and with none it starts fresh\n"
      "  ctia-enrich run --config configs/nightly-proxy-logs.toml --resume\n"
      "  # Yesterday's answers kept in DIR, asked again only once expired (verdicts until\n"
      "  # their valid_time end, no-verdicts 1 h); see `ctia-enrich cache --help`\n"
      "  ctia-enrich run -i proxy.csv -o out.csv --column domain --cache /var/cache/ctia-enrich\n"
      "  # The malicious and suspicious rows alone, and a report page to open in a browser\n"
      "  ctia-enrich run -i proxy.csv -o proxy.enriched.csv --column domain \\\n"
      "      --hits proxy.hits.csv --report proxy.report.html\n"
      "  # Only Malicious rows are hits; the top 20 observables by rows in the summary\n"
      "  ctia-enrich run -i proxy.csv -o out.csv --column domain --hits bad.csv \\\n"
      "      --hit-dispositions malicious --top-hits 20\n"
      "  # 4 workers on one file (worker K of N takes its K-th byte range, cut on record\n"
      "  # ends; the header only in part-0): the parts in order are one run's output\n"
      "  seq 0 3 | xargs -P 4 -I{} ctia-enrich run -i export.csv -o part-{}.csv \\\n"
      "      --column domain --shard {}/4\n"
      "  cat part-0.csv part-1.csv part-2.csv part-3.csv > enriched.csv\n"
      "  # What the file and the flags add up to, secrets left out\n"
      "  ctia-enrich run --config configs/private-intel-us.toml --print-settings\n"
      "\n",
      RunExitCodes(),
      "\n"
      "ctia_status values (one per row and column):\n"
      "  ok             CTIA has a verdict: see ctia_disposition\n"
      "  no_verdict     CTIA knows no verdict for the observable\n"
      "  invalid        the value cannot be of the column's type; not looked up\n"
      "  skipped        empty or allowlisted (--allowlist); not looked up\n"
      "  invalid_row    not RFC 4180, not UTF-8, or a field count unlike the header's; the row\n"
      "                 is passed through untouched\n"
      "  error:<code>   the lookup failed after its retries (HTTP status or error class)\n");
}

std::string PlanHelpFooter() {
  return absl::StrCat(
      "Examples:\n"
      "  # The command line of a run, `run` made `plan`: what it would send, sending nothing\n"
      "  ctia-enrich plan -i proxy.csv -o proxy.enriched.csv --column domain \\\n"
      "      --rate-limit 18000/1h\n"
      "  # After an interrupted run: what --resume still has to look up (its journal,\n"
      "  # proxy.enriched.csv.journal, holds the rest)\n"
      "  ctia-enrich plan -i proxy.csv -o proxy.enriched.csv --column domain --resume\n"
      "  # What worker 2 of 4 (run --shard 2/4) would look up\n"
      "  ctia-enrich plan -i export.csv -o part-2.csv --column domain --shard 2/4\n"
      "  # As JSON, for a scheduler deciding when to start the night's run\n"
      "  ctia-enrich plan --config configs/nightly-proxy-logs.toml --json\n"
      "\n"
      "What is counted: the input read as `run` reads it (same formats, columns, extraction,\n"
      "allowlist); unique observables after normalization, per type; those the journal already\n"
      "answers (--journal, or <output>.journal with -o); the lookups left; the requests `run`\n"
      "sends for them: one GET per lookup with --batch-size 1, else POST /ctia/graphql batches\n"
      "of --batch-size (default 100), full, or partial where the run cannot go on without\n"
      "them (most often once, at the input's end; a batch of one goes as a GET), counted in\n"
      "run's own pipeline: the same figure a following run with the same flags sends. Token\n"
      "requests are not counted. The time is requests over --rate-limit N/WINDOW, or CTIA's\n"
      "default group quota of 18000/1h when none is given.\n"
      "\n"
      "Exit codes:\n",
      absl::StrFormat("  %-3d planned (stdout: the plan, or one JSON object with --json)\n",
                      engine::kExitDone),
      absl::StrFormat("  %-3d the input cannot be read, or is bad under --strict\n",
                      engine::kExitFailed),
      absl::StrFormat("  %-3d usage error, as `run` would report it\n", engine::kExitUsage));
}

std::string BenchHelpFooter() {
  return absl::StrCat(
      "Examples:\n"
      "  # A local ctia-sim (ctia-sim --config configs/sim-local.toml), 10 s, synthetic IPs\n"
      "  CTIA_CLIENT_ID=client CTIA_CLIENT_SECRET=secret \\\n"
      "      ctia-enrich bench --target http://127.0.0.1:8080 --synthetic 10000\n"
      "  # REST lookups only, 64 connections, for a minute\n"
      "  ctia-enrich bench --target https://private.intel.amp.cisco.com --batch-size 1 \\\n"
      "      --connections 64 --duration 60\n"
      "  # The [ctia] table of a run's settings file, with the bench's own flags\n"
      "  ctia-enrich bench --config configs/private-intel-us.toml "
      "--target https://private.intel.amp.cisco.com\n"
      "\n"
      "Exit codes:\n",
      absl::StrFormat("  %-3d every lookup answered\n", engine::kExitDone),
      absl::StrFormat("  %-3d a lookup failed, or the first lookup did not decode\n",
                      engine::kExitFailed),
      absl::StrFormat("  %-3d bad usage: a flag or the settings file\n", engine::kExitUsage));
}

}  // namespace enrich::cli
