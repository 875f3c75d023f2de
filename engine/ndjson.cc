#include "engine/ndjson.h"

#include <cstdio>

#include "absl/strings/str_cat.h"
#include "engine/utf8.h"

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
  size_t run = 0;  // start of bytes not yet copied
  const auto* bytes = reinterpret_cast<const unsigned char*>(text.data());
  for (size_t i = 0; i < text.size(); ++i) {
    const unsigned char c = bytes[i];
    if (c >= 0x80) {
      const size_t len = Utf8SequenceLength(bytes + i, text.size() - i);
      if (len > 0) {
        i += len - 1;
        continue;
      }
      // JSON text is UTF-8 (RFC 8259 §8.1): a byte that is not becomes U+FFFD.
      out.append(text.data() + run, i - run);
      out.append("\\ufffd");
      run = i + 1;
      continue;
    }
    if (c >= 0x20 && c != '"' && c != '\\') continue;
    out.append(text.data() + run, i - run);
    run = i + 1;
    switch (c) {
      case '"': out.append("\\\""); break;
      case '\\': out.append("\\\\"); break;
      case '\n': out.append("\\n"); break;
      case '\r': out.append("\\r"); break;
      case '\t': out.append("\\t"); break;
      default: {
        char buf[8];
        std::snprintf(buf, sizeof buf, "\\u%04x", c);
        out.append(buf);
      }
    }
  }
  out.append(text.data() + run, text.size() - run);
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
