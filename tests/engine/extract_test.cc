#include "engine/extract.h"

#include <random>
#include <string>
#include <vector>

#include "absl/strings/string_view.h"
#include <gtest/gtest.h>

namespace enrich::engine {
namespace {

// ExtractObservableView (the pipeline's: views, with a fast path for clean domains) gives what
// ExtractObservable gives, for every type, allowlisted or not.
TEST(ExtractObservableViewTest, GivesTheSameAsExtractObservable) {
  const absl::StatusOr<schema::Allowlist> allowlist =
      schema::Allowlist::Parse("*.allowed.example\nexact.example\n10.0.0.0/8\n", "allow.txt");
  ASSERT_TRUE(allowlist.ok()) << allowlist.status();
  static constexpr absl::string_view kAlphabet = "abcxyz019-_.....AZ [](:)@/\t\xC3\xBC";
  static constexpr const char* kPrefixes[] = {
      "", "", "", "www.", "x.allowed.example", "exact.example", "10.1.2.3", "hxxp://", " "};
  static constexpr const char* kTypes[] = {"domain", "domain", "auto", "ip", "url", "email"};
  std::mt19937 rng(20261129);
  std::vector<std::string> values = {"",
                                     " ",
                                     "example.com",
                                     "Example.com",
                                     "example.com.",
                                     "exact.example",
                                     "a.allowed.example",
                                     "allowed.example",
                                     "evil[.]com",
                                     "b\xC3\xBC"
                                     "cher.example",
                                     "10.0.0.1"};
  for (int n = 0; n < 20000; ++n) {
    std::string raw = kPrefixes[rng() % std::size(kPrefixes)];
    const size_t length = rng() % 20;
    for (size_t i = 0; i < length; ++i) {
      raw.push_back(rng() % 4 != 0 ? "abcdefghijklmnopqrstuvwxyz0123456789-."[rng() % 38]
                                   : kAlphabet[rng() % kAlphabet.size()]);
    }
    values.push_back(raw);
  }
  size_t lookups = 0;
  internal::ByteArena arena;
  for (const std::string& raw : values) {
    for (const schema::Allowlist* list :
         {&*allowlist, static_cast<const schema::Allowlist*>(nullptr)}) {
      for (const char* type : kTypes) {
        const Extracted want = ExtractObservable(type, raw, list);
        const ExtractedView got = ExtractObservableView(type, raw, list, arena);
        ASSERT_EQ(got.status, want.status) << type << " `" << raw << "`";
        if (want.status != CellStatus::kLookup) continue;
        ++lookups;
        EXPECT_EQ(got.type, want.observable.type) << type << " `" << raw << "`";
        EXPECT_EQ(got.value, want.observable.value) << type << " `" << raw << "`";
      }
    }
  }
  EXPECT_GT(lookups, 20000u);
}

}  // namespace
}  // namespace enrich::engine
