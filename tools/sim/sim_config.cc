#include "tools/sim/sim_config.h"

#include <cstdint>
#include <filesystem>
#include <fstream>
#include <initializer_list>
#include <limits>
#include <optional>
#include <sstream>
#include <utility>

#include <toml++/toml.h>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "schema/rate_spec.h"
#include "schema/status_macros.h"
#include "tools/sim/sim_server.h"

namespace enrich::sim {
namespace {

// toml++ speaks std::string_view; Debian's Abseil has its own string_view.
absl::string_view View(std::string_view s) { return absl::string_view(s.data(), s.size()); }

std::string TypeName(const toml::node& node) {
  switch (node.type()) {
    case toml::node_type::table: return "a table";
    case toml::node_type::array: return "an array";
    case toml::node_type::string: return "a string";
    case toml::node_type::integer: return "an integer";
    case toml::node_type::floating_point: return "a float";
    case toml::node_type::boolean: return "a boolean";
    default: return "a date or time";
  }
}

// Reads one TOML document, keeping the file name for errors. toml++ reports failures with
// exceptions; they stay inside this file (STYLE rule 10).
class ConfigReader {
 public:
  explicit ConfigReader(std::string path) : path_(std::move(path)) {}

  absl::Status Parse(toml::table& out) {
    std::ifstream in(path_, std::ios::binary);
    if (!in) return absl::NotFoundError(absl::StrCat(path_, ": cannot open the config file"));
    std::stringstream text;
    text << in.rdbuf();
    try {
      out = toml::parse(text.str(), path_);
    } catch (const toml::parse_error& e) {
      return absl::InvalidArgumentError(absl::StrCat(path_, ":", e.source().begin.line, ":",
                                                     e.source().begin.column, ": ",
                                                     View(e.description())));
    }
    return absl::OkStatus();
  }

  absl::Status Error(const toml::node& node, absl::string_view key, absl::string_view what) const {
    return absl::InvalidArgumentError(
        absl::StrCat(path_, ":", node.source().begin.line, ": key '", key, "': ", what));
  }

  // Refuses keys of `table` not in `known`; `prefix` is "" or "section.".
  absl::Status OnlyKnownKeys(const toml::table& table, absl::string_view prefix,
                             std::initializer_list<absl::string_view> known) const {
    for (auto&& [key, node] : table) {
      bool ok = false;
      for (absl::string_view k : known) ok = ok || k == View(key.str());
      if (!ok) {
        return absl::InvalidArgumentError(
            absl::StrCat(path_, ":", key.source().begin.line, ": unknown key '", prefix,
                         View(key.str()), "' (known: ", absl::StrJoin(known, ", "), ")"));
      }
    }
    return absl::OkStatus();
  }

  absl::Status Int(const toml::table& t, absl::string_view section, const char* name,
                   int64_t lo, int64_t hi, std::optional<int64_t>& out) const {
    const toml::node* node = t.get(name);
    out = std::nullopt;  // absent keys leave nothing behind from an earlier call
    if (node == nullptr) return absl::OkStatus();
    const std::string key = absl::StrCat(section, ".", name);
    std::optional<int64_t> v = node->is_integer() ? node->value<int64_t>() : std::nullopt;
    if (!v.has_value() || *v < lo || *v > hi) {
      std::string got = v.has_value() ? absl::StrCat(*v) : TypeName(*node);
      return Error(*node, key, absl::StrCat("expected an integer in ", lo, "..", hi, ", got ", got));
    }
    out = *v;
    return absl::OkStatus();
  }

  // An integer or a float in 0..100.
  absl::Status Percent(const toml::table& t, absl::string_view section, const char* name,
                       std::optional<double>& out) const {
    const toml::node* node = t.get(name);
    out = std::nullopt;  // absent keys leave nothing behind from an earlier call
    if (node == nullptr) return absl::OkStatus();
    std::optional<double> v = node->is_number() ? node->value<double>() : std::nullopt;
    if (!v.has_value() || !(*v >= 0 && *v <= 100)) {
      std::string got = v.has_value() ? absl::StrCat(*v) : TypeName(*node);
      return Error(*node, absl::StrCat(section, ".", name),
                   absl::StrCat("expected a percentage in 0..100, got ", got));
    }
    out = *v;
    return absl::OkStatus();
  }

