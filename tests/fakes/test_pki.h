#ifndef ENRICH_TESTS_FAKES_TEST_PKI_H_
#define ENRICH_TESTS_FAKES_TEST_PKI_H_

#include <string>
#include <vector>

#include "absl/status/statusor.h"

namespace enrich::testing {

// A throw-away PKI made in memory with the OpenSSL C API: a self-signed CA and a server
// certificate it signed. PEM text throughout.
struct TestPki {
  std::string ca_cert_pem;
  std::string server_cert_pem;
  std::string server_key_pem;
};

// Makes a CA ("ctia-enrich test CA") and a server certificate valid now for one day with the
// given subjectAltNames (`dns_names` as DNS:, `ip_addresses` as IP:). EC P-256 keys.
// Errors: Internal with OpenSSL's reason.
absl::StatusOr<TestPki> MakeTestPki(const std::vector<std::string>& dns_names,
                                    const std::vector<std::string>& ip_addresses);

// Writes `text` to a new file under the test temp dir and returns its path.
std::string WriteTempFile(const std::string& name, const std::string& text);

}  // namespace enrich::testing

#endif  // ENRICH_TESTS_FAKES_TEST_PKI_H_
