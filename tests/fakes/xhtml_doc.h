#ifndef ENRICH_TESTS_FAKES_XHTML_DOC_H_
#define ENRICH_TESTS_FAKES_XHTML_DOC_H_

// A page of the run report (engine/run_report.h) read back with libxml2's XML parser, strictly
// (no recovery, no network, no entities beyond XML's own): a page that is not well-formed does
// not parse. The report is written as XHTML-compatible HTML for this: libxml2 is a real parser
// from Debian (libxml2-dev), available to C++ tests without an interpreter, and its strict XML
// mode catches what an HTML parser would forgive (an unescaped `<` or `&`, an unclosed tag).
// Queries are XPath 1.0 with the prefix `h` for XHTML and `s` for SVG elements.

#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"

namespace enrich::testing {

class XhtmlDoc {
 public:
  // Errors: the first parse error, with its line.
  static absl::StatusOr<XhtmlDoc> Parse(const std::string& text);

  // The string values of the nodes `xpath` selects (text of elements, values of attributes).
  std::vector<std::string> Strings(const std::string& xpath) const;
  // The string value of the first node `xpath` selects; empty when none.
  std::string String(const std::string& xpath) const;
  size_t Count(const std::string& xpath) const { return Strings(xpath).size(); }

 private:
  struct Doc;
  std::shared_ptr<Doc> doc_;
};

}  // namespace enrich::testing

#endif  // ENRICH_TESTS_FAKES_XHTML_DOC_H_
