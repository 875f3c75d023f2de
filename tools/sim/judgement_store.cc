#include "tools/sim/judgement_store.h"

#include <algorithm>
#include <cstdio>
#include <cstring>
#include <limits>
#include <utility>

#include "absl/hash/hash.h"
#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"

namespace enrich::sim {
namespace {

constexpr uint32_t kNone = std::numeric_limits<uint32_t>::max();
constexpr absl::string_view kIdPrefix = "judgement-";

// Times as microseconds since the Unix epoch; the infinities map to the int64 ends.
int64_t Micros(absl::Time t) {
  if (t == absl::InfinitePast()) return std::numeric_limits<int64_t>::min();
  if (t == absl::InfiniteFuture()) return std::numeric_limits<int64_t>::max();
  return absl::ToUnixMicros(t);
}

absl::Time FromMicros(int64_t us) {
  if (us == std::numeric_limits<int64_t>::min()) return absl::InfinitePast();
  if (us == std::numeric_limits<int64_t>::max()) return absl::InfiniteFuture();
  return absl::FromUnixMicros(us);
}

int HexDigit(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  return -1;  // upper case too: such ids would not print back the same
}

// "judgement-xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx" (lower-case hex) → 128 bits.
bool ParseUuidId(absl::string_view id, uint64_t* hi, uint64_t* lo) {
  if (!absl::ConsumePrefix(&id, kIdPrefix) || id.size() != 36) return false;
  uint64_t parts[2] = {0, 0};
  int nibble = 0;
  for (size_t i = 0; i < id.size(); ++i) {
    if (i == 8 || i == 13 || i == 18 || i == 23) {
      if (id[i] != '-') return false;
      continue;
    }
    const int d = HexDigit(id[i]);
    if (d < 0) return false;
    parts[nibble / 16] = (parts[nibble / 16] << 4) | static_cast<uint64_t>(d);
    ++nibble;
  }
  *hi = parts[0];
  *lo = parts[1];
  return true;
}

std::string FormatUuidId(uint64_t hi, uint64_t lo) {
  char text[37];
  std::snprintf(text, sizeof(text), "%08x-%04x-%04x-%04x-%012llx",
                static_cast<unsigned>(hi >> 32), static_cast<unsigned>((hi >> 16) & 0xffff),
                static_cast<unsigned>(hi & 0xffff), static_cast<unsigned>(lo >> 48),
                static_cast<unsigned long long>(lo & 0xffffffffffffULL));
  return absl::StrCat(kIdPrefix, text);
}

// A list of strings as one interned string: each item preceded by \x1f, so [] and [""]
// differ.
constexpr char kItemMark = '\x1f';

std::string JoinList(const std::vector<std::string>& items) {
  std::string out;
  for (const std::string& item : items) absl::StrAppend(&out, std::string(1, kItemMark), item);
  return out;
}

std::vector<std::string> SplitList(absl::string_view joined) {
  std::vector<std::string> out;
  if (joined.empty()) return out;
  std::vector<absl::string_view> parts = absl::StrSplit(joined.substr(1), kItemMark);
  for (absl::string_view p : parts) out.emplace_back(p);
  return out;
}

}  // namespace

// Where a record's observable value (in its stored case) is: the lower-case key, the
// observable's first other-case spelling (same length as the key), or the record's Rare.
enum class ValueCase : uint8_t { kKey, kObservableOriginal, kRare };

// One stored judgement, packed (see the class comment).
struct JudgementStore::Record {
  uint64_t uuid_hi = 0;
  uint64_t uuid_lo = 0;
  int64_t start_us = 0;
  int64_t end_us = 0;
  int64_t timestamp_us = 0;
  int64_t created_us = 0;
  int64_t priority = 0;
  uint32_t observable = kNone;
  uint32_t next = kNone;  // next record of the same observable, in insertion order
  // Interned strings.
  uint32_t source = 0;
  uint32_t confidence = 0;
  uint32_t severity = 0;
  uint32_t tlp = 0;
  uint32_t owner = 0;
  uint32_t groups = 0;  // JoinList
  uint32_t rare = kNone;
  uint8_t disposition = 0;
  bool live = false;
  bool uuid_id = false;
  ValueCase value_case = ValueCase::kKey;
};

// Fields most judgements leave empty.
struct JudgementStore::Rare {
  std::string id;     // when not a lower-case uuid id
  std::string value;  // stored case, when it differs from the lower-case key
  std::string source_uri;
  std::string reason;
  std::vector<std::string> authorized_users;
  std::vector<std::string> authorized_groups;
  std::vector<std::string> external_ids;
};

struct JudgementStore::ObservableEntry {
  const char* value = nullptr;     // lower-cased, in the string arena
  const char* original = nullptr;  // first stored spelling that differs from it, same size
  uint32_t size = 0;
  uint32_t type = 0;  // interned lower-cased type
  uint32_t head = kNone;
  uint32_t tail = kNone;
};

// Records in blocks of 64Ki that never move.
class JudgementStore::Blocks {
 public:
  static constexpr uint32_t kShift = 16;
  static constexpr uint32_t kSize = 1u << kShift;

