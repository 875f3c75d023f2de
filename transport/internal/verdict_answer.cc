#include "transport/internal/verdict_answer.h"

#include <climits>
#include <cstdint>
#include <cstring>
#include <optional>
#include <string>
#include <utility>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "rapidjson/error/en.h"
#include "rapidjson/memorystream.h"
#include "rapidjson/encodedstream.h"
#include "rapidjson/reader.h"
#include "schema/disposition.h"
#include "schema/json_codec.h"
#include "schema/time_format.h"

namespace enrich::transport::internal {
namespace {

// The members a verdict answer is read for (reference §2.2, §2.3).
enum class Field {
  kOther,
  kDisposition,  // top level
  kObservable,
  kJudgementId,
  kValidTime,
  kMessage,      // top level, 404 only
  kType,         // in "observable"
  kValue,
  kStartTime,    // in "valid_time"
  kEndTime,
};

// What the first member of a name held, as far as the decoder cares.
enum class Kind { kAbsent, kInt, kString, kObject, kOther };

bool Is(const char* key, rapidjson::SizeType length, absl::string_view name) {
  return length == name.size() && std::memcmp(key, name.data(), length) == 0;
}

// SAX handler collecting the first member of each name the DOM decoder looks up. It never
// stops the reader (always returns true), so parse errors and their offsets are those of a DOM
// parse of the same body.
class VerdictHandler : public rapidjson::BaseReaderHandler<rapidjson::UTF8<>, VerdictHandler> {
 public:
  bool root_object = false;
  Kind disposition = Kind::kAbsent;
  int64_t disposition_number = 0;
  Kind observable = Kind::kAbsent;
  Kind type = Kind::kAbsent;
  Kind value = Kind::kAbsent;
  Kind judgement_id = Kind::kAbsent;
  Kind valid_time = Kind::kAbsent;
  Kind start_time = Kind::kAbsent;
  Kind end_time = Kind::kAbsent;
  Kind message = Kind::kAbsent;
  std::optional<absl::StatusOr<absl::Time>> start, end;  // parsed when they are strings
  schema::Verdict verdict;  // observable and judgement id as read

  bool Default() { return Scalar(Kind::kOther); }
  bool Int(int i) { return Number(true, i); }
  bool Uint(unsigned u) { return Number(u <= INT_MAX, u); }
  bool Int64(int64_t i) { return Number(i >= INT_MIN && i <= INT_MAX, i); }
  bool Uint64(uint64_t u) { return Number(u <= INT_MAX, static_cast<int64_t>(u)); }

  bool String(const char* text, rapidjson::SizeType length, bool) {
    const Field field = Take();
    if (field == Field::kOther) return true;
    const absl::string_view view(text, length);
    switch (field) {
      case Field::kType:
        verdict.observable.type.assign(text, length);
        break;
      case Field::kValue:
        verdict.observable.value.assign(text, length);
        break;
      case Field::kJudgementId:
        verdict.judgement_id.assign(text, length);
        break;
      case Field::kStartTime:
        start = schema::ParseIsoTime(view);
        break;
      case Field::kEndTime:
        end = schema::ParseIsoTime(view);
        break;
      default:
        break;
    }
    Record(field, Kind::kString);
    return true;
  }

  bool StartObject() {
    if (depth_ == 0) {
      root_object = true;
    } else {
      const Field field = Take();
      Record(field, Kind::kObject);
      if (depth_ == 1 && field == Field::kObservable) inside_ = Field::kObservable;
      if (depth_ == 1 && field == Field::kValidTime) inside_ = Field::kValidTime;
    }
    ++depth_;
    return true;
  }
  bool EndObject(rapidjson::SizeType) {
    if (--depth_ == 1) inside_ = Field::kOther;
    return true;
  }
  bool StartArray() {
    if (depth_ > 0) Scalar(Kind::kOther);
    ++depth_;
    return true;
  }
  bool EndArray(rapidjson::SizeType) {
    --depth_;
    return true;
  }

