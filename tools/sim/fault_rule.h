// The fault rules of ctia-sim's test API (reference §12.6): what an injected fault does and
// which requests it hits. Built from flags, the test API's JSON or in-process calls; the
// FaultInjector draws them and the Router turns a drawn rule into an answer.

#ifndef ENRICH_TOOLS_SIM_FAULT_RULE_H_
#define ENRICH_TOOLS_SIM_FAULT_RULE_H_

#include <cstdint>
#include <optional>
#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "rapidjson/document.h"

namespace enrich::sim {

// What an injected fault does to a matching request (reference §12.6).
enum class FaultKind {
  kStatus500,         // 500 {"type":"unknown-exception","class":"java.lang.RuntimeException",...}
  kHtml502,           // 502 with an HTML body, as a front proxy sends it
  kHtml503,           // 503 HTML
  kHtml504,           // 504 HTML
  kHtml404,           // the HTML 404 of an unknown route: a server that is not CTIA at this base
  kStatus413,         // 413 HTML (front door: body too large)
  kStatus414,         // 414 HTML (front door: URI too long)
  kLatency,           // the normal answer after `latency` (+ `tail` for tail_percentage %)
  kHang,              // no answer; the connection is closed after `hang`
  kCloseMidResponse,  // half of the response's header block, then the connection closes
  kTruncatedBody,     // full headers (full Content-Length), half the body, then close
  kBurst429,          // 429 {"error": "Too Many Requests"} with Retry-After: retry_after_seconds
  kTokenFail,         // token endpoint only: `status` with {"error":"server_error",...}
};

// "status500", "html502", ..., "token_fail" ↔ FaultKind.
std::optional<FaultKind> FaultKindFromName(absl::string_view name);
absl::string_view FaultKindName(FaultKind kind);

// One fault rule. A request matches when its raw path starts with `path_prefix` (kTokenFail:
// only /iroh/oauth2/token). Rules are tried in the order added; the first matching rule that
// fires decides. With `next` > 0 the rule fires for the next `next` matching requests and is
// then removed; otherwise it fires for `percentage` % of matching requests (seeded draw).
// /__test__/ paths are never faulted.
struct FaultRule {
  FaultKind kind = FaultKind::kStatus500;
  std::string path_prefix = "/";
  double percentage = 100;
  int64_t next = 0;
  absl::Duration latency = absl::ZeroDuration();  // kLatency
  absl::Duration tail = absl::ZeroDuration();     // kLatency: extra delay ...
  double tail_percentage = 0;                     // ... for this % of the delayed requests
  absl::Duration hang = absl::Minutes(5);         // kHang
  int64_t retry_after_seconds = 1;                // kBurst429
  int status = 503;                               // kTokenFail
  // Match only lookups: GET /ctia/{type}/{value}/verdict and POST /ctia/graphql (and then
  // only those under `path_prefix`).
  bool lookups_only = false;
};

// True for the paths of lookups: /ctia/{type}/{value}/verdict and /ctia/graphql.
bool IsLookupPath(absl::string_view path);

// A rule from the test API's JSON: {"kind": "latency", "path": "/ctia/", "percentage": 50,
// "next": 3, "ms": 100, "tail_ms": 2000, "tail_percentage": 5, "hang_ms": 60000,
// "retry_after": 30, "status": 503, "lookups_only": true}. Only "kind" is required.
// Error: InvalidArgument naming the field (unknown keys included).
absl::StatusOr<FaultRule> FaultRuleFromJson(const rapidjson::Value& json);

}  // namespace enrich::sim

#endif  // ENRICH_TOOLS_SIM_FAULT_RULE_H_
