#include "engine/run_report.h"

#include "engine/byte_io.h"
#include "engine/svg_chart.h"
#include "schema/disposition.h"
#include "schema/time_format.h"
#include "transport/latency_histogram.h"

#include <algorithm>
#include <tuple>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"

namespace enrich::engine {
namespace {

constexpr absl::string_view kStyle =
    "body{font-family:system-ui,sans-serif;margin:2em;color:#222;max-width:60em}"
    "h1{font-size:1.5em}h2{font-size:1.2em;margin-top:1.6em}"
    "table{border-collapse:collapse}th,td{padding:.2em .8em;border-bottom:1px solid #ddd;"
    "text-align:left}td.n{text-align:right;font-variant-numeric:tabular-nums}"
    ".outcome-done{color:#1a7f37}.outcome-failed,.outcome-usage,.outcome-error_rows{color:#c62828}"
    ".outcome-checkpointed{color:#b26a00}"
    "svg{display:block;margin:.5em 0}rect.bar{fill:#4a78b5}polyline.line{fill:none;"
    "stroke:#4a78b5;stroke-width:2}line.axis{stroke:#888}text{font-size:11px;fill:#444}"
    "text.label,text.value{text-anchor:middle}.note{color:#666}";

std::string Td(absl::string_view id, absl::string_view value, bool number = true) {
  return absl::StrCat("<td id=\"", id, "\"", number ? " class=\"n\"" : "", ">", EscapeHtml(value),
                      "</td>");
}

void Row(std::string& out, absl::string_view label, absl::string_view id, absl::string_view value,
         bool number = true) {
  absl::StrAppend(&out, "<tr><th>", EscapeHtml(label), "</th>", Td(id, value, number), "</tr>");
}

absl::string_view DispositionNameOf(int number) {
  const auto d = schema::DispositionFromNumber(number);
  return d.has_value() ? schema::DispositionName(*d) : "Unknown";
}

std::string SummaryTable(const RunReportPage& page) {
  const RunStatsSnapshot& s = *page.stats;
  auto n = [&s](RunCounter c) { return absl::StrCat(s.counter(c)); };
  std::string out = "<table id=\"summary\">";
  absl::StrAppend(&out, "<tr><th>outcome</th><td id=\"outcome\" class=\"outcome-",
                  EscapeHtml(page.outcome), "\">", EscapeHtml(page.outcome), "</td></tr>");
  Row(out, "exit code", "exit_code", absl::StrCat(page.exit_code));
  if (!page.failure.empty()) Row(out, "failure", "failure", page.failure, false);
  Row(out, "input", "input", page.input, false);
  Row(out, "output", "output", page.output, false);
  Row(out, "endpoint", "endpoint", page.endpoint, false);
  Row(out, "started", "started", schema::FormatIsoTime(s.started), false);
  Row(out, "duration (seconds)", "seconds", absl::StrFormat("%.2f", s.seconds()));
  Row(out, "rows read", "rows", n(RunCounter::kRowsRead));
  Row(out, "rows written", "rows_written", n(RunCounter::kRowsWritten));
  if (s.counter(RunCounter::kBlankLines) > 0) {
    Row(out, "blank lines", "blank_lines", n(RunCounter::kBlankLines));
  }
  Row(out, "unique observables", "unique_observables", n(RunCounter::kUniqueObservables));
  Row(out, "lookups sent", "lookups", n(RunCounter::kLookupsSent));
  Row(out, "lookups settled", "lookups_settled", n(RunCounter::kLookupsSettled));
  Row(out, "cache hits", "cache_hits", n(RunCounter::kCacheHits));
  Row(out, "HTTP requests", "requests", n(RunCounter::kRequests));
  Row(out, "retries", "retries", n(RunCounter::kRetries));
  Row(out, "rate-limited (429)", "rate_limited", n(RunCounter::kRateLimited));
  Row(out, "hedged resends", "hedges", n(RunCounter::kHedges));
  Row(out, "token refreshes", "token_refreshes", n(RunCounter::kTokenRefreshes));
  Row(out, "rows per second", "rows_per_second", absl::StrFormat("%.0f", s.rows_per_second()));
  for (auto [label, id, q] : {std::tuple{"lookup latency p50 (ms)", "latency_p50_ms", 0.5},
                              {"lookup latency p90 (ms)", "latency_p90_ms", 0.9},
                              {"lookup latency p99 (ms)", "latency_p99_ms", 0.99}}) {
    Row(out, label, id,
        absl::StrFormat("%.1f", absl::ToDoubleMilliseconds(s.latency.Percentile(q))));
  }
  out += "</table><h2>Statuses</h2><table id=\"statuses\"><tr><th>status</th><th>cells</th></tr>";
  for (const auto& [status, count] : s.statuses) {
    absl::StrAppend(&out, "<tr><td>", EscapeHtml(status), "</td><td class=\"n\">", count,
                    "</td></tr>");
  }
  out += "</table>";
  return out;
}

std::string DispositionChart(const RunStatsSnapshot& s) {
  std::vector<ChartBar> bars;
  for (int d = 1; d <= 5; ++d) {
    const uint64_t rows = s.dispositions[static_cast<size_t>(d)];
    bars.push_back(
        ChartBar{std::string(DispositionNameOf(d)), static_cast<double>(rows), absl::StrCat(rows)});
  }
  return SvgBarChart("dispositions", "Rows (status cells) per verdict disposition", bars);
}

std::string TopHitsTable(const RunReportPage& page) {
  const std::vector<TopHit>& top = page.stats->top_hits;
  if (top.empty()) {
    return absl::StrCat("<p id=\"top_hits\" class=\"note\">No rows with a hit disposition (",
                        EscapeHtml(page.hit_dispositions), ").</p>");
  }
  std::string out =
      "<table id=\"top_hits\"><tr><th>disposition</th><th>observable</th><th>type</th>"
      "<th>rows</th><th>source</th></tr>";
  for (const TopHit& h : top) {
    absl::StrAppend(&out, "<tr class=\"hit\"><td>", EscapeHtml(DispositionNameOf(h.disposition)),
                    "</td><td class=\"observable\">", EscapeHtml(h.value), "</td><td>",
                    EscapeHtml(h.type), "</td><td class=\"n\">", h.rows, "</td><td>",
                    EscapeHtml(h.source), "</td></tr>");
  }
  out += "</table>";
  return out;
}

std::string LatencyChart(const transport::LatencySnapshot& l) {
  const auto& bounds = transport::LatencyBucketBounds();
  size_t first = l.counts.size();
  size_t last = 0;
  for (size_t b = 0; b < l.counts.size(); ++b) {
    if (l.counts[b] == 0) continue;
    first = std::min(first, b);
    last = b;
  }
  if (first == l.counts.size()) return "<p id=\"latency\" class=\"note\">No lookups answered.</p>";
  std::vector<ChartBar> bars;
  for (size_t b = first; b <= last; ++b) {
    const std::string edge =
        b < bounds.size()
            ? absl::StrCat("<=", absl::StrFormat("%g", absl::ToDoubleMilliseconds(bounds[b])))
            : absl::StrCat(">", absl::StrFormat("%g", absl::ToDoubleMilliseconds(bounds.back())));
    bars.push_back(ChartBar{edge, static_cast<double>(l.counts[b]), absl::StrCat(l.counts[b])});
  }
  return SvgBarChart("latency", "Lookups per latency bucket (milliseconds)", bars);
}

std::string RequestsChart(const RunReportPage& page) {
  const auto& p = page.requests;
  if (p.size() < 2) {
    return "<p id=\"requests_over_time\" class=\"note\">The run was too short to sample.</p>";
  }
  std::vector<ChartPoint> points;
  for (size_t i = 1; i < p.size(); ++i) {
    const double dt = absl::ToDoubleSeconds(p[i].time - p[i - 1].time);
    const double sent =
        static_cast<double>(p[i].requests - std::min(p[i].requests, p[i - 1].requests));
    points.push_back(
        ChartPoint{absl::ToDoubleSeconds(p[i].time - p[0].time), dt > 0 ? sent / dt : 0});
  }
  const std::string what = page.http_requests ? "HTTP requests" : "lookups sent";
  return SvgLineChart("requests_over_time", absl::StrCat(what, " per second over the run"), points,
                      "s", absl::StrCat(what, "/s"));
}

}  // namespace

std::string RenderRunReport(const RunReportPage& page) {
  const RunStatsSnapshot& s = *page.stats;
  std::string out = absl::StrCat(
      "<!DOCTYPE html>\n<html xmlns=\"http://www.w3.org/1999/xhtml\" lang=\"en\"><head>"
      "<meta charset=\"utf-8\"/><title>ctia-enrich run: ",
      EscapeHtml(page.outcome), " - ", EscapeHtml(page.input), "</title><style>", kStyle,
      "</style></head><body><h1>ctia-enrich run report</h1><p class=\"note\">",
      EscapeHtml(page.input), " &#8594; ", EscapeHtml(page.output), ", ended ",
      EscapeHtml(schema::FormatIsoTime(s.now)), "</p><h2>Summary</h2>", SummaryTable(page),
      "<h2>Rows per disposition</h2>", DispositionChart(s), "<h2>Top hits (",
      EscapeHtml(page.hit_dispositions), ")</h2>", TopHitsTable(page), "<h2>Lookup latency</h2>",
      LatencyChart(s.latency), "<h2>Quota use over time</h2>", RequestsChart(page),
      "</body></html>\n");
  return out;
}

absl::Status WriteRunReport(const std::string& path, const RunReportPage& page) {
  return WriteFileAtomically(path, RenderRunReport(page));
}

}  // namespace enrich::engine