  uint32_t size() const { return size_; }
  Record& at(uint32_t i) { return blocks_[i >> kShift][i & (kSize - 1)]; }
  const Record& at(uint32_t i) const { return blocks_[i >> kShift][i & (kSize - 1)]; }
  uint32_t Add(Record r) {
    if ((size_ & (kSize - 1)) == 0) blocks_.push_back(std::make_unique<Record[]>(kSize));
    at(size_) = r;
    return size_++;
  }

 private:
  std::vector<std::unique_ptr<Record[]>> blocks_;
  uint32_t size_ = 0;
};

// An arena of string bytes and an interner over it.
class JudgementStore::Strings {
 public:
  Strings() { Intern(""); }  // id 0 is the empty string

  uint32_t Intern(absl::string_view s) {
    auto it = ids_.find(s);
    if (it != ids_.end()) return it->second;
    const absl::string_view copy = Copy(s);
    const uint32_t id = static_cast<uint32_t>(by_id_.size());
    by_id_.push_back(copy);
    ids_.emplace(copy, id);
    return id;
  }
  absl::string_view Get(uint32_t id) const { return by_id_[id]; }
  std::optional<uint32_t> Lookup(absl::string_view s) const {
    auto it = ids_.find(s);
    if (it == ids_.end()) return std::nullopt;
    return it->second;
  }

  // A copy of `s` that lives as long as this object.
  absl::string_view Copy(absl::string_view s) {
    if (s.empty()) return absl::string_view();
    if (s.size() > kBlock / 4) {
      big_.push_back(std::make_unique<char[]>(s.size()));
      std::memcpy(big_.back().get(), s.data(), s.size());
      return absl::string_view(big_.back().get(), s.size());
    }
    if (blocks_.empty() || used_ + s.size() > kBlock) {
      blocks_.push_back(std::make_unique<char[]>(kBlock));
      used_ = 0;
    }
    char* at = blocks_.back().get() + used_;
    std::memcpy(at, s.data(), s.size());
    used_ += s.size();
    return absl::string_view(at, s.size());
  }

