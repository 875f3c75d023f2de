#include "schema/allowlist.h"

#include "schema/normalize.h"

#include <string>

#include <gtest/gtest.h>

namespace enrich::schema {
namespace {

class AllowlistTest : public testing::Test {
 protected:
  static constexpr absl::string_view kList = R"(# known-benign
example.com
*.corp.example            # our own zones
*.Internal.
10.0.0.0/8
192.168.1.128/25
2001:db8::/32
sha256:E3B0C44298FC1C149AFBF4C8996FB92427AE41E4649B934CA495991B7852B855
url:http://Updates.Vendor.example/Feed#latest
evil[.]org
2001:DB8:FFFF:0::1
)";

  void SetUp() override {
    absl::StatusOr<Allowlist> parsed = Allowlist::Parse(kList, "allow.txt");
    ASSERT_TRUE(parsed.ok()) << parsed.status();
    list_ = *std::move(parsed);
  }

  // Normalizes like the engine does, then asks the list.
  bool Allowed(absl::string_view type, absl::string_view raw) {
    absl::StatusOr<Observable> o = NormalizeObservable(type, raw);
    EXPECT_TRUE(o.ok()) << type << " " << raw << ": " << o.status();
    return o.ok() && list_.Contains(*o);
  }

  Allowlist list_;
};

TEST_F(AllowlistTest, CountsEntries) { EXPECT_EQ(list_.size(), 10u); }

TEST_F(AllowlistTest, MatchesExactValuesOfAnyTypeCaseInsensitively) {
  EXPECT_TRUE(Allowed("domain", "EXAMPLE.com"));
  EXPECT_TRUE(list_.Contains({"hostname", "Example.COM"}));
  EXPECT_FALSE(Allowed("domain", "www.example.com"));   // exact, not a suffix
  EXPECT_FALSE(Allowed("url", "http://example.com/"));  // exact does not reach URL hosts
  EXPECT_TRUE(Allowed("domain", "evil.org"));           // the entry was refanged
  EXPECT_TRUE(Allowed("ipv6", "2001:db8:ffff::1"));     // the entry was made canonical
}

TEST_F(AllowlistTest, MatchesSuffixesOnLabelBoundaries) {
  EXPECT_TRUE(Allowed("domain", "corp.example"));
  EXPECT_TRUE(Allowed("domain", "a.b.CORP.example"));
  EXPECT_FALSE(Allowed("domain", "evilcorp.example"));
  EXPECT_FALSE(Allowed("domain", "corp.example.evil.com"));
  EXPECT_TRUE(Allowed("url", "https://build.corp.example:8443/x?y"));
  EXPECT_TRUE(Allowed("email", "bob@mail.corp.example"));
  EXPECT_FALSE(Allowed("email", "corp.example@evil.com"));
  EXPECT_TRUE(list_.Contains({"hostname", "db1.internal"}));  // single-label suffix
  EXPECT_TRUE(Allowed("url", "http://db1.internal./"));
}

TEST_F(AllowlistTest, MatchesCidrBlocks) {
  EXPECT_TRUE(Allowed("ip", "10.255.0.1"));
  EXPECT_FALSE(Allowed("ip", "11.0.0.1"));
  EXPECT_TRUE(Allowed("ip", "192.168.1.200"));
  EXPECT_FALSE(Allowed("ip", "192.168.1.127"));
  EXPECT_TRUE(Allowed("ipv6", "2001:DB8:1::5"));
  EXPECT_FALSE(Allowed("ipv6", "2001:db9::1"));
  EXPECT_TRUE(Allowed("ipv6", "::ffff:10.1.2.3"));  // IPv4-mapped reaches the IPv4 blocks
  EXPECT_TRUE(Allowed("url", "http://10.1.2.3:8080/a"));
  EXPECT_TRUE(Allowed("url", "http://[2001:db8::7]/a"));
  EXPECT_FALSE(Allowed("url", "http://11.1.2.3/a"));
  EXPECT_FALSE(Allowed("domain", "10.example"));
}

TEST_F(AllowlistTest, MatchesTypedValuesOnlyForTheirType) {
  const std::string sha = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";
  EXPECT_TRUE(Allowed("sha256", sha));
  EXPECT_FALSE(list_.Contains({"process_hash", sha}));
  EXPECT_TRUE(Allowed("url", "http://updates.vendor.example/Feed#latest"));
  EXPECT_FALSE(Allowed("url", "http://updates.vendor.example/Feed"));
}

// An `ip` column looks an IPv6 address up as type ipv6; an `ip:` entry of one follows it.
TEST(AllowlistParseTest, IpEntryOfAnIpv6AddressMatchesItInAnIpColumn) {
  absl::StatusOr<Allowlist> list = Allowlist::Parse("ip:2001:DB8:0::9\nip:10.1.1.1\n", "a");
  ASSERT_TRUE(list.ok()) << list.status();
  absl::StatusOr<Observable> v6 = NormalizeObservable("ip", "2001:db8::9");
  ASSERT_TRUE(v6.ok()) << v6.status();
  EXPECT_EQ(v6->type, "ipv6");
  EXPECT_TRUE(list->Contains(*v6));
  EXPECT_TRUE(list->Contains({"ip", "10.1.1.1"}));
  EXPECT_FALSE(list->Contains({"ipv6", "2001:db8::10"}));
}

TEST(AllowlistParseTest, EmptyAndCommentOnlyListsMatchNothing) {
  absl::StatusOr<Allowlist> list = Allowlist::Parse("\n# nothing\n   \r\n", "empty.txt");
  ASSERT_TRUE(list.ok());
  EXPECT_EQ(list->size(), 0u);
  EXPECT_FALSE(list->Contains({"domain", "example.com"}));
  EXPECT_FALSE(Allowlist().Contains({"domain", "example.com"}));
}

TEST(AllowlistParseTest, HashInsideAValueIsData) {
  absl::StatusOr<Allowlist> list = Allowlist::Parse("http://x.example/#frag # why\r\n", "a");
  ASSERT_TRUE(list.ok()) << list.status();
  EXPECT_TRUE(list->Contains({"url", "http://x.example/#frag"}));
}

TEST(AllowlistParseTest, ErrorsNameSourceLineAndEntry) {
  const std::pair<const char*, const char*> bad[] = {
      {"ok.com\n\n*.\n", "lists/a.txt:3: "},
      {"ok.com\nfoo.*.com\n", "lists/a.txt:2: "},
      {"*.bad..com", "lists/a.txt:1: "},
      {"10.1.0.0/8", "did you mean 10.0.0.0/8"},
      {"10.0.0.0/33", "above 32"},
      {"2001:db8::/129", "above 128"},
      {"ip:10.0.0.0/8", "not an IPv4"},
      {"sha256:abc", "64 hex"},
      {"md5:", "empty value"},
  };
  for (const auto& [text, want] : bad) {
    absl::StatusOr<Allowlist> list = Allowlist::Parse(text, "lists/a.txt");
    ASSERT_FALSE(list.ok()) << text;
    EXPECT_EQ(list.status().code(), absl::StatusCode::kInvalidArgument);
    EXPECT_NE(list.status().message().find(want), absl::string_view::npos)
        << text << ": " << list.status().message();
    EXPECT_NE(list.status().message().find("lists/a.txt:"), absl::string_view::npos);
  }
}

TEST(AllowlistParseTest, MovesKeepTheEntries) {
  absl::StatusOr<Allowlist> parsed = Allowlist::Parse("*.example.com\n", "m");
  ASSERT_TRUE(parsed.ok());
  Allowlist moved = *std::move(parsed);
  Allowlist assigned;
  assigned = std::move(moved);
  EXPECT_TRUE(assigned.Contains({"domain", "www.example.com"}));
  EXPECT_EQ(assigned.size(), 1u);
}

}  // namespace
}  // namespace enrich::schema