  bool Key(const char* key, rapidjson::SizeType length, bool) {
    pending_ = Field::kOther;
    if (depth_ == 1) {
      if (Is(key, length, "disposition")) {
        pending_ = Field::kDisposition;
      } else if (Is(key, length, "observable")) {
        pending_ = Field::kObservable;
      } else if (Is(key, length, "judgement_id")) {
        pending_ = Field::kJudgementId;
      } else if (Is(key, length, "valid_time")) {
        pending_ = Field::kValidTime;
      } else if (Is(key, length, "message")) {
        pending_ = Field::kMessage;
      }
    } else if (depth_ == 2 && inside_ == Field::kObservable) {
      if (Is(key, length, "type")) {
        pending_ = Field::kType;
      } else if (Is(key, length, "value")) {
        pending_ = Field::kValue;
      }
    } else if (depth_ == 2 && inside_ == Field::kValidTime) {
      if (Is(key, length, "start_time")) {
        pending_ = Field::kStartTime;
      } else if (Is(key, length, "end_time")) {
        pending_ = Field::kEndTime;
      }
    }
    // Only the first member of a name counts (FindMember); later ones are read past.
    if (pending_ != Field::kOther && *Slot(pending_) != Kind::kAbsent) pending_ = Field::kOther;
    return true;
  }

 private:
  // The field the value now read belongs to (kOther: none), consumed.
  Field Take() {
    const Field field = pending_;
    pending_ = Field::kOther;
    return field;
  }

  Kind* Slot(Field field) {
    switch (field) {
      case Field::kDisposition:
        return &disposition;
      case Field::kObservable:
        return &observable;
      case Field::kJudgementId:
        return &judgement_id;
      case Field::kValidTime:
        return &valid_time;
      case Field::kMessage:
        return &message;
      case Field::kType:
        return &type;
      case Field::kValue:
        return &value;
      case Field::kStartTime:
        return &start_time;
      case Field::kEndTime:
        return &end_time;
      case Field::kOther:
        break;
    }
    return nullptr;
  }

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
    if (field == Field::kDisposition && is_int) disposition_number = number;
    Record(field, is_int ? Kind::kInt : Kind::kOther);
    return true;
  }

  int depth_ = 0;                  // containers open around the next event
  Field inside_ = Field::kOther;   // the first "observable" or "valid_time" object, while in it
  Field pending_ = Field::kOther;  // the field whose value comes next
};

// Reads a body of the plain shape CTIA writes, feeding `handler` the events RapidJSON's reader
// would: objects (nested up to kMaxPlainDepth), strings without escapes or control characters,
// non-negative integers of at most 9 digits without leading zeros, JSON whitespace between
// tokens, and nothing after the root. False as soon as the body leaves that shape (the caller
// then reads it with RapidJSON, which decides); true means it was read whole.
class PlainReader {
 public:
  PlainReader(absl::string_view body, VerdictHandler& handler)
      : p_(body.data()), end_(body.data() + body.size()), handler_(handler) {}

  bool Read() {
    if (!Object(1)) return false;
    SkipSpace();
    return p_ == end_;
  }

 private:
  static constexpr int kMaxPlainDepth = 4;

  void SkipSpace() {
    while (p_ < end_ && (*p_ == ' ' || *p_ == '\n' || *p_ == '\r' || *p_ == '\t')) ++p_;
  }
  bool Take(char c) {
    SkipSpace();
    if (p_ == end_ || *p_ != c) return false;
    ++p_;
    return true;
  }
  // After the opening quote: the text up to the closing one, which is consumed.
  bool Text(const char** text, rapidjson::SizeType* length) {
    const auto* quote = static_cast<const char*>(std::memchr(p_, '"', static_cast<size_t>(end_ - p_)));
    if (quote == nullptr) return false;
    // No escape and no control character before it (one branch-free pass).
    bool plain = true;
    for (const char* q = p_; q < quote; ++q) {
      const auto c = static_cast<unsigned char>(*q);
      plain &= c != '\\' && c >= 0x20;
    }
    if (!plain) return false;
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
      return Text(&text, &length) && handler_.String(text, length, true);
    }
    if (*p_ == '{') return depth < kMaxPlainDepth && Object(depth + 1);
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
    return handler_.Uint(number);
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
    return handler_.EndObject(members);
  }

  const char* p_;
  const char* const end_;
  VerdictHandler& handler_;
};

