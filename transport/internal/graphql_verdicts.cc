#include "transport/internal/graphql_verdicts.h"

#include "transport/internal/verdict_answer.h"
#include "transport/internal/verdict_details.h"

#include <cassert>
#include <charconv>
#include <cstdint>
#include <memory>
#include <optional>
#include <utility>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "rapidjson/encodedstream.h"
#include "rapidjson/memorystream.h"
#include "rapidjson/reader.h"
#include "rapidjson/stringbuffer.h"
#include "rapidjson/writer.h"
#include "schema/json_string.h"

namespace enrich::transport::internal {
namespace {

// The verdict fields of §2.2; the answer then decodes exactly like a REST verdict body.
constexpr absl::string_view kVerdictFields =
    "{verdict{type disposition disposition_name judgement_id observable{type value} "
    "valid_time{start_time end_time}";

// The selection of one observable: the verdict, and the details asked for.
std::string ObservableSelection(const VerdictDetailsOptions& details) {
  std::string out(kVerdictFields.data(), kVerdictFields.size());
  if (details.judgement) {
    out.append(kGraphqlJudgementSelection.data(), kGraphqlJudgementSelection.size());
  }
  out += '}';
  if (details.judgements > 0) out += GraphqlJudgementsSelection(details.judgements);
  out += '}';
  return out;
}

// An answer of the plain shape (root, "data", alias, "verdict", "observable"/"valid_time") is
// read without RapidJSON; anything else (escapes, arrays such as "errors") goes through it.
constexpr int kMaxPlainAnswerDepth = 5;

// The batch index of alias "o<i>" (decimal, no leading zero, i < size), or nullopt for any
// other key, e.g. "o01", "o+1".
std::optional<size_t> AliasIndex(absl::string_view key, size_t size) {
  if (key.size() < 2 || key.size() > 21 || key[0] != 'o') return std::nullopt;
  if (key[1] == '0' && key.size() > 2) return std::nullopt;
  size_t index = 0;
  for (const char c : key.substr(1)) {
    if (c < '0' || c > '9') return std::nullopt;
    index = index * 10 + static_cast<size_t>(c - '0');
    if (index >= size) return std::nullopt;  // also stops before an overflow
  }
  return index;
}

void AppendNumber(std::string& out, size_t n) {
  char digits[20];
  const auto end = std::to_chars(digits, digits + sizeof(digits), n).ptr;
  out.append(digits, end);
}

// Reads a GraphQL verdicts answer in one pass (RapidJSON SAX events) into per-alias results,
// with the rules of DecodeVerdictsAnswer's contract:
//   - at the root, only the first member named "data" and the first named "errors" count
//     (when an object and an array respectively);
//   - in "data", a member "o<i>" settles batch slot i unless an earlier member did: an object
//     whose first "verdict" is null (NoVerdict), an object (read by VerdictHandler as a REST
//     verdict body) or anything else (not a verdict); a null alias or one without "verdict"
//     settles nothing;
//   - each entry of "errors" names an alias by the first element of its first "path"; its
//     first "message" (if a string) settles that alias, over what "data" gave it (the first
//     error of an alias counts); the first error naming no alias is the answer's general
//     error.
// Every event returns true (the reader is never stopped), so parse errors are those of a DOM
// parse. Nothing but the results is allocated, except error messages.
class AnswerHandler : public rapidjson::BaseReaderHandler<rapidjson::UTF8<>, AnswerHandler> {
  using CaptureWriter = rapidjson::Writer<rapidjson::StringBuffer>;

 public:
  AnswerHandler(size_t size, const VerdictDetailsOptions& details)
      : results_(size), settled_(size, 0), details_(details) {
    if (details.judgements > 0) judgements_text_.resize(size);
  }

