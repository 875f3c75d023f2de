// One compact encoding of a settled lookup, for the in-memory verdict table (and the persistent
// cache, which stores the same bytes): the kind and disposition in a byte each, the expiry and
// valid_time.end_time as integer Unix milliseconds, the judgement id as its 16-byte UUID with
// its prefix ("https://host:port/ctia/judgement/judgement-") interned once per table (an id of
// another shape is kept as text, flagged), the error text of a failure, and the verdict's
// details (schema/verdict_details.h) only when the run keeps them. The key of a lookup is
// encoded beside it: the observable type as a small number (its place in CTIA's list) and the
// normalized value's bytes.
//
// Settled, the answer as the engine writes it out, is decoded from a record lazily: its views
// point into the record and the interned prefixes; the judgement id is formatted back to its
// text only where it is written (JudgementIdRef::Text).
//
// Part of schema (vocabulary, no I/O) so that the engine and the transport share one coder: the
// engine's verdict table, journal and persistent cache (engine/), and the Redis-shared cache
// (transport/redis/shared_verdict_codec.h), which the layering keeps from depending on engine/.
//
// Sizes (bench/engine/verdict_table_bench.cc, BM_BytesPerEntry): a verdict with a UUID id is a
// 35-byte record where its text took ~84 bytes; "no verdict" is 11 bytes.

#ifndef ENRICH_SCHEMA_VERDICT_RECORD_H_
#define ENRICH_SCHEMA_VERDICT_RECORD_H_

#include <array>
#include <atomic>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <ostream>
#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/strings/string_view.h"
#include "absl/synchronization/mutex.h"

namespace enrich::schema {

inline constexpr size_t kUuidBytes = 16;

// A judgement id as a record holds it: an interned prefix and the 16 bytes of the UUID that
// ends the id, or the id's text. Views: valid while the record and the prefixes are.
class JudgementIdRef {
 public:
  JudgementIdRef() = default;
  // The id as text (any shape). Implicit: a text id is a JudgementIdRef.
  JudgementIdRef(absl::string_view text) : prefix_(text) {}  // NOLINT(runtime/explicit)
  JudgementIdRef(const char* text) : prefix_(text) {}        // NOLINT(runtime/explicit)
  JudgementIdRef(const std::string& text) : prefix_(text) {}  // NOLINT(runtime/explicit)
  static JudgementIdRef OfUuid(absl::string_view prefix, const char* uuid) {
    JudgementIdRef r(prefix);
    r.uuid_ = uuid;
    return r;
  }

  bool empty() const { return uuid_ == nullptr && prefix_.empty(); }
  size_t size() const { return prefix_.size() + (uuid_ == nullptr ? 0 : 36); }
  // The id's text: a view of the text form, or the UUID form formatted into `buf`.
  absl::string_view Text(std::string& buf) const;
  void AppendTo(std::string& out) const;
  std::string ToString() const;
  // An address that stays the same for this stored id (the record's bytes), for counting by
  // identity (top_hits.h); null for an empty id.
  const void* identity() const;

  // Comparisons with the id's text (hidden friends: found only for a JudgementIdRef operand).
  friend bool operator==(const JudgementIdRef& a, absl::string_view b) { return a.Equals(b); }
  friend bool operator==(const JudgementIdRef& a, const std::string& b) { return a.Equals(b); }
  friend bool operator==(const JudgementIdRef& a, const char* b) { return a.Equals(b); }
  friend bool operator==(const JudgementIdRef& a, const JudgementIdRef& b) {
    return a.uuid_ == nullptr ? b.Equals(a.prefix_) : a.Equals(b.ToString());
  }
  friend std::ostream& operator<<(std::ostream& os, const JudgementIdRef& id) {
    return os << id.ToString();
  }

 private:
  bool Equals(absl::string_view text) const;

