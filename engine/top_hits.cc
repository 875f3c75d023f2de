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

uint32_t HitCounter::NewItemOfProbe() {
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
  items_.push_back(Counted{absl::string_view(stored, probe_.size())});
  return static_cast<uint32_t>(items_.size() - 1);
}

void HitCounter::Add(absl::Span<const HitCount> counts) {
  for (const HitCount& c : counts) {
    if (c.identity != nullptr) {
      auto [it, fresh] = by_identity_.try_emplace(c.identity, 0);
      if (fresh) {
        probe_.clear();
        AppendKey(probe_, c.disposition, c.type, c.value);
        it->second = NewItemOfProbe();
      }
      AddTo(items_[it->second], c.rows, c.source);
      continue;
    }
    probe_.clear();
    AppendKey(probe_, c.disposition, c.type, c.value);
    auto it = by_key_.find(absl::string_view(probe_));
    if (it == by_key_.end()) {
      const uint32_t index = NewItemOfProbe();
      it = by_key_.emplace(items_[index].key, index).first;
    }
    AddTo(items_[it->second], c.rows, c.source);
  }
}

std::vector<TopHit> HitCounter::Top(size_t per_disposition) const {
  std::vector<TopHit> top;
  if (per_disposition == 0 || items_.empty()) return top;
  // The items by key (so by disposition digit first); the items of one key (its identities and
  // its count without one) add up into the first, whose sums the rare `merged` holds.
  std::vector<const Counted*> all;
  all.reserve(items_.size());
  for (const Counted& item : items_) all.push_back(&item);
  std::sort(all.begin(), all.end(), [](const Counted* a, const Counted* b) {
    return a->key < b->key;
  });
  absl::flat_hash_map<const Counted*, Counted> merged;
  size_t kept = 0;
  for (size_t i = 0; i < all.size();) {
    size_t j = i + 1;
    while (j < all.size() && all[j]->key == all[i]->key) ++j;
    if (j - i > 1) {
      Counted& sum = merged[all[i]];
      sum = *all[i];
      for (size_t k = i + 1; k < j; ++k) {
        sum.rows += all[k]->rows;
        if (all[k]->source != 0) sum.source = all[k]->source;
      }
    }
    all[kept++] = all[i];
    i = j;
  }
  all.resize(kept);
  auto of = [&merged](const Counted* c) -> const Counted& {
    auto it = merged.find(c);
    return it == merged.end() ? *c : it->second;
  };
  auto before = [&of](const Counted* a, const Counted* b) {
    const uint64_t ra = of(a).rows, rb = of(b).rows;
    if (ra != rb) return ra > rb;
    return a->key < b->key;  // type, then value
  };
  // Per disposition digit (a run of `all`), only the first `per_disposition` are sorted, copied.
  for (size_t begin = 0; begin < all.size();) {
    size_t end = begin + 1;
    while (end < all.size() && all[end]->key[0] == all[begin]->key[0]) ++end;
    const size_t n = std::min(per_disposition, end - begin);
    const auto first = all.begin() + static_cast<ptrdiff_t>(begin);
    std::partial_sort(first, first + static_cast<ptrdiff_t>(n),
                      all.begin() + static_cast<ptrdiff_t>(end), before);
    for (size_t i = begin; i < begin + n; ++i) {
      const Counted& item = of(all[i]);
      const absl::string_view key = item.key;
      const size_t nul = key.find('\0');
      top.push_back(TopHit{std::string(key.substr(1, nul - 1)), std::string(key.substr(nul + 1)),
                           key[0] - '0', item.rows,
                           item.source == 0 ? std::string() : sources_[item.source - 1]});
    }
    begin = end;
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
