#include "engine/top_hits.h"

#include "engine/pipeline.h"
#include "schema/disposition.h"

#include <algorithm>
#include <array>
#include <cstddef>
#include <utility>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_split.h"

namespace enrich::engine {
namespace {

std::string Printable(absl::string_view v) {
  std::string out(v);
  for (char& c : out) {
    if (static_cast<unsigned char>(c) < 0x20 || c == 0x7f) c = '?';
  }
  return out;
}

absl::string_view NameOf(int number) {
  const auto d = schema::DispositionFromNumber(number);
  return d.has_value() ? schema::DispositionName(*d) : "Unknown";
}

}  // namespace

absl::StatusOr<DispositionSet> ParseDispositionSet(absl::string_view flag, absl::string_view list) {
  DispositionSet set = 0;
  for (absl::string_view name : absl::StrSplit(list, ',')) {
    name = absl::StripAsciiWhitespace(name);
    bool known = false;
    for (int n = 1; n <= 5; ++n) {
      if (absl::EqualsIgnoreCase(name, NameOf(n))) {
        set |= DispositionBit(n);
        known = true;
      }
    }
    if (!known) {
      return UsageError(absl::StrCat(flag, " \"", list, "\": unknown disposition \"", name,
                                     "\"; expected a comma list of Clean, Malicious, Suspicious, "
                                     "Common, Unknown (any case)"));
    }
  }
  return set;
}

std::string DispositionSetNames(DispositionSet set) {
  std::string out;
  for (int n = 1; n <= 5; ++n) {
    if (InDispositionSet(set, n)) absl::StrAppend(&out, out.empty() ? "" : ",", NameOf(n));
  }
  return out;
}

void HitCounter::AppendKey(std::string& out, int disposition, absl::string_view type,
                           absl::string_view value) {
  out.push_back(static_cast<char>('0' + (disposition >= 0 && disposition <= 9 ? disposition : 0)));
  out.append(type.data(), type.size());
  out.push_back('\0');
  out.append(value.data(), value.size());
}

namespace {

void AddTo(uint64_t rows, absl::string_view source, uint64_t& total, std::string& last_source) {
  total += rows;
  if (!source.empty() && last_source != source) last_source = std::string(source);
}

}  // namespace

void HitCounter::Add(absl::Span<const HitCount> counts) {
  for (const HitCount& c : counts) {
    if (c.identity != nullptr) {
      auto [it, fresh] = by_identity_.try_emplace(c.identity);
      if (fresh) AppendKey(it->second.key, c.disposition, c.type, c.value);
      AddTo(c.rows, c.source, it->second.entry.rows, it->second.entry.source);
      continue;
    }
    probe_.clear();
    AppendKey(probe_, c.disposition, c.type, c.value);
    auto it = by_key_.find(absl::string_view(probe_));
    if (it == by_key_.end()) it = by_key_.emplace(probe_, Entry()).first;
    AddTo(c.rows, c.source, it->second.rows, it->second.source);
  }
}

std::vector<TopHit> HitCounter::Top(size_t per_disposition) const {
  std::vector<TopHit> top;
  if (per_disposition == 0) return top;
  absl::flat_hash_map<std::string, Entry> all = by_key_;
  for (const auto& [identity, hit] : by_identity_) {
    AddTo(hit.entry.rows, hit.entry.source, all[hit.key].rows, all[hit.key].source);
  }
  // Per disposition digit, the entries; only the first `per_disposition` are sorted and copied.
  using Item = const std::pair<const std::string, Entry>*;
  std::array<std::vector<Item>, 10> by_disposition;
  for (const auto& item : all) {
    by_disposition[static_cast<size_t>(item.first[0] - '0')].push_back(&item);
  }
  auto before = [](Item a, Item b) {
    if (a->second.rows != b->second.rows) return a->second.rows > b->second.rows;
    return a->first < b->first;  // type, then value
  };
  for (std::vector<Item>& items : by_disposition) {
    const size_t n = std::min(per_disposition, items.size());
    std::partial_sort(items.begin(), items.begin() + static_cast<ptrdiff_t>(n), items.end(),
                      before);
    for (size_t i = 0; i < n; ++i) {
      const std::string& key = items[i]->first;
      const size_t nul = key.find('\0');
      top.push_back(TopHit{key.substr(1, nul - 1), key.substr(nul + 1), key[0] - '0',
                           items[i]->second.rows, items[i]->second.source});
    }
  }
  return top;
}

std::string FormatTopHits(const std::vector<TopHit>& top) {
  std::string out;
  for (size_t i = 0; i < top.size(); ++i) {
    const TopHit& h = top[i];
    if (i == 0 || h.disposition != top[i - 1].disposition) {
      absl::StrAppend(&out, "top hits, ", NameOf(h.disposition), " (rows per observable):\n");
    }
    absl::StrAppend(&out, absl::StrFormat("  %8d rows  ", h.rows), Printable(h.type), "  ",
                    Printable(h.value));
    if (!h.source.empty()) absl::StrAppend(&out, "  (source: ", Printable(h.source), ")");
    out.push_back('\n');
  }
  return out;
}

}  // namespace enrich::engine