  absl::Status Bool(const toml::table& t, absl::string_view section, const char* name,
                    std::optional<bool>& out) const {
    const toml::node* node = t.get(name);
    out = std::nullopt;  // absent keys leave nothing behind from an earlier call
    if (node == nullptr) return absl::OkStatus();
    if (!node->is_boolean()) {
      return Error(*node, absl::StrCat(section, ".", name),
                   absl::StrCat("expected true or false, got ", TypeName(*node)));
    }
    out = node->value<bool>();
    return absl::OkStatus();
  }

  // A string, optionally one of `allowed`.
  absl::Status String(const toml::table& t, absl::string_view section, const char* name,
                      std::optional<std::string>& out,
                      std::initializer_list<absl::string_view> allowed = {}) const {
    const toml::node* node = t.get(name);
    out = std::nullopt;  // absent keys leave nothing behind from an earlier call
    if (node == nullptr) return absl::OkStatus();
    const std::string key = absl::StrCat(section, ".", name);
    if (!node->is_string()) {
      return Error(*node, key, absl::StrCat("expected a string, got ", TypeName(*node)));
    }
    std::string v = *node->value<std::string>();
    if (allowed.size() > 0) {
      bool ok = false;
      for (absl::string_view a : allowed) ok = ok || a == v;
      if (!ok) {
        return Error(*node, key, absl::StrCat("expected one of ", absl::StrJoin(allowed, ", "),
                                              ", got \"", v, "\""));
      }
    }
    out = std::move(v);
    return absl::OkStatus();
  }

  absl::Status StringList(const toml::node& node, absl::string_view key,
                          std::vector<std::string>& out) const {
    const toml::array* list = node.as_array();
    if (list == nullptr) {
      return Error(node, key, absl::StrCat("expected an array of strings, got ", TypeName(node)));
    }
    std::vector<std::string> values;
    for (const toml::node& item : *list) {
      if (!item.is_string()) {
        return Error(item, key, absl::StrCat("expected strings, got ", TypeName(item)));
      }
      values.push_back(*item.value<std::string>());
    }
    out = std::move(values);
    return absl::OkStatus();
  }

  // The table `name` of `root`, or nullptr when absent; an error when it is not a table.
  absl::StatusOr<const toml::table*> Section(const toml::table& root, const char* name) const {
    const toml::node* node = root.get(name);
    if (node == nullptr) return nullptr;
    if (!node->is_table()) {
      return Error(*node, name, absl::StrCat("expected a table [", name, "], got ",
                                             TypeName(*node)));
    }
    return node->as_table();
  }

  const std::string& path() const { return path_; }
  // A path given in the file, relative to the file's folder, so a config and the files it
  // names travel together.
  std::string Relative(const std::string& given) const {
    std::filesystem::path p(given);
    if (p.is_relative()) p = std::filesystem::path(path_).parent_path() / p;
    return p.string();
  }