absl::Status Malformed(absl::string_view what) {
  return absl::InvalidArgumentError(absl::StrCat("malformed verdict body: ", what));
}

// Parses `body` into `handler`; the parse error as schema::DecodeVerdict words it, or OK.
absl::Status Parse(absl::string_view body, VerdictHandler& handler, bool* parse_error) {
  *parse_error = false;
  if (PlainReader(body, handler).Read()) return absl::OkStatus();
  handler = VerdictHandler();  // start over with the full reader
  // One reader per thread: its stack (used for strings with escapes and nesting) is kept.
  thread_local rapidjson::Reader reader;
  rapidjson::MemoryStream memory(body.data(), body.size());
  rapidjson::EncodedInputStream<rapidjson::UTF8<>, rapidjson::MemoryStream> in(memory);
  const rapidjson::ParseResult result = reader.Parse<rapidjson::kParseDefaultFlags>(in, handler);
  *parse_error = result.IsError();
  if (!result) {
    return Malformed(absl::StrCat(rapidjson::GetParseError_En(result.Code()), " at offset ",
                                  result.Offset()));
  }
  return absl::OkStatus();
}

// A time member as schema's DecodeTime and DecodeVerdict word its failures.
absl::StatusOr<absl::Time> TimeOf(Kind kind, std::optional<absl::StatusOr<absl::Time>>& parsed,
                                  absl::string_view name) {
  if (kind != Kind::kString) {
    return Malformed(
        Malformed(absl::StrCat("\"", name, "\" is missing or not a string")).message());
  }
  if (!parsed->ok()) return Malformed(parsed->status().message());
  return **parsed;
}

absl::StatusOr<schema::VerdictResult> DecodeVerdictBody(absl::string_view body) {
  VerdictHandler h;
  bool parse_error = false;
  if (absl::Status parsed = Parse(body, h, &parse_error); !parsed.ok()) return parsed;
  if (!h.root_object) return Malformed("not a JSON object");
  if (h.disposition != Kind::kInt) return Malformed("\"disposition\" is not an integer");
  const std::optional<schema::Disposition> d =
      schema::DispositionFromNumber(static_cast<int>(h.disposition_number));
  if (!d.has_value()) {
    return Malformed(
        absl::StrCat("\"disposition\" ", static_cast<int>(h.disposition_number), " is outside 1..5"));
  }
  if (h.observable != Kind::kObject) return Malformed("\"observable\" is not an object");
  if (h.type != Kind::kString || h.value != Kind::kString) {
    return Malformed("\"observable\" needs string \"type\" and \"value\"");
  }
  if (h.valid_time != Kind::kObject) return Malformed("\"valid_time\" is not an object");
  schema::Verdict v = std::move(h.verdict);
  if (h.judgement_id != Kind::kString) v.judgement_id.clear();
  v.disposition = *d;
  v.disposition_name = std::string(schema::DispositionName(*d));
  absl::StatusOr<absl::Time> start = TimeOf(h.start_time, h.start, "start_time");
  if (!start.ok()) return start.status();
  v.valid_time.start_time = *start;
  // CTIA always sends end_time (§2.2); its absence means "no end".
  if (h.end_time == Kind::kAbsent) {
    v.valid_time.end_time = schema::EndOfTime();
  } else {
    absl::StatusOr<absl::Time> end = TimeOf(h.end_time, h.end, "end_time");
    if (!end.ok()) return end.status();
    v.valid_time.end_time = *end;
  }
  return schema::VerdictResult(std::move(v));
}

}  // namespace

absl::StatusOr<schema::VerdictResult> DecodeVerdictAnswer(int http_status,
                                                          absl::string_view body) {
  if (http_status == 200) return DecodeVerdictBody(body);
  if (http_status == 404) {
    VerdictHandler h;
    bool parse_error = false;
    Parse(body, h, &parse_error).IgnoreError();
    if (!parse_error && h.root_object && h.message == Kind::kString) {
      return schema::VerdictResult(schema::NoVerdict{});
    }
    return absl::NotFoundError(
        "CTIA answered 404 without a JSON message: the verdict route was not matched");
  }
  return absl::InternalError(absl::StrCat("unexpected HTTP status ", http_status));
}

}  // namespace enrich::transport::internal
