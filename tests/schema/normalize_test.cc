#include "schema/normalize.h"

#include <cstdint>
#include <random>
#include <string>
#include <vector>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include <arpa/inet.h>
#include <gtest/gtest.h>

namespace enrich::schema {
namespace {

// One row of the table: NormalizeObservable(type, raw) gives {want_type, want_value}, or an
// InvalidArgument whose message contains `error` when `error` is set.
struct Case {
  const char* type;
  std::string raw;
  const char* want_type;
  std::string want_value;
  const char* error = nullptr;
};

Case Ok(const char* type, std::string raw, const char* want_type, std::string want) {
  return Case{type, std::move(raw), want_type, std::move(want)};
}
Case Bad(const char* type, std::string raw, const char* error) {
  return Case{type, std::move(raw), "", "", error};
}

const std::string kMd5 = "d41d8cd98f00b204e9800998ecf8427e";
const std::string kSha1 = "da39a3ee5e6b4b0d3255bfef95601890afd80709";
const std::string kSha256 = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";

std::vector<Case> Cases() {
  const std::string label63(63, 'a');
  const std::string label64(64, 'a');
  // 4 labels of 63 + 3 dots = 255 > 253; 3 × 63 + "com" + 3 dots = 195.
  const std::string name255 = label63 + "." + label63 + "." + label63 + "." + label63;
  const std::string name253 = label63 + "." + label63 + "." + label63 + "." + std::string(61, 'b');
  return {
      // ---- IPv4 ----
      Ok("ip", "1.2.3.4", "ip", "1.2.3.4"),
      Ok("ip", "  10.0.0.1 \t", "ip", "10.0.0.1"),
      Ok("ip", "0.0.0.0", "ip", "0.0.0.0"),
      Ok("ip", "255.255.255.255", "ip", "255.255.255.255"),
      Ok("ip", "192.168[.]1[.]1", "ip", "192.168.1.1"),
      Ok("ip", "192(.)168(.)1(.)1", "ip", "192.168.1.1"),
      Ok("ip", "192{.}168{.}1{.}1", "ip", "192.168.1.1"),
      Ok("ip", "192[dot]168[DOT]1(dot)1", "ip", "192.168.1.1"),
      Ok("ip", "[8.8.8.8]", "ip", "8.8.8.8"),
      Ok("ip", "[8.8.8[.]8]", "ip", "8.8.8.8"),
      Ok("ip", "8 dot 8 dot 4 dot 4", "ip", "8.8.4.4"),
      // An IPv6 address in an `ip` column is looked up as CTIA's ipv6 type.
      Ok("ip", "2001:DB8:0::1", "ipv6", "2001:db8::1"),
      Ok("ip", "[::1]", "ipv6", "::1"),
      Ok("ip", "::ffff:1.2.3.4", "ipv6", "::ffff:1.2.3.4"),
      Ok("ip", "2001:db8[:]:1", "ipv6", "2001:db8::1"),
      Bad("ip", "fe80::1%eth0", "zone id"),
      Bad("ip", "2001:db8:::1", "nor an IPv6 one (looked up as type ipv6)"),
      Bad("ip", "010.1.1.1", "not an IPv4"),
      Bad("ip", "1.2.3.04", "not an IPv4"),
      Bad("ip", "256.1.1.1", "not an IPv4"),
      Bad("ip", "1.2.3.1000", "not an IPv4"),
      Bad("ip", "1.2.3", "not an IPv4"),
      Bad("ip", "1.2.3.4.5", "not an IPv4"),
      Bad("ip", "1.2.3.", "not an IPv4"),
      Bad("ip", "1..2.3", "not an IPv4"),
      Bad("ip", "+1.2.3.4", "not an IPv4"),
      Bad("ip", "1.2.3.4:80", "not an IPv4"),
      Bad("ip", "0x7f.0.0.1", "not an IPv4"),
      Bad("ip", "", "empty value"),
      Bad("ip", "   ", "empty value"),
      // ---- IPv6 ----
      Ok("ipv6", "2001:DB8::1", "ipv6", "2001:db8::1"),
      Ok("ipv6", "2001:0db8:0000:0000:0000:0000:0000:0001", "ipv6", "2001:db8::1"),
      Ok("ipv6", "[2001:db8::1]", "ipv6", "2001:db8::1"),
      Ok("ipv6", "::", "ipv6", "::"),
      Ok("ipv6", "::1", "ipv6", "::1"),
      Ok("ipv6", "0:0:0:0:0:0:0:1", "ipv6", "::1"),
      Ok("ipv6", "1::", "ipv6", "1::"),
      Ok("ipv6", "2001:db8:0:0:1:0:0:1", "ipv6", "2001:db8::1:0:0:1"),     // first of tied runs
      Ok("ipv6", "2001:db8:0:1:1:1:1:1", "ipv6", "2001:db8:0:1:1:1:1:1"),  // no :: for one zero
      Ok("ipv6", "2001:0:0:1:0:0:0:1", "ipv6", "2001:0:0:1::1"),           // longest run wins
      Ok("ipv6", "::FFFF:1.2.3.4", "ipv6", "::ffff:1.2.3.4"),
      Ok("ipv6", "::ffff:0102:0304", "ipv6", "::ffff:1.2.3.4"),
      Ok("ipv6", "64:ff9b::192.0.2.33", "ipv6", "64:ff9b::c000:221"),
      Ok("ipv6", "fe80::0:0:1", "ipv6", "fe80::1"),
      Ok("ipv6", "2001:db8::2:1", "ipv6", "2001:db8::2:1"),
      Ok("ipv6", "::2", "ipv6", "::2"),
      Bad("ipv6", "fe80::1%eth0", "zone id"),
      Bad("ipv6", "[fe80::1%25eth0]", "zone id"),
      Bad("ipv6", "2001:db8:::1", "not an IPv6"),
      Bad("ipv6", "1:2:3:4:5:6:7:8:9", "not an IPv6"),
      Bad("ipv6", "1::2::3", "not an IPv6"),
      Bad("ipv6", "12345::1", "not an IPv6"),
      Bad("ipv6", "g::1", "not an IPv6"),
      Bad("ipv6", "::ffff:01.2.3.4", "not an IPv6"),
      Bad("ipv6", "1.2.3.4", "not an IPv6"),
      Bad("ipv6", "[2001:db8::1]:443", "not an IPv6"),
      // ---- domains ----
      Ok("domain", "Example.COM", "domain", "example.com"),
      Ok("domain", "example.com.", "domain", "example.com"),
      Ok("domain", "evil[.]com", "domain", "evil.com"),
      Ok("domain", "evil(.)com", "domain", "evil.com"),
      Ok("domain", "evil{.}com", "domain", "evil.com"),
      Ok("domain", "evil[dot]com", "domain", "evil.com"),
      Ok("domain", "evil(dot)com", "domain", "evil.com"),
      Ok("domain", "evil{DOT}com", "domain", "evil.com"),
      Ok("domain", "evil dot com", "domain", "evil.com"),
      Ok("domain", "evil [.] com", "domain", "evil.com"),
      Ok("domain", "evil[.]co[.]uk", "domain", "evil.co.uk"),
      Ok("domain", "evil[[.]]com", "domain", "evil.com"),  // refang to a fixpoint
      Ok("domain", "_dmarc.example.com", "domain", "_dmarc.example.com"),
      Ok("domain", "_sip._tcp.Example.com", "domain", "_sip._tcp.example.com"),
      Ok("domain", "xn--bcher-kva.de", "domain", "xn--bcher-kva.de"),
      Ok("domain", "bücher.de", "domain", "xn--bcher-kva.de"),
      Ok("domain", "BÜCHER.DE", "domain", "xn--bcher-kva.de"),
      Ok("domain", "faß.de", "domain", "xn--fa-hia.de"),  // non-transitional: ß kept
      Ok("domain",
         "bücher\xE3\x80\x82"
         "de",
         "domain", "xn--bcher-kva.de"),  // ideographic dot
      Ok("domain", "_dmarc.bücher.de", "domain", "_dmarc.xn--bcher-kva.de"),
      Ok("domain", "münchen.example", "domain", "xn--mnchen-3ya.example"),
      Ok("domain", "a-b.example.com", "domain", "a-b.example.com"),
      Ok("domain", label63 + ".com", "domain", label63 + ".com"),
      Ok("domain", name253, "domain", name253),
      Ok("domain", "123.example", "domain", "123.example"),
      Ok("domain", "meowcat.com", "domain", "meowcat.com"),  // no scheme refang without `:`
      Bad("domain", label64 + ".com", "longer than 63"),
      Bad("domain", name255, "longer than 253"),
      Bad("domain", "localhost", "no dot"),
      Bad("domain", "a..b.com", "empty label"),
      Bad("domain", ".example.com", "empty label"),
      Bad("domain", "example.com..", "empty label"),
      Bad("domain", "-evil.com", "starts with a hyphen"),
      Bad("domain", "evil-.com", "ends with a hyphen"),
      Bad("domain", "ev il.com", "not allowed"),
      Bad("domain", "evil.com/path", "not allowed"),
      Bad("domain", "1.2.3.999", "no letter"),
      Bad("domain", "-x.bücher.de", "invalid IDN"),
      Bad("domain", "\xFF\xFE.com", "invalid IDN"),
      // ---- URLs ----
      Ok("url", "http://example.com/", "url", "http://example.com/"),
      Ok("url", "HTTP://EXAMPLE.COM/Path?Q=A#Frag", "url", "http://example.com/Path?Q=A#Frag"),
      Ok("url", "hxxp://evil[.]com/a", "url", "http://evil.com/a"),
      Ok("url", "hXXps://evil[.]com/a[.]b", "url", "https://evil.com/a.b"),
      Ok("url", "hxxps[:]//evil[.]com", "url", "https://evil.com"),
      Ok("url", "hxxp[://]evil[.]com", "url", "http://evil.com"),
      Ok("url", "hxtp://evil.com/x", "url", "http://evil.com/x"),
      Ok("url", "htxp://evil.com/x", "url", "http://evil.com/x"),
      Ok("url", "h[tt]p://evil.com/x", "url", "http://evil.com/x"),
      Ok("url", "meow://evil.com/x", "url", "http://evil.com/x"),
      Ok("url", "fxp://files.example.com/a", "url", "ftp://files.example.com/a"),
      Ok("url", "http://evil(dot)com/wiki/Foo_(dot)", "url", "http://evil.com/wiki/Foo_(dot)"),
      Ok("url", "http://evil[.]com[/]a(.)b", "url", "http://evil.com/a(.)b"),
      Ok("url", "https://user:Pw@Evil.com:8443/x", "url", "https://user:Pw@evil.com:8443/x"),
      Ok("url", "http://[2001:DB8:0::1]:8080/a", "url", "http://[2001:db8::1]:8080/a"),
      Ok("url", "http://1.2.3.4/x", "url", "http://1.2.3.4/x"),
      Ok("url", "http://localhost:8080", "url", "http://localhost:8080"),
      Ok("url", "http://Bücher.de/Ü", "url", "http://xn--bcher-kva.de/Ü"),
      Ok("url", "http://example.com./a", "url", "http://example.com./a"),
      Ok("url", "http://example.com?q=1", "url", "http://example.com?q=1"),
      Ok("url", "http://example.com:/a", "url", "http://example.com:/a"),
      Bad("url", "ssh://example.com", "scheme"),
      Bad("url", "example.com/path", "no scheme"),
      Bad("url", "http:///path", "no host"),
      Bad("url", "http://exa mple.com/", "whitespace"),
      Bad("url", "http://example.com:8o/", "port"),
      Bad("url", "http://[2001:db8::1/", "IPv6"),
      Bad("url", "http://ev!l.com/", "invalid URL host"),
      // ---- emails ----
      Ok("email", "Alice@Example.COM", "email", "alice@example.com"),
      Ok("email", "alice[@]example[.]com", "email", "alice@example.com"),
      Ok("email", "alice[at]example[dot]com", "email", "alice@example.com"),
      Ok("email", "alice(at)example(dot)com", "email", "alice@example.com"),
      Ok("email", "alice [at] example [dot] com", "email", "alice@example.com"),
      Ok("email", "first.last+tag@sub.example.org", "email", "first.last+tag@sub.example.org"),
      Ok("email", "x@bücher.de", "email", "x@xn--bcher-kva.de"),
      Bad("email", "alice", "exactly one @"),
      Bad("email", "a@b@example.com", "exactly one @"),
      Bad("email", "@example.com", "local part"),
      Bad("email", ".alice@example.com", "local part"),
      Bad("email", "al..ice@example.com", "local part"),
      Bad("email", std::string(65, 'a') + "@example.com", "longer than 64"),
      Bad("email", "alice@localhost", "no dot"),
      Bad("email", "\"a b\"@example.com", "local part"),
      // ---- hashes ----
      Ok("md5", "D41D8CD98F00B204E9800998ECF8427E", "md5", kMd5),
      Ok("sha1", "DA39A3EE5E6B4B0D3255BFEF95601890AFD80709", "sha1", kSha1),
      Ok("sha256", absl::AsciiStrToUpper(kSha256), "sha256", kSha256),
      Ok("sha256", " " + kSha256 + "\n", "sha256", kSha256),
      Bad("md5", kMd5.substr(1), "32 hex"),
      Bad("md5", kMd5 + "0", "32 hex"),
      Bad("md5", "g" + kMd5.substr(1), "32 hex"),
      Bad("sha1", kMd5, "40 hex"),
      Bad("sha256", kSha1, "64 hex"),
      // ---- auto ----
      Ok("auto", "hxxp://evil[.]com/x", "url", "http://evil.com/x"),
      Ok("auto", "ftp://Files.example.com/a", "url", "ftp://files.example.com/a"),
      Ok("auto", "bob[@]evil[.]com", "email", "bob@evil.com"),
      Ok("auto", "10[.]0[.]0[.]1", "ip", "10.0.0.1"),
      Ok("auto", "[2001:db8::1]", "ipv6", "2001:db8::1"),
      Ok("auto", "2001:DB8::1", "ipv6", "2001:db8::1"),
      Ok("auto", "::ffff:1.2.3.4", "ipv6", "::ffff:1.2.3.4"),
      Ok("auto", absl::AsciiStrToUpper(kMd5), "md5", kMd5),
      Ok("auto", kSha1, "sha1", kSha1),
      Ok("auto", kSha256, "sha256", kSha256),
      Ok("auto", "Evil[.]COM", "domain", "evil.com"),
      Ok("auto", "bücher.de", "domain", "xn--bcher-kva.de"),
      Ok("auto", "deadbeef.com", "domain", "deadbeef.com"),
      Bad("auto", "1.2.3.999", "cannot detect"),
      Bad("auto", "localhost", "cannot detect"),
      Bad("auto", "fe80::1%eth0", "cannot detect"),
      Bad("auto", kMd5 + "a", "cannot detect"),
      Bad("auto", "hello world", "cannot detect"),
      Bad("auto", "ssh://host", "scheme"),
      Bad("auto", label64 + ".com", "longer than 63"),  // detected as a domain, then rejected
      Bad("auto", "", "empty value"),
      // ---- other types: trimmed, nothing else ----
      Ok("file_name", "  Evil[.]EXE ", "file_name", "Evil[.]EXE"),
      Ok("user", "DOMAIN\\Alice", "user", "DOMAIN\\Alice"),
      Ok("quantum_id", "Q-1", "quantum_id", "Q-1"),
      Ok("IP", "1.2.3.4", "IP", "1.2.3.4"),  // type names are case-sensitive (§1.1)
      Ok("sha512", " AB[.]CD ", "sha512", "AB[.]CD"),
      Ok("ipv7", "::1", "ipv7", "::1"),
      Bad("file_name", " \t ", "empty value"),
  };
}

std::string Describe(const Case& c) { return absl::StrCat(c.type, " `", c.raw, "`"); }

TEST(NormalizeTest, TableOfCases) {
  const std::vector<Case> cases = Cases();
  EXPECT_GE(cases.size(), 120u);
  for (const Case& c : cases) {
    const absl::StatusOr<Observable> got = NormalizeObservable(c.type, c.raw);
    if (c.error != nullptr) {
      ASSERT_FALSE(got.ok()) << Describe(c) << " → " << got->type << " " << got->value;
      EXPECT_EQ(got.status().code(), absl::StatusCode::kInvalidArgument) << Describe(c);
      EXPECT_NE(got.status().message().find(c.error), absl::string_view::npos)
          << Describe(c) << ": " << got.status().message();
    } else {
      ASSERT_TRUE(got.ok()) << Describe(c) << ": " << got.status();
      EXPECT_EQ(got->type, c.want_type) << Describe(c);
      EXPECT_EQ(got->value, c.want_value) << Describe(c);
    }
  }
}

TEST(NormalizeTest, IsIdempotentOnEveryValidCase) {
  for (const Case& c : Cases()) {
    if (c.error != nullptr) continue;
    const absl::StatusOr<Observable> once = NormalizeObservable(c.type, c.raw);
    ASSERT_TRUE(once.ok()) << Describe(c);
    const absl::StatusOr<Observable> twice = NormalizeObservable(once->type, once->value);
    ASSERT_TRUE(twice.ok()) << Describe(c);
    EXPECT_EQ(*twice, *once) << Describe(c);
    if (absl::string_view(c.type) == "auto") {
      // Detection is stable on its own output.
      EXPECT_EQ(DetectObservableType(once->value), once->type) << Describe(c);
    }
  }
}

TEST(NormalizeTest, LowerCasingInputNeverChangesTheMatchKey) {
  for (const Case& c : Cases()) {
    if (c.error != nullptr || !IsKnownObservableType(c.want_type)) continue;
    const absl::StatusOr<Observable> original = NormalizeObservable(c.type, c.raw);
    const absl::StatusOr<Observable> lowered =
        NormalizeObservable(c.type, absl::AsciiStrToLower(c.raw));
    ASSERT_TRUE(lowered.ok()) << Describe(c) << ": " << lowered.status();
    if (absl::string_view(c.want_type) == "url" || absl::string_view(c.want_type) == "file_name" ||
        absl::string_view(c.want_type) == "user") {
      // The path and other types keep their case; CTIA compares case-insensitively (§1.2).
      EXPECT_EQ(MatchKey(*lowered), MatchKey(*original)) << Describe(c);
    } else {
      EXPECT_EQ(*lowered, *original) << Describe(c);
    }
  }
}

TEST(NormalizeTest, DetectsInTheDocumentedOrder) {
  EXPECT_EQ(DetectObservableType("http://a@b.com"), "url");  // url before email
  EXPECT_EQ(DetectObservableType("a@b.com"), "email");
  EXPECT_EQ(DetectObservableType("1.2.3.4"), "ip");
  EXPECT_EQ(DetectObservableType("::1"), "ipv6");
  EXPECT_EQ(DetectObservableType(kMd5), "md5");  // 32 hex: md5, never a domain
  EXPECT_EQ(DetectObservableType(kSha1), "sha1");
  EXPECT_EQ(DetectObservableType(kSha256), "sha256");
  EXPECT_EQ(DetectObservableType("cafe.de"), "domain");
  EXPECT_EQ(DetectObservableType("abc"), std::nullopt);
  EXPECT_EQ(DetectObservableType(""), std::nullopt);
  EXPECT_EQ(DetectObservableType("a b.com"), std::nullopt);
}

TEST(RefangTest, LeavesCleanTextAndAppliesEachForm) {
  EXPECT_EQ(Refang("example.com"), "example.com");
  EXPECT_EQ(Refang(""), "");
  EXPECT_EQ(Refang("hxxp://a[.]b"), "http://a.b");
  EXPECT_EQ(Refang("HXXPS://a[.]b"), "https://a.b");
  EXPECT_EQ(Refang("a[@]b[.]c"), "a@b.c");
  EXPECT_EQ(Refang("a(at)b(DOT)c"), "a@b.c");
  EXPECT_EQ(Refang("a{at}b{.}c"), "a@b.c");
  EXPECT_EQ(Refang("http[:]//x"), "http://x");
  EXPECT_EQ(Refang("http[://]x"), "http://x");
  EXPECT_EQ(Refang("[1.2.3.4]"), "1.2.3.4");
  EXPECT_EQ(Refang("[::1]"), "::1");
  EXPECT_EQ(Refang("[abc.de]"), "[abc.de]");  // not IP-shaped: kept
  EXPECT_EQ(Refang("http://[::1]/"), "http://[::1]/");
  EXPECT_EQ(Refang("meowcat"), "meowcat");
  EXPECT_EQ(Refang("hxxpfoo.com"), "hxxpfoo.com");
  EXPECT_EQ(Refang("a dot"), "a dot");  // ` dot ` needs text on both sides
  // Parentheses are refanged in the authority only; brackets everywhere.
  EXPECT_EQ(Refang("hxxp://a(.)b/c(.)d[.]e{.}f"), "http://a.b/c(.)d.e.f");
  EXPECT_EQ(Refang("http://a.b/c dot d"), "http://a.b/c dot d");
  EXPECT_EQ(Refang("a[.]"), "a.");
  EXPECT_EQ(Refang("[[[.]]]"), ".");
}

TEST(RefangTest, IsIdempotent) {
  for (const Case& c : Cases()) {
    const std::string once = Refang(c.raw);
    EXPECT_EQ(Refang(once), once) << c.raw;
  }
}

// glibc's inet_ntop is the formatter: check it against RFC 5952 §4 on the cases that matter.
TEST(Ipv6Test, FormatsPerRfc5952) {
  const std::pair<const char*, const char*> cases[] = {
      {"2001:0db8:0000:0000:0000:0000:0000:0001", "2001:db8::1"},  // §4.1, §4.2.1
      {"2001:db8:0:0:0:0:2:1", "2001:db8::2:1"},                   // §4.2.1
      {"2001:db8:0:1:1:1:1:1", "2001:db8:0:1:1:1:1:1"},            // §4.2.2: no :: for one
      {"2001:0:0:1:0:0:0:1", "2001:0:0:1::1"},                     // §4.2.3: longest
      {"2001:db8:0:0:1:0:0:1", "2001:db8::1:0:0:1"},               // §4.2.3: first of ties
      {"2001:DB8::ABCD", "2001:db8::abcd"},                        // §4.3: lower case
      {"0:0:0:0:0:ffff:c000:0201", "::ffff:192.0.2.1"},            // §5: mapped
      {"0:0:0:0:0:0:0:0", "::"},
      {"::0:2", "::2"},
      {"1:0:0:0:0:0:0:0", "1::"},
  };
  for (const auto& [in, want] : cases) {
    EXPECT_EQ(CanonicalIpv6(in), want) << in;
  }
  EXPECT_EQ(CanonicalIpv6("[::1]"), "::1");
  EXPECT_EQ(CanonicalIpv6("::1%lo"), std::nullopt);
  EXPECT_EQ(CanonicalIpv6(std::string("::1\0x", 5)), std::nullopt);
}

TEST(Ipv4Test, ParsesStrictDottedQuads) {
  EXPECT_EQ(ParseIpv4("1.2.3.4"), 0x01020304u);
  EXPECT_EQ(ParseIpv4("255.255.255.255"), 0xffffffffu);
  EXPECT_EQ(ParseIpv4("0.0.0.0"), 0u);
  EXPECT_EQ(ParseIpv4("1.2.3.4 "), std::nullopt);
  EXPECT_EQ(ParseIpv4("1.2.3.0004"), std::nullopt);
  EXPECT_EQ(ParseIpv4(std::string("1.2.3.4\0", 8)), std::nullopt);
}

TEST(CidrTest, ParsesBlocksAndRejectsHostBits) {
  absl::StatusOr<IpPrefix> p = ParseCidr("10.0.0.0/8");
  ASSERT_TRUE(p.ok());
  EXPECT_FALSE(p->is_v6);
  EXPECT_EQ(p->v4, 0x0a000000u);
  EXPECT_EQ(p->length, 8);
  p = ParseCidr("2001:db8::/32");
  ASSERT_TRUE(p.ok());
  EXPECT_TRUE(p->is_v6);
  EXPECT_EQ(p->length, 32);
  EXPECT_EQ(FormatIpv6(p->v6), "2001:db8::");
  EXPECT_TRUE(ParseCidr("0.0.0.0/0").ok());
  EXPECT_TRUE(ParseCidr("::/0").ok());
  EXPECT_TRUE(ParseCidr("1.2.3.4/32").ok());
  EXPECT_TRUE(ParseCidr("::1/128").ok());

  absl::StatusOr<IpPrefix> bad = ParseCidr("10.1.0.0/8");
  ASSERT_FALSE(bad.ok());
  EXPECT_NE(bad.status().message().find("10.0.0.0/8"), absl::string_view::npos) << bad.status();
  bad = ParseCidr("2001:db8::1/32");
  ASSERT_FALSE(bad.ok());
  EXPECT_NE(bad.status().message().find("2001:db8::/32"), absl::string_view::npos) << bad.status();
  for (const char* text : {"10.0.0.0", "10.0.0.0/33", "::/129", "10.0.0.0/", "10.0.0.0/08",
                           "10.0.0.0/x", "ten/8", "10.0.0/8", "/8"}) {
    EXPECT_FALSE(ParseCidr(text).ok()) << text;
  }
}

TEST(UrlHostTest, ExtractsTheBareHost) {
  EXPECT_EQ(UrlHost("http://example.com/a"), "example.com");
  EXPECT_EQ(UrlHost("http://u:p@example.com:80?x"), "example.com");
  EXPECT_EQ(UrlHost("http://[::1]:8080/"), "::1");
  EXPECT_EQ(UrlHost("https://1.2.3.4#f"), "1.2.3.4");
  EXPECT_EQ(UrlHost("http:///a"), std::nullopt);
  EXPECT_EQ(UrlHost("example.com"), std::nullopt);
}

TEST(NormalizeDnsNameTest, AcceptsSingleLabels) {
  EXPECT_EQ(NormalizeDnsName("Internal.").value_or(""), "internal");
  EXPECT_EQ(NormalizeDnsName("Bücher.de").value_or(""), "xn--bcher-kva.de");
  EXPECT_FALSE(NormalizeDnsName("a..b").ok());
  EXPECT_FALSE(NormalizeDnsName("123").ok());
}

// NormalizeObservable skips Refang when no byte can start a refang rule; the check runs 16
// bytes at a time: a defanged dot is found at every position of long values.
TEST(NormalizeTest, DefangedDotIsRefangedAtEveryPositionOfALongValue) {
  for (absl::string_view mark : {"[.]", "(.)", "{.}", " dot "}) {
    for (size_t at = 1; at < 40; ++at) {
      const std::string raw =
          std::string(at, 'a') + std::string(mark) + "example" + std::string(40 - at, 'b') + ".org";
      const absl::StatusOr<Observable> o = NormalizeObservable("domain", raw);
      ASSERT_TRUE(o.ok()) << raw << ": " << o.status();
      EXPECT_EQ(o->value, std::string(at, 'a') + ".example" + std::string(40 - at, 'b') + ".org")
          << raw;
    }
  }
}

// Random bytes, biased towards the characters the scanners branch on. Fixed seed: failures
// reproduce. No crash (ASan/UBSan builds check memory), and normalize is idempotent.
TEST(NormalizeFuzzTest, RandomBytesNeverCrashAndStayIdempotent) {
  static constexpr absl::string_view kAlphabet =
      "0123456789abcdefABCDEFxhptmow.:/@[](){}%_- \t#?sdot\xC3\xBC\xE3\x80\x82\xFF";
  static constexpr const char* kTypes[] = {"auto",  "ip",  "ipv6",   "domain",   "url",
                                           "email", "md5", "sha256", "file_name"};
  static constexpr const char* kPrefixes[] = {"",   "",   "",       "hxxp://", "http://",
                                              "a@", "::", "1.2.3.", "[",       "evil[.]"};
  std::mt19937 rng(20240611);
  size_t valid = 0;
  for (int n = 0; n < 200000; ++n) {
    std::string raw = kPrefixes[rng() % std::size(kPrefixes)];
    const size_t length = rng() % 24;
    for (size_t i = 0; i < length; ++i) {
      raw.push_back(rng() % 8 == 0 ? static_cast<char>(rng() % 256)
                                   : kAlphabet[rng() % kAlphabet.size()]);
    }
    const char* type = kTypes[rng() % std::size(kTypes)];
    const absl::StatusOr<Observable> once = NormalizeObservable(type, raw);
    if (!once.ok()) {
      ASSERT_EQ(once.status().code(), absl::StatusCode::kInvalidArgument);
      continue;
    }
    ++valid;
    const absl::StatusOr<Observable> twice = NormalizeObservable(once->type, once->value);
    ASSERT_TRUE(twice.ok()) << type << " `" << raw << "` → `" << once->value
                            << "`: " << twice.status();
    ASSERT_EQ(*twice, *once) << type << " `" << raw << "`";
  }
  EXPECT_GT(valid, 10000u);  // the generator reaches the valid paths, not only the errors
}

// IsNormalizedDomain is the engine's fast path: it must say true exactly when the slow path
// (NormalizeObservable as "domain") accepts the value and leaves it as it is.
bool SlowPathKeepsDomain(absl::string_view raw) {
  const absl::StatusOr<Observable> o = NormalizeObservable("domain", raw);
  return o.ok() && o->type == "domain" && o->value == raw;
}

TEST(IsNormalizedDomainTest, AgreesWithTheSlowPathOnEdgeCases) {
  const std::string label63(63, 'a');
  const std::string label64(64, 'a');
  // 4 × 63 + 3 dots = 255 bytes; trimmed to 253 and 254.
  const std::string long_name = absl::StrCat(label63, ".", label63, ".", label63, ".", label63);
  const std::string name253 = long_name.substr(2);
  const std::string name254 = long_name.substr(1);
  const std::vector<std::string> cases = {
      "", ".", "..", "a", "a.", ".a", "a.b", "a.b.", "a..b", "A.b", "a.B", "example.com",
      "Example.com", "-a.com", "a-.com", "a.-com", "a.com-", "a-b.com", "a--b.com", "_dmarc.a.com",
      "_.com", "a._", "a._b", "a.c_m", "a.1", "1.2.3.4", "1.2.3.a", "a.b1", "a.1b", "localhost",
      " a.com", "a.com ", "a.com\t", "\ta.com", "a[.]com", "a(.)com", "a{.}com", "a dot com",
      "hxxp.com", "meow.com", "hxxp:a.com", "xn--bcher-kva.example",
      "b\xC3\xBC"
      "cher.example",
      std::string("a\0.com", 6), "a.com\r", "a@b.com", "a/b.com", "a:b.com", "a%b.com",
      absl::StrCat(label63, ".com"), absl::StrCat(label64, ".com"), absl::StrCat("a.", label63),
      absl::StrCat("a.", label64), name253, name254, absl::StrCat(name253, "."),
      absl::StrCat("a.", std::string(62, 'b'), "-"), absl::StrCat("a.", std::string(62, '1')),
      // 16 and 64 bytes and around: the ends of the vector path (its blocks overlap).
      "abcdefghij.abcd", "abcdefghij.abcde", "abcdefghij.abcdef", "-bcdefghij.abcde",
      "abcdefghij.abcd-", "abcdefghij-.abcde", "abcdefghijklmn.1", "abcdefghijklmn.a",
      "abcdefghijklmnop", ".bcdefghij.abcde", "abcdefghij.abcd.", "abcdefghijABCDE.com",
      "abcdefghij..bcde", "abcdefghijklmn\xC3\xBC.com", "abcdefghijklm:a.com",
      absl::StrCat("a.", std::string(62, 'b')), absl::StrCat("a.", std::string(61, 'b'), "-"),
      absl::StrCat("a.", std::string(61, 'b'), "."), absl::StrCat(std::string(62, 'b'), ".a"),
      absl::StrCat("-", std::string(61, 'b'), ".a"), absl::StrCat(std::string(61, 'b'), "-.a"),
      absl::StrCat(std::string(60, 'b'), "..ab"), absl::StrCat(std::string(61, 'b'), ".1"),
      absl::StrCat("a.", std::string(61, 'b')), absl::StrCat("a.", std::string(63, 'b')),
      absl::StrCat("a.", std::string(60, 'b'), "\xC3\xBC"),
      absl::StrCat("A.", std::string(62, 'b')), absl::StrCat("a.", std::string(61, 'b'), "Z"),
      absl::StrCat(std::string(63, '_'), ".a")};
  for (const std::string& raw : cases) {
    EXPECT_EQ(IsNormalizedDomain(raw), SlowPathKeepsDomain(raw)) << "`" << raw << "`";
  }
  EXPECT_TRUE(IsNormalizedDomain("example.com"));
  EXPECT_TRUE(IsNormalizedDomain(name253));
  EXPECT_FALSE(IsNormalizedDomain(name254));
}

TEST(IsNormalizedDomainTest, AgreesWithTheSlowPathOnRandomNames) {
  // Mostly label bytes, with the bytes every rule turns on; label lengths around 63 and names
  // around 253 bytes come up often enough.
  static constexpr absl::string_view kAlphabet = "abcxyz0189-_....ABZ [](){}:@/\t\xC3\xBC\x80";
  std::mt19937 rng(20261129);
  size_t fast = 0;
  for (int n = 0; n < 300000; ++n) {
    std::string raw;
    const size_t labels = 1 + rng() % 5;
    for (size_t l = 0; l < labels; ++l) {
      if (l > 0) raw.push_back('.');
      const size_t length = rng() % 4 == 0 ? 60 + rng() % 6 : rng() % 12;
      for (size_t i = 0; i < length; ++i) {
        // Clean label bytes most of the time, so that many names are already normal.
        raw.push_back(rng() % 16 != 0 ? "abcdefghijklmnopqrstuvwxyz0123456789-_"[rng() % 38]
                                      : kAlphabet[rng() % kAlphabet.size()]);
      }
    }
    const bool want = SlowPathKeepsDomain(raw);
    ASSERT_EQ(IsNormalizedDomain(raw), want) << "`" << raw << "`";
    fast += want ? 1 : 0;
  }
  EXPECT_GT(fast, 30000u);  // the generator reaches the true side often
}

}  // namespace
}  // namespace enrich::schema
