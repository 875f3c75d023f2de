#include "engine/ndjson.h"

#include "absl/strings/str_cat.h"
#include "engine/utf8.h"
#include "schema/json_string.h"

namespace enrich::engine {

const rapidjson::Value* FindJsonPath(const rapidjson::Value& root, absl::string_view path,
                                     std::string* twice) {
  const rapidjson::Value* v = &root;
  const absl::string_view full = path;
  while (true) {
    if (!v->IsObject()) return nullptr;
    const size_t dot = path.find('.');
    const absl::string_view name = path.substr(0, dot);
    const rapidjson::Value key(
        rapidjson::StringRef(name.data(), static_cast<rapidjson::SizeType>(name.size())));
    auto it = v->FindMember(key);
    if (it == v->MemberEnd()) return nullptr;
    if (twice != nullptr) {
      for (auto later = it + 1; later != v->MemberEnd(); ++later) {
        if (later->name == key) {
          *twice = absl::StrCat("member \"", full.substr(0, name.end() - full.begin()),
                                "\" appears twice (JSON readers differ on which one counts)");
          return nullptr;
        }
      }
    }
    v = &it->value;
    if (dot == absl::string_view::npos) return v;
    path.remove_prefix(dot + 1);
  }
}

void AppendJsonString(std::string& out, absl::string_view text) {
  out.push_back('"');
  for (;;) {
    // JSON text is UTF-8 (RFC 8259 §8.1): each byte that does not belong to well-formed UTF-8
    // becomes U+FFFD.
    const size_t bad = FindInvalidUtf8(text);
    schema::AppendJsonEscaped(out, text.substr(0, bad));
    if (bad == absl::string_view::npos) break;
    out.append("\\ufffd");
    text.remove_prefix(bad + 1);
  }
  out.push_back('"');
}

void AppendWithMembers(std::string& out, absl::string_view line, bool object_empty,
                       absl::string_view members) {
  size_t close = line.size();
  while (close > 0 && line[close - 1] != '}') --close;
  // A parsed object always ends with '}' before trailing whitespace.
  if (close == 0) {
    out.append(line.data(), line.size());
    return;
  }
  --close;
  out.append(line.data(), close);
  if (!object_empty) out.push_back(',');
  out.append(members.data(), members.size());
  out.append(line.data() + close, line.size() - close);
}

}  // namespace enrich::engine
