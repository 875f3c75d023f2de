#include "schema/allowlist.h"

#include "schema/normalize.h"

#include <algorithm>
#include <cstdint>
#include <utility>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/container/flat_hash_set.h"
#include "absl/numeric/int128.h"
#include "absl/status/status.h"
#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"

namespace enrich::schema {
namespace {

// CTIA matches case-insensitively (reference/ctia-api.md §1.2), so the sets do too, and look up
// a string_view without lower-casing it into a temporary.
struct CaseInsensitiveHash {
  using is_transparent = void;
  size_t operator()(absl::string_view s) const {
    uint64_t h = 14695981039346656037ull;  // FNV-1a over lower-cased bytes, then fmix64
    for (char c : s) {
      h ^= static_cast<uint8_t>(absl::ascii_tolower(static_cast<unsigned char>(c)));
      h *= 1099511628211ull;
    }
    h ^= h >> 33;
    h *= 0xff51afd7ed558ccdull;
    h ^= h >> 33;
    return static_cast<size_t>(h);
  }
};
struct CaseInsensitiveEq {
  using is_transparent = void;
  bool operator()(absl::string_view a, absl::string_view b) const {
    return absl::EqualsIgnoreCase(a, b);
  }
};
using CaseInsensitiveSet = absl::flat_hash_set<std::string, CaseInsensitiveHash, CaseInsensitiveEq>;

// One hash set of network addresses per prefix length in use. Contains() probes each length
// once: O(number of distinct lengths) ≤ 33 (IPv4) / 129 (IPv6) lookups, independent of the
// number of blocks; real lists use a handful of lengths.
template <typename Address, int kBits>
class PrefixTable {
 public:
  static Address Mask(Address a, int length) {
    if (length == 0) return Address{0};
    return a & (~Address{0} << (kBits - length));
  }
  void Add(Address network, int length) {
    auto it = std::find_if(tables_.begin(), tables_.end(),
                           [length](const auto& t) { return t.first == length; });
    if (it == tables_.end()) {
      tables_.emplace_back(length, absl::flat_hash_set<Address>());
      it = tables_.end() - 1;
    }
    it->second.insert(network);
  }
  bool Contains(Address a) const {
    for (const auto& [length, networks] : tables_) {
      if (networks.contains(Mask(a, length))) return true;
    }
    return false;
  }

 private:
  std::vector<std::pair<int, absl::flat_hash_set<Address>>> tables_;
};

absl::uint128 ToUint128(const Ipv6Bytes& b) {
  uint64_t hi = 0, lo = 0;
  for (int i = 0; i < 8; ++i) hi = (hi << 8) | b[i];
  for (int i = 8; i < 16; ++i) lo = (lo << 8) | b[i];
  return absl::MakeUint128(hi, lo);
}

bool IsIpv4Mapped(const Ipv6Bytes& b) {
  for (int i = 0; i < 10; ++i) {
    if (b[i] != 0) return false;
  }
  return b[10] == 0xff && b[11] == 0xff;
}

// `#` starts a comment at the start of a line or after whitespace; elsewhere it is data (URL
// fragments).
absl::string_view StripComment(absl::string_view line) {
  for (size_t i = 0; i < line.size(); ++i) {
    if (line[i] == '#' && (i == 0 || line[i - 1] == ' ' || line[i - 1] == '\t')) {
      return line.substr(0, i);
    }
  }
  return line;
}

}  // namespace

struct Allowlist::Data {
  CaseInsensitiveSet exact;
  absl::flat_hash_map<std::string, CaseInsensitiveSet> by_type;
  CaseInsensitiveSet suffixes;  // `*.example.com` stored as `example.com`
  PrefixTable<uint32_t, 32> v4;
  PrefixTable<absl::uint128, 128> v6;
  size_t entries = 0;

