#include "tools/sim/internal/sim_responses.h"

#include <algorithm>
#include <map>

#include "absl/strings/str_cat.h"
#include "rapidjson/error/en.h"

namespace enrich::sim {
namespace {

// Deepest JSON nesting accepted in a request body. Parsing is iterative (no recursion on
// input), but echoing an item back (bulk errors) recurses, so depth is bounded up front.
constexpr int kMaxJsonDepth = 64;

// Prismatic schema errors mirror the body shape: "valid_time.start_time" becomes
// {"valid_time":{"start_time":...}} (reference §1.4, §5.4). A field "" means the whole value.
void WriteErrorsValue(Writer& w, const std::vector<schema::FieldError>& errors) {
  for (const schema::FieldError& e : errors) {
    if (e.field.empty()) {
      Str(w, e.explanation);
      return;
    }
  }
  std::map<std::string, std::vector<std::pair<std::string, std::string>>> nested;
  std::vector<std::string> order;
  for (const schema::FieldError& e : errors) {
    const size_t dot = e.field.find('.');
    std::string top = e.field.substr(0, dot);
    std::string sub = dot == std::string::npos ? "" : e.field.substr(dot + 1);
    if (!nested.contains(top)) order.push_back(top);
    nested[top].emplace_back(std::move(sub), e.explanation);
  }
  w.StartObject();
  for (const std::string& top : order) {
    Key(w, top);
    const auto& subs = nested[top];
    if (subs.size() == 1 && subs[0].first.empty()) {
      Str(w, subs[0].second);
      continue;
    }
    w.StartObject();
    for (const auto& [sub, explanation] : subs) {
      if (sub.empty()) continue;
      Key(w, sub);
      Str(w, explanation);
    }
    w.EndObject();
  }
  w.EndObject();
}

// compojure-api's request-parsing handler (reference §1.4).
SimResponse JsonParseError(const rapidjson::Document& doc) {
  return Json(400, StringObject({{"type", "json-parse-exception"},
                                 {"message", absl::StrCat(rapidjson::GetParseError_En(
                                                              doc.GetParseError()),
                                                          " at offset ", doc.GetErrorOffset())}}));
}

// Nesting depth of `v` (a scalar is 0), computed without recursion.
int JsonDepth(const rapidjson::Value& v) {
  std::vector<std::pair<const rapidjson::Value*, int>> todo{{&v, 0}};
  int deepest = 0;
  while (!todo.empty()) {
    auto [value, depth] = todo.back();
    todo.pop_back();
    if (value->IsArray()) {
      deepest = std::max(deepest, depth + 1);
      for (const rapidjson::Value& e : value->GetArray()) todo.emplace_back(&e, depth + 1);
    } else if (value->IsObject()) {
      deepest = std::max(deepest, depth + 1);
      for (auto m = value->MemberBegin(); m != value->MemberEnd(); ++m) {
        todo.emplace_back(&m->value, depth + 1);
      }
    }
  }
  return deepest;
}

}  // namespace

std::string StringObject(std::initializer_list<std::pair<absl::string_view, absl::string_view>> kv) {
  rapidjson::StringBuffer buf;
  Writer w(buf);
  w.StartObject();
  for (const auto& [k, v] : kv) {
    Key(w, k);
    Str(w, v);
  }
  w.EndObject();
  return Done(buf);
}

SimResponse Empty(int status) {
  SimResponse r;
  r.status = status;
  return r;
}

SimResponse HtmlNotFound() {
  SimResponse r;
  r.status = 404;
  r.content_type = std::string(kHtml);
  r.body =
      "<!DOCTYPE html>\n<html><head><title>404 Not Found</title></head><body>"
      "<h1>404 Not Found</h1><p>The requested resource was not found.</p></body></html>\n";
  return r;
}

SimResponse ValidationError(const std::vector<schema::FieldError>& errors) {
  rapidjson::StringBuffer buf;
  Writer w(buf);
  w.StartObject();
  Key(w, "errors");
  WriteErrorsValue(w, errors);
  w.EndObject();
  return Json(400, Done(buf));
}

std::optional<SimResponse> ParseJsonBody(absl::string_view body, rapidjson::Document& doc) {
  doc.Parse<rapidjson::kParseIterativeFlag>(body.data(), body.size());
  if (doc.HasParseError()) return JsonParseError(doc);
  if (JsonDepth(doc) > kMaxJsonDepth) {
    return Json(400, StringObject({{"type", "json-parse-exception"},
                                   {"message", absl::StrCat("JSON nested deeper than ",
                                                            kMaxJsonDepth, " levels")}}));
  }
  return std::nullopt;
}

// 429 of CTIA's limiter (reference §9.1): note the space in the body, and no charset.
SimResponse TooManyRequests(int64_t retry_after_seconds) {
  SimResponse r;
  r.status = 429;
  r.content_type = "application/json";
  r.body = R"({"error": "Too Many Requests"})";
  r.headers.emplace_back("Retry-After", absl::StrCat(retry_after_seconds));
  return r;
}

SimResponse ProxyHtml(int status, absl::string_view reason) {
  SimResponse r;
  r.status = status;
  r.content_type = "text/html";
  r.body = absl::StrCat("<html>\r\n<head><title>", status, " ", reason,
                        "</title></head>\r\n<body>\r\n<center><h1>", status, " ", reason,
                        "</h1></center>\r\n<hr><center>nginx</center>\r\n</body>\r\n</html>\r\n");
  return r;
}

SimResponse MissingCapability(absl::string_view capability, const Identity& who) {
  return Json(403, StringObject({{"message", "Missing capability"},
                                 {"error", "missing_capability"},
                                 {"capabilities", capability},
                                 {"owner", who.login}}));
}

std::string NotInSet(const std::vector<absl::string_view>& allowed, absl::string_view value) {
  std::string set;
  for (absl::string_view a : allowed) absl::StrAppend(&set, set.empty() ? "" : " ", "\"", a, "\"");
  return absl::StrCat("(not (#{", set, "} \"", value, "\"))");
}

}  // namespace enrich::sim
