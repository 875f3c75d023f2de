#include "transport/ctia_publisher.h"

#include "schema/json_codec.h"
#include "schema/path_encoding.h"
#include "transport/internal/ctia_call.h"
#include "transport/internal/json_text.h"

#include <algorithm>
#include <memory>
#include <utility>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "boost/asio/post.hpp"
#include "rapidjson/document.h"
#include "rapidjson/stringbuffer.h"
#include "rapidjson/writer.h"

namespace enrich::transport {
namespace {

namespace net = boost::asio;
using internal::JsonText;
using internal::View;

// CTIA's bulk size limit (`ctia.http.bulk.max-size`, reference/ctia-api.md §6.1).
constexpr size_t kMaxBulkEntities = 2000;

absl::StatusOr<std::vector<absl::StatusOr<std::string>>> DecodeBulkAnswer(absl::string_view body,
                                                                          size_t expected) {
  rapidjson::Document doc;
  doc.Parse(body.data(), body.size());
  if (doc.HasParseError() || !doc.IsObject()) {
    return absl::InvalidArgumentError("malformed bulk answer: not a JSON object");
  }
  auto it = doc.FindMember("judgements");
  if (it == doc.MemberEnd() || !it->value.IsArray()) {
    return absl::InvalidArgumentError("malformed bulk answer: no \"judgements\" list");
  }
  const auto& items = it->value.GetArray();
  if (items.Size() != expected) {
    return absl::InvalidArgumentError(absl::StrCat("malformed bulk answer: ", items.Size(),
                                                   " results for ", expected, " judgements"));
  }
  std::vector<absl::StatusOr<std::string>> out;
  out.reserve(expected);
  for (const rapidjson::Value& item : items) {
    if (item.IsString()) {
      out.emplace_back(std::string(View(item)));
      continue;
    }
    // §6.1: {"error": ..., "msg": ..., "type": ..., "entity": {...}}; the entity is left out.
    std::vector<std::string> parts;
    if (item.IsObject()) {
      for (const char* key : {"error", "type", "msg"}) {
        if (auto m = item.FindMember(key); m != item.MemberEnd())
          parts.push_back(JsonText(m->value));
      }
    }
    out.emplace_back(absl::InvalidArgumentError(absl::StrCat(
        "bulk item rejected: ", parts.empty() ? JsonText(item) : absl::StrJoin(parts, ": "))));
  }
  return out;
}

}  // namespace

void CtiaPublisher::BulkCreateJudgements(std::vector<schema::Judgement> judgements,
                                         BulkCallback done) {
  if (judgements.empty() || judgements.size() > kMaxBulkEntities) {
    absl::StatusOr<std::vector<absl::StatusOr<std::string>>> result;
    if (judgements.empty()) {
      result = std::vector<absl::StatusOr<std::string>>{};
    } else {
      result = absl::InvalidArgumentError(absl::StrCat(
          "bulk of ", judgements.size(), " judgements exceeds CTIA's limit of ", kMaxBulkEntities));
    }
    net::post(calls_.pool.executor(),
              [done = std::move(done), result = std::move(result)]() mutable {
                done(std::move(result));
              });
    return;
  }
  rapidjson::StringBuffer buf;
  rapidjson::Writer<rapidjson::StringBuffer> w(buf);
  w.StartObject();
  w.Key("judgements");
  w.StartArray();
  for (const schema::Judgement& j : judgements) schema::WriteJudgementJson(j, false, w);
  w.EndArray();
  w.EndObject();

  HttpRequest request;
  request.method = "POST";
  request.target = absl::StrCat(calls_.pool.origin().path, "/ctia/bulk");
  request.headers = {{"Accept", "application/json"}, {"Content-Type", "application/json"}};
  request.body.assign(buf.GetString(), buf.GetSize());
  request.idempotent = false;  // a resent bulk creates every judgement twice
  const size_t count = judgements.size();
  auto shared_done = std::make_shared<BulkCallback>(std::move(done));
  calls_.Run(
      internal::CallKind::kWrite, std::move(request), std::vector<int>{200, 201},
      [shared_done, count](const HttpResponse& response) -> absl::Status {
        auto items = DecodeBulkAnswer(response.body, count);
        if (!items.ok()) return internal::WithHttpPrefix(response.status, items.status());
        (*shared_done)(*std::move(items));
        return absl::OkStatus();
      },
      [shared_done](absl::Status status) { (*shared_done)(std::move(status)); });
}

// The pages of one Judgements() call: one Call per page, the next started from the answer of
// the previous (so one page is outstanding at a time and no lock is needed).
class CtiaPublisher::JudgementPager : public std::enable_shared_from_this<JudgementPager> {
 public:
  // With `max_items` > 0 the pager stops once it holds that many (the rest of the last page is
  // dropped, no further page is asked for).
  JudgementPager(internal::CallContext& calls, std::string path, JudgementsOptions options,
                 JudgementsCallback done, int max_items = 0)
      : calls_(calls), path_(std::move(path)), options_(options), done_(std::move(done)),
        max_items_(max_items) {}

  void Fetch(const std::string& query) {
    ++pages_;
    HttpRequest request;
    request.method = "GET";
    request.target = absl::StrCat(path_, "?", query);
    request.headers = {{"Accept", "application/json"}};
    request.idempotent = true;
    calls_.Run(
        internal::CallKind::kList, std::move(request), std::vector<int>{200},
        [self = shared_from_this(), query](const HttpResponse& response) -> absl::Status {
          return self->OnPage(query, response);
        },
        [self = shared_from_this()](absl::Status status) { self->done_(std::move(status)); });
  }