  absl::Status Add(absl::string_view entry);
  bool ContainsIp(absl::string_view text) const;
  bool ContainsName(absl::string_view name) const;
};

absl::Status Allowlist::Data::Add(absl::string_view entry) {
  if (absl::StartsWith(entry, "*.")) {
    absl::StatusOr<std::string> suffix = NormalizeDnsName(entry.substr(2));
    if (!suffix.ok()) return suffix.status();
    suffixes.insert(*std::move(suffix));
    return absl::OkStatus();
  }
  if (absl::StrContains(entry, '*'))
    return absl::InvalidArgumentError("`*` only as a leading `*.`");

  const size_t colon = entry.find(':');
  if (colon != absl::string_view::npos && IsKnownObservableType(entry.substr(0, colon))) {
    const absl::string_view type = entry.substr(0, colon);
    absl::StatusOr<Observable> o = NormalizeObservable(type, entry.substr(colon + 1));
    if (!o.ok()) return o.status();
    by_type[o->type].insert(std::move(o->value));  // `ip:2001:db8::1` is of type ipv6
    return absl::OkStatus();
  }

  const size_t slash = entry.find('/');
  if (slash != absl::string_view::npos) {
    const absl::string_view address = entry.substr(0, slash);
    if (ParseIpv4(address) || ParseIpv6(address)) {
      absl::StatusOr<IpPrefix> prefix = ParseCidr(entry);
      if (!prefix.ok()) return prefix.status();
      if (prefix->is_v6) {
        v6.Add(ToUint128(prefix->v6), prefix->length);
      } else {
        v4.Add(prefix->v4, prefix->length);
      }
      return absl::OkStatus();
    }
  }

  // An exact value of any type: stored as `auto` normalizes it when it can (so `EVIL[.]com`
  // and `2001:DB8:0::1` match what NormalizeObservable produces), else as written.
  absl::StatusOr<Observable> o = NormalizeObservable("auto", entry);
  exact.insert(o.ok() ? std::move(o->value) : std::string(entry));
  return absl::OkStatus();
}

bool Allowlist::Data::ContainsIp(absl::string_view text) const {
  if (const std::optional<uint32_t> v4_address = ParseIpv4(text)) {
    return v4.Contains(*v4_address);
  }
  const std::optional<Ipv6Bytes> v6_address = ParseIpv6(text);
  if (!v6_address) return false;
  if (IsIpv4Mapped(*v6_address)) {
    const uint32_t mapped = (uint32_t{(*v6_address)[12]} << 24) |
                            (uint32_t{(*v6_address)[13]} << 16) |
                            (uint32_t{(*v6_address)[14]} << 8) | (*v6_address)[15];
    if (v4.Contains(mapped)) return true;
  }
  return v6.Contains(ToUint128(*v6_address));
}

// Walks the label boundaries: `a.b.example.com` probes itself, `b.example.com`, `example.com`,
// `com`: O(labels) hash lookups.
bool Allowlist::Data::ContainsName(absl::string_view name) const {
  if (suffixes.empty()) return false;
  if (name.size() > 1 && name.back() == '.') name.remove_suffix(1);
  for (size_t start = 0;;) {
    if (suffixes.contains(name.substr(start))) return true;
    const size_t dot = name.find('.', start);
    if (dot == absl::string_view::npos) return false;
    start = dot + 1;
  }
}

absl::StatusOr<Allowlist> Allowlist::Parse(absl::string_view text, absl::string_view source_name) {
  Allowlist list;
  size_t line_number = 0;
  for (absl::string_view line : absl::StrSplit(text, '\n')) {
    ++line_number;
    const absl::string_view entry = absl::StripAsciiWhitespace(StripComment(line));
    if (entry.empty()) continue;
    absl::Status status = list.data_->Add(entry);
    if (!status.ok()) {
      return absl::InvalidArgumentError(
          absl::StrCat(source_name, ":", line_number, ": ", status.message(), ": `", entry, "`"));
    }
    ++list.data_->entries;
  }
  return list;
}

Allowlist::Allowlist() : data_(std::make_unique<Data>()) {}
Allowlist::~Allowlist() = default;
Allowlist::Allowlist(Allowlist&&) noexcept = default;
Allowlist& Allowlist::operator=(Allowlist&&) noexcept = default;

bool Allowlist::Contains(absl::string_view type, absl::string_view value) const {
  if (data_ == nullptr || data_->entries == 0) return false;
  const Data& d = *data_;
  if (d.exact.contains(value)) return true;
  if (const auto it = d.by_type.find(type); it != d.by_type.end() && it->second.contains(value)) {
    return true;
  }
  if (type == "ip" || type == "ipv6") return d.ContainsIp(value);
  if (type == "domain" || type == "hostname") return d.ContainsName(value);
  if (type == "email") {
    const size_t at = value.rfind('@');
    return at != absl::string_view::npos && d.ContainsName(value.substr(at + 1));
  }
  if (type == "url") {
    const std::optional<absl::string_view> host = UrlHost(value);
    if (!host) return false;
    if (ParseIpv4(*host) || ParseIpv6(*host)) return d.ContainsIp(*host);
    return d.ContainsName(*host);
  }
  return false;
}

size_t Allowlist::size() const { return data_ == nullptr ? 0 : data_->entries; }

}  // namespace enrich::schema
