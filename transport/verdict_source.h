#ifndef ENRICH_TRANSPORT_VERDICT_SOURCE_H_
#define ENRICH_TRANSPORT_VERDICT_SOURCE_H_

#include <functional>

#include "absl/status/statusor.h"
#include "schema/observable.h"
#include "schema/verdict.h"

namespace enrich::transport {

// Where the engine gets verdicts from. The real one is BeastCtiaClient; tests use fakes.
class VerdictSource {
 public:
  virtual ~VerdictSource() = default;
  using Callback = std::function<void(absl::StatusOr<schema::VerdictResult>)>;
  // Looks up the verdict of `observable`, sent exactly as given. Calls `done` exactly once, from
  // any thread (possibly inline), with a Verdict, NoVerdict, or the final error after the
  // source's own retries. Thread-safe.
  virtual void LookupVerdict(const schema::Observable& observable, Callback done) = 0;
};

}  // namespace enrich::transport

#endif  // ENRICH_TRANSPORT_VERDICT_SOURCE_H_
