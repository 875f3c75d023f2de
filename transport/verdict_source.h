#ifndef ENRICH_TRANSPORT_VERDICT_SOURCE_H_
#define ENRICH_TRANSPORT_VERDICT_SOURCE_H_

// The interface the engine gets verdicts through (BeastCtiaClient in the product, fakes in
// tests), and the checkpoint signal a source uses to stop a run cleanly.

#include <cstddef>
#include <functional>
#include <optional>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/cord.h"
#include "absl/types/optional.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/time/time.h"
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
  // Stops sending: every lookup not yet on the wire (waiting for a connection slot, a budget
  // wait, a retry backoff, a token, a batch to fill) and every later one finishes at once with
  // Cancelled, an outcome that says nothing of the observable (not journaled: a resumed run
  // asks again). Lookups on the wire may still answer. Idempotent; thread-safe; callbacks may
  // run inline. The engine calls it when a run stops. The default does nothing (a source with
  // nothing waiting).
  virtual void StopSending() {}
  // The caller adds no lookup until one it asked for is answered (a run whose chunks all wait
  // for their lookups, none on the wire): a source collecting lookups into batches sends the
  // batch it holds now rather than after its linger. A run's batches then depend on its input
  // alone, not on timing, so `ctia-enrich plan` can count its requests. Thread-safe. The
  // default does nothing.
  virtual void FlushBatch() {}
  // Lookups asked for and held unsent in the batch being collected (0 for a source that does
  // not batch). Thread-safe.
  virtual size_t Collecting() const { return 0; }

  // The caller's input has ended: it asks for no lookup beyond those it has asked for (a run's
  // reader reached the end of its input, or of its shard). A source that shares the work with
  // other processes may then give its last partial batch to one that still runs, rather than
  // send it (SharedVerdictSource). Called once, before the run's last FlushBatch calls.
  // Thread-safe. The default does nothing.
  virtual void InputEnded() {}

  // A lookup held unsent, with the callback it was asked with.
  struct HeldLookup {
    schema::Observable observable;
    Callback done;
  };
  // Takes the batch being collected back, unsent (its linger cancelled): the caller now owns
  // the lookups and their callbacks (to send them with others', or to ask this source again).
  // Thread-safe. The default takes none (a source that does not batch).
  virtual std::vector<HeldLookup> TakeCollected() { return {}; }
};

// "Checkpoint and exit": the source would have to wait longer than the configured maximum
// (e.g. a 429 with Retry-After: 3557). Not a lost lookup: the engine stops cleanly with exit
// code 75 and a resumable state, and says when to resume. Carried as ResourceExhausted with a
// payload holding the wait in whole seconds.
inline constexpr absl::string_view kCheckpointPayloadUrl = "ctia-enrich/checkpoint-after-seconds";

inline absl::Status CheckpointSignal(absl::Duration wait, absl::string_view why) {
  absl::Status s = absl::ResourceExhaustedError(
      absl::StrCat("checkpoint: ", why, "; resume after ", absl::FormatDuration(wait)));
  s.SetPayload(kCheckpointPayloadUrl,
               absl::Cord(absl::StrCat(absl::ToInt64Seconds(absl::Ceil(wait, absl::Seconds(1))))));
  return s;
}

// The wait of a CheckpointSignal, or nullopt for any other status.
inline std::optional<absl::Duration> CheckpointWait(const absl::Status& s) {
  absl::optional<absl::Cord> payload = s.GetPayload(kCheckpointPayloadUrl);
  if (!payload.has_value()) return std::nullopt;
  int64_t seconds = 0;
  if (!absl::SimpleAtoi(std::string(*payload), &seconds)) return std::nullopt;
  return absl::Seconds(seconds);
}

}  // namespace enrich::transport

#endif  // ENRICH_TRANSPORT_VERDICT_SOURCE_H_
