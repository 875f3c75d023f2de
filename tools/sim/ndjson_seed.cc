// LoadJudgementsNdjson (declared in sim_server.h): the --seed file of ctia-sim.

#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "rapidjson/document.h"
#include "rapidjson/error/en.h"
#include "schema/json_codec.h"
#include "schema/observable.h"
#include "tools/sim/sim_server.h"

namespace enrich::sim {

absl::StatusOr<std::vector<schema::Judgement>> LoadJudgementsNdjson(const std::string& path,
                                                                    absl::Time now) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return absl::NotFoundError(absl::StrCat(path, ": cannot open for reading"));
  std::vector<schema::Judgement> out;
  std::string line;
  int line_number = 0;
  while (std::getline(in, line)) {
    ++line_number;
    const absl::string_view text = absl::StripAsciiWhitespace(line);
    if (text.empty() || text[0] == '#') continue;
    auto fail = [&](absl::string_view what) {
      return absl::InvalidArgumentError(absl::StrCat(path, ":", line_number, ": ", what));
    };
    rapidjson::Document doc;
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
    out.push_back(std::move(d.judgement));
  }
  if (in.bad()) return absl::DataLossError(absl::StrCat(path, ": read error"));
  return out;
}

}  // namespace enrich::sim
