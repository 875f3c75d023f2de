#ifndef ENRICH_TESTS_FAKES_DIFFERENTIAL_H_
#define ENRICH_TESTS_FAKES_DIFFERENTIAL_H_

#include <random>
#include <string>
#include <variant>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "gtest/gtest.h"
#include "schema/verdict.h"

namespace enrich::testing {

// Damages `text` with 1 to 3 random edits: a byte replaced or inserted (taken from `alphabet`),
// 1 to 4 bytes erased, or the rest cut off.
inline void Damage(std::string& text, std::mt19937& rng, absl::string_view alphabet) {
  const int edits = 1 + static_cast<int>(rng() % 3);
  for (int e = 0; e < edits && !text.empty(); ++e) {
    const size_t at = rng() % text.size();
    const char c = alphabet[rng() % alphabet.size()];
    switch (rng() % 4) {
      case 0:
        text[at] = c;
        break;
      case 1:
        text.insert(text.begin() + static_cast<long>(at), c);
        break;
      case 2:
        text.erase(at, 1 + rng() % 4);
        break;
      case 3:
        text.resize(at);
        break;
    }
  }
}

// Differential tests of verdict decoders: `ours` is what `reference` is, field by field (the
// same status, code and message, when it is an error).
inline void ExpectSameVerdictResult(const absl::StatusOr<schema::VerdictResult>& reference,
                                    const absl::StatusOr<schema::VerdictResult>& ours) {
  ASSERT_EQ(reference.ok(), ours.ok())
      << "reference: " << reference.status() << " ours: " << ours.status();
  if (!reference.ok()) {
    // Code and words; the transport may add its marks (payloads, e.g. a setup failure).
    EXPECT_EQ(reference.status().code(), ours.status().code());
    EXPECT_EQ(reference.status().message(), ours.status().message());
    return;
  }
  ASSERT_EQ(reference->index(), ours->index());
  if (const auto* r = std::get_if<schema::Verdict>(&*reference)) {
    const auto& o = std::get<schema::Verdict>(*ours);
    EXPECT_EQ(r->disposition, o.disposition);
    EXPECT_EQ(r->disposition_name, o.disposition_name);
    EXPECT_EQ(r->observable.type, o.observable.type);
    EXPECT_EQ(r->observable.value, o.observable.value);
    EXPECT_EQ(r->judgement_id, o.judgement_id);
    EXPECT_EQ(r->valid_time.start_time, o.valid_time.start_time);
    EXPECT_EQ(r->valid_time.end_time, o.valid_time.end_time);
  }
}

}  // namespace enrich::testing

#endif  // ENRICH_TESTS_FAKES_DIFFERENTIAL_H_
