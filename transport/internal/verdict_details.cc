#include "transport/internal/verdict_details.h"

#include "schema/disposition.h"
#include "schema/json_codec.h"
#include "schema/path_encoding.h"
#include "transport/ctia_publisher.h"
#include "transport/internal/ctia_call.h"
#include "transport/internal/json_text.h"

#include <atomic>
#include <utility>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "rapidjson/document.h"

namespace enrich::transport::internal {
namespace {

absl::Status Malformed(absl::string_view what, absl::string_view why) {
  return absl::InvalidArgumentError(absl::StrCat("malformed ", what, ": ", why));
}

// Reads the string member `name` of `object` into `out` (absent or null: left empty).
absl::Status ReadString(const rapidjson::Value& object, const char* name, absl::string_view what,
                        std::string* out) {
  auto it = object.FindMember(name);
  if (it == object.MemberEnd() || it->value.IsNull()) return absl::OkStatus();
  if (!it->value.IsString()) {
    return Malformed(what, absl::StrCat("\"", name, "\" is not a string"));
  }
  out->assign(it->value.GetString(), it->value.GetStringLength());
  return absl::OkStatus();
}

absl::Status ParseJson(absl::string_view json, absl::string_view what, rapidjson::Document& doc) {
  doc.Parse(json.data(), json.size());
  if (doc.HasParseError()) return Malformed(what, "not JSON");
  return absl::OkStatus();
}

bool IsStopping(const absl::Status& status) {
  return absl::IsCancelled(status) || CheckpointWait(status).has_value();
}

}  // namespace

std::string GraphqlJudgementsSelection(int first) {
  return absl::StrCat(
      " judgements(first:", first,
      " orderBy:[{field:DISPOSITION direction:asc} {field:VALID_TIME_START_TIME direction:desc}])"
      "{nodes{id source disposition}}");
}

schema::JudgementDetails DetailsOf(const schema::Judgement& j) {
  schema::JudgementDetails d;
  d.source = j.source;
  d.source_uri = j.source_uri;
  d.reason = j.reason;
  d.severity = j.severity;
  d.confidence = j.confidence;
  d.tlp = j.tlp;
  d.priority = j.priority;
  return d;
}

schema::JudgementBrief BriefOf(const schema::Judgement& j) {
  return schema::JudgementBrief{j.source, j.disposition, j.id};
}

absl::StatusOr<std::optional<schema::JudgementDetails>> DecodeGraphqlJudgement(
    absl::string_view json) {
  constexpr absl::string_view kWhat = "judgement";
  rapidjson::Document doc;
  if (absl::Status s = ParseJson(json, kWhat, doc); !s.ok()) return s;
  if (doc.IsNull()) return std::optional<schema::JudgementDetails>();
  if (!doc.IsObject()) return Malformed(kWhat, "not a JSON object");
  schema::JudgementDetails d;
  for (auto [name, out] : {std::pair{"source", &d.source}, {"source_uri", &d.source_uri},
                           {"reason", &d.reason}, {"severity", &d.severity},
                           {"confidence", &d.confidence}, {"tlp", &d.tlp}}) {
    if (absl::Status s = ReadString(doc, name, kWhat, out); !s.ok()) return s;
  }
  if (auto it = doc.FindMember("priority"); it != doc.MemberEnd() && !it->value.IsNull()) {
    if (!it->value.IsInt64()) return Malformed(kWhat, "\"priority\" is not an integer");
    d.priority = it->value.GetInt64();
  }
  return std::optional<schema::JudgementDetails>(std::move(d));
}

absl::StatusOr<std::vector<schema::JudgementBrief>> DecodeGraphqlJudgements(
    absl::string_view json) {
  constexpr absl::string_view kWhat = "judgements";
  rapidjson::Document doc;
  if (absl::Status s = ParseJson(json, kWhat, doc); !s.ok()) return s;
  std::vector<schema::JudgementBrief> out;
  if (doc.IsNull()) return out;
  if (!doc.IsObject()) return Malformed(kWhat, "not a JSON object");
  auto nodes = doc.FindMember("nodes");
  const bool by_edges = nodes == doc.MemberEnd() || nodes->value.IsNull();
  auto list = by_edges ? doc.FindMember("edges") : nodes;
  if (list == doc.MemberEnd() || list->value.IsNull()) return out;
  if (!list->value.IsArray()) {
    return Malformed(kWhat, absl::StrCat("\"", by_edges ? "edges" : "nodes", "\" is not a list"));
  }
  for (rapidjson::SizeType i = 0; i < list->value.Size(); ++i) {
    const rapidjson::Value* node = &list->value[i];
    if (by_edges && node->IsObject()) {
      auto n = node->FindMember("node");
      node = n == node->MemberEnd() ? nullptr : &n->value;
    }
    const std::string entry = absl::StrCat(kWhat, "[", i, "]");
    if (node == nullptr || !node->IsObject()) return Malformed(entry, "not a JSON object");
    schema::JudgementBrief b;
    if (absl::Status s = ReadString(*node, "id", entry, &b.id); !s.ok()) return s;
    if (absl::Status s = ReadString(*node, "source", entry, &b.source); !s.ok()) return s;
    auto d = node->FindMember("disposition");
    if (d == node->MemberEnd() || !d->value.IsInt()) {
      return Malformed(entry, "\"disposition\" is not an integer");
    }
    const std::optional<schema::Disposition> disposition =
        schema::DispositionFromNumber(d->value.GetInt());
    if (!disposition.has_value()) {
      return Malformed(entry, absl::StrCat("\"disposition\" ", d->value.GetInt(),
                                           " is outside 1..5"));
    }
    b.disposition = *disposition;
    out.push_back(std::move(b));
  }
  return out;
}

// ---- VerdictDetailsFetcher --------------------------------------------------------------------

// One distinct judgement id: in flight (waiters) or settled (result).
struct VerdictDetailsFetcher::Entry {
  bool settled = false;
  DetailsResult result = std::optional<schema::JudgementDetails>();
  std::vector<DetailsCallback> waiters;
};

// The parts of one verdict's details, delivered once all are in.
struct VerdictDetailsFetcher::Gather {
  Gather(schema::Verdict v, int parts, VerdictSource::Callback cb)
      : verdict(std::move(v)), remaining(parts), done(std::move(cb)) {}
  void Part(absl::Status status) {
    if (!status.ok()) {
      absl::MutexLock lock(&mu);
      if (error.ok()) error = std::move(status);
    }
    if (remaining.fetch_sub(1, std::memory_order_acq_rel) != 1) return;
    if (!error.ok()) return done(error);
    done(schema::VerdictResult(std::move(verdict)));
  }
  schema::Verdict verdict;  // each part writes its own field
  absl::Mutex mu;
  absl::Status error ABSL_GUARDED_BY(mu);
  std::atomic<int> remaining;
  VerdictSource::Callback done;
};

VerdictDetailsFetcher::VerdictDetailsFetcher(CallContext& calls, CtiaPublisher& publisher,
                                             VerdictDetailsOptions options)
    : calls_(calls), publisher_(publisher), options_(options) {}

VerdictDetailsFetcher::~VerdictDetailsFetcher() = default;

void VerdictDetailsFetcher::Complete(const schema::Observable& observable,
                                     absl::StatusOr<schema::VerdictResult> result,
                                     VerdictSource::Callback done) {
  if (!result.ok() || !std::holds_alternative<schema::Verdict>(*result)) {
    return done(std::move(result));
  }
  schema::Verdict& verdict = std::get<schema::Verdict>(*result);
  const bool judgement = options_.judgement && !verdict.judgement_id.empty();
  const bool list = options_.judgements > 0;
  if (!judgement && !list) return done(std::move(result));
  const std::string judgement_id = verdict.judgement_id;
  auto gather = std::make_shared<Gather>(std::move(verdict), int{judgement} + int{list},
                                         std::move(done));
  if (judgement) {
    Details(judgement_id, [gather](const DetailsResult& details) {
      if (!details.ok()) return gather->Part(details.status());
      gather->verdict.judgement = *details;
      gather->Part(absl::OkStatus());
    });
  }
  if (list) {
    publisher_.FirstJudgements(
        observable, options_.judgements, kJudgementsSortBy,
        [gather](absl::StatusOr<std::vector<schema::Judgement>> judgements) {
          if (!judgements.ok()) {
            return gather->Part(absl::Status(
                judgements.status().code(),
                absl::StrCat("judgements list: ", judgements.status().message())));
          }
          for (const schema::Judgement& j : *judgements) {
            gather->verdict.judgements.push_back(BriefOf(j));
          }
          gather->Part(absl::OkStatus());
        });
  }
}

void VerdictDetailsFetcher::Details(absl::string_view judgement_id, DetailsCallback done) {
  const std::string short_id(ShortJudgementId(judgement_id));
  std::optional<DetailsResult> cached;
  {
    absl::MutexLock lock(&mu_);
    std::shared_ptr<Entry>& entry = cache_[short_id];
    if (entry != nullptr && entry->settled) {
      cached = entry->result;
    } else if (entry != nullptr) {
      entry->waiters.push_back(std::move(done));
      return;  // the request in flight answers it
    } else {
      entry = std::make_shared<Entry>();
      entry->waiters.push_back(std::move(done));
    }
  }
  if (cached.has_value()) return done(*cached);
  HttpRequest request;
  request.method = "GET";
  request.target = absl::StrCat(calls_.pool.origin().path, "/ctia/judgement/",
                                schema::PercentEncodePathSegment(short_id));
  request.headers = {{"Accept", "application/json"}};
  request.idempotent = true;
  calls_.Run(
      CallKind::kJudgementRead, std::move(request), std::vector<int>{200},
      [this, short_id](const HttpResponse& response) -> absl::Status {
        absl::StatusOr<schema::Judgement> j = schema::DecodeStoredJudgement(response.body);
        if (!j.ok()) {
          return WithHttpPrefix(response.status,
                                absl::InvalidArgumentError(absl::StrCat(
                                    "malformed judgement ", short_id, ": ", j.status().message())));
        }
        Settle(short_id, std::optional<schema::JudgementDetails>(DetailsOf(*j)));
        return absl::OkStatus();
      },
      [this, short_id](absl::Status status) { Settle(short_id, std::move(status)); });
}

void VerdictDetailsFetcher::Settle(const std::string& short_id, DetailsResult result) {
  std::vector<DetailsCallback> waiters;
  std::string notice;
  {
    absl::MutexLock lock(&mu_);
    auto it = cache_.find(short_id);
    if (it == cache_.end()) return;  // not possible: only the one request settles an entry
    waiters = std::move(it->second->waiters);
    if (!result.ok() && IsStopping(result.status())) {
      cache_.erase(it);  // asked again by a later lookup (a resumed run)
    } else {
      if (!result.ok()) {
        calls_.counters.judgement_read_failures.fetch_add(1, std::memory_order_relaxed);
        if (!failure_noticed_) {
          failure_noticed_ = true;
          notice = absl::StrCat("ctia-enrich: the judgement ", short_id,
                                " behind a verdict could not be read (", result.status().message(),
                                "): its details stay empty (judgement_read_failures counts them)");
        }
        result = std::optional<schema::JudgementDetails>();
      }
      it->second->settled = true;
      it->second->result = result;
    }
  }
  if (!notice.empty()) calls_.Notice(notice);
  for (DetailsCallback& w : waiters) w(result);
}

}  // namespace enrich::transport::internal
