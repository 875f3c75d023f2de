#include "schema/verdict_record.h"

#include <algorithm>
#include <cstdint>
#include <cstring>

#include "schema/byte_coding.h"
#include "schema/observable.h"

namespace enrich::schema {
namespace {

enum : uint8_t { kKindMask = 3, kTextId = 4, kHasDetails = 8 };
constexpr size_t kUuidTextSize = 36;
constexpr char kHex[] = "0123456789abcdef";

// The value of a lower-case hex digit, -1 for any other character (upper case too: it would
// not format back to the same text).
constexpr std::array<int8_t, 256> HexValues() {
  std::array<int8_t, 256> t{};
  for (size_t c = 0; c < 256; ++c) {
    t[c] = c >= '0' && c <= '9' ? static_cast<int8_t>(c - '0')
           : c >= 'a' && c <= 'f' ? static_cast<int8_t>(c - 'a' + 10)
                                  : int8_t{-1};
  }
  return t;
}
constexpr std::array<int8_t, 256> kHexValues = HexValues();
int HexValue(char c) { return kHexValues[static_cast<uint8_t>(c)]; }

// The known types by first letter and length, each a short list of their numbers in EncodeKey
// (0-terminated): a type's number costs one or two comparisons, with no search over the list
// and no state per thread. A build whose list crowds one place more falls back to a search.
struct TypeIndex {
  static constexpr size_t kLengths = 32;
  static constexpr size_t kPerPlace = 7;
  std::array<std::array<uint8_t, kPerPlace + 1>, 26 * kLengths> at{};
  bool complete = true;