 private:
  std::string path_;
};

absl::Status ReadServer(const ConfigReader& r, const toml::table& t, SimSettings& s) {
  ENRICH_RETURN_IF_ERROR(r.OnlyKnownKeys(t, "server.", {"bind", "port", "threads", "public_base",
                                                  "header_limit", "body_limit",
                                                  "idle_timeout", "latency_ms", "tls_cert",
                                                  "tls_key", "graphql"}));
  std::optional<std::string> text;
  std::optional<int64_t> n;
  ENRICH_RETURN_IF_ERROR(r.String(t, "server", "bind", text));
  if (text) s.options.bind = *std::exchange(text, std::nullopt);
  ENRICH_RETURN_IF_ERROR(r.Int(t, "server", "port", 0, 65535, n));
  if (n) s.options.port = static_cast<uint16_t>(*std::exchange(n, std::nullopt));
  ENRICH_RETURN_IF_ERROR(r.Int(t, "server", "threads", 1, 256, n));
  if (n) s.options.threads = static_cast<int>(*std::exchange(n, std::nullopt));
  ENRICH_RETURN_IF_ERROR(r.String(t, "server", "public_base", text));
  if (text) s.options.public_base = *std::exchange(text, std::nullopt);
  ENRICH_RETURN_IF_ERROR(r.Int(t, "server", "header_limit", 1024, 1 << 20, n));
  if (n) s.options.header_limit = static_cast<size_t>(*std::exchange(n, std::nullopt));
  ENRICH_RETURN_IF_ERROR(r.Int(t, "server", "body_limit", 1024, int64_t{1} << 32, n));
  if (n) s.options.body_limit = static_cast<size_t>(*std::exchange(n, std::nullopt));
  ENRICH_RETURN_IF_ERROR(r.Int(t, "server", "idle_timeout", 1, 86400, n));
  if (n) s.idle_timeout_seconds = static_cast<int>(*std::exchange(n, std::nullopt));
  ENRICH_RETURN_IF_ERROR(r.Int(t, "server", "latency_ms", 0, 3600000, n));
  if (n) s.latency_ms = static_cast<int>(*n);
  ENRICH_RETURN_IF_ERROR(r.String(t, "server", "tls_cert", text));
  if (text) s.tls_cert_file = r.Relative(*std::exchange(text, std::nullopt));
  ENRICH_RETURN_IF_ERROR(r.String(t, "server", "tls_key", text));
  if (text) s.tls_key_file = r.Relative(*text);
  std::optional<bool> flag;
  ENRICH_RETURN_IF_ERROR(r.Bool(t, "server", "graphql", flag));
  if (flag) s.options.graphql = *flag;
  return absl::OkStatus();
}

absl::Status ReadClient(const ConfigReader& r, const toml::node& node, SimClient& out) {
  const toml::table* t = node.as_table();
  if (t == nullptr) {
    return r.Error(node, "auth.clients", absl::StrCat("expected a table {id, secret, ...}, got ",
                                                     TypeName(node)));
  }
  ENRICH_RETURN_IF_ERROR(
      r.OnlyKnownKeys(*t, "auth.clients.", {"id", "secret", "org", "login", "scopes"}));
  std::optional<std::string> id;
  std::optional<std::string> secret;
  ENRICH_RETURN_IF_ERROR(r.String(*t, "auth.clients", "id", id));
  ENRICH_RETURN_IF_ERROR(r.String(*t, "auth.clients", "secret", secret));
  if (id.value_or("").empty() || secret.value_or("").empty()) {
    return r.Error(node, "auth.clients", "every client needs a non-empty id and secret");
  }
  out.id = *id;
  out.secret = *secret;
  std::optional<std::string> text;
  ENRICH_RETURN_IF_ERROR(r.String(*t, "auth.clients", "org", text));
  if (text) out.org = *std::exchange(text, std::nullopt);
  ENRICH_RETURN_IF_ERROR(r.String(*t, "auth.clients", "login", text));
  if (text) out.login = *std::exchange(text, std::nullopt);
  if (const toml::node* scopes = t->get("scopes"); scopes != nullptr) {
    ENRICH_RETURN_IF_ERROR(r.StringList(*scopes, "auth.clients.scopes", out.scopes));
  }
  return absl::OkStatus();
}

absl::Status ReadAuth(const ConfigReader& r, const toml::table& t, SimSettings& s) {
  ENRICH_RETURN_IF_ERROR(
      r.OnlyKnownKeys(t, "auth.", {"token_ttl", "token_check_at_send", "clients"}));
  std::optional<int64_t> n;
  ENRICH_RETURN_IF_ERROR(r.Int(t, "auth", "token_ttl", 1, 86400 * 365, n));
  if (n) s.token_ttl_seconds = static_cast<int>(*n);
  std::optional<bool> flag;
  ENRICH_RETURN_IF_ERROR(r.Bool(t, "auth", "token_check_at_send", flag));
  if (flag) s.options.token_check_at_send = *flag;
  if (const toml::node* node = t.get("clients"); node != nullptr) {
    const toml::array* list = node->as_array();
    if (list == nullptr || list->empty()) {
      return r.Error(*node, "auth.clients", "expected one or more [[auth.clients]] tables");
    }
    std::vector<SimClient> clients;
    for (const toml::node& item : *list) {
      SimClient c;
      ENRICH_RETURN_IF_ERROR(ReadClient(r, item, c));
      clients.push_back(std::move(c));
    }
    s.options.clients = std::move(clients);
  }
  return absl::OkStatus();
}

absl::Status ReadData(const ConfigReader& r, const toml::table& t, SimSettings& s) {
  ENRICH_RETURN_IF_ERROR(
      r.OnlyKnownKeys(t, "data.", {"seed", "demo", "bulk_max", "synthetic", "visibility"}));
  std::optional<std::string> text;
  std::optional<int64_t> n;
  std::optional<bool> flag;
  ENRICH_RETURN_IF_ERROR(r.String(t, "data", "seed", text));
  if (text) s.seed_file = r.Relative(*text);
  ENRICH_RETURN_IF_ERROR(r.Bool(t, "data", "demo", flag));
  if (flag) s.no_demo = !*flag;
  ENRICH_RETURN_IF_ERROR(r.Int(t, "data", "bulk_max", 1, 10000000, n));
  if (n) s.options.bulk_max = static_cast<size_t>(*std::exchange(n, std::nullopt));
  ENRICH_RETURN_IF_ERROR(r.Int(t, "data", "synthetic", 0, 100, n));
  if (n) s.options.synthetic_percent = static_cast<int>(*n);
  ENRICH_RETURN_IF_ERROR(r.String(t, "data", "visibility", text, {"everyone", "group"}));
  if (text) s.visibility = *text;
  return absl::OkStatus();
}

absl::Status ReadRateLimit(const ConfigReader& r, const toml::table& t, SimSettings& s) {
  ENRICH_RETURN_IF_ERROR(r.OnlyKnownKeys(
      t, "rate_limit.", {"limit", "orgs", "unlimited_clients", "header", "remaining", "per"}));
  std::optional<std::string> text;
  std::optional<bool> flag;
  ENRICH_RETURN_IF_ERROR(r.String(t, "rate_limit", "limit", text));
  if (text) {
    absl::StatusOr<schema::RateSpec> spec = schema::ParseRateSpec(*text);
    if (!spec.ok()) return r.Error(*t.get("limit"), "rate_limit.limit", spec.status().message());
    s.rate_limit = *std::exchange(text, std::nullopt);
  }
  if (const toml::node* node = t.get("orgs"); node != nullptr) {
    const toml::table* orgs = node->as_table();
    if (orgs == nullptr) {
      return r.Error(*node, "rate_limit.orgs",
                     absl::StrCat("expected a table of ORG = N, got ", TypeName(*node)));
    }
    std::vector<std::string> customs;
    for (auto&& [org, limit] : *orgs) {
      const std::string key = absl::StrCat("rate_limit.orgs.", View(org.str()));
      std::optional<int64_t> v = limit.is_integer() ? limit.value<int64_t>() : std::nullopt;
      if (!v.has_value() || *v < 0) {
        return r.Error(limit, key, absl::StrCat("expected a non-negative integer, got ",
                                                v.has_value() ? absl::StrCat(*v)
                                                              : TypeName(limit)));
      }
      customs.push_back(absl::StrCat(View(org.str()), "=", *v));
    }
    s.rate_limit_customs = std::move(customs);
  }
  if (const toml::node* node = t.get("unlimited_clients"); node != nullptr) {
    ENRICH_RETURN_IF_ERROR(
        r.StringList(*node, "rate_limit.unlimited_clients", s.options.unlimited_client_ids));
  }
  ENRICH_RETURN_IF_ERROR(r.String(t, "rate_limit", "header", text, {"GROUP", "ORG", "NONE"}));
  if (text) s.options.rate_limit_header_group = *std::exchange(text, std::nullopt);
  ENRICH_RETURN_IF_ERROR(r.String(t, "rate_limit", "per", text, {"org", "client"}));
  if (text) s.options.rate_limit_per_client = *text == "client";
  ENRICH_RETURN_IF_ERROR(r.Bool(t, "rate_limit", "remaining", flag));
  if (flag) s.options.rate_limit_remaining = *flag;
  return absl::OkStatus();
}

absl::Status ReadTest(const ConfigReader& r, const toml::table& t, SimSettings& s) {
  ENRICH_RETURN_IF_ERROR(r.OnlyKnownKeys(
      t, "test.", {"api", "fault_seed", "hang_percent", "slow_percent", "slow_ms"}));
  std::optional<bool> flag;
  std::optional<int64_t> n;
  std::optional<double> percent;
  ENRICH_RETURN_IF_ERROR(r.Bool(t, "test", "api", flag));
  if (flag) s.options.test_api = *flag;
  ENRICH_RETURN_IF_ERROR(r.Int(t, "test", "fault_seed", 0, std::numeric_limits<int64_t>::max(), n));
  if (n) s.options.fault_seed = static_cast<uint64_t>(*std::exchange(n, std::nullopt));
  ENRICH_RETURN_IF_ERROR(r.Percent(t, "test", "hang_percent", percent));
  if (percent) s.options.hang_percent = *percent;
  ENRICH_RETURN_IF_ERROR(r.Percent(t, "test", "slow_percent", percent));
  if (percent) s.options.slow_percent = *percent;
  ENRICH_RETURN_IF_ERROR(r.Int(t, "test", "slow_ms", 0, 3600000, n));
  if (n) s.slow_ms = static_cast<int>(*n);
  return absl::OkStatus();
}

// "ID:SECRET[:ORG]" → SimClient. The secret may not contain ':'.
bool ParseClientFlag(const std::string& text, SimClient* out) {
  std::vector<std::string> parts = absl::StrSplit(text, ':');
  if (parts.size() < 2 || parts.size() > 3 || parts[0].empty() || parts[1].empty()) {
    return false;
  }
  out->id = parts[0];
  out->secret = parts[1];
  if (parts.size() == 3 && !parts[2].empty()) out->org = parts[2];
  return true;
}

}  // namespace

absl::Status LoadSimConfig(const std::string& path, SimSettings& settings) {
  ConfigReader r(path);
  toml::table root;
  ENRICH_RETURN_IF_ERROR(r.Parse(root));
  ENRICH_RETURN_IF_ERROR(r.OnlyKnownKeys(root, "", {"server", "auth", "data", "rate_limit", "test"}));
  // Read into a copy so a bad file leaves `settings` as it was.
  SimSettings s = settings;
  const std::pair<const char*, absl::Status (*)(const ConfigReader&, const toml::table&,
                                                  SimSettings&)>
      kSections[] = {{"server", ReadServer},
                     {"auth", ReadAuth},
                     {"data", ReadData},
                     {"rate_limit", ReadRateLimit},
                     {"test", ReadTest}};
  for (const auto& [name, read] : kSections) {
    ENRICH_ASSIGN_OR_RETURN(const toml::table* section, r.Section(root, name));
    if (section != nullptr) ENRICH_RETURN_IF_ERROR(read(r, *section, s));
  }
  settings = std::move(s);
  return absl::OkStatus();
}

namespace {

std::string Quoted(absl::string_view text) {
  std::ostringstream out;
  out << toml::value<std::string>(std::string(text));
  return out.str();
}

std::string QuotedList(const std::vector<std::string>& items) {
  std::vector<std::string> quoted;
  for (const std::string& item : items) quoted.push_back(Quoted(item));
  return absl::StrCat("[", absl::StrJoin(quoted, ", "), "]");
}

}  // namespace

namespace {

absl::StatusOr<std::string> ReadPemFile(absl::string_view flag, const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream text;
  if (in) text << in.rdbuf();
  if (!in || in.bad()) {
    return absl::InvalidArgumentError(absl::StrCat(flag, " ", path, ": cannot read the file"));
  }
  return text.str();
}

// Reads --tls-cert and --tls-key into `options` and checks that they belong together.
absl::Status ReadTlsFiles(const SimSettings& settings, SimOptions& options) {
  const std::string& cert = settings.tls_cert_file;
  const std::string& key = settings.tls_key_file;
  if (cert.empty() && key.empty()) return absl::OkStatus();
  if (cert.empty() || key.empty()) {
    return absl::InvalidArgumentError("--tls-cert and --tls-key must be given together");
  }
  ENRICH_ASSIGN_OR_RETURN(options.tls_cert_pem, ReadPemFile("--tls-cert", cert));
  ENRICH_ASSIGN_OR_RETURN(options.tls_key_pem, ReadPemFile("--tls-key", key));
  absl::Status checked = CheckTlsCredentials(options.tls_cert_pem, options.tls_key_pem);
  if (checked.ok()) return checked;
  const absl::string_view message = checked.message();
  const std::string files = absl::StartsWith(message, "certificate chain")
                                ? absl::StrCat("--tls-cert ", cert)
                            : absl::StartsWith(message, "private key does not match")
                                ? absl::StrCat("--tls-key ", key, " and --tls-cert ", cert)
                                : absl::StrCat("--tls-key ", key);
  return absl::InvalidArgumentError(absl::StrCat(files, ": ", message));
}

}  // namespace

std::string FormatSimSettings(const SimSettings& settings) {
  const SimOptions& o = settings.options;
  std::string out;
  absl::StrAppend(&out, "[server]\nbind = ", Quoted(o.bind), "\nport = ", o.port,
                  "\nthreads = ", o.threads, "\npublic_base = ", Quoted(o.public_base),
                  "\nheader_limit = ", o.header_limit, "\nbody_limit = ", o.body_limit,
                  "\nidle_timeout = ", settings.idle_timeout_seconds,
                  "\nlatency_ms = ", settings.latency_ms,
                  "\ngraphql = ", o.graphql ? "true" : "false", "\n");
  if (!settings.tls_cert_file.empty()) {
    absl::StrAppend(&out, "tls_cert = ", Quoted(settings.tls_cert_file), "\n");
  }
  if (!settings.tls_key_file.empty()) {
    absl::StrAppend(&out, "tls_key = ", Quoted(settings.tls_key_file), "\n");
  }
  absl::StrAppend(&out, "\n[auth]\ntoken_ttl = ", settings.token_ttl_seconds,
                  "\ntoken_check_at_send = ", o.token_check_at_send ? "true" : "false", "\n");
  std::vector<SimClient> clients = o.clients;
  if (!settings.client_flags.empty()) {
    clients.clear();
    for (const std::string& text : settings.client_flags) {
      SimClient c;
      if (ParseClientFlag(text, &c)) clients.push_back(std::move(c));
    }
  }
  for (const SimClient& c : clients) {
    absl::StrAppend(&out, "\n[[auth.clients]]\nid = ", Quoted(c.id),
                    "\nsecret = \"<redacted>\"\norg = ", Quoted(c.org));
    if (!c.login.empty()) absl::StrAppend(&out, "\nlogin = ", Quoted(c.login));
    absl::StrAppend(&out, "\nscopes = ", QuotedList(c.scopes), "\n");
  }
  absl::StrAppend(&out, "\n[data]\n");
  if (!settings.seed_file.empty()) absl::StrAppend(&out, "seed = ", Quoted(settings.seed_file), "\n");
  absl::StrAppend(&out, "demo = ", settings.no_demo ? "false" : "true", "\nbulk_max = ",
                  o.bulk_max, "\n");
  if (o.synthetic_percent >= 0) absl::StrAppend(&out, "synthetic = ", o.synthetic_percent, "\n");
  absl::StrAppend(&out, "visibility = ", Quoted(settings.visibility), "\n");
  absl::StrAppend(&out, "\n[rate_limit]\n");
  if (!settings.rate_limit.empty()) {
    absl::StrAppend(&out, "limit = ", Quoted(settings.rate_limit), "\n");
  }
  absl::StrAppend(&out, "unlimited_clients = ", QuotedList(o.unlimited_client_ids),
                  "\nheader = ", Quoted(o.rate_limit_header_group),
                  "\nremaining = ", o.rate_limit_remaining ? "true" : "false",
                  "\nper = ", Quoted(o.rate_limit_per_client ? "client" : "org"), "\n");
  if (!settings.rate_limit_customs.empty()) {
    absl::StrAppend(&out, "\n[rate_limit.orgs]\n");
    for (const std::string& text : settings.rate_limit_customs) {
      std::pair<std::string, std::string> kv = absl::StrSplit(text, absl::MaxSplits('=', 1));
      absl::StrAppend(&out, Quoted(kv.first), " = ", kv.second, "\n");
    }
  }
  absl::StrAppend(&out, "\n[test]\napi = ", o.test_api ? "true" : "false",
                  "\nfault_seed = ", o.fault_seed, "\nhang_percent = ", o.hang_percent,
                  "\nslow_percent = ", o.slow_percent, "\nslow_ms = ", settings.slow_ms, "\n");
  return out;
}

absl::StatusOr<SimOptions> FinishSimOptions(const SimSettings& settings) {
  SimOptions options = settings.options;
  if (!settings.rate_limit.empty()) {
    absl::StatusOr<schema::RateSpec> spec = schema::ParseRateSpec(settings.rate_limit);
    if (!spec.ok()) {
      return absl::InvalidArgumentError(absl::StrCat("--rate-limit: ", spec.status().message()));
    }
    options.rate_limit = spec->limit;
    options.rate_limit_window = spec->window;
  }
  options.rate_limit_customs.clear();
  for (const std::string& text : settings.rate_limit_customs) {
    std::pair<std::string, std::string> kv = absl::StrSplit(text, absl::MaxSplits('=', 1));
    int64_t limit = 0;
    if (kv.first.empty() || !absl::SimpleAtoi(kv.second, &limit) || limit < 0) {
      return absl::InvalidArgumentError(
          absl::StrCat("--rate-limit-org ", text, ": expected ORG=N"));
    }
    options.rate_limit_customs.emplace_back(kv.first, limit);
  }
  if (!settings.client_flags.empty()) {
    options.clients.clear();
    for (const std::string& text : settings.client_flags) {
      SimClient client;
      if (!ParseClientFlag(text, &client)) {
        return absl::InvalidArgumentError(
            absl::StrCat("--client ", text, ": expected ID:SECRET[:ORG]"));
      }
      options.clients.push_back(std::move(client));
    }
  }
  if (settings.visibility != "everyone" && settings.visibility != "group") {
    return absl::InvalidArgumentError(absl::StrCat(
        "--visibility ", settings.visibility, ": expected everyone or group"));
  }
  options.green_visible_to_everyone = settings.visibility == "everyone";
  options.token_ttl = absl::Seconds(settings.token_ttl_seconds);
  options.idle_timeout = absl::Seconds(settings.idle_timeout_seconds);
  options.latency = absl::Milliseconds(settings.latency_ms);
  options.slow = absl::Milliseconds(settings.slow_ms);
  ENRICH_RETURN_IF_ERROR(ReadTlsFiles(settings, options));
  return options;
}

}  // namespace enrich::sim
