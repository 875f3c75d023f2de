#include "schema/disposition.h"

#include <array>

namespace enrich::schema {
namespace {
constexpr std::array<absl::string_view, 5> kNames = {"Clean", "Malicious", "Suspicious",
                                                     "Common", "Unknown"};
}  // namespace

absl::string_view DispositionName(Disposition d) {
  return kNames[static_cast<size_t>(static_cast<int>(d) - 1)];
}

std::optional<Disposition> DispositionFromNumber(int number) {
  if (number < 1 || number > 5) return std::nullopt;
  return static_cast<Disposition>(number);
}

std::optional<Disposition> DispositionFromName(absl::string_view name) {
  for (size_t i = 0; i < kNames.size(); ++i) {
    if (kNames[i] == name) return static_cast<Disposition>(static_cast<int>(i) + 1);
  }
  return std::nullopt;
}

}  // namespace enrich::schema