  static size_t Place(absl::string_view type) {
    if (type.empty() || type.size() >= kLengths || type[0] < 'a' || type[0] > 'z') return SIZE_MAX;
    return static_cast<size_t>(type[0] - 'a') * kLengths + type.size();
  }
  TypeIndex() {
    const auto& known = schema::KnownObservableTypes();
    for (size_t i = 0; i < known.size() && i < 255; ++i) {
      const size_t place = Place(known[i]);
      size_t n = 0;
      if (place != SIZE_MAX) {
        while (n < kPerPlace && at[place][n] != 0) ++n;
      }
      if (place == SIZE_MAX || n == kPerPlace) {
        complete = false;
        continue;
      }
      at[place][n] = static_cast<uint8_t>(i + 1);
    }
  }
};

// The type's number in EncodeKey, or 0 for a name not in the list.
uint8_t TypeNumber(absl::string_view type) {
  static const TypeIndex* const index = new TypeIndex();
  const auto& known = schema::KnownObservableTypes();
  const size_t place = TypeIndex::Place(type);
  if (place != SIZE_MAX) {
    for (const uint8_t* n = index->at[place].data(); *n != 0; ++n) {
      if (known[*n - 1] == type) return *n;
    }
  }
  if (index->complete) return 0;
  const auto it = std::lower_bound(known.begin(), known.end(), type);
  if (it != known.end() && *it == type && it - known.begin() < 255) {
    return static_cast<uint8_t>(it - known.begin() + 1);
  }
  return 0;
}

// Two lower-case hex digits per byte value.
constexpr std::array<char, 512> HexPairs() {
  std::array<char, 512> t{};
  for (size_t b = 0; b < 256; ++b) {
    t[2 * b] = kHex[b >> 4];
    t[2 * b + 1] = kHex[b & 15];
  }
  return t;
}
constexpr std::array<char, 512> kHexPairs = HexPairs();

// A varint the table wrote itself (no bounds to check); `p` moves past it.
uint64_t ReadStoredVarint(const char*& p) {
  uint64_t v = 0;
  for (int shift = 0;; shift += 7) {
    const auto b = static_cast<uint8_t>(*p++);
    v |= static_cast<uint64_t>(b & 0x7f) << shift;
    if ((b & 0x80) == 0) return v;
  }
}

}  // namespace

absl::string_view JudgementIdRef::Text(std::string& buf) const {
  if (uuid_ == nullptr) return prefix_;
  buf.clear();
  AppendTo(buf);
  return buf;
}

void JudgementIdRef::AppendTo(std::string& out) const {
  out.append(prefix_.data(), prefix_.size());
  if (uuid_ != nullptr) AppendUuidText(uuid_, out);
}

std::string JudgementIdRef::ToString() const {
  std::string s;
  AppendTo(s);
  return s;
}

const void* JudgementIdRef::identity() const {
  if (uuid_ != nullptr) return uuid_;
  return prefix_.empty() ? nullptr : prefix_.data();
}

bool JudgementIdRef::Equals(absl::string_view text) const {
  if (uuid_ == nullptr) return prefix_ == text;
  if (text.size() != size() || text.substr(0, prefix_.size()) != prefix_) return false;
  std::string uuid_text;
  AppendUuidText(uuid_, uuid_text);
  return text.substr(prefix_.size()) == uuid_text;
}

bool SplitUuidId(absl::string_view id, absl::string_view& prefix,
                 std::array<char, kUuidBytes>& uuid) {
  if (id.size() < kUuidTextSize) return false;
  const char* text = id.data() + id.size() - kUuidTextSize;
  if (text[8] != '-' || text[13] != '-' || text[18] != '-' || text[23] != '-') return false;
  static constexpr uint8_t kAt[kUuidBytes] = {0,  2,  4,  6,  9,  11, 14, 16,
                                              19, 21, 24, 26, 28, 30, 32, 34};
  int bad = 0;  // negative once any digit is not one
  for (size_t i = 0; i < kUuidBytes; ++i) {
    const int hi = HexValue(text[kAt[i]]);
    const int lo = HexValue(text[kAt[i] + 1]);
    bad |= hi | lo;
    uuid[i] = static_cast<char>((hi & 15) << 4 | (lo & 15));
  }
  if (bad < 0) return false;
  prefix = id.substr(0, id.size() - kUuidTextSize);
  return true;
}

void AppendUuidText(const char* uuid, std::string& out) {
  // Where each byte's two digits go in the 8-4-4-4-12 text.
  static constexpr uint8_t kAt[kUuidBytes] = {0,  2,  4,  6,  9,  11, 14, 16,
                                              19, 21, 24, 26, 28, 30, 32, 34};
  char text[kUuidTextSize];
  text[8] = text[13] = text[18] = text[23] = '-';
  for (size_t i = 0; i < kUuidBytes; ++i) {
    std::memcpy(text + kAt[i], &kHexPairs[2 * static_cast<uint8_t>(uuid[i])], 2);
  }
  out.append(text, kUuidTextSize);
}

IdPrefixes::IdPrefixes() = default;
IdPrefixes::~IdPrefixes() = default;

int IdPrefixes::Intern(absl::string_view prefix) {
  const size_t n = size();
  for (size_t i = 0; i < n; ++i) {
    if (*at_[i].load(std::memory_order_acquire) == prefix) return static_cast<int>(i);
  }
  absl::MutexLock lock(&mu_);
  for (size_t i = n; i < owned_.size(); ++i) {  // stored since the scan above
    if (*owned_[i] == prefix) return static_cast<int>(i);
  }
  if (owned_.size() >= kMax) return -1;
  const std::string* stored = owned_.emplace_back(std::make_unique<std::string>(prefix)).get();
  at_[owned_.size() - 1].store(stored, std::memory_order_release);
  size_.store(owned_.size(), std::memory_order_release);
  return static_cast<int>(owned_.size() - 1);
}

absl::string_view IdPrefixes::At(size_t index) const {
  if (index >= size()) return {};
  return *at_[index].load(std::memory_order_acquire);
}

size_t IdPrefixes::bytes_used() const {
  absl::MutexLock lock(&mu_);
  size_t n = sizeof(*this);
  for (const auto& s : owned_) n += sizeof(std::string) + s->capacity();
  return n;
}

void EncodeRecord(const Settled& s, int64_t expiry_ms, IdPrefixes& prefixes, std::string& out) {
  thread_local std::string body;
  body.clear();
  uint8_t flags = static_cast<uint8_t>(s.kind);
  body.push_back(0);  // flags, set below
  body.push_back(static_cast<char>(s.kind == Settled::Kind::kVerdict ? s.disposition : 0));
  PutInt64(body, expiry_ms);
  if (s.kind == Settled::Kind::kVerdict) {
    PutInt64(body, s.valid_until_ms);
    thread_local std::string id_text;
    const absl::string_view id = s.judgement_id.Text(id_text);
    absl::string_view prefix;
    std::array<char, kUuidBytes> uuid;
    int number = -1;
    if (SplitUuidId(id, prefix, uuid)) number = prefixes.Intern(prefix);
    if (number >= 0) {
      body.push_back(static_cast<char>(number));
      body.append(uuid.data(), uuid.size());
    } else {
      flags |= kTextId;
      PutString(body, id);
    }
    if (!s.details.empty()) {
      flags |= kHasDetails;
      PutString(body, s.details);
    }
  } else if (s.kind == Settled::Kind::kFailed) {
    PutString(body, s.error);
  }
  body[0] = static_cast<char>(flags);
  PutString(out, body);
}

size_t RecordSize(absl::string_view bytes) {
  ByteReader r(bytes);
  const uint64_t n = r.Varint();
  if (!r.ok() || r.rest().size() < n) return 0;
  return bytes.size() - r.rest().size() + n;
}

absl::string_view RecordAt(const char* record) {
  uint64_t n = 0;
  size_t i = 0;
  for (int shift = 0;; shift += 7, ++i) {
    const auto b = static_cast<uint8_t>(record[i]);
    n |= static_cast<uint64_t>(b & 0x7f) << shift;
    if ((b & 0x80) == 0) break;
  }
  return absl::string_view(record, i + 1 + n);
}

int64_t RecordExpiryMs(const char* record) {
  // Skip the length varint, the flags and the disposition.
  while ((static_cast<uint8_t>(*record) & 0x80) != 0) ++record;
  return GetInt64(record + 3);
}

bool DecodeRecord(absl::string_view bytes, const IdPrefixes& prefixes, Settled& out,
                  int64_t& expiry_ms) {
  ByteReader outer(bytes);
  ByteReader r(outer.String());
  if (!outer.ok()) return false;
  const uint8_t flags = r.Byte();
  const auto disposition = static_cast<int8_t>(r.Byte());
  expiry_ms = r.Int64();
  if (!r.ok() || (flags & kKindMask) > 2 || flags > 15) return false;
  out = Settled();
  out.kind = static_cast<Settled::Kind>(flags & kKindMask);
  switch (out.kind) {
    case Settled::Kind::kVerdict:
      out.disposition = disposition;
      out.valid_until_ms = r.Int64();
      if ((flags & kTextId) != 0) {
        out.judgement_id = r.String();
      } else {
        const uint8_t number = r.Byte();
        const absl::string_view uuid = r.Bytes(kUuidBytes);
        if (!r.ok() || number >= prefixes.size()) return false;
        out.judgement_id = JudgementIdRef::OfUuid(prefixes.At(number), uuid.data());
      }
      if ((flags & kHasDetails) != 0) out.details = r.String();
      break;
    case Settled::Kind::kFailed:
      if ((flags & (kTextId | kHasDetails)) != 0) return false;
      out.error = r.String();
      break;
    case Settled::Kind::kNoVerdict:
      if ((flags & (kTextId | kHasDetails)) != 0) return false;
      break;
  }
  return r.ok() && r.rest().empty();
}

void DecodeStoredRecord(const char* record, const IdPrefixes& prefixes, Settled& out) {
  const char* p = record;
  ReadStoredVarint(p);  // the length
  const auto flags = static_cast<uint8_t>(p[0]);
  const auto disposition = static_cast<int8_t>(p[1]);
  p += 2 + 8;  // flags, disposition, expiry
  out = Settled();
  out.kind = static_cast<Settled::Kind>(flags & kKindMask);
  if (out.kind == Settled::Kind::kVerdict) {
    out.disposition = disposition;
    out.valid_until_ms = GetInt64(p);
    p += 8;
    if ((flags & kTextId) != 0) {
      const size_t n = ReadStoredVarint(p);
      out.judgement_id = absl::string_view(p, n);
      p += n;
    } else {
      out.judgement_id = JudgementIdRef::OfUuid(prefixes.At(static_cast<uint8_t>(*p)), p + 1);
      p += 1 + kUuidBytes;
    }
    if ((flags & kHasDetails) != 0) {
      const size_t n = ReadStoredVarint(p);
      out.details = absl::string_view(p, n);
    }
  } else if (out.kind == Settled::Kind::kFailed) {
    const size_t n = ReadStoredVarint(p);
    out.error = absl::string_view(p, n);
  }
}

void EncodeKey(absl::string_view type, absl::string_view value, std::string& out) {
  const uint8_t number = TypeNumber(type);
  out.push_back(static_cast<char>(number));
  if (number == 0) PutString(out, type);
  out.append(value.data(), value.size());
}

bool DecodeKey(absl::string_view key, absl::string_view& type, absl::string_view& value) {
  ByteReader r(key);
  const uint8_t number = r.Byte();
  if (!r.ok()) return false;
  if (number == 0) {
    type = r.String();
    if (!r.ok()) return false;
  } else {
    const auto& known = schema::KnownObservableTypes();
    if (number > known.size()) return false;
    type = known[number - 1];
  }
  value = r.rest();
  return true;
}

}  // namespace enrich::schema
