// Hits of a run (`run --hits`, `--hit-dispositions`, `--top-hits`): which verdict dispositions
// make a row a hit, and the count of hit rows per observable behind the summaries' top hits.
// The format stage counts a chunk's hit rows per unique observable (ChunkWork::hit_rows); the
// serial write stage merges each chunk's counts into the run's HitCounter (RunStats::CountHits),
// one lock per chunk, never per row. Only observables with a hit disposition are counted, so
// its memory grows with the distinct hit observables only.

#ifndef ENRICH_ENGINE_TOP_HITS_H_
#define ENRICH_ENGINE_TOP_HITS_H_

#include <cstddef>
#include <cstdint>
#include <deque>
#include <memory>
#include <string>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/types/span.h"

namespace enrich::engine {

// A set of disposition numbers 1..5 as a bit mask: bit n for number n.
using DispositionSet = uint8_t;

inline constexpr DispositionSet DispositionBit(int number) {
  return number >= 1 && number <= 5 ? static_cast<DispositionSet>(1u << number) : 0;
}
inline constexpr bool InDispositionSet(DispositionSet set, int number) {
  return (set & DispositionBit(number)) != 0;
}

// --hit-dispositions' default: Malicious (2) and Suspicious (3).
inline constexpr DispositionSet kDefaultHitDispositions = DispositionBit(2) | DispositionBit(3);

// A comma list of disposition names, case-insensitive, spaces around names ignored
// ("malicious, Suspicious"). Errors (a usage error: IsUsageError) name the value and list the
// valid names.
absl::StatusOr<DispositionSet> ParseDispositionSet(absl::string_view flag, absl::string_view list);

// The names of a set, in number order, comma-separated ("Malicious,Suspicious").
std::string DispositionSetNames(DispositionSet set);

// One observable's hit rows within one chunk: views valid for the call only.
struct HitCount {
  absl::string_view type;
  absl::string_view value;
  int disposition = 0;
  // The deciding judgement's source when the verdict carries it (empty until then).
  absl::string_view source;
  uint64_t rows = 0;
  // An address that stands for this observable's verdict for the whole run, or null: the
  // pipeline passes its judgement id's bytes in the verdict table's record, written once per
  // stored verdict into an append-only arena (verdict_table.h). The counter then finds the
  // observable by that address instead of hashing and comparing its strings, for every chunk
  // that holds it.
  const void* identity = nullptr;
};

// One line of the top hits: an observable, its hit disposition, the rows that held it with
// that disposition, and the deciding judgement's source (empty when unknown).
struct TopHit {
  std::string type;
  std::string value;
  int disposition = 0;
  uint64_t rows = 0;
  std::string source;
};

// Rows per (disposition, type, value). Not thread-safe (RunStats locks around it).
class HitCounter {
 public:
  void Add(absl::Span<const HitCount> counts);
  // The `per_disposition` observables with the most rows of each disposition, by disposition
  // number, then rows (most first), then type and value; none for 0.
  std::vector<TopHit> Top(size_t per_disposition) const;
  // Entries held: one per observable and disposition (one more for a verdict stored again
  // during the run, e.g. after it expired; Top adds them up).
  size_t size() const { return by_identity_.size() + by_key_.size(); }

 private:
  // One observable and disposition: its key in the arena, rows, and latest non-empty source.
  struct Counted {
    absl::string_view key;  // the disposition's digit, the type, a NUL and the value
    uint64_t rows = 0;
    uint32_t source = 0;  // 1 + its place in sources_, 0 for none
  };
  // Appends the key of `by_key_`: the disposition's digit, the type, a NUL and the value.
  static void AppendKey(std::string& out, int disposition, absl::string_view type,
                        absl::string_view value);
  // A new item of key `probe_` (copied into the arena).
  uint32_t NewItemOfProbe();
  void AddTo(Counted& item, uint64_t rows, absl::string_view source);

  // One item per identity, and per key counted without one, in blocks that never move; keys
  // in an append-only arena; Top adds up the items of one key (sorted by key). So a hit
  // observable costs its item, its key's bytes and a slot of by_identity_, and Top copies
  // nothing but pointers and its result: the summary's top hits are on by default, and the
  // counter holds every hit observable of a run (bench/engine/memory_flat.sh's UNIQUES with
  // and without RUN_ARGS="--top-hits 0": ~55 B per unique observable before, ~15 after).
  std::deque<Counted> items_;
  absl::flat_hash_map<const void*, uint32_t> by_identity_;
  absl::flat_hash_map<absl::string_view, uint32_t> by_key_;  // items counted without identity
  std::vector<std::string> sources_;
  absl::flat_hash_map<std::string, uint32_t> source_index_;
  std::vector<std::unique_ptr<char[]>> key_blocks_;
  size_t block_used_ = 0;
  std::string probe_;
};

// The text summary's top hits (FormatRunSummary): per disposition, a heading and one line per
// observable ("    12 rows  domain  evil.example  (source: Talos)"); empty for no hits.
// Control characters of values are shown as '?'.
std::string FormatTopHits(const std::vector<TopHit>& top);

}  // namespace enrich::engine

#endif  // ENRICH_ENGINE_TOP_HITS_H_
