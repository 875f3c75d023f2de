// GET /ctia/judgement/external_id/{xid} (reference §5.3) and the judgements_created counter:
// the judgements carrying an external id, visible to the caller, after POST /ctia/judgement,
// POST /ctia/bulk and DELETE.

#include "schema/path_encoding.h"
#include "tests/sim/router_fixture.h"
#include "tools/sim/router.h"

#include <string>

#include "absl/strings/str_cat.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace enrich::sim {
namespace {

using test_support::Judgement;
using test_support::Parse;
using test_support::RouterTest;
using test_support::Str;

class ExternalIdTest : public RouterTest {
 protected:
  // The ids the route answers for `xid`, percent-encoded in the path as the client sends it.
  std::vector<std::string> Lookup(const std::string& xid, const std::string& auth) {
    SimResponse r = Get(
        absl::StrCat("/ctia/judgement/external_id/", schema::PercentEncodePathSegment(xid)), auth);
    EXPECT_EQ(r.status, 200) << r.body;
    std::vector<std::string> ids;
    rapidjson::Document doc = Parse(r.body);
    EXPECT_TRUE(doc.IsArray()) << r.body;
    if (!doc.IsArray()) return ids;
    for (const auto& j : doc.GetArray()) ids.push_back(Str(j, "id"));
    return ids;
  }
};

TEST_F(ExternalIdTest, FindsJudgementsByExternalIdFromPostAndBulk) {
  const std::string auth = Bearer();
  const std::string a = Post(
      Judgement("ip", "10.7.0.1", 2, 90, R"(,"external_ids":["ctia-enrich:s:1","other"])"), auth);
  SimResponse r =
      Call("POST", "/ctia/bulk",
           absl::StrCat(
               R"({"judgements":[)",
               Judgement("ip", "10.7.0.2", 2, 90, R"(,"external_ids":["ctia-enrich:s:2"])"), ",",
               Judgement("ip", "10.7.0.3", 2, 90, R"(,"external_ids":["ctia-enrich:s:2"])"), "]}"),
           auth);
  ASSERT_EQ(r.status, 201) << r.body;
  rapidjson::Document bulk = Parse(r.body);
  const std::string b = bulk["judgements"][0].GetString();
  const std::string c = bulk["judgements"][1].GetString();
  EXPECT_EQ(router_->Counters().judgements_created, 3u);

  EXPECT_THAT(Lookup("ctia-enrich:s:1", auth), ::testing::ElementsAre(a));
  EXPECT_THAT(Lookup("other", auth), ::testing::ElementsAre(a));
  EXPECT_THAT(Lookup("ctia-enrich:s:2", auth), ::testing::ElementsAre(b, c));
  EXPECT_TRUE(Lookup("ctia-enrich:s:3", auth).empty());  // none: an empty list, not a 404
  EXPECT_EQ(router_->Counters().external_id_lookups, 4u);

  // Erased judgements leave the index.
  ASSERT_EQ(
      Call("DELETE", absl::StrCat("/ctia/judgement/", b.substr(b.rfind('/') + 1)), "", auth).status,
      204);
  EXPECT_THAT(Lookup("ctia-enrich:s:2", auth), ::testing::ElementsAre(c));
  EXPECT_EQ(router_->CountsByEndpoint()["judgement_external_id"][200], 5u);
}

TEST_F(ExternalIdTest, OnlyTheCallersVisibleJudgementsAreListed) {
  const std::string foo = Bearer("foouser", "foopass");
  Post(Judgement("ip", "10.7.1.1", 2, 90, R"(,"tlp":"amber","external_ids":["x"])"), foo);
  EXPECT_EQ(Lookup("x", foo).size(), 1u);
  EXPECT_TRUE(Lookup("x", Bearer("baruser", "barpass")).empty());
}

}  // namespace
}  // namespace enrich::sim
