#include "engine/top_hits.h"

#include <algorithm>
#include <utility>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_split.h"
#include "engine/pipeline.h"
#include "schema/disposition.h"

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

void HitCounter::Add(absl::Span<const HitCount> counts) {
  for (const HitCount& c : counts) {
    Entry& e = entries_[Key{c.disposition, std::string(c.type), std::string(c.value)}];
    e.rows += c.rows;
    if (!c.source.empty() && e.source != c.source) e.source = std::string(c.source);
  }
}

std::vector<TopHit> HitCounter::Top(size_t per_disposition) const {
  std::vector<TopHit> all;
  if (per_disposition == 0) return all;
  all.reserve(entries_.size());
  for (const auto& [key, entry] : entries_) {
    all.push_back(TopHit{key.type, key.value, key.disposition, entry.rows, entry.source});
  }
  auto before = [](const TopHit& a, const TopHit& b) {
    if (a.disposition != b.disposition) return a.disposition < b.disposition;
    if (a.rows != b.rows) return a.rows > b.rows;
    if (a.type != b.type) return a.type < b.type;
    return a.value < b.value;
  };
  std::sort(all.begin(), all.end(), before);
  std::vector<TopHit> top;
  size_t taken = 0;
  for (size_t i = 0; i < all.size(); ++i) {
    if (i > 0 && all[i].disposition != all[i - 1].disposition) taken = 0;
    if (taken++ < per_disposition) top.push_back(std::move(all[i]));
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
