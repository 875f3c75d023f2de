// Inline SVG charts and HTML escaping for the run report (engine/run_report.h): a bar chart
// and a line chart as `<svg>` elements that any browser draws without script or network, and
// that are also well-formed XML (the report is XHTML-compatible).

#ifndef ENRICH_ENGINE_SVG_CHART_H_
#define ENRICH_ENGINE_SVG_CHART_H_

#include <string>
#include <vector>

#include "absl/strings/string_view.h"

namespace enrich::engine {

// `text` for HTML/XML text and attribute values: & < > " ' as character references; bytes that
// are not well-formed UTF-8, and control characters other than tab, line feed and carriage
// return (which XML 1.0 does not allow even as references), as U+FFFD.
std::string EscapeHtml(absl::string_view text);

struct ChartBar {
  std::string label;       // under the bar
  double value = 0;        // its height, relative to the largest
  std::string value_text;  // above the bar
};

// A vertical bar chart: one `<rect class="bar" data-label=".." data-value="..">` per bar (with a
// `<title>` tooltip), the labels under the bars and the values above them. `id` is the svg's
// id; `caption` its accessible title.
std::string SvgBarChart(absl::string_view id, absl::string_view caption,
                        const std::vector<ChartBar>& bars);

struct ChartPoint {
  double x = 0;
  double y = 0;
};

// A line chart of `points` (x ascending) as one `<polyline class="line" data-points="N">`,
// with the axes' ranges labelled ("0", the largest x with `x_unit`, the largest y).
std::string SvgLineChart(absl::string_view id, absl::string_view caption,
                         const std::vector<ChartPoint>& points, absl::string_view x_unit,
                         absl::string_view y_unit);

}  // namespace enrich::engine

#endif  // ENRICH_ENGINE_SVG_CHART_H_
