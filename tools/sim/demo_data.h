// ctia-sim's built-in demo judgements, loaded at start unless --no-demo. Seed data only: the
// server stores them as any judgement (SimServer::AddJudgements).

#ifndef ENRICH_TOOLS_SIM_DEMO_DATA_H_
#define ENRICH_TOOLS_SIM_DEMO_DATA_H_

#include <vector>

#include "absl/time/time.h"
#include "schema/judgement.h"

namespace enrich::sim {

// The built-in demo data set: a few dozen judgements on domains, IPs, URLs and hashes with
// every disposition, relative to `now`. The sample log generator (tools/sample) draws part of
// its observables from these.
std::vector<schema::Judgement> DemoJudgements(absl::Time now);

}  // namespace enrich::sim

#endif  // ENRICH_TOOLS_SIM_DEMO_DATA_H_
