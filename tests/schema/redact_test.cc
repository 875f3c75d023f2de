#include "schema/redact.h"

#include <string>

#include <gtest/gtest.h>

namespace enrich::schema {
namespace {

TEST(RedactSecretTest, RealSecretIsRedactedWhereverItStandsAlone) {
  const std::string secret = "Zq8-vN3_xR0pLm2sT9uW4yB6";
  EXPECT_EQ(RedactSecret("bad secret Zq8-vN3_xR0pLm2sT9uW4yB6 given", secret),
            "bad secret <redacted> given");
  EXPECT_EQ(RedactSecret(R"({"client_secret":"Zq8-vN3_xR0pLm2sT9uW4yB6"})", secret),
            R"({"client_secret":"<redacted>"})");
  EXPECT_EQ(RedactSecret("client_secret=Zq8-vN3_xR0pLm2sT9uW4yB6&x=1", secret),
            "client_secret=<redacted>&x=1");
  EXPECT_EQ(RedactSecret("https://me:Zq8-vN3_xR0pLm2sT9uW4yB6@ctia.example/x", secret),
            "https://me:<redacted>@ctia.example/x");
  EXPECT_EQ(RedactSecret("twice: Zq8-vN3_xR0pLm2sT9uW4yB6,Zq8-vN3_xR0pLm2sT9uW4yB6.", secret),
            "twice: <redacted>,<redacted>.");
  // Inside a longer value it is not this secret.
  EXPECT_EQ(RedactSecret("xZq8-vN3_xR0pLm2sT9uW4yB6", secret), "xZq8-vN3_xR0pLm2sT9uW4yB6");
  // A short secret with a digit or a symbol is not a word either.
  EXPECT_EQ(RedactSecret("bad secret s3cr3t:x", "s3cr3t:x"), "bad secret <redacted>");
}

TEST(RedactSecretTest, PlainWordSecretLeavesTheTextIntact) {
  const std::string message =
      "the token endpoint http://127.0.0.1:9/iroh/oauth2/token rejected API client 'a': "
      "invalid_client (the client id or secret is wrong, or the client was revoked)";
  for (const char* word : {"secret", "the", "a", "client", "Secret", "SECRET", "or"}) {
    EXPECT_EQ(RedactSecret(message, word), message) << word;
  }
  EXPECT_EQ(RedactSecret("error: secret is wrong", "secret"), "error: secret is wrong");
  EXPECT_EQ(RedactSecret("a secretive secrets", "secret"), "a secretive secrets");
}

TEST(RedactSecretTest, PlainWordSecretIsRedactedWhereItIsAValue) {
  EXPECT_EQ(RedactSecret("client_secret=secret", "secret"), "client_secret=<redacted>");
  EXPECT_EQ(RedactSecret(R"({"client_secret": "secret", "note": "secret"})", "secret"),
            R"({"client_secret": "<redacted>", "note": "secret"})");
  EXPECT_EQ(RedactSecret("Password: the", "the"), "Password: <redacted>");
  EXPECT_EQ(RedactSecret("http://client:secret@host/ (a secret)", "secret"),
            "http://client:<redacted>@host/ (a secret)");
}

TEST(RedactSecretTest, AuthorizationCredentialsAreAlwaysRedacted) {
  EXPECT_EQ(RedactSecret("Authorization: Basic Y2xpZW50OnNlY3JldA==\r\nHost: x", "secret"),
            "Authorization: Basic <redacted>\r\nHost: x");
  EXPECT_EQ(RedactSecret(R"({"authorization":"Bearer eyJ.abc.def","x":1})", ""),
            R"({"authorization":"Bearer <redacted>","x":1})");
  // Prose about authorization is not a header.
  EXPECT_EQ(RedactSecret("Basic authentication failed; authorization needed", "secret"),
            "Basic authentication failed; authorization needed");
}

TEST(RedactSecretTest, PlainWords) {
  EXPECT_TRUE(IsPlainWord("secret"));
  EXPECT_TRUE(IsPlainWord("Secret"));
  EXPECT_TRUE(IsPlainWord("SECRET"));
  EXPECT_TRUE(IsPlainWord("a"));
  EXPECT_FALSE(IsPlainWord("sEcReT"));
  EXPECT_FALSE(IsPlainWord("secret1"));
  EXPECT_FALSE(IsPlainWord("pass-word"));
  EXPECT_FALSE(IsPlainWord("correcthorsebattery"));  // 16 bytes or more
  EXPECT_FALSE(IsPlainWord(""));
}

}  // namespace
}  // namespace enrich::schema