 private:
  // Decodes one page; a garbled page returns InvalidArgument and is asked again (the Call
  // retries a malformed 200). Otherwise the pager goes on or finishes; the Call is done.
  absl::Status OnPage(const std::string& query, const HttpResponse& response) {
    rapidjson::Document doc;
    doc.Parse(response.body.data(), response.body.size());
    if (doc.HasParseError() || !doc.IsArray()) {
      return absl::InvalidArgumentError("http 200: malformed judgements page: not a JSON array");
    }
    std::vector<schema::Judgement> page;
    page.reserve(doc.Size());
    for (const rapidjson::Value& item : doc.GetArray()) {
      rapidjson::StringBuffer buf;
      rapidjson::Writer<rapidjson::StringBuffer> w(buf);
      item.Accept(w);
      absl::StatusOr<schema::Judgement> j =
          schema::DecodeStoredJudgement(absl::string_view(buf.GetString(), buf.GetSize()));
      if (!j.ok()) return internal::WithHttpPrefix(200, j.status());
      page.push_back(*std::move(j));
    }
    for (schema::Judgement& j : page) judgements_.push_back(std::move(j));
    if (max_items_ > 0 && judgements_.size() >= static_cast<size_t>(max_items_)) {
      judgements_.resize(static_cast<size_t>(max_items_));
      done_(std::move(judgements_));
      return absl::OkStatus();
    }

    // §4: X-Next is the query string of the next page, to append after '?' to the same path.
    const std::string next(absl::StripAsciiWhitespace(response.Header("x-next")));
    if (next.empty()) {
      done_(std::move(judgements_));
      return absl::OkStatus();
    }
    for (char c : next) {
      if (static_cast<unsigned char>(c) <= 0x20 || c == '#' || c == 0x7f) {
        done_(absl::InvalidArgumentError("X-Next holds characters a request line cannot carry"));
        return absl::OkStatus();
      }
    }
    if (next == query || page.empty()) {
      done_(absl::InvalidArgumentError(
          absl::StrCat("the judgements list does not move on (X-Next: ", next, ")")));
      return absl::OkStatus();
    }
    if (pages_ >= options_.max_pages) {
      done_(absl::InvalidArgumentError(
          absl::StrCat("the judgements list has more than ", options_.max_pages, " pages")));
      return absl::OkStatus();
    }
    Fetch(next);
    return absl::OkStatus();
  }

  internal::CallContext& calls_;
  const std::string path_;
  const JudgementsOptions options_;
  const JudgementsCallback done_;
  const int max_items_;
  std::vector<schema::Judgement> judgements_;
  int pages_ = 0;
};

std::string CtiaPublisher::JudgementsPath(const schema::Observable& observable) const {
  return absl::StrCat(calls_.pool.origin().path, "/ctia/",
                      schema::PercentEncodePathSegment(observable.type), "/",
                      schema::PercentEncodePathSegment(observable.value), "/judgements");
}

void CtiaPublisher::Judgements(const schema::Observable& observable, JudgementsOptions options,
                               JudgementsCallback done) {
  auto pager = std::make_shared<JudgementPager>(calls_, JudgementsPath(observable), options,
                                                std::move(done));
  pager->Fetch(absl::StrCat("limit=", std::max(options.page_size, 1)));
}

void CtiaPublisher::JudgementsByExternalId(absl::string_view external_id,
                                           JudgementsOptions options, JudgementsCallback done) {
  const std::string path =
      absl::StrCat(calls_.pool.origin().path, "/ctia/judgement/external_id/",
                   schema::PercentEncodePathSegment(external_id));
  auto pager = std::make_shared<JudgementPager>(calls_, path, options, std::move(done));
  pager->Fetch(absl::StrCat("limit=", std::max(options.page_size, 1)));
}

void CtiaPublisher::FirstJudgements(const schema::Observable& observable, int n,
                                    absl::string_view sort_by, JudgementsCallback done) {
  n = std::max(n, 1);
  auto pager = std::make_shared<JudgementPager>(calls_, JudgementsPath(observable),
                                                JudgementsOptions{n, 1000}, std::move(done), n);
  pager->Fetch(absl::StrCat("limit=", n, "&sort_by=", schema::FormEncode(sort_by)));
}

void CtiaPublisher::CreateJudgement(const schema::Judgement& judgement, JudgementCallback done) {
  HttpRequest request;
  request.method = "POST";
  request.target = absl::StrCat(calls_.pool.origin().path, "/ctia/judgement");
  request.headers = {{"Accept", "application/json"}, {"Content-Type", "application/json"}};
  request.body = schema::EncodeJudgement(judgement);
  request.idempotent = false;
  auto shared_done = std::make_shared<JudgementCallback>(std::move(done));
  calls_.Run(
      internal::CallKind::kWrite, std::move(request), std::vector<int>{200, 201},
      [shared_done](const HttpResponse& response) -> absl::Status {
        absl::StatusOr<schema::Judgement> stored = schema::DecodeStoredJudgement(response.body);
        if (!stored.ok()) return internal::WithHttpPrefix(response.status, stored.status());
        (*shared_done)(*std::move(stored));
        return absl::OkStatus();
      },
      [shared_done](absl::Status status) { (*shared_done)(std::move(status)); });
}

}  // namespace enrich::transport
