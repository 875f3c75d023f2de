#include "transport/ctia_status.h"

#include "transport/internal/json_text.h"
#include "transport/rate_limiter.h"

#include <optional>
#include <string>
#include <vector>

#include "absl/strings/ascii.h"
#include "absl/strings/cord.h"
#include "absl/types/optional.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "rapidjson/document.h"

namespace enrich::transport {
namespace {

using internal::JsonText;
using internal::View;

// Longest non-JSON body text quoted in an error message.
constexpr size_t kMaxQuotedBody = 200;

// The human part of a CTIA error body: `error`, `error_description` and `message` of a JSON
// object (§5.4, §8.2, §9.1), a JSON string as is (§6.1 bulk limit), or short plain text.
std::string ErrorDetail(absl::string_view body) {
  rapidjson::Document doc;
  doc.Parse(body.data(), body.size());
  if (!doc.HasParseError()) {
    if (doc.IsString()) return std::string(View(doc));
    if (!doc.IsObject()) return "";
    std::vector<std::string> parts;
    for (const char* key : {"error", "error_description", "message"}) {
      if (auto it = doc.FindMember(key); it != doc.MemberEnd())
        parts.push_back(JsonText(it->value));
    }
    if (parts.empty()) {
      // Schema failures carry only `errors` (§1.4).
      if (auto it = doc.FindMember("errors"); it != doc.MemberEnd()) {
        parts.push_back(JsonText(it->value));
      }
    }
    return absl::StrJoin(parts, ": ");
  }
  absl::string_view text = absl::StripAsciiWhitespace(body);
  // HTML pages (CTIA's unknown-route 404, proxies' 5xx pages) say nothing useful.
  if (text.empty() || text.front() == '<' || text.size() > kMaxQuotedBody) return "";
  for (char c : text) {
    if (static_cast<unsigned char>(c) < 0x20 && c != ' ') return "";
  }
  return std::string(text);
}

absl::StatusCode CodeForHttp(int status) {
  if (status >= 500 && status <= 599) return absl::StatusCode::kUnavailable;
  switch (status) {
    case 401:
      return absl::StatusCode::kUnauthenticated;
    case 403:
      return absl::StatusCode::kPermissionDenied;
    case 404:
      return absl::StatusCode::kNotFound;
    case 408:
      return absl::StatusCode::kDeadlineExceeded;
    case 429:
      return absl::StatusCode::kResourceExhausted;
    default:
      break;
  }
  if (status >= 400 && status <= 499) return absl::StatusCode::kInvalidArgument;
  return absl::StatusCode::kUnknown;
}

}  // namespace

absl::Status StatusFromHttp(const HttpResponse& response) {
  std::string message = absl::StrCat("http ", response.status);
  if (std::string detail = ErrorDetail(response.body); !detail.empty()) {
    absl::StrAppend(&message, ": ", detail);
  }
  if (response.status == 429) {
    if (std::optional<absl::Duration> after = RetryAfterFromHeaders(response)) {
      absl::StrAppend(&message, " (retry after ", absl::FormatDuration(*after), ")");
    }
  }
  return absl::Status(CodeForHttp(response.status), message);
}

namespace {
constexpr absl::string_view kSetupFailurePayloadUrl = "ctia-enrich/setup-failure";
constexpr SetupFailure kMarked[] = {SetupFailure::kNotCtia, SetupFailure::kRefused,
                                    SetupFailure::kUnresolved, SetupFailure::kTlsVerify};
}  // namespace

absl::string_view SetupFailureName(SetupFailure failure) {
  switch (failure) {
    case SetupFailure::kNotCtia:
      return "not_ctia";
    case SetupFailure::kRefused:
      return "refused";
    case SetupFailure::kUnresolved:
      return "unresolved";
    case SetupFailure::kTlsVerify:
      return "tls_verify";
    case SetupFailure::kNone:
      break;
  }
  return "none";
}

absl::Status WithSetupFailure(absl::Status status, SetupFailure failure) {
  if (failure != SetupFailure::kNone && !status.ok()) {
    status.SetPayload(kSetupFailurePayloadUrl, absl::Cord(SetupFailureName(failure)));
  }
  return status;
}

SetupFailure SetupFailureOf(const absl::Status& status) {
  const absl::optional<absl::Cord> payload = status.GetPayload(kSetupFailurePayloadUrl);
  if (!payload.has_value()) return SetupFailure::kNone;
  for (SetupFailure failure : kMarked) {
    if (*payload == SetupFailureName(failure)) return failure;
  }
  return SetupFailure::kNone;
}

}  // namespace enrich::transport