  absl::string_view prefix_;    // the prefix, or the whole text
  const char* uuid_ = nullptr;  // kUuidBytes, or null for the text form
};

// The settled answer for one observable, as the engine writes it out. Views point into the
// table's records and stay valid for the table's lifetime.
struct Settled {
  enum class Kind : uint8_t { kVerdict, kNoVerdict, kFailed };
  Kind kind = Kind::kNoVerdict;
  int8_t disposition = 0;        // schema::Disposition number, kVerdict only
  int64_t valid_until_ms = 0;    // valid_time.end_time in Unix ms, kVerdict only
  JudgementIdRef judgement_id;   // kVerdict only
  absl::string_view error;       // "error:<code>", kFailed only
  // kVerdict only: the verdict's details the run keeps, as EncodeDetails wrote them
  // (schema/verdict_details.h); empty when the run keeps none.
  absl::string_view details = {};
};

// Splits `id` into the prefix before its trailing UUID (36 characters, lower-case hex in groups
// 8-4-4-4-12, the form CTIA makes) and the UUID's 16 bytes. False for any other shape, whose
// text only gives the same id back.
bool SplitUuidId(absl::string_view id, absl::string_view& prefix,
                 std::array<char, kUuidBytes>& uuid);
// Appends the 36-character text of `uuid` (kUuidBytes).
void AppendUuidText(const char* uuid, std::string& out);

// The judgement id prefixes of a table, each stored once: up to kMax, read without a lock.
class IdPrefixes {
 public:
  static constexpr size_t kMax = 255;
  IdPrefixes();
  ~IdPrefixes();
  IdPrefixes(const IdPrefixes&) = delete;
  IdPrefixes& operator=(const IdPrefixes&) = delete;

  // The number of `prefix`, stored on first use; -1 once kMax prefixes are stored.
  int Intern(absl::string_view prefix);
  // The prefix numbered `index` by Intern; empty for a number never given.
  absl::string_view At(size_t index) const;
  size_t size() const { return size_.load(std::memory_order_acquire); }
  size_t bytes_used() const;

 private:
  mutable absl::Mutex mu_;
  std::vector<std::unique_ptr<std::string>> owned_ ABSL_GUARDED_BY(mu_);
  std::array<std::atomic<const std::string*>, kMax> at_{};
  std::atomic<size_t> size_{0};
};

// Record bytes: a varint length of the rest, then a flags byte (kind in bits 0-1, text id in
// bit 2, details in bit 3), the disposition, expiry (8 bytes, little-endian Unix ms); a verdict
// adds valid_until (8 bytes) and its id (prefix number and 16 UUID bytes, or varint length and
// text), then details (varint length, bytes) if any; a failure adds its error text (varint
// length, bytes).
//
// Appends the record of `s`, expiring at `expiry_ms`, to `out`; the id's prefix is interned in
// `prefixes`.
void EncodeRecord(const Settled& s, int64_t expiry_ms, IdPrefixes& prefixes, std::string& out);
// The record's total size (its length varint included) from its first bytes; 0 if `bytes`
// does not hold a whole record.
size_t RecordSize(absl::string_view bytes);
// The whole record EncodeRecord wrote at `record` (in memory whole: the table's arena).
absl::string_view RecordAt(const char* record);
// The expiry of a record EncodeRecord wrote (its first RecordSize bytes are there).
int64_t RecordExpiryMs(const char* record);
// Decodes the record at the start of `bytes` into `out` (views into `bytes` and `prefixes`)
// and its expiry; false on bytes EncodeRecord cannot have written (or an unknown prefix).
bool DecodeRecord(absl::string_view bytes, const IdPrefixes& prefixes, Settled& out,
                  int64_t& expiry_ms);

// DecodeRecord() of a record EncodeRecord wrote in this process with `prefixes` (the verdict
// table's own, whole in memory): no bounds or values checked, for the table's hits.
void DecodeStoredRecord(const char* record, const IdPrefixes& prefixes, Settled& out);

// Key bytes of a lookup: the type's number (1 + its place in schema::KnownObservableTypes(), or
// 0 followed by a varint length and the type's text for a name this build does not know), then
// the value. The numbers follow the list this build carries: a store kept across builds keeps
// that list with it.
void EncodeKey(absl::string_view type, absl::string_view value, std::string& out);
// The type and value of key bytes EncodeKey wrote; false on other bytes.
bool DecodeKey(absl::string_view key, absl::string_view& type, absl::string_view& value);

}  // namespace enrich::schema

#endif  // ENRICH_SCHEMA_VERDICT_RECORD_H_