  bool Null() {
    if (Captured([&](CaptureWriter& w) { w.Null(); }, 0)) return true;
    if (verdict_depth_ > 0) return verdict_.Null();
    return Begin(Token::kNull);
  }
  bool Bool(bool b) {
    if (Captured([&](CaptureWriter& w) { w.Bool(b); }, 0)) return true;
    if (verdict_depth_ > 0) return verdict_.Bool(b);
    return Begin(Token::kScalar);
  }
  bool Int(int i) {
    if (Captured([&](CaptureWriter& w) { w.Int(i); }, 0)) return true;
    if (verdict_depth_ > 0) return verdict_.Int(i);
    return Begin(Token::kScalar);
  }
  bool Uint(unsigned u) {
    if (Captured([&](CaptureWriter& w) { w.Uint(u); }, 0)) return true;
    if (verdict_depth_ > 0) return verdict_.Uint(u);
    return Begin(Token::kScalar);
  }
  bool Int64(int64_t i) {
    if (Captured([&](CaptureWriter& w) { w.Int64(i); }, 0)) return true;
    if (verdict_depth_ > 0) return verdict_.Int64(i);
    return Begin(Token::kScalar);
  }
  bool Uint64(uint64_t u) {
    if (Captured([&](CaptureWriter& w) { w.Uint64(u); }, 0)) return true;
    if (verdict_depth_ > 0) return verdict_.Uint64(u);
    return Begin(Token::kScalar);
  }
  bool Double(double d) {
    if (Captured([&](CaptureWriter& w) { w.Double(d); }, 0)) return true;
    if (verdict_depth_ > 0) return verdict_.Double(d);
    return Begin(Token::kScalar);
  }
  bool String(const char* text, rapidjson::SizeType length, bool copy) {
    if (Captured([&](CaptureWriter& w) { w.String(text, length, true); }, 0)) return true;
    if (verdict_depth_ > 0) return verdict_.String(text, length, copy);
    return Begin(Token::kString, absl::string_view(text, length));
  }
  bool StartObject() {
    if (Captured([](CaptureWriter& w) { w.StartObject(); }, 1)) return true;
    if (verdict_depth_ > 0) {
      ++verdict_depth_;
      return verdict_.StartObject();
    }
    return Begin(Token::kObject);
  }
  bool StartArray() {
    if (Captured([](CaptureWriter& w) { w.StartArray(); }, 1)) return true;
    if (verdict_depth_ > 0) {
      ++verdict_depth_;
      return verdict_.StartArray();
    }
    return Begin(Token::kArray);
  }
  bool EndObject(rapidjson::SizeType members) {
    if (Captured([&](CaptureWriter& w) { w.EndObject(members); }, -1)) return true;
    if (verdict_depth_ > 0) {
      verdict_.EndObject(members);
      if (--verdict_depth_ == 0) SettleVerdict();
      return true;
    }
    return End();
  }
  bool EndArray(rapidjson::SizeType elements) {
    if (Captured([&](CaptureWriter& w) { w.EndArray(elements); }, -1)) return true;
    if (verdict_depth_ > 0) {
      --verdict_depth_;
      return verdict_.EndArray(elements);
    }
    return End();
  }
  bool Key(const char* text, rapidjson::SizeType length, bool copy) {
    const absl::string_view key(text, length);
    if (capture_ != Capture::kNone) {
      capture_writer_->writer.Key(text, length, true);
      return true;
    }
    if (verdict_depth_ > 0) {
      if (verdict_depth_ == 1 && details_.judgement && !judgement_named_ && key == "judgement") {
        judgement_named_ = true;
        pending_capture_ = Capture::kJudgement;
        return true;
      }
      return verdict_.Key(text, length, copy);
    }
    if (skip_ > 0) return true;
    role_ = Role::kNone;
    switch (Top()) {
      case Role::kRoot:
        if (key == "data" && !data_named_) {
          data_named_ = true;
          role_ = Role::kData;
        } else if (key == "errors" && !errors_named_) {
          errors_named_ = true;
          role_ = Role::kErrors;
        }
        break;
      case Role::kData:
        if (std::optional<size_t> index = AliasIndex(key, results_.size());
            index.has_value() && (settled_[*index] & kByData) == 0) {
          alias_ = *index;
          role_ = Role::kAlias;
        }
        break;
      case Role::kAlias:
        if (key == "verdict" && !verdict_named_) {
          verdict_named_ = true;
          role_ = Role::kVerdict;
        } else if (key == "judgements" && details_.judgements > 0 && !judgements_named_) {
          judgements_named_ = true;
          pending_capture_ = Capture::kJudgements;
        }
        break;
      case Role::kError:
        if (key == "message" && !message_named_) {
          message_named_ = true;
          role_ = Role::kMessage;
        } else if (key == "path" && !path_named_) {
          path_named_ = true;
          role_ = Role::kPath;
        }
        break;
      default:
        break;
    }
    return true;
  }

  bool has_data() const { return has_data_; }
  bool has_errors() const { return has_errors_; }

