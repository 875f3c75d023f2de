#ifndef ENRICH_TESTS_FAKES_FIXED_TOKEN_SOURCE_H_
#define ENRICH_TESTS_FAKES_FIXED_TOKEN_SOURCE_H_

#include <string>

#include "transport/token_source.h"

namespace enrich::testing {

// Hands out the token "tok", inline, forever; Invalidate does nothing.
class FixedTokenSource final : public transport::TokenSource {
 public:
  void GetToken(Callback done) override { done(std::string("tok")); }
  void Invalidate(absl::string_view) override {}
};

}  // namespace enrich::testing

#endif  // ENRICH_TESTS_FAKES_FIXED_TOKEN_SOURCE_H_
