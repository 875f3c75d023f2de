#ifndef ENRICH_TRANSPORT_INTERNAL_VERDICT_ANSWER_H_
#define ENRICH_TRANSPORT_INTERNAL_VERDICT_ANSWER_H_

// Decoding of the verdict answer (`GET .../verdict`, and the verdicts inside GraphQL answers)
// in one SAX pass, used by internal/ctia_call.cc and internal/graphql_verdicts.cc.

#include <cstdint>
#include <optional>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "rapidjson/reader.h"
#include "schema/json_string.h"
#include "schema/verdict.h"

namespace enrich::transport::internal {

// The answer to `GET .../verdict`, decoded in one pass over the body: exactly what
// schema::DecodeVerdictResponse returns for the same status and body (the same values, the
// same error codes and messages, the same JSON grammar: RapidJSON's reader with the flags of
// its DOM parse), without building a document. Keys match as the DOM's FindMember does (the
// first member of a name counts, whatever its type). Thread-safe; allocates only the
// result's strings that do not fit in place (e.g. the judgement id).
absl::StatusOr<schema::VerdictResult> DecodeVerdictAnswer(int http_status, absl::string_view body);

// A RapidJSON SAX handler reading one verdict body (reference §2.2) from the events of one JSON
// value: the first member of each name the DOM decoder looks up. It never stops the reader
// (every event returns true), so a parse error and its offset are those of a DOM parse. Other
// readers (GraphQL answers) feed it the events of a value nested in a larger document.
class VerdictHandler : public rapidjson::BaseReaderHandler<rapidjson::UTF8<>, VerdictHandler> {
 public:
  bool Default() { return Scalar(Kind::kOther); }
  bool Int(int i) { return Number(true, i); }
  bool Uint(unsigned u) { return Number(u <= INT32_MAX, u); }
  bool Int64(int64_t i) { return Number(i >= INT32_MIN && i <= INT32_MAX, i); }
  bool Uint64(uint64_t u) { return Number(u <= INT32_MAX, static_cast<int64_t>(u)); }
  bool String(const char* text, rapidjson::SizeType length, bool copy);
  bool StartObject();
  bool EndObject(rapidjson::SizeType members);
  bool StartArray();
  bool EndArray(rapidjson::SizeType elements);
  bool Key(const char* key, rapidjson::SizeType length, bool copy);

  // The value read as a 200 verdict body: what schema::DecodeVerdict gives for its JSON text
  // (InvalidArgument "malformed verdict body: ..." when it is not a verdict). Call once, after
  // the value's last event.
  absl::StatusOr<schema::VerdictResult> Verdict();
  // The value read as a 404 body: a JSON object whose first "message" is a string.
  bool IsNoVerdictMessage() const;

 private:
  // The members a verdict answer is read for (reference §2.2, §2.3).
  enum class Field {
    kOther,
    kDisposition,  // top level
    kObservable,
    kJudgementId,
    kValidTime,
    kMessage,  // top level, 404 only
    kType,     // in "observable"
    kValue,
    kStartTime,  // in "valid_time"
    kEndTime,
  };
  // What the first member of a name held, as far as the decoder cares.
  enum class Kind { kAbsent, kInt, kString, kObject, kOther };

  // The field the value now read belongs to (kOther: none), consumed.
  Field Take() {
    const Field field = pending_;
    pending_ = Field::kOther;
    return field;
  }
  Kind* Slot(Field field);
  void Record(Field field, Kind kind) {
    if (Kind* slot = Slot(field); slot != nullptr) *slot = kind;
  }
  bool Scalar(Kind kind) {
    Record(Take(), kind);
    return true;
  }
  // `is_int`: the DOM would hold it as an int (IsInt()).
  bool Number(bool is_int, int64_t number) {
    const Field field = Take();
    if (field == Field::kDisposition && is_int) disposition_number_ = number;
    Record(field, is_int ? Kind::kInt : Kind::kOther);
    return true;
  }

  bool root_object_ = false;
  Kind disposition_ = Kind::kAbsent;
  int64_t disposition_number_ = 0;
  Kind observable_ = Kind::kAbsent;
  Kind type_ = Kind::kAbsent;
  Kind value_ = Kind::kAbsent;
  Kind judgement_id_ = Kind::kAbsent;
  Kind valid_time_ = Kind::kAbsent;
  Kind start_time_ = Kind::kAbsent;
  Kind end_time_ = Kind::kAbsent;
  Kind message_ = Kind::kAbsent;
  std::optional<absl::StatusOr<absl::Time>> start_, end_;  // parsed when they are strings
  schema::Verdict verdict_;                                // observable and judgement id as read

