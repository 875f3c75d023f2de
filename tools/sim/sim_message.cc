#include "tools/sim/sim_message.h"

#include "absl/strings/match.h"

namespace enrich::sim {

std::string SimResponse::Header(absl::string_view name) const {
  for (const auto& [k, v] : headers) {
    if (absl::EqualsIgnoreCase(k, name)) return v;
  }
  return "";
}

}  // namespace enrich::sim
