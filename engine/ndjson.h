// NDJSON rows: the value at a column's dotted field path (parse+extract+resolve stage,
// internal/chunk_parser.cc), and the added fields written into an object or as JSON strings
// (format stage, internal/output_format.cc).

#ifndef ENRICH_ENGINE_NDJSON_H_
#define ENRICH_ENGINE_NDJSON_H_

#include <string>

#include "absl/strings/string_view.h"
#include "rapidjson/document.h"

namespace enrich::engine {

// The value at a dotted field path ("dns.query.name") of a JSON object: each segment names a
// member of an object. nullptr when a segment is missing or a parent is not an object. With
// `twice` given, a member of the path that its object holds twice (JSON leaves open which one
// counts; JavaScript and jq take the last) is not chosen from: nullptr, and `*twice` says which
// ("member \"dns.query\" appears twice ...").
const rapidjson::Value* FindJsonPath(const rapidjson::Value& root, absl::string_view path,
                                     std::string* twice = nullptr);

// Appends `text` as a JSON string literal, escaped as schema::AppendJsonString escapes (as
// RapidJSON's Writer does), with each byte that is not part of well-formed UTF-8 replaced by
// \ufffd, so the output is valid JSON text whatever the input bytes.
void AppendJsonString(std::string& out, absl::string_view text);

// Appends `line`, the text of one JSON object (trailing whitespace such as a CR allowed), with
// `members` (`"k":v,"k2":v2`, no leading comma) inserted before its closing brace; every other
// byte of `line` is kept. `object_empty` says whether the object had no members.
void AppendWithMembers(std::string& out, absl::string_view line, bool object_empty,
                       absl::string_view members);

}  // namespace enrich::engine

#endif  // ENRICH_ENGINE_NDJSON_H_
