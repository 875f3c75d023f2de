#include "schema/observable.h"

#include <algorithm>

#include "absl/strings/ascii.h"

namespace enrich::schema {

ObservableType::ObservableType(std::string name)
    : name_(std::move(name)), known_(IsKnownObservableType(name_)) {}

const std::vector<absl::string_view>& KnownObservableTypes() {
  // ctim: src/ctim/schemas/vocabularies.cljc `observable-type-identifier` (reference §1.1).
  static const auto* types = new std::vector<absl::string_view>{
      "acudid", "amp_computer_guid", "certificate_common_name", "certificate_issuer",
      "certificate_serial", "cisco_cm_id", "cisco_mid", "cisco_uc_id", "cortex_agent_id",
      "crowdstrike_id", "cvm_id", "cybereason_id", "darktrace_id", "device", "domain",
      "email", "email_messageid", "email_subject", "file_name", "file_path",
      "google_chromebook_id", "google_cloud_id", "hostname", "imei", "imsi", "intune_id",
      "ip", "ipv6", "jamf_management_id", "mac_address", "md5", "meraki_network_id",
      "meraki_node_sn", "meraki_org_id", "ms_machine_id", "mutex", "ngfw_id", "ngfw_name",
      "odns_identity", "odns_identity_label", "orbital_node_id", "pki_serial",
      "process_args", "process_hash", "process_name", "process_path", "process_uid",
      "process_username", "processor_id", "registry_key", "registry_name", "registry_path",
      "s1_agent_id", "secure_access_id", "serial_number", "service_now_id", "sha1", "sha256",
      "swc_device_id", "trend_micro_id", "url", "user", "user_agent"};
  return *types;
}

bool IsKnownObservableType(absl::string_view name) {
  const auto& types = KnownObservableTypes();
  return std::binary_search(types.begin(), types.end(), name);
}

Observable MatchKey(const Observable& o) {
  return Observable{absl::AsciiStrToLower(o.type), absl::AsciiStrToLower(o.value)};
}

}  // namespace enrich::schema
