// One HTTP request and its answer as ctia-sim's server shell and Router exchange them: plain
// strings, no sockets and no Beast types, so the routes are tested without a network.

#ifndef ENRICH_TOOLS_SIM_SIM_MESSAGE_H_
#define ENRICH_TOOLS_SIM_SIM_MESSAGE_H_

#include <string>
#include <utility>
#include <vector>

#include "absl/strings/string_view.h"
#include "absl/time/time.h"

namespace enrich::sim {

// One HTTP request as the router sees it: no sockets, no Beast types.
struct SimRequest {
  std::string method;         // "GET", "POST", ...
  std::string target;         // raw request-target, still percent-encoded: "/ctia/ip/x/verdict?a=b"
  std::string authorization;  // value of the Authorization header; empty when absent
  std::string body;
};

struct SimResponse {
  int status = 200;
  std::string content_type;  // empty when there is no body
  std::string body;
  // Every header besides Content-Type/Content-Length, in order (Location, X-Ctia-Version...).
  std::vector<std::pair<std::string, std::string>> headers;

  // How the server shell delivers the answer (fault injection, reference §12.6).
  enum class Delivery {
    kNormal,            // write it
    kHang,              // write nothing; close the connection after `hang`
    kCloseMidResponse,  // write half of the header block, then close
    kTruncatedBody,     // write the headers and half the body, then close
  };
  Delivery delivery = Delivery::kNormal;
  absl::Duration delay = absl::ZeroDuration();  // wait this long before writing
  absl::Duration hang = absl::ZeroDuration();   // kHang

  // First value of header `name` (case-insensitive), empty when absent.
  std::string Header(absl::string_view name) const;
};

}  // namespace enrich::sim

#endif  // ENRICH_TOOLS_SIM_SIM_MESSAGE_H_
