#include "engine/top_hits.h"

#include "engine/pipeline.h"
#include "schema/disposition.h"

#include <algorithm>
#include <array>
#include <cstddef>
#include <cstring>
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
constexpr size_t kKeyBlock = 64 << 10;
}  // namespace

void HitCounter::AddTo(Counted& item, uint64_t rows, absl::string_view source) {
  item.rows += rows;
  if (source.empty()) return;
  if (item.source != 0 && sources_[item.source - 1] == source) return;
  auto [it, fresh] = source_index_.try_emplace(std::string(source), sources_.size());
  if (fresh) sources_.emplace_back(source);
  item.source = it->second + 1;
}

uint32_t HitCounter::ItemOfProbe() {
  auto it = by_key_.find(absl::string_view(probe_));
  if (it != by_key_.end()) return it->second;
  char* stored;
  if (probe_.size() > kKeyBlock / 4) {
    // A big key takes a block of its own, in front: the current block stays the last.
    stored = key_blocks_.emplace(key_blocks_.begin(), new char[probe_.size()])->get();
    if (key_blocks_.size() == 1) block_used_ = kKeyBlock;  // no current block yet
  } else {
    if (key_blocks_.empty() || block_used_ + probe_.size() > kKeyBlock) {
      key_blocks_.emplace_back(new char[kKeyBlock]);
      block_used_ = 0;
    }
    stored = key_blocks_.back().get() + block_used_;
    block_used_ += probe_.size();
  }
  std::memcpy(stored, probe_.data(), probe_.size());
  const auto index = static_cast<uint32_t>(items_.size());
  items_.push_back(Counted{absl::string_view(stored, probe_.size())});
  by_key_.emplace(items_.back().key, index);
  return index;
}

void HitCounter::Add(absl::Span<const HitCount> counts) {
  for (const HitCount& c : counts) {
    if (c.identity != nullptr) {
      auto [it, fresh] = by_identity_.try_emplace(c.identity, 0);
      if (fresh) {
        probe_.clear();
        AppendKey(probe_, c.disposition, c.type, c.value);
        it->second = ItemOfProbe();
      }
      AddTo(items_[it->second], c.rows, c.source);
      continue;
    }
    probe_.clear();
    AppendKey(probe_, c.disposition, c.type, c.value);
    Counted& item = items_[ItemOfProbe()];
    if (!item.keyed) {
      item.keyed = true;
      ++keyed_;
    }
    AddTo(item, c.rows, c.source);
  }
}

std::vector<TopHit> HitCounter::Top(size_t per_disposition) const {
  std::vector<TopHit> top;
  if (per_disposition == 0) return top;
  // Per disposition digit, the items; only the first `per_disposition` are sorted and copied.
  std::array<std::vector<const Counted*>, 10> by_disposition;
  for (const Counted& item : items_) {
    by_disposition[static_cast<size_t>(item.key[0] - '0')].push_back(&item);
  }
  auto before = [](const Counted* a, const Counted* b) {
    if (a->rows != b->rows) return a->rows > b->rows;
    return a->key < b->key;  // type, then value
  };
  for (std::vector<const Counted*>& items : by_disposition) {
    const size_t n = std::min(per_disposition, items.size());
    std::partial_sort(items.begin(), items.begin() + static_cast<ptrdiff_t>(n), items.end(),
                      before);
    for (size_t i = 0; i < n; ++i) {
      const absl::string_view key = items[i]->key;
      const size_t nul = key.find('\0');
      const uint32_t source = items[i]->source;
      top.push_back(TopHit{std::string(key.substr(1, nul - 1)), std::string(key.substr(nul + 1)),
                           key[0] - '0', items[i]->rows,
                           source == 0 ? std::string() : sources_[source - 1]});
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
