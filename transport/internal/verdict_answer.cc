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

absl::Status Malformed(absl::string_view what) {
  return absl::InvalidArgumentError(absl::StrCat("malformed verdict body: ", what));
}

// Parses `body` into `handler`; the parse error as schema::DecodeVerdict words it, or OK.
absl::Status Parse(absl::string_view body, VerdictHandler& handler, bool* parse_error) {
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
