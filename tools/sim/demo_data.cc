// The built-in demo data set (declared in demo_data.h). Values use reserved example names and
// documentation address ranges (RFC 2606, RFC 5737) so nothing here points at a real host.

#include "tools/sim/demo_data.h"

#include <string>
#include <vector>

#include "schema/time_format.h"

namespace enrich::sim {
namespace {

using schema::Disposition;

struct DemoEntry {
  const char* type;
  const char* value;
  Disposition disposition;
  int priority;
  const char* source;
  // valid_time relative to `now`, in hours; end_hours 0 = open-ended (2525).
  int start_hours;
  int end_hours;
  const char* tlp;
};

constexpr DemoEntry kEntries[] = {
    // Domains, some stored in mixed case: CTIA matches case-insensitively and echoes this case.
    {"domain", "malware-c2.example", Disposition::kMalicious, 95, "demo feed", -720, 0, "green"},
    {"domain", "Phish-Login.example.net", Disposition::kMalicious, 90, "demo feed", -48, 0,
     "green"},
    {"domain", "update-check.example.org", Disposition::kSuspicious, 90, "demo sandbox", -24, 0,
     "green"},
    {"domain", "cdn.example.com", Disposition::kCommon, 90, "demo popularity", -2000, 0, "white"},
    {"domain", "intranet.example.com", Disposition::kClean, 100, "demo analyst", -500, 0,
     "amber"},
    {"domain", "Tracker.Example.Org", Disposition::kUnknown, 50, "demo feed", -10, 0, "green"},
    {"domain", "login-verify.example.net", Disposition::kMalicious, 95, "demo feed", -72, 0,
     "green"},
    {"domain", "BadDomain.EXAMPLE", Disposition::kMalicious, 90, "demo feed", -5, 0, "green"},
    {"domain", "mail.example.com", Disposition::kClean, 90, "demo allow list", -9000, 0, "green"},
    // Priority beats disposition: the analyst's Clean (100) wins over the feed's Malicious.
    {"domain", "shared-hosting.example.net", Disposition::kMalicious, 90, "demo feed", -96, 0,
     "green"},
    {"domain", "shared-hosting.example.net", Disposition::kClean, 100, "demo analyst", -12, 0,
     "green"},
    // Expired: judgements exist but no verdict.
    {"domain", "old-campaign.example", Disposition::kMalicious, 90, "demo feed", -2000, -1000,
     "green"},
    // IPs (RFC 5737 documentation ranges).
    {"ip", "198.51.100.7", Disposition::kMalicious, 95, "demo feed", -48, 0, "green"},
    {"ip", "198.51.100.23", Disposition::kSuspicious, 90, "demo sandbox", -24, 240, "green"},
    {"ip", "198.51.100.42", Disposition::kClean, 90, "demo allow list", -3000, 0, "green"},
    {"ip", "198.51.100.99", Disposition::kCommon, 90, "demo popularity", -100, 0, "white"},
    {"ip", "203.0.113.5", Disposition::kMalicious, 90, "demo feed", -12, 0, "green"},
    {"ip", "203.0.113.17", Disposition::kUnknown, 50, "demo feed", -6, 0, "green"},
    {"ip", "203.0.113.66", Disposition::kSuspicious, 90, "demo feed", -30, 0, "green"},
    {"ip", "203.0.113.66", Disposition::kMalicious, 90, "demo feed", -20, 0, "green"},
    {"ip", "192.0.2.10", Disposition::kClean, 100, "demo analyst", -100, 0, "green"},
    {"ip", "192.0.2.200", Disposition::kMalicious, 90, "demo feed", -500, -200, "green"},
    {"ipv6", "2001:db8::bad", Disposition::kMalicious, 90, "demo feed", -40, 0, "green"},
    {"ipv6", "2001:db8::10", Disposition::kClean, 90, "demo allow list", -40, 0, "green"},
    // URLs (values with '/', '?' and '+' exercise the path encoding of §1.3).
    {"url", "http://malware-c2.example/gate.php?id=42", Disposition::kMalicious, 95,
     "demo feed", -48, 0, "green"},
    {"url", "https://phish-login.example.net/Account/Verify", Disposition::kMalicious, 90,
     "demo feed", -24, 0, "green"},
    {"url", "https://cdn.example.com/lib/jquery.min.js", Disposition::kCommon, 90,
     "demo popularity", -3000, 0, "white"},
    {"url", "https://docs.example.org/search?q=a+b", Disposition::kClean, 90, "demo allow list",
     -300, 0, "green"},
    {"url", "http://update-check.example.org/download/setup.exe", Disposition::kSuspicious, 90,
     "demo sandbox", -10, 0, "green"},
    {"url", "http://old-campaign.example/landing", Disposition::kMalicious, 90, "demo feed",
     -900, -100, "green"},
    // SHA-256 hashes (made up; the first is stored in upper case).
    {"sha256", "3A7BD3E2360A3D29EEA436FCFB7E44C735D117C42D1C1835420B6B9942DD4F1B",
     Disposition::kMalicious, 95, "demo sandbox", -72, 0, "green"},
    {"sha256", "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
     Disposition::kClean, 90, "demo allow list", -9000, 0, "green"},
    {"sha256", "0f1e2d3c4b5a69788796a5b4c3d2e1f00f1e2d3c4b5a69788796a5b4c3d2e1f0",
     Disposition::kSuspicious, 90, "demo sandbox", -20, 0, "green"},
    {"sha256", "aaaaaaaaaaaaaaaabbbbbbbbbbbbbbbbccccccccccccccccdddddddddddddddd",
     Disposition::kCommon, 90, "demo popularity", -400, 0, "green"},
    {"sha256", "1234567890abcdef1234567890abcdef1234567890abcdef1234567890abcdef",
     Disposition::kUnknown, 50, "demo sandbox", -3, 0, "green"},
    {"sha256", "deadbeefdeadbeefdeadbeefdeadbeefdeadbeefdeadbeefdeadbeefdeadbeef",
     Disposition::kMalicious, 90, "demo feed", -1, 0, "green"},
    // Other types.
    {"email", "billing@phish-login.example.net", Disposition::kMalicious, 90, "demo feed", -50, 0,
     "green"},
    {"md5", "d41d8cd98f00b204e9800998ecf8427e", Disposition::kClean, 90, "demo allow list",
     -9000, 0, "green"},
    {"file_name", "invoice_2024.pdf.exe", Disposition::kSuspicious, 90, "demo sandbox", -30, 0,
     "green"},
    // Red TLP: visible only to its owner (the first configured client).
    {"domain", "red-team-infra.example", Disposition::kMalicious, 100, "demo analyst", -5, 0,
     "red"},
};

}  // namespace

std::vector<schema::Judgement> DemoJudgements(absl::Time now) {
  std::vector<schema::Judgement> out;
  out.reserve(std::size(kEntries));
  for (const DemoEntry& e : kEntries) {
    schema::Judgement j;
    j.observable = {e.type, e.value};
    j.disposition = e.disposition;
    j.priority = e.priority;
    j.confidence = "High";
    j.severity = e.disposition == Disposition::kMalicious ? "High" : "Medium";
    j.source = e.source;
    j.reason = "ctia-sim demo data";
    j.tlp = e.tlp;
    j.valid_time.start_time = now + absl::Hours(e.start_hours);
    j.valid_time.end_time = e.end_hours == 0 ? schema::EndOfTime() : now + absl::Hours(e.end_hours);
    j.timestamp = j.valid_time.start_time;
    j.created = j.valid_time.start_time;
    out.push_back(std::move(j));
  }
  return out;
}

}  // namespace enrich::sim