  int depth_ = 0;                  // containers open around the next event
  Field inside_ = Field::kOther;   // the first "observable" or "valid_time" object, while in it
  Field pending_ = Field::kOther;  // the field whose value comes next
};

// Reads JSON of the plain shape CTIA writes, feeding `handler` the events RapidJSON's reader
// (kParseDefaultFlags) would: objects nested up to `max_depth`, strings without escapes or
// control characters, non-negative integers of at most 9 digits without leading zeros, `null`,
// JSON whitespace between tokens, and nothing after the root object. Read() is false as soon as
// the text leaves that shape (the caller then starts over with a fresh handler and RapidJSON's
// reader, which decides); true means the text was read whole. Handler return values are
// ignored (the handlers used never stop a reader).
template <class Handler>
class PlainJsonReader {
 public:
  PlainJsonReader(absl::string_view text, Handler& handler, int max_depth)
      : p_(text.data()), end_(text.data() + text.size()), handler_(handler),
        max_depth_(max_depth) {}

  bool Read() {
    if (!Object(1)) return false;
    SkipSpace();
    return p_ == end_;
  }

 private:
  void SkipSpace() {
    while (p_ < end_ && (*p_ == ' ' || *p_ == '\n' || *p_ == '\r' || *p_ == '\t')) ++p_;
  }
  bool Take(char c) {
    SkipSpace();
    if (p_ == end_ || *p_ != c) return false;
    ++p_;
    return true;
  }
  // After the opening quote: the text up to the closing one, which is consumed; false if an
  // escape or a control character comes first, or no closing quote.
  bool Text(const char** text, rapidjson::SizeType* length) {
    const char* quote = schema::FindJsonSpecial(p_, end_);
    if (quote == end_ || *quote != '"') return false;
    *text = p_;
    *length = static_cast<rapidjson::SizeType>(quote - p_);
    p_ = quote + 1;
    return true;
  }
  bool Value(int depth) {
    SkipSpace();
    if (p_ == end_) return false;
    if (*p_ == '"') {
      ++p_;
      const char* text = nullptr;
      rapidjson::SizeType length = 0;
      if (!Text(&text, &length)) return false;
      handler_.String(text, length, true);
      return true;
    }
    if (*p_ == '{') return depth < max_depth_ && Object(depth + 1);
    if (*p_ == 'n') {
      if (end_ - p_ < 4 || std::memcmp(p_, "null", 4) != 0) return false;
      p_ += 4;
      handler_.Null();
      return true;
    }
    if (*p_ < '0' || *p_ > '9') return false;
    if (*p_ == '0' && p_ + 1 < end_ && p_[1] >= '0' && p_[1] <= '9') return false;
    unsigned number = 0;
    int digits = 0;
    for (; p_ < end_ && *p_ >= '0' && *p_ <= '9'; ++p_, ++digits) {
      if (digits == 9) return false;
      number = number * 10 + static_cast<unsigned>(*p_ - '0');
    }
    // A fraction or exponent follows: RapidJSON reads a double.
    if (p_ < end_ && (*p_ == '.' || *p_ == 'e' || *p_ == 'E')) return false;
    handler_.Uint(number);
    return true;
  }
  bool Object(int depth) {
    if (!Take('{')) return false;
    handler_.StartObject();
    rapidjson::SizeType members = 0;
    if (!Take('}')) {
      do {
        const char* key = nullptr;
        rapidjson::SizeType length = 0;
        if (!Take('"') || !Text(&key, &length)) return false;
        handler_.Key(key, length, true);
        if (!Take(':') || !Value(depth)) return false;
        ++members;
      } while (Take(','));
      if (!Take('}')) return false;
    }
    handler_.EndObject(members);
    return true;
  }

  const char* p_;
  const char* const end_;
  Handler& handler_;
  const int max_depth_;
};

}  // namespace enrich::transport::internal

#endif  // ENRICH_TRANSPORT_INTERNAL_VERDICT_ANSWER_H_