  // The results, in batch order; call once, after the answer's last event.
  std::vector<absl::StatusOr<schema::VerdictResult>> Results() && {
    for (size_t i = 0; i < judgements_text_.size(); ++i) AttachJudgements(i);
    for (auto& [index, message] : alias_errors_) {
      if ((settled_[index] & kByError) != 0) continue;  // the alias's first error counts
      settled_[index] |= kByError;
      results_[index] = absl::UnavailableError(
          absl::StrCat("graphql error for ", VerdictAlias(index), ": ", message));
    }
    for (size_t i = 0; i < results_.size(); ++i) {
      if (settled_[i] != 0) continue;
      results_[i] = absl::UnavailableError(
          absl::StrCat("graphql answer has no verdict for ", VerdictAlias(i),
                       general_error_.empty() ? "" : ": ", general_error_));
    }
    return std::move(results_);
  }

 private:
  enum class Token { kNull, kString, kScalar, kObject, kArray };
  // What a value (or the container it opens) is to the answer.
  enum class Role {
    kNone,     // nothing: read past
    kRoot,     // the answer
    kData,     // the first "data"
    kErrors,   // the first "errors"
    kAlias,    // a member "o<i>" of data, slot alias_ not yet settled by data
    kVerdict,  // the first "verdict" of that alias
    kError,    // an entry of errors
    kMessage,  // its first "message"
    kPath,     // its first "path"
    kPathHead, // the path's first element
  };
  static constexpr uint8_t kByData = 1;
  static constexpr uint8_t kByError = 2;
  // Containers of a role nest at most this deep: root, errors, an error, its path.
  static constexpr int kMaxFrames = 4;

  Role Top() const { return frames_ == 0 ? Role::kNone : frame_[frames_ - 1]; }

  bool Push(Role role) {
    assert(frames_ < kMaxFrames);  // roles nest as the enum says, never deeper
    frame_[frames_++] = role;
    return true;
  }

  // A value starts outside any verdict: decide what it is from the key or array before it.
  bool Begin(Token token, absl::string_view text = {}) {
    const bool container = token == Token::kObject || token == Token::kArray;
    if (skip_ > 0) {
      if (container) ++skip_;
      return true;
    }
    Role role = std::exchange(role_, Role::kNone);
    if (frames_ == 0) {
      role = Role::kRoot;
    } else if (Top() == Role::kErrors) {
      role = Role::kError;
    } else if (Top() == Role::kPath) {
      role = path_elements_++ == 0 ? Role::kPathHead : Role::kNone;
    }
    switch (role) {
      case Role::kRoot:
        if (token == Token::kObject) return Push(Role::kRoot);
        break;
      case Role::kData:
        if (token == Token::kObject) {
          has_data_ = true;
          return Push(Role::kData);
        }
        break;
      case Role::kErrors:
        if (token == Token::kArray) {
          has_errors_ = true;
          return Push(Role::kErrors);
        }
        break;
      case Role::kAlias:
        if (token == Token::kObject) {
          verdict_named_ = false;
          judgements_named_ = false;
          return Push(Role::kAlias);
        }
        break;
      case Role::kVerdict:
        if (token == Token::kObject) {
          verdict_ = VerdictHandler();
          judgement_named_ = false;
          judgement_text_.clear();
          verdict_.StartObject();
          verdict_depth_ = 1;
          return true;
        }
        if (token == Token::kNull) {
          Settle(schema::VerdictResult(schema::NoVerdict{}));
        } else {
          // What the REST decoder says of a body that is not an object.
          Settle(absl::UnavailableError(absl::StrCat("graphql answer for ", VerdictAlias(alias_),
                                                     ": malformed verdict body: not a JSON object")));
        }
        break;
      case Role::kError:
        if (token == Token::kObject) {
          message_ = "unknown error";
          message_named_ = path_named_ = false;
          error_alias_.reset();
          return Push(Role::kError);
        }
        AddError(std::nullopt, "unknown error");
        break;
      case Role::kMessage:
        if (token == Token::kString) message_.assign(text.data(), text.size());
        break;
      case Role::kPath:
        if (token == Token::kArray) {
          path_elements_ = 0;
          return Push(Role::kPath);
        }
        break;
      case Role::kPathHead:
        if (token == Token::kString) error_alias_ = AliasIndex(text, results_.size());
        break;
      case Role::kNone:
        break;
    }
    if (container) skip_ = 1;  // a container of no role: read past it
    return true;
  }

