#include "tests/fakes/xhtml_doc.h"

#include "absl/strings/str_cat.h"
#include <libxml/parser.h>
#include <libxml/tree.h>
#include <libxml/xpath.h>
#include <libxml/xpathInternals.h>

namespace enrich::testing {

struct XhtmlDoc::Doc {
  xmlDocPtr doc = nullptr;
  ~Doc() {
    if (doc != nullptr) xmlFreeDoc(doc);
  }
};

absl::StatusOr<XhtmlDoc> XhtmlDoc::Parse(const std::string& text) {
  xmlResetLastError();
  // Neither XML_PARSE_RECOVER nor XML_PARSE_NOENT: a page that is not well-formed fails.
  xmlDocPtr doc = xmlReadMemory(text.data(), static_cast<int>(text.size()), "report.html", "UTF-8",
                                XML_PARSE_NONET | XML_PARSE_NOERROR | XML_PARSE_NOWARNING);
  if (doc == nullptr) {
    const xmlError* e = xmlGetLastError();
    return absl::InvalidArgumentError(
        e != nullptr ? absl::StrCat("line ", e->line, ": ", e->message != nullptr ? e->message : "")
                     : "not well-formed");
  }
  XhtmlDoc d;
  d.doc_ = std::make_shared<Doc>();
  d.doc_->doc = doc;
  return d;
}

std::vector<std::string> XhtmlDoc::Strings(const std::string& xpath) const {
  std::vector<std::string> out;
  xmlXPathContextPtr ctx = xmlXPathNewContext(doc_->doc);
  xmlXPathRegisterNs(ctx, reinterpret_cast<const xmlChar*>("h"),
                     reinterpret_cast<const xmlChar*>("http://www.w3.org/1999/xhtml"));
  xmlXPathRegisterNs(ctx, reinterpret_cast<const xmlChar*>("s"),
                     reinterpret_cast<const xmlChar*>("http://www.w3.org/2000/svg"));
  xmlXPathObjectPtr result =
      xmlXPathEvalExpression(reinterpret_cast<const xmlChar*>(xpath.c_str()), ctx);
  if (result != nullptr && result->nodesetval != nullptr) {
    for (int i = 0; i < result->nodesetval->nodeNr; ++i) {
      xmlChar* v = xmlNodeGetContent(result->nodesetval->nodeTab[i]);
      out.emplace_back(v != nullptr ? reinterpret_cast<const char*>(v) : "");
      xmlFree(v);
    }
  }
  if (result != nullptr) xmlXPathFreeObject(result);
  xmlXPathFreeContext(ctx);
  return out;
}

std::string XhtmlDoc::String(const std::string& xpath) const {
  std::vector<std::string> all = Strings(xpath);
  return all.empty() ? std::string() : all.front();
}

}  // namespace enrich::testing
