#include "tools/sim/token_registry.h"

#include <cstdint>
#include <vector>

#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"

namespace enrich::sim {
namespace {

// Expired tokens are remembered this long, then forgotten (answered as unknown).
constexpr absl::Duration kExpiredMemory = absl::Hours(24);

}  // namespace

TokenRegistry::TokenRegistry(const schema::Clock& clock, absl::Duration ttl)
    : clock_(clock), ttl_(ttl) {}

TokenRegistry::Issued TokenRegistry::Issue(const Identity& identity) {
  const absl::Time now = clock_.Now();
  absl::MutexLock lock(&mu_);
  std::string bytes(32, '\0');
  for (size_t i = 0; i < bytes.size(); i += 4) {
    const uint32_t r = random_();
    for (size_t k = 0; k < 4; ++k) bytes[i + k] = static_cast<char>((r >> (8 * k)) & 0xff);
  }
  std::string token = absl::BytesToHexString(bytes);
  tokens_[token] = Entry{std::make_shared<const Identity>(identity), now + ttl_};
  if (tokens_.size() >= prune_at_) PruneLocked(now);
  return Issued{std::move(token), ttl_};
}

void TokenRegistry::PruneLocked(absl::Time now) {
  absl::erase_if(tokens_, [&](const auto& kv) { return kv.second.expiry + kExpiredMemory < now; });
  prune_at_ = std::max<size_t>(1024, 2 * tokens_.size());
}

TokenRegistry::Lookup TokenRegistry::Find(absl::string_view access_token) const {
  return FindAt(access_token, clock_.Now());
}

TokenRegistry::Lookup TokenRegistry::FindAt(absl::string_view access_token, absl::Time now) const {
  Lookup out;
  absl::ReaderMutexLock lock(&mu_);
  auto it = tokens_.find(access_token);
  if (it == tokens_.end()) return out;
  if (now >= it->second.expiry) {
    out.state = Lookup::State::kExpired;
    out.expired_for = now - it->second.expiry;
    return out;
  }
  out.state = Lookup::State::kValid;
  out.identity = it->second.identity;
  return out;
}

void TokenRegistry::ExpireAll() {
  const absl::Time now = clock_.Now();
  absl::MutexLock lock(&mu_);
  for (auto& [token, entry] : tokens_) {
    if (entry.expiry > now) entry.expiry = now;
  }
}

bool TokenRegistry::ExpireToken(absl::string_view access_token) {
  const absl::Time now = clock_.Now();
  absl::MutexLock lock(&mu_);
  auto it = tokens_.find(access_token);
  if (it == tokens_.end()) return false;
  if (it->second.expiry > now) it->second.expiry = now;
  return true;
}

size_t TokenRegistry::size() const {
  absl::MutexLock lock(&mu_);
  return tokens_.size();
}

std::string HumanDuration(absl::Duration d) {
  int64_t ms = absl::ToInt64Milliseconds(d);
  if (ms < 0) ms = -ms;
  constexpr int64_t kSecond = 1000, kMinute = 60 * kSecond, kHour = 60 * kMinute,
                    kDay = 24 * kHour, kYear = 365 * kDay;
  const int64_t years = ms / kYear;
  const int64_t days = ms % kYear / kDay;
  const int64_t hours = ms % kDay / kHour;
  const int64_t minutes = ms % kHour / kMinute;
  const int64_t seconds = ms % kMinute / kSecond;
  const int64_t millis = ms % kSecond;
  std::vector<std::string> parts;
  if (years > 0) parts.push_back(absl::StrCat(years, " year", years > 1 ? "s" : ""));
  if (days > 0) parts.push_back(absl::StrCat(days, " day", days > 1 ? "s" : ""));
  if (hours > 0) parts.push_back(absl::StrCat(hours, "h"));
  if (minutes > 0) parts.push_back(absl::StrCat(minutes, "min"));
  if (seconds > 0) parts.push_back(absl::StrCat(seconds, "s"));
  if (millis > 0) parts.push_back(absl::StrCat(millis, "ms"));
  if (parts.empty()) return "0s";
  return absl::StrJoin(parts, " ");
}

}  // namespace enrich::sim