 private:
  static constexpr size_t kBlock = 1 << 20;
  std::vector<std::unique_ptr<char[]>> blocks_;
  std::vector<std::unique_ptr<char[]>> big_;
  size_t used_ = 0;
  absl::flat_hash_map<absl::string_view, uint32_t> ids_;
  std::vector<absl::string_view> by_id_;
};

// The functors read the store's tables; they only run inside the store's locked methods.
size_t JudgementStore::IdHash::operator()(uint32_t record) const ABSL_NO_THREAD_SAFETY_ANALYSIS {
  const Record& r = store->records_->at(record);
  return (*this)(UuidKey{r.uuid_hi, r.uuid_lo});
}
size_t JudgementStore::IdHash::operator()(const UuidKey& key) const {
  return absl::Hash<std::pair<uint64_t, uint64_t>>()({key.hi, key.lo});
}
bool JudgementStore::IdEq::operator()(uint32_t record, const UuidKey& key) const
    ABSL_NO_THREAD_SAFETY_ANALYSIS {
  const Record& r = store->records_->at(record);
  return r.uuid_hi == key.hi && r.uuid_lo == key.lo;
}
size_t JudgementStore::ObservableHash::operator()(uint32_t observable) const
    ABSL_NO_THREAD_SAFETY_ANALYSIS {
  const ObservableEntry& e = store->observables_[observable];
  return (*this)(ObservableKey{e.type, absl::string_view(e.value, e.size)});
}
size_t JudgementStore::ObservableHash::operator()(const ObservableKey& key) const {
  return absl::Hash<std::pair<uint32_t, absl::string_view>>()({key.type, key.value});
}
bool JudgementStore::ObservableEq::operator()(uint32_t observable, const ObservableKey& key) const
    ABSL_NO_THREAD_SAFETY_ANALYSIS {
  const ObservableEntry& e = store->observables_[observable];
  return e.type == key.type && absl::string_view(e.value, e.size) == key.value;
}

JudgementStore::JudgementStore()
    : records_(std::make_unique<Blocks>()),
      strings_(std::make_unique<Strings>()),
      by_uuid_(0, IdHash{this}, IdEq{this}),
      by_observable_(0, ObservableHash{this}, ObservableEq{this}) {}

JudgementStore::~JudgementStore() = default;

void JudgementStore::ResetLocked() {
  by_uuid_ = decltype(by_uuid_)(0, IdHash{this}, IdEq{this});
  by_observable_ = decltype(by_observable_)(0, ObservableHash{this}, ObservableEq{this});
  by_other_id_ = {};
  by_external_id_ = {};
  observables_ = {};
  rare_ = {};
  records_ = std::make_unique<Blocks>();
  strings_ = std::make_unique<Strings>();
  live_ = 0;
}

bool JudgementStore::InsertLocked(schema::Judgement j) {
  Record r;
  r.uuid_id = ParseUuidId(j.id, &r.uuid_hi, &r.uuid_lo);
  if (r.uuid_id ? by_uuid_.contains(UuidKey{r.uuid_hi, r.uuid_lo})
                : by_other_id_.contains(j.id)) {
    return false;
  }
  if (records_->size() >= kNone - 1) return false;  // full: 2^32 - 2 records

  // The observable group, created on first use.
  const std::string type = absl::AsciiStrToLower(j.observable.type);
  const std::string key = absl::AsciiStrToLower(j.observable.value);
  const uint32_t type_id = strings_->Intern(type);
  uint32_t observable = kNone;
  if (auto it = by_observable_.find(ObservableKey{type_id, key}); it != by_observable_.end()) {
    observable = *it;
  } else {
    ObservableEntry e;
    const absl::string_view copy = strings_->Copy(key);
    e.value = copy.data();
    e.size = static_cast<uint32_t>(copy.size());
    e.type = type_id;
    observable = static_cast<uint32_t>(observables_.size());
    observables_.push_back(e);
    by_observable_.insert(observable);
  }

  r.start_us = Micros(j.valid_time.start_time);
  r.end_us = Micros(j.valid_time.end_time);
  r.timestamp_us = Micros(j.timestamp);
  r.created_us = Micros(j.created);
  r.priority = j.priority;
  r.disposition = static_cast<uint8_t>(j.disposition);
  r.observable = observable;
  r.source = strings_->Intern(j.source);
  r.confidence = strings_->Intern(j.confidence);
  r.severity = strings_->Intern(j.severity);
  r.tlp = strings_->Intern(j.tlp);
  r.owner = strings_->Intern(j.owner);
  r.groups = strings_->Intern(JoinList(j.groups));
  ValueCase value_case = ValueCase::kKey;
  if (j.observable.value != key) {
    // ASCII lower-casing keeps the length, so one pointer per observable holds the other
    // spelling most judgements of an observable share.
    ObservableEntry& e = observables_[observable];
    if (e.original == nullptr) e.original = strings_->Copy(j.observable.value).data();
    value_case = absl::string_view(e.original, e.size) == j.observable.value
                     ? ValueCase::kObservableOriginal
                     : ValueCase::kRare;
  }
  r.value_case = value_case;
  const bool value_differs = value_case == ValueCase::kRare;
  if (!r.uuid_id || value_differs || !j.source_uri.empty() || !j.reason.empty() ||
      !j.authorized_users.empty() || !j.authorized_groups.empty() || !j.external_ids.empty()) {
    Rare rare;
    if (!r.uuid_id) rare.id = j.id;
    if (value_differs) rare.value = std::move(j.observable.value);
    rare.source_uri = std::move(j.source_uri);
    rare.reason = std::move(j.reason);
    rare.authorized_users = std::move(j.authorized_users);
    rare.authorized_groups = std::move(j.authorized_groups);
    rare.external_ids = std::move(j.external_ids);
    r.rare = static_cast<uint32_t>(rare_.size());
    rare_.push_back(std::move(rare));
  }
  r.live = true;
  const uint32_t index = records_->Add(r);
  if (r.rare != kNone) {
    for (const std::string& xid : rare_[r.rare].external_ids) by_external_id_[xid].push_back(index);
  }
  if (r.uuid_id) {
    by_uuid_.insert(index);
  } else {
    by_other_id_.emplace(std::move(j.id), index);
  }
  ObservableEntry& e = observables_[observable];
  if (e.tail == kNone) {
    e.head = index;
  } else {
    records_->at(e.tail).next = index;
  }
  e.tail = index;
  ++live_;
  return true;
}

std::optional<uint32_t> JudgementStore::FindLocked(absl::string_view short_id) const {
  UuidKey key{};
  if (ParseUuidId(short_id, &key.hi, &key.lo)) {
    auto it = by_uuid_.find(key);
    if (it == by_uuid_.end()) return std::nullopt;
    return *it;
  }
  auto it = by_other_id_.find(short_id);
  if (it == by_other_id_.end()) return std::nullopt;
  return it->second;
}

std::optional<uint32_t> JudgementStore::FindObservableLocked(
    const schema::Observable& observable) const {
  // A type never interned has no judgements.
  std::optional<uint32_t> type = strings_->Lookup(absl::AsciiStrToLower(observable.type));
  if (!type.has_value()) return std::nullopt;
  const std::string key = absl::AsciiStrToLower(observable.value);
  auto it = by_observable_.find(ObservableKey{*type, key});
  if (it == by_observable_.end()) return std::nullopt;
  return *it;
}

schema::Judgement JudgementStore::Unpack(uint32_t index) const {
  const Record& r = records_->at(index);
  const ObservableEntry& e = observables_[r.observable];
  const Rare* rare = r.rare == kNone ? nullptr : &rare_[r.rare];
  schema::Judgement j;
  j.id = r.uuid_id ? FormatUuidId(r.uuid_hi, r.uuid_lo) : rare->id;
  j.observable.type = std::string(strings_->Get(e.type));
  switch (r.value_case) {
    case ValueCase::kKey: j.observable.value.assign(e.value, e.size); break;
    case ValueCase::kObservableOriginal: j.observable.value.assign(e.original, e.size); break;
    case ValueCase::kRare: j.observable.value = rare->value; break;
  }
  j.disposition = static_cast<schema::Disposition>(r.disposition);
  j.priority = r.priority;
  j.confidence = std::string(strings_->Get(r.confidence));
  j.severity = std::string(strings_->Get(r.severity));
  j.source = std::string(strings_->Get(r.source));
  j.tlp = std::string(strings_->Get(r.tlp));
  j.valid_time = {FromMicros(r.start_us), FromMicros(r.end_us)};
  j.timestamp = FromMicros(r.timestamp_us);
  j.created = FromMicros(r.created_us);
  j.owner = std::string(strings_->Get(r.owner));
  j.groups = SplitList(strings_->Get(r.groups));
  if (rare != nullptr) {
    j.source_uri = rare->source_uri;
    j.reason = rare->reason;
    j.authorized_users = rare->authorized_users;
    j.authorized_groups = rare->authorized_groups;
    j.external_ids = rare->external_ids;
  }
  return j;
}

bool JudgementStore::Insert(schema::Judgement j) {
  absl::MutexLock lock(&mu_);
  return InsertLocked(std::move(j));
}

size_t JudgementStore::InsertAll(std::vector<schema::Judgement> judgements) {
  absl::MutexLock lock(&mu_);
  size_t stored = 0;
  for (schema::Judgement& j : judgements) stored += InsertLocked(std::move(j)) ? 1 : 0;
  return stored;
}

std::optional<schema::Judgement> JudgementStore::Find(absl::string_view short_id) const {
  absl::ReaderMutexLock lock(&mu_);
  std::optional<uint32_t> index = FindLocked(short_id);
  if (!index.has_value()) return std::nullopt;
  return Unpack(*index);
}

bool JudgementStore::Erase(absl::string_view short_id) {
  absl::MutexLock lock(&mu_);
  std::optional<uint32_t> found = FindLocked(short_id);
  if (!found.has_value()) return false;
  const uint32_t index = *found;
  Record& r = records_->at(index);
  ObservableEntry& e = observables_[r.observable];
  // Unlink from the observable's chain.
  uint32_t prev = kNone;
  for (uint32_t at = e.head; at != kNone && at != index; at = records_->at(at).next) prev = at;
  if (prev == kNone) {
    e.head = r.next;
  } else {
    records_->at(prev).next = r.next;
  }
  if (e.tail == index) e.tail = prev;
  if (r.uuid_id) {
    by_uuid_.erase(index);
  } else {
    by_other_id_.erase(rare_[r.rare].id);
  }
  if (r.rare != kNone) {
    for (const std::string& xid : rare_[r.rare].external_ids) {
      auto it = by_external_id_.find(xid);
      if (it == by_external_id_.end()) continue;
      std::vector<uint32_t>& list = it->second;
      list.erase(std::remove(list.begin(), list.end(), index), list.end());
      if (list.empty()) by_external_id_.erase(it);
    }
  }
  r.live = false;
  r.next = kNone;
  --live_;
  return true;
}

std::optional<schema::Judgement> JudgementStore::Expire(absl::string_view short_id,
                                                        absl::Time now,
                                                        absl::string_view reason) {
  absl::MutexLock lock(&mu_);
  std::optional<uint32_t> index = FindLocked(short_id);
  if (!index.has_value()) return std::nullopt;
  Record& r = records_->at(*index);
  r.end_us = Micros(now);
  if (r.rare == kNone) {
    r.rare = static_cast<uint32_t>(rare_.size());
    rare_.emplace_back();
  }
  // ctia appends the reason to the existing one, separated by a space.
  std::string& text = rare_[r.rare].reason;
  text = text.empty() ? std::string(reason) : absl::StrCat(text, " ", reason);
  return Unpack(*index);
}

std::optional<schema::Judgement> JudgementStore::SelectVerdict(
    const schema::Observable& observable, absl::Time now, const schema::VerdictQuery& query,
    absl::FunctionRef<bool(const schema::Judgement&)> visible) const {
  std::vector<schema::Judgement> seen = ListByObservable(observable, visible);
  std::optional<size_t> winner = schema::SelectVerdictJudgement(seen, now, query);
  if (!winner.has_value()) return std::nullopt;
  return std::move(seen[*winner]);
}

std::vector<schema::Judgement> JudgementStore::ListByObservable(
    const schema::Observable& observable,
    absl::FunctionRef<bool(const schema::Judgement&)> visible) const {
  std::vector<schema::Judgement> out;
  absl::ReaderMutexLock lock(&mu_);
  std::optional<uint32_t> group = FindObservableLocked(observable);
  if (!group.has_value()) return out;
  for (uint32_t at = observables_[*group].head; at != kNone; at = records_->at(at).next) {
    schema::Judgement j = Unpack(at);
    if (visible(j)) out.push_back(std::move(j));
  }
  return out;
}

std::vector<schema::Judgement> JudgementStore::FindByExternalId(
    absl::string_view external_id,
    absl::FunctionRef<bool(const schema::Judgement&)> visible) const {
  std::vector<schema::Judgement> out;
  absl::ReaderMutexLock lock(&mu_);
  auto it = by_external_id_.find(external_id);
  if (it == by_external_id_.end()) return out;
  for (uint32_t index : it->second) {
    schema::Judgement j = Unpack(index);
    if (visible(j)) out.push_back(std::move(j));
  }
  return out;
}

size_t JudgementStore::size() const {
  absl::ReaderMutexLock lock(&mu_);
  return live_;
}

void JudgementStore::Clear() {
  absl::MutexLock lock(&mu_);
  ResetLocked();
}

}  // namespace enrich::sim
