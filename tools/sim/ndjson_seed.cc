// LoadJudgementsNdjson (declared in ndjson_seed.h): the --seed file of ctia-sim.

#include "tools/sim/ndjson_seed.h"

#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/functional/function_ref.h"
#include "rapidjson/document.h"
#include "rapidjson/error/en.h"
#include "schema/json_codec.h"
#include "schema/observable.h"

namespace enrich::sim {

absl::Status ForEachJudgementNdjson(const std::string& path, absl::Time now,
                                    absl::FunctionRef<void(schema::Judgement)> each) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return absl::NotFoundError(absl::StrCat(path, ": cannot open for reading"));
  std::string line;
  int64_t line_number = 0;
  while (std::getline(in, line)) {
    ++line_number;
    const absl::string_view text = absl::StripAsciiWhitespace(line);
    if (text.empty() || text[0] == '#') continue;
    auto fail = [&](absl::string_view what) {
      return absl::InvalidArgumentError(absl::StrCat(path, ":", line_number, ": ", what));
    };
    // A small judgement parses into `arena` without touching the heap; larger ones spill.
    alignas(8) char arena[16 * 1024];
    rapidjson::MemoryPoolAllocator<> pool(arena, sizeof(arena));
    rapidjson::Document doc(&pool);
    doc.Parse(text.data(), text.size());
    if (doc.HasParseError()) {
      return fail(absl::StrCat("invalid JSON: ", rapidjson::GetParseError_En(doc.GetParseError()),
                               " at column ", doc.GetErrorOffset() + 1));
    }
    schema::NewJudgementDecode d = schema::DecodeNewJudgement(doc, now);
    if (!d.ok()) {
      const schema::FieldError& e = d.errors.front();
      return fail(absl::StrCat("field \"", e.field, "\": ", e.explanation));
    }
    if (!schema::IsKnownObservableType(d.judgement.observable.type)) {
      return fail(absl::StrCat("unknown observable type \"", d.judgement.observable.type, "\""));
    }
    // Ids other than CTIA short/long judgement ids (e.g. transient ones) are replaced on store.
    d.judgement.created = now;
    each(std::move(d.judgement));
  }
  if (in.bad()) return absl::DataLossError(absl::StrCat(path, ": read error"));
  return absl::OkStatus();
}

absl::StatusOr<std::vector<schema::Judgement>> LoadJudgementsNdjson(const std::string& path,
                                                                    absl::Time now) {
  std::vector<schema::Judgement> out;
  absl::Status status =
      ForEachJudgementNdjson(path, now, [&](schema::Judgement j) { out.push_back(std::move(j)); });
  if (!status.ok()) return status;
  return out;
}

}  // namespace enrich::sim
