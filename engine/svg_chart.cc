#include "engine/svg_chart.h"

#include "engine/utf8.h"

#include <algorithm>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"

namespace enrich::engine {
namespace {

constexpr int kWidth = 640;
constexpr int kHeight = 240;
constexpr int kLeft = 56;    // room for the y labels
constexpr int kBottom = 36;  // room for the x labels
constexpr int kTop = 20;     // room for the values above the bars
constexpr int kRight = 16;

std::string Num(double v) { return absl::StrFormat("%.1f", v); }

std::string Open(absl::string_view id, absl::string_view caption) {
  return absl::StrCat("<svg xmlns=\"http://www.w3.org/2000/svg\" id=\"", EscapeHtml(id),
                      "\" width=\"", kWidth, "\" height=\"", kHeight, "\" viewBox=\"0 0 ", kWidth,
                      " ", kHeight, "\" role=\"img\"><title>", EscapeHtml(caption), "</title>",
                      "<line class=\"axis\" x1=\"", kLeft, "\" y1=\"", kHeight - kBottom,
                      "\" x2=\"", kWidth - kRight, "\" y2=\"", kHeight - kBottom, "\"/>");
}

}  // namespace

std::string EscapeHtml(absl::string_view text) {
  std::string out;
  out.reserve(text.size());
  const auto* p = reinterpret_cast<const unsigned char*>(text.data());
  size_t i = 0;
  while (i < text.size()) {
    const unsigned char c = p[i];
    switch (c) {
      case '&':
        out += "&amp;";
        ++i;
        continue;
      case '<':
        out += "&lt;";
        ++i;
        continue;
      case '>':
        out += "&gt;";
        ++i;
        continue;
      case '"':
        out += "&quot;";
        ++i;
        continue;
      case '\'':
        out += "&#39;";
        ++i;
        continue;
      default:
        break;
    }
    if (c < 0x20 && c != '\t' && c != '\n' && c != '\r') {
      out += "\xEF\xBF\xBD";
      ++i;
      continue;
    }
    const size_t n = Utf8SequenceLength(p + i, text.size() - i);
    if (n == 0) {
      out += "\xEF\xBF\xBD";
      ++i;
      continue;
    }
    out.append(text.data() + i, n);
    i += n;
  }
  return out;
}

std::string SvgBarChart(absl::string_view id, absl::string_view caption,
                        const std::vector<ChartBar>& bars) {
  std::string out = Open(id, caption);
  double top = 0;
  for (const ChartBar& b : bars) top = std::max(top, b.value);
  const double plot_w = kWidth - kLeft - kRight;
  const double plot_h = kHeight - kBottom - kTop;
  const double slot = bars.empty() ? plot_w : plot_w / static_cast<double>(bars.size());
  for (size_t i = 0; i < bars.size(); ++i) {
    const ChartBar& b = bars[i];
    const double h = top > 0 ? plot_h * b.value / top : 0;
    const double x = kLeft + slot * static_cast<double>(i) + slot * 0.15;
    const double y = kHeight - kBottom - h;
    const std::string label = EscapeHtml(b.label);
    const std::string value = EscapeHtml(b.value_text);
    absl::StrAppend(&out, "<rect class=\"bar\" data-label=\"", label, "\" data-value=\"", value,
                    "\" x=\"", Num(x), "\" y=\"", Num(y), "\" width=\"", Num(slot * 0.7),
                    "\" height=\"", Num(h), "\"><title>", label, ": ", value, "</title></rect>",
                    "<text class=\"value\" x=\"", Num(x + slot * 0.35), "\" y=\"", Num(y - 4),
                    "\">", value, "</text>", "<text class=\"label\" x=\"", Num(x + slot * 0.35),
                    "\" y=\"", kHeight - kBottom + 16, "\">", label, "</text>");
  }
  out += "</svg>";
  return out;
}

std::string SvgLineChart(absl::string_view id, absl::string_view caption,
                         const std::vector<ChartPoint>& points, absl::string_view x_unit,
                         absl::string_view y_unit) {
  std::string out = Open(id, caption);
  double max_x = 0;
  double max_y = 0;
  for (const ChartPoint& p : points) {
    max_x = std::max(max_x, p.x);
    max_y = std::max(max_y, p.y);
  }
  const double plot_w = kWidth - kLeft - kRight;
  const double plot_h = kHeight - kBottom - kTop;
  std::string coords;
  for (const ChartPoint& p : points) {
    const double x = kLeft + (max_x > 0 ? plot_w * p.x / max_x : 0);
    const double y = kHeight - kBottom - (max_y > 0 ? plot_h * p.y / max_y : 0);
    absl::StrAppend(&coords, coords.empty() ? "" : " ", Num(x), ",", Num(y));
  }
  absl::StrAppend(&out, "<line class=\"axis\" x1=\"", kLeft, "\" y1=\"", kTop, "\" x2=\"", kLeft,
                  "\" y2=\"", kHeight - kBottom, "\"/>", "<polyline class=\"line\" data-points=\"",
                  points.size(), "\" points=\"", coords, "\"/>", "<text class=\"tick\" x=\"",
                  kLeft, "\" y=\"", kHeight - kBottom + 16, "\">0</text>",
                  "<text class=\"tick\" x=\"", kWidth - kRight, "\" y=\"", kHeight - kBottom + 16,
                  "\" text-anchor=\"end\">", EscapeHtml(absl::StrFormat("%.0f", max_x)), " ",
                  EscapeHtml(x_unit), "</text>", "<text class=\"tick\" x=\"", kLeft - 4, "\" y=\"",
                  kTop + 4, "\" text-anchor=\"end\">", EscapeHtml(absl::StrFormat("%.4g", max_y)),
                  "</text>", "<text class=\"tick\" x=\"", kLeft - 4, "\" y=\"", kHeight - kBottom,
                  "\" text-anchor=\"end\">0</text>", "<text class=\"unit\" x=\"", kLeft + 4,
                  "\" y=\"", kTop - 6, "\">", EscapeHtml(y_unit), "</text>");
  out += "</svg>";
  return out;
}

}  // namespace enrich::engine
