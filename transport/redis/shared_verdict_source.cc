#include "transport/redis/shared_verdict_source.h"

#include <algorithm>
#include <utility>

#include "absl/cleanup/cleanup.h"

#include "absl/strings/str_cat.h"

namespace enrich::transport {

SharedVerdictSource::SharedVerdictSource(VerdictSource& inner, SharedLookups& lookups,
                                         SharedVerdictSourceOptions options)
    : inner_(inner), lookups_(lookups), options_(std::move(options)) {}

void SharedVerdictSource::LookupVerdict(const schema::Observable& observable, Callback done) {
  SharedLookupKey key{options_.endpoint, options_.intel, observable.type, observable.value};
  // A new lookup means the caller is not stuck: it asks for a flush again when it is.
  flush_pending_.store(false);
  ++staged_;
  lookups_.Claim(key, [this, observable, key, done = std::move(done)](
                          absl::StatusOr<SharedClaim> claim) mutable {
    OnClaim(observable, key, std::move(claim), std::move(done));
  });
}

void SharedVerdictSource::OnClaim(const schema::Observable& observable,
                                  const SharedLookupKey& key, absl::StatusOr<SharedClaim> claim,
                                  Callback done) {
  if (!claim.ok()) return AskAlone(observable, claim.status(), std::move(done));
  MarkBack();
  switch (claim->kind) {
    case SharedClaim::Kind::kCached:
      ++counters_.shared;
      Unstage();
      return done(std::move(*claim->cached));
    case SharedClaim::Kind::kLeased:
      return AskUnderLease(observable, key, std::move(done));
    case SharedClaim::Kind::kHeld:
      lookups_.AwaitAnswer(key, [this, observable, key, done = std::move(done)](
                                    absl::StatusOr<SharedClaim> answer) mutable {
        if (answer.ok() && answer->kind == SharedClaim::Kind::kHeld) {
          answer = absl::InternalError("shared lookups: a wait ended while the lease is held");
        }
        OnClaim(observable, key, std::move(answer), std::move(done));
      });
      return;
  }
}

void SharedVerdictSource::AskUnderLease(const schema::Observable& observable,
                                        const SharedLookupKey& key, Callback done) {
  ++counters_.asked;
  absl::Cleanup unstage = [this] { Unstage(); };
  inner_.LookupVerdict(observable, [this, key, done = std::move(done)](
                                       absl::StatusOr<schema::VerdictResult> result) {
    // Shared, or the lease freed for a waiter, without waiting for Redis: the run goes on with
    // the answer at once; a failed write only costs another worker a lookup.
    if (result.ok()) {
      lookups_.Settle(key, *result, lookups_.TtlFor(*result, options_.negative_ttl),
                      [](absl::Status) {});
    } else {
      lookups_.Release(key, [](absl::Status) {});
    }
    done(std::move(result));
  });
}

void SharedVerdictSource::AskAlone(const schema::Observable& observable, const absl::Status& why,
                                   Callback done) {
  ++counters_.alone;
  if (IsRedisUnavailable(why) && !alone_.exchange(true) && options_.notice) {
    options_.notice(absl::StrCat("shared cache unavailable, looking up alone: ", why.message()));
  }
  inner_.LookupVerdict(observable, std::move(done));
  Unstage();
}

void SharedVerdictSource::Unstage() {
  if (--staged_ == 0 && flush_pending_.exchange(false)) inner_.FlushBatch();
}

void SharedVerdictSource::FlushBatch() {
  if (staged_.load() > 0) flush_pending_.store(true);
  inner_.FlushBatch();
  // The last staged lookup may have left between the two lines above.
  if (staged_.load() == 0 && flush_pending_.exchange(false)) inner_.FlushBatch();
}

size_t SharedVerdictSource::Collecting() const {
  return inner_.Collecting() + static_cast<size_t>(std::max<int64_t>(0, staged_.load()));
}

void SharedVerdictSource::MarkBack() {
  if (alone_.exchange(false) && options_.notice) {
    options_.notice("shared cache available again");
  }
}

}  // namespace enrich::transport