  bool End() {
    if (skip_ > 0) {
      --skip_;
      return true;
    }
    assert(frames_ > 0);  // the reader balances containers
    if (frame_[--frames_] == Role::kError) AddError(error_alias_, message_);
    return true;
  }

  void AddError(std::optional<size_t> index, absl::string_view message) {
    if (index.has_value()) {
      alias_errors_.emplace_back(*index, std::string(message));
    } else if (general_error_.empty()) {
      general_error_ = std::string(message);
    }
  }

  void Settle(absl::StatusOr<schema::VerdictResult> result) {
    settled_[alias_] |= kByData;
    if ((settled_[alias_] & kByError) == 0) results_[alias_] = std::move(result);
  }

  void SettleVerdict() {
    absl::StatusOr<schema::VerdictResult> v = verdict_.Verdict();
    if (v.ok() && judgement_named_) {
      absl::StatusOr<std::optional<schema::JudgementDetails>> details =
          DecodeGraphqlJudgement(judgement_text_);
      if (details.ok()) {
        std::get<schema::Verdict>(*v).judgement = *std::move(details);
      } else {
        v = details.status();
      }
    }
    if (v.ok()) return Settle(*std::move(v));
    Settle(absl::UnavailableError(
        absl::StrCat("graphql answer for ", VerdictAlias(alias_), ": ", v.status().message())));
  }

  // Puts the judgements read for slot `i` into its verdict (a verdict only: NoVerdict has no
  // place for them; nor has an error).
  void AttachJudgements(size_t i) {
    if (!judgements_text_[i].has_value() || !results_[i].ok()) return;
    auto* verdict = std::get_if<schema::Verdict>(&*results_[i]);
    if (verdict == nullptr) return;
    absl::StatusOr<std::vector<schema::JudgementBrief>> briefs =
        DecodeGraphqlJudgements(*judgements_text_[i]);
    if (briefs.ok()) {
      verdict->judgements = *std::move(briefs);
    } else {
      results_[i] = absl::UnavailableError(absl::StrCat(
          "graphql answer for ", VerdictAlias(i), ": ", briefs.status().message()));
    }
  }

  // A value event while a `judgement` or `judgements` value is captured (or about to be, the
  // key just read named one): written as JSON text for verdict_details.h to decode. True when
  // the event was taken; `depth` is +1 for a container's start, -1 for its end.
  template <class Write>
  bool Captured(Write write, int depth) {
    if (capture_ == Capture::kNone) {
      if (pending_capture_ == Capture::kNone) return false;
      capture_ = std::exchange(pending_capture_, Capture::kNone);
      if (capture_writer_ == nullptr) capture_writer_ = std::make_unique<CaptureText>();
      capture_writer_->buffer.Clear();
      capture_writer_->writer.Reset(capture_writer_->buffer);
      capture_depth_ = 0;
    }
    write(capture_writer_->writer);
    capture_depth_ += depth;
    if (capture_depth_ > 0) return true;
    std::string text(capture_writer_->buffer.GetString(), capture_writer_->buffer.GetSize());
    if (capture_ == Capture::kJudgement) {
      judgement_text_ = std::move(text);
    } else if (!judgements_text_[alias_].has_value()) {
      judgements_text_[alias_] = std::move(text);
    }
    capture_ = Capture::kNone;
    return true;
  }

  std::vector<absl::StatusOr<schema::VerdictResult>> results_;
  std::vector<uint8_t> settled_;  // kByData | kByError per slot
  std::vector<std::pair<size_t, std::string>> alias_errors_;  // in answer order
  std::string general_error_;
  bool has_data_ = false, has_errors_ = false;
  bool data_named_ = false, errors_named_ = false;  // a root member of that name was seen

