#include "transport/internal/verdict_answer.h"

#include "transport/ctia_status.h"

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

bool Is(const char* key, rapidjson::SizeType length, absl::string_view name) {
  return length == name.size() && std::memcmp(key, name.data(), length) == 0;
}

absl::Status Malformed(absl::string_view what) {
  return absl::InvalidArgumentError(absl::StrCat("malformed verdict body: ", what));
}

// schema::ParseIsoTime, remembering the last text parsed in each of `slot` 0 and 1 on this
// thread: CTIA's verdicts mostly share their start and end times (e.g. a judgement's default
// end, 2525-01-01T00:00:00.000Z, §2.2), so most lookups are a comparison.
absl::StatusOr<absl::Time> ParseIsoTimeRemembered(absl::string_view text, int slot) {
  struct Last {
    bool parsed = false;
    std::string text;
    absl::StatusOr<absl::Time> time;
  };
  thread_local Last last[2];
  Last& l = last[slot];
  if (!l.parsed || l.text != text) {
    l.time = schema::ParseIsoTime(text);
    l.text.assign(text.data(), text.size());
    l.parsed = true;
  }
  return l.time;
}

}  // namespace

bool VerdictHandler::String(const char* text, rapidjson::SizeType length, bool) {
  const Field field = Take();
  if (field == Field::kOther) return true;
  const absl::string_view view(text, length);
  switch (field) {
    case Field::kType:
      verdict_.observable.type.assign(text, length);
      break;
    case Field::kValue:
      verdict_.observable.value.assign(text, length);
      break;
    case Field::kJudgementId:
      verdict_.judgement_id.assign(text, length);
      break;
    case Field::kStartTime:
      start_ = ParseIsoTimeRemembered(view, 0);
      break;
    case Field::kEndTime:
      end_ = ParseIsoTimeRemembered(view, 1);
      break;
    default:
      break;
  }
  Record(field, Kind::kString);
  return true;
}

bool VerdictHandler::StartObject() {
  if (depth_ == 0) {
    root_object_ = true;
  } else {
    const Field field = Take();
    Record(field, Kind::kObject);
    if (depth_ == 1 && field == Field::kObservable) inside_ = Field::kObservable;
    if (depth_ == 1 && field == Field::kValidTime) inside_ = Field::kValidTime;
  }
  ++depth_;
  return true;
}

bool VerdictHandler::EndObject(rapidjson::SizeType) {
  if (--depth_ == 1) inside_ = Field::kOther;
  return true;
}

bool VerdictHandler::StartArray() {
  if (depth_ > 0) Scalar(Kind::kOther);
  ++depth_;
  return true;
}

bool VerdictHandler::EndArray(rapidjson::SizeType) {
  --depth_;
  return true;
}

bool VerdictHandler::Key(const char* key, rapidjson::SizeType length, bool) {
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

VerdictHandler::Kind* VerdictHandler::Slot(Field field) {
  switch (field) {
    case Field::kDisposition:
      return &disposition_;
    case Field::kObservable:
      return &observable_;
    case Field::kJudgementId:
      return &judgement_id_;
    case Field::kValidTime:
      return &valid_time_;
    case Field::kMessage:
      return &message_;
    case Field::kType:
      return &type_;
    case Field::kValue:
      return &value_;
    case Field::kStartTime:
      return &start_time_;
    case Field::kEndTime:
      return &end_time_;
    case Field::kOther:
      break;
  }
  return nullptr;
}

namespace {

// The plain shape of a REST verdict body: the verdict, "observable" and "valid_time" objects,
// and one more level (anything deeper goes to RapidJSON).
constexpr int kMaxPlainVerdictDepth = 4;

// Parses `body` into `handler`; the parse error as schema::DecodeVerdict words it, or OK.
absl::Status Parse(absl::string_view body, VerdictHandler& handler, bool* parse_error) {
  *parse_error = false;
  if (PlainJsonReader<VerdictHandler>(body, handler, kMaxPlainVerdictDepth).Read()) {
    return absl::OkStatus();
  }
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
absl::StatusOr<absl::Time> TimeOf(bool is_string,
                                         const std::optional<absl::StatusOr<absl::Time>>& parsed,
                                         absl::string_view name) {
  if (!is_string) {
    return Malformed(
        Malformed(absl::StrCat("\"", name, "\" is missing or not a string")).message());
  }
  if (!parsed->ok()) return Malformed(parsed->status().message());
  return **parsed;
}

}  // namespace

absl::StatusOr<schema::VerdictResult> VerdictHandler::Verdict() {
  if (!root_object_) return Malformed("not a JSON object");
  if (disposition_ != Kind::kInt) return Malformed("\"disposition\" is not an integer");
  const std::optional<schema::Disposition> d =
      schema::DispositionFromNumber(static_cast<int>(disposition_number_));
  if (!d.has_value()) {
    return Malformed(absl::StrCat("\"disposition\" ", static_cast<int>(disposition_number_),
                                  " is outside 1..5"));
  }
  if (observable_ != Kind::kObject) return Malformed("\"observable\" is not an object");
  if (type_ != Kind::kString || value_ != Kind::kString) {
    return Malformed("\"observable\" needs string \"type\" and \"value\"");
  }
  if (valid_time_ != Kind::kObject) return Malformed("\"valid_time\" is not an object");
  schema::Verdict v = std::move(verdict_);
  if (judgement_id_ != Kind::kString) v.judgement_id.clear();
  v.disposition = *d;
  v.disposition_name = std::string(schema::DispositionName(*d));
  absl::StatusOr<absl::Time> start = TimeOf(start_time_ == Kind::kString, start_, "start_time");
  if (!start.ok()) return start.status();
  v.valid_time.start_time = *start;
  // CTIA always sends end_time (§2.2); its absence means "no end".
  if (end_time_ == Kind::kAbsent) {
    v.valid_time.end_time = schema::EndOfTime();
  } else {
    absl::StatusOr<absl::Time> end = TimeOf(end_time_ == Kind::kString, end_, "end_time");
    if (!end.ok()) return end.status();
    v.valid_time.end_time = *end;
  }
  return schema::VerdictResult(std::move(v));
}

bool VerdictHandler::IsNoVerdictMessage() const {
  return root_object_ && message_ == Kind::kString;
}

absl::StatusOr<schema::VerdictResult> DecodeVerdictAnswer(int http_status,
                                                          absl::string_view body) {
  if (http_status == 200) {
    VerdictHandler h;
    bool parse_error = false;
    if (absl::Status parsed = Parse(body, h, &parse_error); !parsed.ok()) return parsed;
    return h.Verdict();
  }
  if (http_status == 404) {
    VerdictHandler h;
    bool parse_error = false;
    Parse(body, h, &parse_error).IgnoreError();
    if (!parse_error && h.IsNoVerdictMessage()) return schema::VerdictResult(schema::NoVerdict{});
    // CTIA's unknown-route 404 is an HTML page: on every lookup, the base URL is not CTIA's.
    return WithSetupFailure(
        absl::NotFoundError(
            "CTIA answered 404 without a JSON message: the verdict route was not matched"),
        SetupFailure::kNotCtia);
  }
  return absl::InternalError(absl::StrCat("unexpected HTTP status ", http_status));
}

}  // namespace enrich::transport::internal
