// HTTPS through the connection pool against ScriptedHttpServer's TLS mode, with a CA and a
// server certificate made in the test (tests/fakes/test_pki.h).
#include "tests/fakes/await.h"
#include "tests/fakes/scripted_http_server.h"
#include "tests/fakes/test_pki.h"
#include "transport/connection_pool.h"
#include "transport/io_threads.h"

#include <memory>
#include <string>

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace enrich::transport {
namespace {

using ::enrich::testing::Await;
using ::enrich::testing::MakeTestPki;
using ::enrich::testing::Reply;
using ::enrich::testing::ScriptedHttpServer;
using ::enrich::testing::ScriptedRequest;
using ::enrich::testing::ScriptedTls;
using ::enrich::testing::TestPki;
using ::enrich::testing::WriteTempFile;
using ::testing::HasSubstr;
using ::testing::StartsWith;

using Result = absl::StatusOr<HttpResponse>;

class TlsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    absl::StatusOr<TestPki> pki = MakeTestPki({"localhost"}, {"127.0.0.1"});
    ASSERT_TRUE(pki.ok()) << pki.status();
    pki_ = *pki;
    ca_file_ = WriteTempFile("tls_test_ca.pem", pki_.ca_cert_pem);
    server_ = std::make_unique<ScriptedHttpServer>(
        [](const ScriptedRequest& req) { return Reply(200, "secure " + req.target); },
        ScriptedTls{pki_.server_cert_pem, pki_.server_key_pem});
  }

  std::unique_ptr<ConnectionPool> MakePool(const std::string& url, TlsOptions tls) {
    absl::StatusOr<Url> origin = ParseUrl(url);
    EXPECT_TRUE(origin.ok()) << origin.status();
    PoolOptions options;
    options.connections = 2;
    options.tls = std::move(tls);
    return std::make_unique<ConnectionPool>(io_.executor(), *origin, options);
  }

  Result Get(ConnectionPool& pool, std::string target) {
    HttpRequest request;
    request.target = std::move(target);
    return Await<Result>(
        [&](ConnectionPool::Callback done) { pool.Send(request, std::move(done)); });
  }

  TestPki pki_;
  std::string ca_file_;
  std::unique_ptr<ScriptedHttpServer> server_;
  IoThreads io_{1};
};

TEST_F(TlsTest, VerifiesAgainstCaFileAndKeepsTheConnection) {
  auto pool = MakePool(server_->url(), TlsOptions{true, ca_file_});
  ASSERT_TRUE(pool->setup_status().ok()) << pool->setup_status();
  for (int i = 0; i < 3; ++i) {
    Result r = Get(*pool, "/v/" + std::to_string(i));
    ASSERT_TRUE(r.ok()) << r.status();
    EXPECT_EQ(r->body, "secure /v/" + std::to_string(i));
  }
  EXPECT_EQ(server_->requests(), 3u);
  EXPECT_EQ(server_->connections(), 1u);  // keep-alive over TLS
  EXPECT_EQ(pool->Snapshot().connects, 1u);
}

TEST_F(TlsTest, HostNameIsVerifiedForDnsNames) {
  const std::string url = "https://localhost:" + std::to_string(server_->port());
  auto pool = MakePool(url, TlsOptions{true, ca_file_});
  Result r = Get(*pool, "/dns");
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->body, "secure /dns");
}

TEST_F(TlsTest, UnknownCaFailsClearlyWithoutCaFile) {
  auto pool = MakePool(server_->url(), TlsOptions{true, ""});
  Result r = Get(*pool, "/x");
  ASSERT_FALSE(r.ok());
  EXPECT_TRUE(absl::IsUnavailable(r.status())) << r.status();
  EXPECT_THAT(std::string(r.status().message()),
              StartsWith("TLS handshake with " + server_->url() + ": certificate verify failed"));
  EXPECT_THAT(std::string(r.status().message()), HasSubstr("--ca-file"));
  EXPECT_EQ(server_->requests(), 0u);
}

TEST_F(TlsTest, WrongHostNameFailsVerification) {
  // A certificate for other names only, signed by the trusted CA.
  absl::StatusOr<TestPki> other = MakeTestPki({"other.example"}, {"10.9.9.9"});
  ASSERT_TRUE(other.ok()) << other.status();
  ScriptedHttpServer server([](const ScriptedRequest&) { return Reply(200, "x"); },
                            ScriptedTls{other->server_cert_pem, other->server_key_pem});
  const std::string other_ca = WriteTempFile("tls_test_other_ca.pem", other->ca_cert_pem);
  auto pool = MakePool(server.url(), TlsOptions{true, other_ca});
  Result r = Get(*pool, "/x");
  ASSERT_FALSE(r.ok());
  EXPECT_THAT(std::string(r.status().message()), HasSubstr("certificate verify failed"));
  EXPECT_EQ(server.requests(), 0u);
}

TEST_F(TlsTest, VerificationCanBeTurnedOffExplicitly) {
  auto pool = MakePool(server_->url(), TlsOptions{false, ""});
  Result r = Get(*pool, "/insecure");
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->body, "secure /insecure");
}

TEST_F(TlsTest, UnreadableCaFileIsAClearSetupError) {
  const std::string bad = WriteTempFile("tls_test_bad_ca.pem", "not a certificate\n");
  auto pool = MakePool(server_->url(), TlsOptions{true, bad});
  EXPECT_TRUE(absl::IsFailedPrecondition(pool->setup_status())) << pool->setup_status();
  EXPECT_THAT(std::string(pool->setup_status().message()), HasSubstr(bad));
  Result r = Get(*pool, "/x");
  EXPECT_TRUE(absl::IsFailedPrecondition(r.status())) << r.status();
  EXPECT_EQ(server_->connections(), 0u);
}

}  // namespace
}  // namespace enrich::transport