  Role frame_[kMaxFrames] = {};  // the containers of a role open, outermost first
  int frames_ = 0;
  int skip_ = 0;            // containers of no role open inside the innermost frame
  Role role_ = Role::kNone;  // of the value after the key just read
  size_t alias_ = 0;         // the slot of the alias object open
  bool verdict_named_ = false;
  VerdictHandler verdict_;   // the verdict being read
  int verdict_depth_ = 0;    // its containers open
  // Details (verdict_details.h): the values of `judgement` (in the verdict open) and of each
  // alias's `judgements`, captured as JSON text.
  enum class Capture { kNone, kJudgement, kJudgements };
  struct CaptureText {
    rapidjson::StringBuffer buffer;
    CaptureWriter writer{buffer};
  };
  VerdictDetailsOptions details_;
  Capture pending_capture_ = Capture::kNone;  // the value after the key just read
  Capture capture_ = Capture::kNone;          // the value being captured
  int capture_depth_ = 0;                     // its containers open
  std::unique_ptr<CaptureText> capture_writer_;
  bool judgement_named_ = false;   // the verdict open had a `judgement` member
  std::string judgement_text_;
  bool judgements_named_ = false;  // the alias open had a `judgements` member
  std::vector<std::optional<std::string>> judgements_text_;  // per slot
  std::string message_;      // of the error entry open
  bool message_named_ = false, path_named_ = false;
  std::optional<size_t> error_alias_;
  size_t path_elements_ = 0;
};

}  // namespace

std::string VerdictAlias(size_t index) { return absl::StrCat("o", index); }

std::string BuildVerdictsRequest(const std::vector<schema::Observable>& batch,
                                 const VerdictDetailsOptions& details) {
  // Everything before the variables depends on the batch size only: written once per thread
  // for the size last asked for (a run asks full batches of one size).
  thread_local size_t prefix_size = 0;
  thread_local VerdictDetailsOptions prefix_details;
  thread_local std::string prefix;
  if (prefix_size != batch.size() || prefix.empty() ||
      prefix_details.judgement != details.judgement ||
      prefix_details.judgements != details.judgements) {
    const std::string selection = ObservableSelection(details);
    prefix = R"({"query":"query Verdicts()";
    for (size_t i = 0; i < batch.size(); ++i) {
      if (i != 0) prefix += ',';
      prefix += "$t";
      AppendNumber(prefix, i);
      prefix += ":String!,$v";
      AppendNumber(prefix, i);
      prefix += ":String!";
    }
    prefix += "){";
    for (size_t i = 0; i < batch.size(); ++i) {
      if (i != 0) prefix += ' ';
      prefix += 'o';
      AppendNumber(prefix, i);
      prefix += ":observable(type:$t";
      AppendNumber(prefix, i);
      prefix += ",value:$v";
      AppendNumber(prefix, i);
      prefix += ')';
      prefix += selection;
    }
    // The query holds no character JSON escapes.
    prefix += R"(}","variables":{)";
    prefix_size = batch.size();
    prefix_details = details;
  }
  size_t values = 0;
  for (const schema::Observable& o : batch) values += o.type.size() + o.value.size();
  std::string body;
  body.reserve(prefix.size() + batch.size() * 24 + values + values / 8 + 2);
  body += prefix;
  for (size_t i = 0; i < batch.size(); ++i) {
    body += i == 0 ? "\"t" : ",\"t";
    AppendNumber(body, i);
    body += "\":";
    schema::AppendJsonString(body, batch[i].type);
    body += ",\"v";
    AppendNumber(body, i);
    body += "\":";
    schema::AppendJsonString(body, batch[i].value);
  }
  body += "}}";
  return body;
}

absl::StatusOr<std::vector<absl::StatusOr<schema::VerdictResult>>> DecodeVerdictsAnswer(
    absl::string_view body, size_t size, const VerdictDetailsOptions& details) {
  const absl::string_view text = absl::StripLeadingAsciiWhitespace(body);
  if (text.empty() || text.front() != '{') {
    return absl::FailedPreconditionError("the answer to /ctia/graphql is not a JSON object");
  }
  AnswerHandler handler(size, details);
  if (!PlainJsonReader<AnswerHandler>(body, handler, kMaxPlainAnswerDepth).Read()) {
    handler = AnswerHandler(size, details);  // start over with the full reader
    // One reader per thread: its stack (used for strings with escapes and nesting) is kept.
    thread_local rapidjson::Reader reader;
    rapidjson::MemoryStream memory(body.data(), body.size());
    rapidjson::EncodedInputStream<rapidjson::UTF8<>, rapidjson::MemoryStream> in(memory);
    const rapidjson::ParseResult result =
        reader.Parse<rapidjson::kParseDefaultFlags>(in, handler);
    if (result.IsError()) {
      return absl::InvalidArgumentError(
          absl::StrCat("malformed graphql answer: JSON error at offset ", result.Offset()));
    }
  }
  if (!handler.has_data() && !handler.has_errors()) {
    return absl::FailedPreconditionError(
        "the answer to /ctia/graphql has neither \"data\" nor \"errors\"");
  }
  return std::move(handler).Results();
}

}  // namespace enrich::transport::internal
