// ctia-sim --synthetic: verdicts computed from a hash of the observable, no storage. The
// formula is the contract documented at SyntheticVerdict() in synthetic.h.

#include "tools/sim/synthetic.h"

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "schema/disposition.h"
#include "schema/observable.h"
#include "schema/time_format.h"

namespace enrich::sim {

uint64_t SyntheticHash(absl::string_view type, absl::string_view value) {
  uint64_t h = 0xcbf29ce484222325ULL;
  auto mix = [&h](unsigned char c) {
    h ^= c;
    h *= 0x100000001b3ULL;
  };
  for (char c : type) mix(static_cast<unsigned char>(c));
  mix(0);
  for (char c : value) mix(static_cast<unsigned char>(absl::ascii_tolower(static_cast<unsigned char>(c))));
  return h;
}

bool SyntheticShortLived(absl::string_view type, absl::string_view value, int short_percent) {
  return static_cast<int64_t>(SyntheticHash(type, value) % 100) < short_percent;
}

std::optional<schema::Verdict> SyntheticVerdict(absl::string_view type, absl::string_view value,
                                                int percent, absl::string_view public_base) {
  if (!schema::IsKnownObservableType(type)) return std::nullopt;
  const uint64_t h = SyntheticHash(type, value);
  if (static_cast<int64_t>(h % 100) >= percent) return std::nullopt;
  const uint64_t g = h * 0x9e3779b97f4a7c15ULL;
  schema::Verdict v;
  v.disposition = *schema::DispositionFromNumber(1 + static_cast<int>((h >> 8) % 5));
  v.disposition_name = std::string(schema::DispositionName(v.disposition));
  v.observable.type = std::string(type);
  v.observable.value = absl::AsciiStrToLower(value);
  // "%08x-%04x-4%03x-a%03x-%012llx" of h >> 32, (h >> 16) & 0xffff, h & 0xfff, g >> 52 and
  // g & 0xffffffffffff, written without printf (this runs once per synthetic answer).
  char uuid[36];
  char* p = uuid;
  auto hex = [&p](uint64_t x, int digits) {
    for (int i = digits - 1; i >= 0; --i) p[i] = "0123456789abcdef"[(x >> (4 * (digits - 1 - i))) & 0xf];
    p += digits;
  };
  hex(h >> 32, 8);
  *p++ = '-';
  hex((h >> 16) & 0xffff, 4);
  *p++ = '-';
  *p++ = '4';
  hex(h & 0xfff, 3);
  *p++ = '-';
  *p++ = 'a';
  hex(g >> 52, 3);
  *p++ = '-';
  hex(g & 0xffffffffffffULL, 12);
  v.judgement_id = absl::StrCat(public_base, "/ctia/judgement/judgement-",
                                absl::string_view(uuid, static_cast<size_t>(p - uuid)));
  static const absl::Time kStart = absl::FromUnixSeconds(1577836800);  // 2020-01-01T00:00:00Z
  v.valid_time.start_time = kStart;
  v.valid_time.end_time = schema::EndOfTime();
  return v;
}

}  // namespace enrich::sim
