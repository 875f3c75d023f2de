#include "transport/internal/graphql_verdicts.h"

#include "transport/internal/verdict_answer.h"

#include <optional>

#include "absl/strings/ascii.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "rapidjson/document.h"
#include "rapidjson/stringbuffer.h"
#include "rapidjson/writer.h"

namespace enrich::transport::internal {
namespace {

// The verdict fields of §2.2; the answer then decodes exactly like a REST verdict body.
constexpr absl::string_view kVerdictSelection =
    "{verdict{type disposition disposition_name judgement_id observable{type value} "
    "valid_time{start_time end_time}}}";

// The batch index of alias "o<i>", or nullopt for any other key.
std::optional<size_t> AliasIndex(absl::string_view key, size_t size) {
  if (key.size() < 2 || key[0] != 'o') return std::nullopt;
  size_t index = 0;
  if (!absl::SimpleAtoi(key.substr(1), &index) || index >= size) return std::nullopt;
  if (VerdictAlias(index) != key) return std::nullopt;  // "o01", "o+1"
  return index;
}

// `v` as JSON text, in a buffer of the calling thread (valid until its next call).
absl::string_view Serialize(const rapidjson::Value& v) {
  thread_local rapidjson::StringBuffer buf;
  buf.Clear();
  rapidjson::Writer<rapidjson::StringBuffer> w(buf);
  v.Accept(w);
  return absl::string_view(buf.GetString(), buf.GetSize());
}

}  // namespace

std::string VerdictAlias(size_t index) { return absl::StrCat("o", index); }

std::string BuildVerdictsRequest(const std::vector<schema::Observable>& batch) {
  std::string query = "query Verdicts(";
  for (size_t i = 0; i < batch.size(); ++i) {
    absl::StrAppend(&query, i == 0 ? "" : ",", "$t", i, ":String!,$v", i, ":String!");
  }
  query += "){";
  for (size_t i = 0; i < batch.size(); ++i) {
    absl::StrAppend(&query, i == 0 ? "" : " ", VerdictAlias(i), ":observable(type:$t", i,
                    ",value:$v", i, ")", kVerdictSelection);
  }
  query += "}";

  rapidjson::StringBuffer buf;
  rapidjson::Writer<rapidjson::StringBuffer> w(buf);
  w.StartObject();
  w.Key("query");
  w.String(query.data(), static_cast<rapidjson::SizeType>(query.size()));
  w.Key("variables");
  w.StartObject();
  for (size_t i = 0; i < batch.size(); ++i) {
    const std::string t = absl::StrCat("t", i);
    const std::string v = absl::StrCat("v", i);
    w.Key(t.data(), static_cast<rapidjson::SizeType>(t.size()));
    w.String(batch[i].type.data(), static_cast<rapidjson::SizeType>(batch[i].type.size()));
    w.Key(v.data(), static_cast<rapidjson::SizeType>(v.size()));
    w.String(batch[i].value.data(), static_cast<rapidjson::SizeType>(batch[i].value.size()));
  }
  w.EndObject();
  w.EndObject();
  return std::string(buf.GetString(), buf.GetSize());
}

absl::StatusOr<std::vector<absl::StatusOr<schema::VerdictResult>>> DecodeVerdictsAnswer(
    absl::string_view body, size_t size) {
  const absl::string_view text = absl::StripLeadingAsciiWhitespace(body);
  if (text.empty() || text.front() != '{') {
    return absl::FailedPreconditionError("the answer to /ctia/graphql is not a JSON object");
  }
  rapidjson::Document doc;
  doc.Parse(body.data(), body.size());
  if (doc.HasParseError()) {
    return absl::InvalidArgumentError(
        absl::StrCat("malformed graphql answer: JSON error at offset ", doc.GetErrorOffset()));
  }
  auto data_it = doc.FindMember("data");
  auto errors_it = doc.FindMember("errors");
  const bool has_data = data_it != doc.MemberEnd() && data_it->value.IsObject();
  const bool has_errors = errors_it != doc.MemberEnd() && errors_it->value.IsArray();
  if (!has_data && !has_errors) {
    return absl::FailedPreconditionError(
        "the answer to /ctia/graphql has neither \"data\" nor \"errors\"");
  }

  std::vector<std::optional<absl::StatusOr<schema::VerdictResult>>> slots(size);
  // Errors first: an alias with an error settles with it even if `data` holds a null for it.
  std::string general_error;
  if (has_errors) {
    for (const rapidjson::Value& e : errors_it->value.GetArray()) {
      std::string message = "unknown error";
      if (e.IsObject()) {
        if (auto m = e.FindMember("message"); m != e.MemberEnd() && m->value.IsString()) {
          message.assign(m->value.GetString(), m->value.GetStringLength());
        }
      }
      std::optional<size_t> index;
      if (e.IsObject()) {
        auto p = e.FindMember("path");
        if (p != e.MemberEnd() && p->value.IsArray() && !p->value.Empty() &&
            p->value[0].IsString()) {
          index = AliasIndex(
              absl::string_view(p->value[0].GetString(), p->value[0].GetStringLength()), size);
        }
      }
      if (index.has_value()) {
        if (!slots[*index].has_value()) {
          slots[*index] = absl::UnavailableError(
              absl::StrCat("graphql error for ", VerdictAlias(*index), ": ", message));
        }
      } else if (general_error.empty()) {
        general_error = message;
      }
    }
  }
  if (has_data) {
    for (const auto& member : data_it->value.GetObject()) {
      std::optional<size_t> index = AliasIndex(
          absl::string_view(member.name.GetString(), member.name.GetStringLength()), size);
      if (!index.has_value() || slots[*index].has_value()) continue;
      const rapidjson::Value& observable = member.value;
      if (!observable.IsObject()) continue;  // null: its error (if any) says why
      auto verdict = observable.FindMember("verdict");
      if (verdict == observable.MemberEnd()) continue;
      if (verdict->value.IsNull()) {
        slots[*index] = schema::VerdictResult(schema::NoVerdict{});
        continue;
      }
      // The REST decoder (same results as schema::DecodeVerdict; CTIA's plain shape is read
      // without a second DOM parse).
      absl::StatusOr<schema::VerdictResult> v = DecodeVerdictAnswer(200, Serialize(verdict->value));
      if (v.ok()) {
        slots[*index] = *std::move(v);
      } else {
        slots[*index] = absl::UnavailableError(
            absl::StrCat("graphql answer for ", VerdictAlias(*index), ": ", v.status().message()));
      }
    }
  }
  std::vector<absl::StatusOr<schema::VerdictResult>> out;
  out.reserve(size);
  for (size_t i = 0; i < size; ++i) {
    if (slots[i].has_value()) {
      out.push_back(*std::move(slots[i]));
    } else {
      out.push_back(
          absl::UnavailableError(absl::StrCat("graphql answer has no verdict for ", VerdictAlias(i),
                                              general_error.empty() ? "" : ": ", general_error)));
    }
  }
  return out;
}

}  // namespace enrich::transport::internal
