#include "schema/path_encoding.h"

#include <gtest/gtest.h>

namespace enrich::schema {
namespace {

TEST(PathEncodingTest, KeepsUnreservedBytes) {
  EXPECT_EQ(PercentEncodePathSegment("AZaz09-._~"), "AZaz09-._~");
  EXPECT_EQ(PercentEncodePathSegment("1.2.3.4"), "1.2.3.4");
}

TEST(PathEncodingTest, EscapesRouteBreakingCharacters) {
  // CTIA matches [^/,;?]+ on the raw path (reference §1.3).
  EXPECT_EQ(PercentEncodePathSegment("http://x.com/a?b"), "http%3A%2F%2Fx.com%2Fa%3Fb");
  EXPECT_EQ(PercentEncodePathSegment("a,b;c"), "a%2Cb%3Bc");
  EXPECT_EQ(PercentEncodePathSegment("#frag"), "%23frag");
}

TEST(PathEncodingTest, EscapesPercentPlusAndSpace) {
  EXPECT_EQ(PercentEncodePathSegment("100%"), "100%25");
  // `+` stays literal on CTIA's side only when sent as %2B.
  EXPECT_EQ(PercentEncodePathSegment("a+b"), "a%2Bb");
  EXPECT_EQ(PercentEncodePathSegment("a b"), "a%20b");
}

TEST(PathEncodingTest, EscapesEachUtf8ByteOfNonAscii) {
  EXPECT_EQ(PercentEncodePathSegment("b\xC3\xBC" "cher.de"), "b%C3%BCcher.de");
  EXPECT_EQ(PercentEncodePathSegment("\xE2\x82\xAC"), "%E2%82%AC");
}

TEST(PathEncodingTest, KeepsTrailingSlashOfUrlValues) {
  // The Python SDK strips it; we must not (reference §1.3).
  EXPECT_EQ(PercentEncodePathSegment("http://x.com/"), "http%3A%2F%2Fx.com%2F");
}

TEST(PathEncodingTest, DecodeInvertsEncode) {
  for (std::string v : {"http://x.com/a?b#c", "100% a+b", "b\xC3\xBC" "cher", "", "~.-_"}) {
    auto decoded = PercentDecode(PercentEncodePathSegment(v));
    ASSERT_TRUE(decoded.ok()) << decoded.status();
    EXPECT_EQ(*decoded, v);
  }
}

TEST(PathEncodingTest, DecodeKeepsPlusLiteral) {
  EXPECT_EQ(*PercentDecode("a+b%20c"), "a+b c");
}

TEST(PathEncodingTest, DecodeRejectsBadEscapes) {
  EXPECT_FALSE(PercentDecode("abc%").ok());
  EXPECT_FALSE(PercentDecode("abc%2").ok());
  EXPECT_FALSE(PercentDecode("%zz").ok());
}

TEST(PathEncodingTest, FormEncodeUsesPlusForSpace) {
  EXPECT_EQ(FormEncode("grant type=a&b"), "grant+type%3Da%26b");
}

}  // namespace
}  // namespace enrich::schema
