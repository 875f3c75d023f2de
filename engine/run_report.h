// The run's report as one self-contained HTML page (`run --report FILE.html`): the figures of
// the text summary, a bar chart of rows per disposition, the top hits, the lookup latency
// histogram and quota use over time, as inline SVG with inline CSS: no script, no network,
// readable in any browser. The page is also well-formed XML (XHTML-compatible), so tests and
// tools can read it with an XML parser; every element a reader may want has an id
// (`<td id="rows">`, `<svg id="dispositions">`, `<table id="top_hits">`, ...), named as the
// JSON summary's keys. Every text (observables are hostile input) is escaped (EscapeHtml).

#ifndef ENRICH_ENGINE_RUN_REPORT_H_
#define ENRICH_ENGINE_RUN_REPORT_H_

#include "engine/request_series.h"
#include "engine/run_stats.h"

#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/time/time.h"

namespace enrich::engine {

// What the page shows beside the ledger: how the run ended and what it ran on.
struct RunReportPage {
  const RunStatsSnapshot* stats = nullptr;  // with its top_hits; must not be null
  std::string outcome;                      // JobOutcomeName
  int exit_code = 0;
  std::string input;
  std::string output;
  std::string endpoint;          // without secrets (the job's PublicEndpoint)
  std::string failure;           // what ended a run that did not finish; empty otherwise
  std::string hit_dispositions;  // "Malicious,Suspicious"
  // Quota use: the cumulative requests sampled over the run; `http_requests` false when they
  // are lookups sent (no transport counters were at hand).
  std::vector<RequestSeries::Point> requests;
  bool http_requests = true;
};

std::string RenderRunReport(const RunReportPage& page);

// RenderRunReport to `path`, atomically (temp file + rename). Errors name the path.
absl::Status WriteRunReport(const std::string& path, const RunReportPage& page);

}  // namespace enrich::engine

#endif  // ENRICH_ENGINE_RUN_REPORT_H_
