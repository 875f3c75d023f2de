#ifndef ENRICH_TRANSPORT_CREDENTIAL_LANE_H_
#define ENRICH_TRANSPORT_CREDENTIAL_LANE_H_

// One credential of a CTIA client's token rotation (BeastCtiaClient, CtiaPublisher): where its
// tokens come from and which budget group its requests spend.

#include "transport/token_source.h"

#include <string>

namespace enrich::transport {

// One credential of a token rotation: its token source and the budget group (CTIA org) whose
// quota its requests spend. Several credentials in one group share that group's budget.
struct CredentialLane {
  TokenSource* tokens = nullptr;  // not owned; outlives the client
  std::string group = "default";
  std::string label;  // for messages (e.g. the client id); never a secret
};

}  // namespace enrich::transport

#endif  // ENRICH_TRANSPORT_CREDENTIAL_LANE_H_
