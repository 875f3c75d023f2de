// The answers every route family of ctia-sim's Router shares: CTIA's JSON error bodies, its
// HTML 404, the limiter's 429, a front proxy's HTML errors, and request-body JSON parsing.
// Folder-private (tools/sim/internal): only the Router's files include it.

#ifndef ENRICH_TOOLS_SIM_INTERNAL_SIM_RESPONSES_H_
#define ENRICH_TOOLS_SIM_INTERNAL_SIM_RESPONSES_H_

#include <cstdint>
#include <initializer_list>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/string_view.h"
#include "rapidjson/document.h"
#include "rapidjson/stringbuffer.h"
#include "rapidjson/writer.h"
#include "schema/json_codec.h"
#include "tools/sim/access_control.h"
#include "tools/sim/sim_message.h"

namespace enrich::sim {

using Writer = rapidjson::Writer<rapidjson::StringBuffer>;

inline constexpr absl::string_view kJson = "application/json;charset=utf-8";
inline constexpr absl::string_view kHtml = "text/html;charset=utf-8";
// What /ctia/version and the X-Ctia-* headers of every CTIA answer report (reference §12.3).
inline constexpr absl::string_view kCtiaVersion = "ctia-sim-0.1.0";
inline constexpr absl::string_view kCtimVersion = "1.3.29";
inline constexpr absl::string_view kCtiaConfig = "ctia-sim";
// The test control API's paths; never CTIA, never faulted.
inline constexpr absl::string_view kTestPrefix = "/__test__/";

// ---- small JSON helpers (inline: the verdict route's answer goes through them) -------------

inline void Key(Writer& w, absl::string_view k) {
  w.Key(k.data(), static_cast<rapidjson::SizeType>(k.size()));
}
inline void Str(Writer& w, absl::string_view s) {
  w.String(s.data(), static_cast<rapidjson::SizeType>(s.size()));
}
inline std::string Done(const rapidjson::StringBuffer& buf) {
  return std::string(buf.GetString(), buf.GetSize());
}

// A `status` answer with a JSON body (CTIA's content type, with charset).
inline SimResponse Json(int status, std::string body) {
  SimResponse r;
  r.status = status;
  r.content_type = std::string(kJson);
  r.body = std::move(body);
  return r;
}

// {"k1":"v1","k2":"v2",...}: most of CTIA's error bodies.
std::string StringObject(std::initializer_list<std::pair<absl::string_view, absl::string_view>> kv);

// A `status` answer without a body.
SimResponse Empty(int status);

// CTIA's unknown-route answer, an HTML page (ctia: src/ctia/http/middleware/unknown.clj).
SimResponse HtmlNotFound();

// 400 {"errors": ...}: Prismatic schema errors, nested as the body is (reference §1.4, §5.4).
SimResponse ValidationError(const std::vector<schema::FieldError>& errors);

// Parses a request body with RapidJSON's iterative parser (deep nesting cannot exhaust the
// stack). Returns compojure-api's 400 for invalid or too deeply nested JSON, else nullopt.
std::optional<SimResponse> ParseJsonBody(absl::string_view body, rapidjson::Document& doc);

// 429 of CTIA's limiter (reference §9.1) with Retry-After: `retry_after_seconds`.
SimResponse TooManyRequests(int64_t retry_after_seconds);

// What a front proxy (nginx) sends for its own errors: HTML, no CTIA headers.
SimResponse ProxyHtml(int status, absl::string_view reason);

// 403 missing_capability for `who` (reference §8.1).
SimResponse MissingCapability(absl::string_view capability, const Identity& who);

// The Clojure printout of a failed enum check: (not (#{"a" "b"} "x")).
std::string NotInSet(const std::vector<absl::string_view>& allowed, absl::string_view value);

}  // namespace enrich::sim

#endif  // ENRICH_TOOLS_SIM_INTERNAL_SIM_RESPONSES_H_
