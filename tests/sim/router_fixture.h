// RouterTest: a Router over a JudgementStore with a FakeClock and a few clients, called
// without sockets. Shared by the router test files.
#ifndef ENRICH_TESTS_SIM_ROUTER_FIXTURE_H_
#define ENRICH_TESTS_SIM_ROUTER_FIXTURE_H_

#include <memory>
#include <string>

#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "rapidjson/document.h"
#include "schema/clock.h"
#include "schema/path_encoding.h"
#include "schema/time_format.h"
#include "tools/sim/judgement_store.h"
#include "tools/sim/router.h"

namespace enrich::sim {
namespace test_support {

inline absl::Time At(absl::string_view iso) { return *schema::ParseIsoTime(iso); }

inline const absl::Time kT0 = At("2016-02-12T00:00:00.000Z");

inline rapidjson::Document Parse(const std::string& body) {
  rapidjson::Document doc;
  doc.Parse(body.c_str());
  EXPECT_FALSE(doc.HasParseError()) << body;
  return doc;
}

inline std::string Str(const rapidjson::Value& v, const char* key) {
  if (!v.IsObject() || !v.HasMember(key) || !v[key].IsString()) return "<missing>";
  return v[key].GetString();
}

inline std::string Judgement(absl::string_view type, absl::string_view value, int disposition,
                      int priority, absl::string_view extra = "") {
  return absl::StrCat(R"({"observable":{"type":")", type, R"(","value":")", value,
                      R"("},"source":"test","confidence":"High","severity":"High",)",
                      R"("disposition":)", disposition, R"(,"priority":)", priority, extra, "}");
}

class RouterTest : public ::testing::Test {
 protected:
  RouterTest() : clock_(kT0 + absl::Hours(1)) {
    options_.clock = &clock_;
    options_.bulk_max = 5;
    options_.clients = {
        SimClient{"client", "secret"},
        SimClient{"foouser", "foopass", "foogroup"},
        SimClient{"baruser", "barpass", "bargroup"},
        SimClient{"foobaruser", "foobarpass", "bargroup"},
        SimClient{"reader", "readpass", "org-1", "", {"private-intel:read"}},
        SimClient{"other", "otherpass", "org-1", "", {"casebook", "inspect:read"}},
    };
    Rebuild();
  }

  // (Re)creates the router from options_ (tests change options_ first).
  void Rebuild() {
    router_ = std::make_unique<Router>(options_, store_);
    router_->SetPublicBase("https://ctia.test:443");
  }

  SimResponse Call(absl::string_view method, absl::string_view target, std::string body = "",
                   std::string authorization = "") {
    SimRequest r;
    r.method = std::string(method);
    r.target = std::string(target);
    r.body = std::move(body);
    r.authorization = std::move(authorization);
    return router_->Handle(r);
  }

  std::string Token(absl::string_view id = "client", absl::string_view secret = "secret") {
    SimResponse r = Call("POST", "/iroh/oauth2/token", "grant_type=client_credentials",
                         absl::StrCat("Basic ", absl::Base64Escape(absl::StrCat(id, ":", secret))));
    EXPECT_EQ(r.status, 200) << r.body;
    return Str(Parse(r.body), "access_token");
  }

  std::string Bearer(absl::string_view id = "client", absl::string_view secret = "secret") {
    return absl::StrCat("Bearer ", Token(id, secret));
  }

  SimResponse Get(absl::string_view target, const std::string& auth) {
    return Call("GET", target, "", auth);
  }

  // POSTs a judgement as `auth`; returns its long id.
  std::string Post(const std::string& body, const std::string& auth) {
    SimResponse r = Call("POST", "/ctia/judgement", body, auth);
    EXPECT_EQ(r.status, 201) << r.body;
    return Str(Parse(r.body), "id");
  }

  std::string VerdictId(absl::string_view target, const std::string& auth) {
    SimResponse r = Get(target, auth);
    if (r.status != 200) return absl::StrCat("status ", r.status);
    return Str(Parse(r.body), "judgement_id");
  }

  schema::FakeClock clock_;
  SimOptions options_;
  JudgementStore store_;
  std::unique_ptr<Router> router_;
};

}  // namespace test_support
}  // namespace enrich::sim

#endif  // ENRICH_TESTS_SIM_ROUTER_FIXTURE_H_
