#include "engine/lookup_status.h"

#include <gtest/gtest.h>

#include "absl/status/status.h"

namespace enrich::engine {
namespace {

TEST(ErrorStatusTest, UsesHttpCodeOrErrorClass) {
  EXPECT_EQ(ErrorStatusFor(absl::UnavailableError("http 503: busy")), "error:503");
  EXPECT_EQ(ErrorStatusFor(absl::DeadlineExceededError("read timed out")),
            "error:deadline_exceeded");
}

}  // namespace
}  // namespace enrich::engine
