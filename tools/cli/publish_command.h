#ifndef ENRICH_TOOLS_CLI_PUBLISH_COMMAND_H_
#define ENRICH_TOOLS_CLI_PUBLISH_COMMAND_H_

// `ctia-enrich publish`: its flags become an engine::PublishJob (engine/publish_job.h), run
// against the CTIA stack (ctia_stack.h) through its write side (transport::CtiaPublisher);
// the process exit code is the job's.

#include "tools/cli/ctia_stack.h"

#include <string>
#include <vector>

#include "CLI/CLI.hpp"

namespace enrich::cli {

struct PublishFlags {
  std::string input;
  std::string output;
  std::string input_format;  // csv | ndjson; empty = by the first byte ('{' = NDJSON)
  std::string delimiter = ",";
  bool no_header = false;            // CSV: the first record is a row; --map FIELD=N by position
  std::string compression = "auto";  // of the input; the result file's follows its extension
  std::vector<std::string> maps;     // FIELD=COLUMN
  // Values for every row; a row's non-empty cell wins.
  std::string type, disposition, source, source_uri, priority, severity, confidence, reason, tlp;
  int bulk_size = 2000;
  bool dry_run = false;
  bool resume = false;
  bool check_existing = false;
  std::string journal;
  int max_messages = 20;
  CtiaFlags ctia;
};

// Registers `publish` on `app` (its --help footer included).
CLI::App* AddPublishCommand(CLI::App& app, PublishFlags& flags);

// Runs the publish job. Returns the process exit code (engine/exit_codes.h): 0 done, 1 failed,
// 2 bad usage (or a journal found without --resume), 3 some rows failed on the server,
// 75 checkpointed (rerun with --resume).
int RunPublish(const PublishFlags& flags);

}  // namespace enrich::cli

#endif  // ENRICH_TOOLS_CLI_PUBLISH_COMMAND_H_
