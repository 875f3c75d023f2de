#ifndef ENRICH_SCHEMA_VERDICT_H_
#define ENRICH_SCHEMA_VERDICT_H_

// A CTIA verdict (the answer to one lookup) or "no verdict" (CTIA's 404, an expected value):
// what the transport returns, the engine caches (engine/verdict_table.h) and writes out, and
// ctia-sim computes. Part of schema, the vocabulary layer; plain values, no I/O.

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <variant>
#include <vector>

#include "schema/disposition.h"
#include "schema/judgement.h"
#include "schema/observable.h"

namespace enrich::schema {

// What a run may ask beyond the verdict's six keys (ctia-enrich run --fields, --judgements):
// the deciding judgement's details and the first judgements stored on the observable. A source
// fills them only when configured to (transport::CtiaClientOptions::details); the engine writes
// them as the ctia_<field> columns.
struct JudgementDetails {
  std::string source;
  std::string source_uri;
  std::string reason;
  std::string severity;
  std::string confidence;
  std::string tlp;
  int64_t priority = 0;
};

// One judgement of an observable's list (--judgements N): its source and disposition.
struct JudgementBrief {
  std::string source;
  Disposition disposition = Disposition::kUnknown;
  std::string id;
};

// The body of a 200 from `GET /ctia/{type}/{value}/verdict`: exactly six keys
// (reference/ctia-api.md §2.2). `observable` is the *stored* observable of the winning
// judgement, in its stored case; key results by the request, never by this field (§1.2).
struct Verdict {
  Disposition disposition = Disposition::kUnknown;
  // Always DispositionName(disposition); kept because CTIA sends it.
  std::string disposition_name;
  Observable observable;
  std::string judgement_id;
  ValidTime valid_time;
  // Filled only when the source was asked for them (see JudgementDetails); otherwise empty.
  std::optional<JudgementDetails> judgement;  // the judgement `judgement_id` names
  std::vector<JudgementBrief> judgements;      // the first N of the observable's judgements
  // Looked up in both Private-Intel and Global-Intel (run --intel both): the intel whose verdict
  // this is, "private" or "global" (the ctia_intel column); empty for a single intel.
  std::string intel;
  // --merge both: the other intel's verdict, null when it had none. Both having none is
  // NoVerdict; only one having one is that verdict with `other` null.
  std::shared_ptr<const Verdict> other;
};

// CTIA's 404 "no verdict currently available for the supplied observable" (§2.3): an expected
// outcome, not an error (STYLE rule 8).
struct NoVerdict {};

using VerdictResult = std::variant<Verdict, NoVerdict>;

// The verdict CTIA builds from its winning judgement (`make-verdict`).
Verdict VerdictFromJudgement(const Judgement& j);

}  // namespace enrich::schema

#endif  // ENRICH_SCHEMA_VERDICT_H_
