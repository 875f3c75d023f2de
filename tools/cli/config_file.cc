#include "tools/cli/config_file.h"

#include "schema/status_macros.h"
#include "tools/cli/ctia_stack.h"

#include <charconv>
#include <cstdlib>
#include <fstream>
#include <set>
#include <sstream>
#include <utility>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_replace.h"
#include <toml++/toml.h>

namespace enrich::cli {
namespace {

// The --help group of --config and --print-settings: not settings themselves.
constexpr char kSettingsGroup[] = "Settings file";

// Every table a settings file may hold; the ones another subcommand reads are skipped.
constexpr absl::string_view kAllTables[] = {"input", "output", "run", "ctia", "bench", "publish"};

// Flags of `run` that read the input, and that shape the output. Every other flag of `run`
// (and any flag added later) is in [run]; the CTIA flags are found by AddCtiaFlags itself.
constexpr absl::string_view kInputFlags[] = {
    "input",       "column",           "input-format", "delimiter", "no-header",
    "compression", "max-record-bytes", "strict",       "allowlist"};
constexpr absl::string_view kOutputFlags[] = {"output", "output-format", "output-compression",
                                              "prefix", "fields", "judgements"};

// What a key's TOML value must be, from the option's CLI11 type.
enum class ValueKind { kFlag, kList, kInteger, kFloat, kText };

ValueKind KindOf(const CLI::Option& opt) {
  if (opt.get_expected_max() == 0) return ValueKind::kFlag;
  if (opt.get_items_expected_max() > 1) return ValueKind::kList;
  const std::string type = opt.get_type_name();
  if (absl::StartsWith(type, "INT") || absl::StartsWith(type, "UINT")) return ValueKind::kInteger;
  if (absl::StartsWith(type, "FLOAT")) return ValueKind::kFloat;
  return ValueKind::kText;
}

// toml++ speaks std::string_view; Debian's Abseil has its own string_view.
std::string Str(std::string_view s) { return std::string(s.data(), s.size()); }

std::string Article(const toml::node& node) {
  std::ostringstream name;
  name << node.type();
  const std::string text = name.str();
  return absl::StrCat(absl::StrContains("aeiou", text.substr(0, 1)) ? "an " : "a ", text);
}

std::string ShortestDouble(double value) {
  char buffer[64];
  const auto result = std::to_chars(buffer, buffer + sizeof buffer, value);
  return std::string(buffer, result.ptr);
}

// The option strings `node` stands for, as the command line would give them.
absl::StatusOr<std::vector<std::string>> ValuesOf(const toml::node& node, ValueKind kind) {
  auto expected = [&node](absl::string_view what) {
    return absl::InvalidArgumentError(absl::StrCat("expected ", what, ", got ", Article(node)));
  };
  switch (kind) {
    case ValueKind::kFlag:
      if (!node.is_boolean()) return expected("true or false");
      return std::vector<std::string>{*node.value<bool>() ? "true" : "false"};
    case ValueKind::kInteger:
      if (!node.is_integer()) return expected("an integer");
      return std::vector<std::string>{absl::StrCat(*node.value<int64_t>())};
    case ValueKind::kFloat:
      if (!node.is_number()) return expected("a number");
      return std::vector<std::string>{ShortestDouble(*node.value<double>())};
    case ValueKind::kText:
      if (!node.is_string()) return expected("a string");
      return std::vector<std::string>{*node.value<std::string>()};
    case ValueKind::kList:
      break;
  }
  if (node.is_string()) return std::vector<std::string>{*node.value<std::string>()};
  const toml::array* list = node.as_array();
  if (list == nullptr) return expected("an array of strings");
  std::vector<std::string> values;
  for (const toml::node& item : *list) {
    if (!item.is_string()) return expected("an array of strings");
    values.push_back(*item.value<std::string>());
  }
  return values;
}

// Reads `path` as TOML. toml++ reports failures with exceptions; they stay in this function
// (STYLE rule 10).
absl::StatusOr<toml::table> ParseToml(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return absl::InvalidArgumentError(absl::StrCat(path, ": cannot open the file"));
  std::stringstream text;
  text << in.rdbuf();
  try {
    return toml::parse(text.str(), path);
  } catch (const toml::parse_error& e) {
    return absl::InvalidArgumentError(absl::StrCat(path, ":", e.source().begin.line, ":",
                                                   e.source().begin.column, ": ",
                                                   Str(e.description())));
  }
}

std::string KeyError(absl::string_view origin, absl::string_view key, absl::string_view what) {
  return absl::StrCat(origin, ": key '", key, "': ", what);
}

absl::Status SecretKeyError(absl::string_view origin, absl::string_view key) {
  return absl::InvalidArgumentError(
      absl::StrCat(KeyError(origin, key, "secrets never go in a settings file"),
                   "; set CTIA_CLIENT_ID and CTIA_CLIENT_SECRET in the environment, or name a "
                   "credentials-file (mode 0600) in [ctia]"));
}

// The long names of the flags AddCtiaFlags registers: they make up [ctia].
std::vector<std::string> CtiaFlagNames() {
  CLI::App probe;
  CtiaFlags flags;
  AddCtiaFlags(probe, flags);
  std::vector<std::string> names;
  for (const CLI::Option* opt : probe.get_options()) {
    if (opt != probe.get_help_ptr() && !opt->get_lnames().empty()) {
      names.push_back(opt->get_lnames().front());
    }
  }
  return names;
}

template <typename List>
bool Contains(const List& list, absl::string_view name) {
  for (const auto& item : list) {
    if (item == name) return true;
  }
  return false;
}

// A TOML basic string.
std::string Quoted(absl::string_view text) {
  std::string out = "\"";
  for (const char c : text) {
    if (c == '"' || c == '\\') {
      absl::StrAppend(&out, "\\", std::string(1, c));
    } else if (static_cast<unsigned char>(c) < 0x20 || c == 0x7f) {
      absl::StrAppend(&out, absl::StrFormat("\\u%04x", static_cast<unsigned char>(c)));
    } else {
      out.push_back(c);
    }
  }
  return out + "\"";
}

// `values` of an option of `kind` as a TOML value; numbers that do not parse are quoted.
std::string TomlValue(ValueKind kind, const std::vector<std::string>& values) {
  std::vector<std::string> quoted;
  for (const std::string& v : values) quoted.push_back(Quoted(RedactUrlUserInfo(v)));
  if (kind == ValueKind::kList) return absl::StrCat("[", absl::StrJoin(quoted, ", "), "]");
  const std::string& v = values.front();
  int64_t integer = 0;
  double number = 0;
  if (kind == ValueKind::kFlag) return v == "true" ? "true" : "false";
  if (kind == ValueKind::kInteger && absl::SimpleAtoi(v, &integer)) return absl::StrCat(integer);
  if (kind == ValueKind::kFloat && absl::SimpleAtod(v, &number)) return ShortestDouble(number);
  return quoted.front();
}

}  // namespace

std::string TableOf(const CLI::Option& opt) {
  return absl::AsciiStrToLower(absl::StrReplaceAll(opt.get_group(), {{" ", "_"}}));
}

bool IsSecretKey(absl::string_view key) {
  const std::string k = absl::AsciiStrToLower(absl::StrReplaceAll(key, {{"_", "-"}}));
  for (absl::string_view word :
       {"secret", "password", "passwd", "client-id", "token", "api-key", "apikey", "credential"}) {
    if (absl::StrContains(k, word)) return true;
  }
  return false;
}

std::string RedactUrlUserInfo(absl::string_view text) {
  const size_t scheme = text.find("://");
  if (scheme == absl::string_view::npos) return std::string(text);
  const size_t host = scheme + 3;
  const size_t end = text.find_first_of("/?#", host);
  const size_t at = text.substr(0, end).rfind('@');
  if (at == absl::string_view::npos || at < host) return std::string(text);
  return absl::StrCat(text.substr(0, host), "REDACTED", text.substr(at));
}

std::unique_ptr<ConfigFile> ConfigFile::Attach(CLI::App& cmd, std::string table) {
  std::unique_ptr<ConfigFile> file(new ConfigFile(cmd, std::move(table)));
  file->GroupOptions();
  ConfigFile* self = file.get();
  // Read when the parser meets it (trigger_on_parse), so flags after it override the file.
  // CLI11 reports errors of its callbacks as exceptions, which main() catches.
  cmd.add_option_function<std::string>(
         "--config",
         [self](const std::string& path) {
           if (absl::Status s = self->Load(path); !s.ok()) {
             throw CLI::ValidationError("--config", std::string(s.message()));
           }
         },
         "TOML settings file (examples in configs/): every flag is a key, named as the flag, "
         "in the table of its section below ([input], [output], [ctia], [run], [bench] or "
         "[publish]); "
         "flags on the command line override it. Credentials never go in it.")
      ->trigger_on_parse()
      ->group(kSettingsGroup);
  // Met while parsing, so that the flags a run requires are not required just to print.
  cmd.add_flag_callback(
         "--print-settings",
         [self] {
           self->print_settings_ = true;
           for (CLI::Option* opt : self->SettingOptions()) opt->required(false);
         },
         "Print the effective settings (defaults, then --config, then the flags) as TOML and "
         "exit 0; secrets are never printed")
      ->trigger_on_parse()
      ->group(kSettingsGroup);
  return file;
}

void ConfigFile::GroupOptions() {
  const std::vector<std::string> ctia = CtiaFlagNames();
  std::string own = table_;
  own[0] = absl::ascii_toupper(own[0]);
  for (CLI::Option* opt : SettingOptions()) {
    const std::string& name = opt->get_lnames().front();
    if (Contains(ctia, name)) {
      opt->group("CTIA");
    } else if (table_ == "run" && Contains(kInputFlags, name)) {
      opt->group("Input");
    } else if (table_ == "run" && Contains(kOutputFlags, name)) {
      opt->group("Output");
    } else {
      opt->group(own);
    }
  }
}

std::vector<CLI::Option*> ConfigFile::SettingOptions() const {
  return cmd_.get_options([this](CLI::Option* opt) {
    return opt != cmd_.get_help_ptr() && !opt->get_lnames().empty() &&
           opt->get_group() != kSettingsGroup;
  });
}

absl::StatusOr<CLI::Option*> ConfigFile::OptionForKey(const std::string& table,
                                                      const std::string& key) const {
  const std::string name = absl::StrReplaceAll(key, {{"_", "-"}});
  std::vector<std::string> known;
  CLI::Option* found = nullptr;
  for (CLI::Option* opt : SettingOptions()) {
    if (TableOf(*opt) == table) known.push_back(opt->get_lnames().front());
    if (opt->get_lnames().front() == name) found = opt;
  }
  if (found != nullptr && TableOf(*found) == table) return found;
  if (found != nullptr) {
    return absl::FailedPreconditionError(
        absl::StrCat("'", name, "' is a key of [", TableOf(*found), "]"));
  }
  return absl::NotFoundError(
      absl::StrCat("unknown key (known in [", table, "]: ", absl::StrJoin(known, ", "), ")"));
}

absl::Status ConfigFile::Apply(CLI::Option& opt, std::vector<std::string> values,
                               std::string origin) {
  if (opt.count() > 0) return absl::OkStatus();  // given on the command line before --config
  try {
    opt.add_result(values);
    opt.run_callback();
  } catch (const CLI::Error& e) {
    opt.clear();
    return absl::InvalidArgumentError(e.what());
  }
  // Not counted as given: a later flag overrides it, and --print-settings names the file.
  opt.clear();
  opt.required(false);
  from_file_[&opt] = FileValue{std::move(values), std::move(origin)};
  return absl::OkStatus();
}

absl::Status ConfigFile::Load(const std::string& path) {
  ENRICH_ASSIGN_OR_RETURN(const toml::table root, ParseToml(path));
  std::set<std::string> tables_here;
  for (CLI::Option* opt : SettingOptions()) tables_here.insert(TableOf(*opt));
  for (auto&& [table_key, node] : root) {
    const std::string table = Str(table_key.str());
    const std::string where = absl::StrCat(path, ":", table_key.source().begin.line);
    const toml::table* keys = node.as_table();
    if (keys == nullptr) {
      absl::StatusOr<CLI::Option*> opt = OptionForKey(table_, table);
      if (absl::IsNotFound(opt.status()) && IsSecretKey(table)) return SecretKeyError(where, table);
      return absl::InvalidArgumentError(
          KeyError(where, table,
                   absl::StrCat("keys go in tables; ",
                                opt.ok() ? absl::StrCat("'", table, "' is a key of [", table_, "]")
                                         : std::string(opt.status().message()))));
    }
    if (tables_here.count(table) == 0) {
      if (Contains(kAllTables, table)) continue;  // another subcommand's table
      if (IsSecretKey(table)) return SecretKeyError(where, table);
      return absl::InvalidArgumentError(absl::StrCat(
          where, ": unknown table [", table, "] (known: ", absl::StrJoin(tables_here, ", "), ")"));
    }
    for (auto&& [key, value] : *keys) {
      const std::string name = absl::StrCat(table, ".", Str(key.str()));
      const std::string origin = absl::StrCat(path, ":", key.source().begin.line);
      absl::StatusOr<CLI::Option*> opt = OptionForKey(table, Str(key.str()));
      // A flag is never a secret (credentials have no flag); anything else that looks like
      // one is refused as such, so the user learns where credentials go.
      if (absl::IsNotFound(opt.status()) && IsSecretKey(Str(key.str()))) {
        return SecretKeyError(origin, name);
      }
      if (!opt.ok()) {
        return absl::InvalidArgumentError(KeyError(origin, name, opt.status().message()));
      }
      auto values = ValuesOf(value, KindOf(**opt));
      if (!values.ok()) {
        return absl::InvalidArgumentError(KeyError(origin, name, values.status().message()));
      }
      if (absl::Status s = Apply(**opt, *std::move(values), origin); !s.ok()) {
        return absl::InvalidArgumentError(KeyError(origin, name, s.message()));
      }
    }
  }
  config_path_ = path;
  return absl::OkStatus();
}

ConfigFile::Effective ConfigFile::EffectiveValue(const CLI::Option& opt) const {
  const ValueKind kind = KindOf(opt);
  if (opt.count() > 0) {
    if (kind == ValueKind::kFlag) return {{opt.as<bool>() ? "true" : "false"}, "command line"};
    return {opt.results(), "command line"};
  }
  if (auto it = from_file_.find(&opt); it != from_file_.end()) {
    return {it->second.values, it->second.origin};
  }
  if (kind == ValueKind::kFlag) return {{"false"}, "default"};
  if (kind == ValueKind::kList || opt.get_default_str().empty()) return {};
  return {{opt.get_default_str()}, "default"};
}

std::string ConfigFile::CredentialsNote() const {
  const CLI::Option* file = cmd_.get_option_no_throw("--credentials-file");
  const Effective path = file == nullptr ? Effective{} : EffectiveValue(*file);
  if (!path.values.empty() && !path.values.front().empty()) {
    auto lines = ReadCredentialsFile(path.values.front());
    if (!lines.ok()) return absl::StrCat("# credentials: ", lines.status().message(), "\n");
    std::set<std::string> groups;
    for (const CredentialLine& line : *lines) groups.insert(line.group.empty() ? "-" : line.group);
    return absl::StrCat("# credentials: ", lines->size(), " from credentials-file, groups ",
                        absl::StrJoin(groups, ", "), " (never printed)\n");
  }
  auto state = [](const char* name) {
    const char* v = std::getenv(name);
    return absl::StrCat(name, (v != nullptr && *v != '\0') ? " is set" : " is not set");
  };
  return absl::StrCat("# credentials: ", state("CTIA_CLIENT_ID"), ", ", state("CTIA_CLIENT_SECRET"),
                      " (never printed)\n");
}

std::string ConfigFile::EffectiveSettings() const {
  std::string out = absl::StrCat(
      "# Effective settings of `ctia-enrich ", table_,
      "`: the command line, else --config,\n"
      "# else the default, as the comment after each key says. --config reads this back;\n"
      "# a key without a value is commented out.\n");
  if (!config_path_.empty()) absl::StrAppend(&out, "# --config ", config_path_, "\n");
  std::vector<std::string> tables;
  for (CLI::Option* opt : SettingOptions()) {
    if (!Contains(tables, TableOf(*opt))) tables.push_back(TableOf(*opt));
  }
  for (const std::string& table : tables) {
    absl::StrAppend(&out, "\n[", table, "]\n");
    for (CLI::Option* opt : SettingOptions()) {
      if (TableOf(*opt) != table) continue;
      const Effective value = EffectiveValue(*opt);
      const std::string& key = opt->get_lnames().front();
      const ValueKind kind = KindOf(*opt);
      if (value.values.empty()) {
        // A flag without a default of its own: its absence means something (e.g. threads:
        // all cores), which the flag's --help describes.
        const char* empty = kind == ValueKind::kList   ? " = []"
                            : kind == ValueKind::kText ? " = \"\""
                                                       : " =";
        absl::StrAppend(&out, "# ", key, empty, "  # not set\n");
      } else {
        absl::StrAppend(&out, key, " = ", TomlValue(kind, value.values), "  # ", value.source,
                        "\n");
      }
    }
  }
  return absl::StrCat(out, "\n", CredentialsNote());
}

}  // namespace enrich::cli
