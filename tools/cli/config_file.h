#ifndef ENRICH_TOOLS_CLI_CONFIG_FILE_H_
#define ENRICH_TOOLS_CLI_CONFIG_FILE_H_

// `--config FILE` and `--print-settings` of `ctia-enrich run`, `plan`, `bench` and `publish`: settings read from a
// TOML file (toml++) and fed through the subcommand's own CLI11 options, before the flags of
// the command line, which override them. Used by main.cc; run_flags.cc and bench_command.cc
// keep owning the flags themselves.
//
// The keys of a file are derived from the option list, so every flag has one without being
// listed here: a key is the flag's long name without the dashes (`max-record-bytes`; `_` may
// stand for `-`), in the table named after the flag's group in --help: [input], [output],
// [ctia] (how to reach CTIA, shared by every subcommand), and [run], [bench] or [publish] for
// the rest of the subcommand's own flags (publish's input flags are in [publish]: [input] names
// the logs to enrich, not the judgements to publish). A table of another subcommand is
// skipped, so one file can serve them all. A path in a file is read as on the command line (relative to the working directory,
// not to the file). Secrets never go in a file: keys such as `client-secret` are refused;
// credentials come from CTIA_CLIENT_ID / CTIA_CLIENT_SECRET or --credentials-file.

#include <map>
#include <memory>
#include <string>
#include <vector>

#include "CLI/CLI.hpp"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace enrich::cli {

// One subcommand's settings file. Not thread-safe; lives as long as the subcommand's options
// (main's CLI::App), which it points to.
class ConfigFile {
 public:
  // Adds --config FILE and --print-settings to `cmd` and sorts its options into the groups that
  // name their tables (shown as the sections of --help). `table` is the subcommand's own table
  // ("run", "bench" or "publish"). Call after every flag of `cmd` is added and before parsing.
  //
  // --config FILE is read when the parser meets it: a value the command line gave before it is
  // kept, one given after it overrides the file. A key of the file satisfies a required flag.
  // Errors make parsing fail with a CLI::ValidationError (exit code 2) whose message names
  // FILE:LINE and the key: a TOML syntax error, an unknown table or key, a key for a secret, a
  // value of the wrong TOML type or one the flag refuses (its range, its choices).
  static std::unique_ptr<ConfigFile> Attach(CLI::App& cmd, std::string table);

  // True when --print-settings was given (after parsing).
  bool print_settings() const { return print_settings_; }

  // The effective settings after parsing, as a TOML document that --config reads back: every
  // key in its table with the value from the command line, else the file, else the default; a
  // key without any value as a comment. Never contains a secret: the user part of a URL is
  // redacted and the credentials are described (their source, how many), never shown.
  std::string EffectiveSettings() const;

 private:
  struct FileValue {
    std::vector<std::string> values;  // as given to the option
    std::string origin;               // "FILE:LINE"
  };
  struct Effective {
    std::vector<std::string> values;  // empty: not set
    std::string source;               // "default", "FILE:LINE" or "command line"
  };

  ConfigFile(CLI::App& cmd, std::string table) : cmd_(cmd), table_(std::move(table)) {}
  void GroupOptions();
  absl::Status Load(const std::string& path);
  // The option of `key` (flag name, '-' or '_') in [table]. NotFound lists the keys of
  // [table]; FailedPrecondition names the table of a flag that is elsewhere.
  absl::StatusOr<CLI::Option*> OptionForKey(const std::string& table, const std::string& key) const;
  // Feeds `values` to `opt` (its conversion and checks) unless the command line gave it.
  absl::Status Apply(CLI::Option& opt, std::vector<std::string> values, std::string origin);
  std::vector<CLI::Option*> SettingOptions() const;
  Effective EffectiveValue(const CLI::Option& opt) const;
  std::string CredentialsNote() const;

  CLI::App& cmd_;
  std::string table_;
  bool print_settings_ = false;
  std::string config_path_;
  std::map<const CLI::Option*, FileValue> from_file_;
};

// The table of `opt` in a settings file: its --help group in lower case ("input", "ctia").
std::string TableOf(const CLI::Option& opt);

// True when `key` (a settings-file key, '-' or '_') looks like a secret: a client secret or
// id, a password, a token. A key that is no flag and looks like one is refused as a secret.
bool IsSecretKey(absl::string_view key);

// `text` with the user part of a URL (`https://USER:PASS@host`) replaced by "REDACTED".
std::string RedactUrlUserInfo(absl::string_view text);

}  // namespace enrich::cli

#endif  // ENRICH_TOOLS_CLI_CONFIG_FILE_H_
