#ifndef ENRICH_TRANSPORT_INTERNAL_JSON_TEXT_H_
#define ENRICH_TRANSPORT_INTERNAL_JSON_TEXT_H_

// RapidJSON values as text for CTIA error messages (ctia_status.cc, the bulk answer of
// ctia_publisher.cc). Pure functions, thread-safe.

#include <string>

#include "absl/strings/string_view.h"
#include "rapidjson/document.h"
#include "rapidjson/stringbuffer.h"
#include "rapidjson/writer.h"

namespace enrich::transport::internal {

// The characters of a JSON string value (which must be a string).
inline absl::string_view View(const rapidjson::Value& v) {
  return absl::string_view(v.GetString(), v.GetStringLength());
}

// A JSON value as text for an error message: strings as they are, anything else serialised.
inline std::string JsonText(const rapidjson::Value& v) {
  if (v.IsString()) return std::string(View(v));
  rapidjson::StringBuffer buf;
  rapidjson::Writer<rapidjson::StringBuffer> w(buf);
  v.Accept(w);
  return std::string(buf.GetString(), buf.GetSize());
}

}  // namespace enrich::transport::internal

#endif  // ENRICH_TRANSPORT_INTERNAL_JSON_TEXT_H_
