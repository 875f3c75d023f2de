#include "tools/sim/access_control.h"

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/strip.h"

namespace enrich::sim {
namespace {

bool Contains(const std::vector<std::string>& list, absl::string_view item) {
  for (const std::string& s : list) {
    if (absl::EqualsIgnoreCase(s, item)) return true;
  }
  return false;
}

bool Meet(const std::vector<std::string>& a, const std::vector<std::string>& b) {
  for (const std::string& s : a) {
    if (Contains(b, s)) return true;
  }
  return false;
}

}  // namespace

bool IsVisible(const schema::Judgement& j, const Identity& who, bool green_visible_to_everyone) {
  const absl::string_view tlp = j.tlp.empty() ? absl::string_view("green") : j.tlp;
  const bool public_tlp = tlp == "white" || tlp == "green";
  if (public_tlp && green_visible_to_everyone) return true;
  const bool same_group = Meet(j.groups, who.groups);
  if (same_group && absl::EqualsIgnoreCase(j.owner, who.login)) return true;
  if (Contains(j.authorized_users, who.login)) return true;
  if (Meet(j.authorized_groups, who.groups)) return true;
  return same_group && (public_tlp || tlp == "amber");
}

bool HasCapability(const std::vector<std::string>& scopes, absl::string_view entity,
                   Access access) {
  const absl::string_view wanted = access == Access::kRead ? "read" : "write";
  for (absl::string_view scope : scopes) {
    if (!absl::ConsumePrefix(&scope, "private-intel")) continue;
    absl::string_view scope_entity;
    if (absl::ConsumePrefix(&scope, "/")) {
      const size_t colon = scope.find(':');
      scope_entity = scope.substr(0, colon);
      scope.remove_prefix(colon == absl::string_view::npos ? scope.size() : colon);
    }
    if (!scope_entity.empty() && scope_entity != entity) continue;
    if (scope.empty()) return true;
    if (absl::ConsumePrefix(&scope, ":") && scope == wanted) return true;
  }
  return false;
}

}  // namespace enrich::sim
