// Who is calling and what they may see or do: CTIA's identity, scopes and TLP/group
// visibility rules (reference §2.5, §8.1). Consulted by the Router on every /ctia route.

#ifndef ENRICH_TOOLS_SIM_ACCESS_CONTROL_H_
#define ENRICH_TOOLS_SIM_ACCESS_CONTROL_H_

#include <string>
#include <vector>

#include "absl/strings/string_view.h"
#include "schema/judgement.h"

namespace enrich::sim {

// Who is calling, as CTIA derives it from a JWT (reference/ctia-api.md §8.1): login = `sub`,
// groups = [org id], the OAuth client id and the scopes.
struct Identity {
  std::string client_id;
  std::string login;
  std::vector<std::string> groups;
  std::vector<std::string> scopes;
};

// CTIA's record visibility (§2.5, ctia `find-restriction-query-part`). Visible when: owner =
// login and groups meet; login in authorized_users; groups meet authorized_groups; TLP
// white/green/amber and groups meet; or, with `green_visible_to_everyone` (CTIA's default
// max-record-visibility "everyone"), TLP white/green. Logins and groups compare
// case-insensitively. An empty TLP counts as "green" (the creation default).
bool IsVisible(const schema::Judgement& j, const Identity& who, bool green_visible_to_everyone);

enum class Access { kRead, kWrite };

// Whether `scopes` grant `access` to `entity` ("verdict", "judgement") the way CTIA expands
// IROH scopes into capabilities (§2.1, ctia `gen-entity-capabilities`): "private-intel" grants
// everything, "private-intel:read" every read, "private-intel/judgement:write" only judgement
// writes, and so on.
bool HasCapability(const std::vector<std::string>& scopes, absl::string_view entity,
                   Access access);

}  // namespace enrich::sim

#endif  // ENRICH_TOOLS_SIM_ACCESS_CONTROL_H_
