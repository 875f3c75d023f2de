#ifndef ENRICH_ENGINE_EXIT_CODES_H_
#define ENRICH_ENGINE_EXIT_CODES_H_

// The process exit codes a run ends with (engine::JobResult::exit_code, engine/job.h), shared
// by every subcommand of tools/cli.

namespace enrich::engine {

// Process exit codes of `ctia-enrich run` (and the other subcommands), for schedulers and
// scripts that decide whether to retry.

// The run finished and every row settled without an error status: every row was written, the
// output renamed into place.
inline constexpr int kExitDone = 0;

// The run failed and cannot simply be resumed as it is: I/O error, bad credentials, an
// unreadable input in --strict mode, an internal error. The message on stderr says why; no
// output file was left under the final name.
inline constexpr int kExitFailed = 1;

// Bad command line or configuration (unknown flag, conflicting options, an unknown observable
// type in --column, a column the input's header lacks or names twice, --no-header with a column
// name, --summary-json - or --prometheus - with the output on stdout); no output and no journal are
// left. Column names are checked against the header line once it is read, after the token
// request; everything else before any input is read or request sent.
inline constexpr int kExitUsage = 2;

// Checkpointed, resumable (sysexits.h EX_TEMPFAIL): a rate-limit wait longer than --max-wait,
// or SIGINT/SIGTERM. The journal holds every settled lookup; rerunning the same command with
// --resume (after the time printed on stderr, for a rate limit) continues without paying for
// them again.
inline constexpr int kExitCheckpointed = 75;

// The run finished (every row written, the output renamed into place), but more rows than
// --max-error-rate allows ended with an `error:<code>` status (lookups that failed for good).
// The default rate is 0: any error row gives this code. A run whose lookups all failed ends
// with it whatever the rate.
inline constexpr int kExitErrorRows = 3;

// A second SIGINT / SIGTERM during the stop that the first one started: the process exits at
// once with this code (_exit(128 + the signal's number), the number a shell shows for a death
// by that signal, but an exit status a scheduler reads with WEXITSTATUS), once a journal write
// under way has ended: the journal holds whole records of the lookups settled so far, and
// --resume continues (engine/signals.h).
inline constexpr int kExitSecondSigint = 130;
inline constexpr int kExitSecondSigterm = 143;

}  // namespace enrich::engine

#endif  // ENRICH_ENGINE_EXIT_CODES_H_
