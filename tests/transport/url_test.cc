#include "transport/url.h"

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace enrich::transport {
namespace {

using ::testing::HasSubstr;

TEST(UrlTest, ParsesHostPortAndBasePath) {
  absl::StatusOr<Url> url = ParseUrl("http://127.0.0.1:8080/base/");
  ASSERT_TRUE(url.ok()) << url.status();
  EXPECT_EQ(url->scheme, "http");
  EXPECT_EQ(url->host, "127.0.0.1");
  EXPECT_EQ(url->port, 8080);
  EXPECT_EQ(url->path, "/base");
  EXPECT_EQ(url->HostHeader(), "127.0.0.1:8080");
  EXPECT_EQ(url->Origin(), "http://127.0.0.1:8080");
}

TEST(UrlTest, DefaultPortsAreImpliedAndLeftOutOfHostHeader) {
  absl::StatusOr<Url> https = ParseUrl("https://private.intel.amp.cisco.com");
  ASSERT_TRUE(https.ok());
  EXPECT_EQ(https->port, 443);
  EXPECT_EQ(https->path, "");
  EXPECT_EQ(https->HostHeader(), "private.intel.amp.cisco.com");
  absl::StatusOr<Url> http = ParseUrl("http://example.com/");
  ASSERT_TRUE(http.ok());
  EXPECT_EQ(http->port, 80);
  EXPECT_EQ(http->path, "");
  EXPECT_EQ(http->Origin(), "http://example.com");
}

TEST(UrlTest, Ipv6LiteralKeepsBracketsOnlyInHostHeader) {
  absl::StatusOr<Url> url = ParseUrl("http://[::1]:9000/x");
  ASSERT_TRUE(url.ok()) << url.status();
  EXPECT_EQ(url->host, "::1");
  EXPECT_EQ(url->port, 9000);
  EXPECT_EQ(url->HostHeader(), "[::1]:9000");
}

TEST(UrlTest, RejectsBadUrlsNamingThem) {
  for (const char* bad : {"127.0.0.1:8080", "ftp://host", "http://", "http://host:0",
                          "http://host:65536", "http://host:x", "http://host/a?q=1",
                          "http://host/#frag", "http://user:pw@host/", "http://[::1/"}) {
    absl::StatusOr<Url> url = ParseUrl(bad);
    ASSERT_FALSE(url.ok()) << bad;
    EXPECT_TRUE(absl::IsInvalidArgument(url.status())) << bad;
    EXPECT_THAT(std::string(url.status().message()), HasSubstr(bad));
  }
}

TEST(UrlTest, CredentialErrorDoesNotSuggestPuttingSecretsInUrls) {
  absl::StatusOr<Url> url = ParseUrl("http://id:secret@host");
  ASSERT_FALSE(url.ok());
  EXPECT_THAT(std::string(url.status().message()),
              HasSubstr("credentials in URLs are not accepted"));
}

}  // namespace
}  // namespace enrich::transport
