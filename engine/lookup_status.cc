#include "engine/lookup_status.h"

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"

namespace enrich::engine {

std::string ErrorStatusFor(const absl::Status& status) {
  // The transport starts messages with "http <code>" when the server answered (ctia_client.h).
  absl::string_view msg = status.message();
  if (absl::StartsWith(msg, "http ")) {
    absl::string_view digits = msg.substr(5, 3);
    int code = 0;
    if (absl::SimpleAtoi(digits, &code)) return absl::StrCat("error:", code);
  }
  return absl::StrCat("error:", absl::AsciiStrToLower(absl::StatusCodeToString(status.code())));
}

}  // namespace enrich::engine
