// Verdict batching through POST /ctia/graphql: the request and answer codec, the batcher, and
// the client's alias mapping, per-alias errors and REST fallback against a scripted server.

#include "schema/json_codec.h"
#include "schema/time_format.h"
#include "tests/fakes/await.h"
#include "tests/fakes/fixed_token_source.h"
#include "tests/fakes/pool_client_rig.h"
#include "tests/fakes/scripted_http_server.h"
#include "transport/ctia_client.h"
#include "transport/internal/graphql_verdicts.h"
#include "transport/internal/verdict_batcher.h"
#include "transport/io_threads.h"

#include <atomic>
#include <cctype>
#include <functional>
#include <future>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "rapidjson/document.h"

namespace enrich::transport {
namespace {

using ::enrich::testing::Await;
using ::enrich::testing::Reply;
using ::enrich::testing::ScriptedHttpServer;
using ::enrich::testing::ScriptedReply;
using ::enrich::testing::ScriptedRequest;
using internal::VerdictBatcher;
using ::testing::HasSubstr;

using VerdictOr = absl::StatusOr<schema::VerdictResult>;
using Results = std::vector<VerdictOr>;

schema::Verdict VerdictWith(int disposition, std::string type, std::string value) {
  schema::Verdict v;
  v.disposition = static_cast<schema::Disposition>(disposition);
  v.disposition_name = std::string(schema::DispositionName(v.disposition));
  v.observable = {std::move(type), std::move(value)};
  v.judgement_id = absl::StrCat("https://ctia.example/ctia/judgement/judgement-", disposition);
  v.valid_time = {absl::FromUnixSeconds(1455235200), schema::EndOfTime()};
  return v;
}

int DispositionOf(const VerdictOr& r) {
  if (!r.ok() || !std::holds_alternative<schema::Verdict>(*r)) return 0;
  return static_cast<int>(std::get<schema::Verdict>(*r).disposition);
}

// ---- request and answer codec ----------------------------------------------------------

TEST(GraphqlVerdictsTest, RequestAsksEveryObservableUnderItsAliasWithVariables) {
  const std::string body = internal::BuildVerdictsRequest(
      {{"ip", "1.2.3.4"}, {"url", "http://x.com/a?b=\"c\"\\d"}, {"domain", "ünïcode.example"}});
  rapidjson::Document doc;
  doc.Parse(body.data(), body.size());
  ASSERT_FALSE(doc.HasParseError()) << body;
  const std::string query = doc["query"].GetString();
  EXPECT_THAT(query, HasSubstr("query Verdicts($t0:String!,$v0:String!,$t1:String!,$v1:String!,"
                               "$t2:String!,$v2:String!)"));
  EXPECT_THAT(query, HasSubstr("o0:observable(type:$t0,value:$v0){verdict{type disposition "
                               "disposition_name judgement_id observable{type value} "
                               "valid_time{start_time end_time}}}"));
  EXPECT_THAT(query, HasSubstr("o2:observable(type:$t2,value:$v2)"));
  // Values travel as variables, byte for byte.
  EXPECT_STREQ(doc["variables"]["t1"].GetString(), "url");
  EXPECT_STREQ(doc["variables"]["v1"].GetString(), "http://x.com/a?b=\"c\"\\d");
  EXPECT_STREQ(doc["variables"]["v2"].GetString(), "ünïcode.example");
}

TEST(GraphqlVerdictsTest, AnswerIsKeyedByAliasNotByEchoedObservable) {
  // o1's verdict echoes o0's observable and vice versa (CTIA echoes the stored judgement's
  // observable, §1.2); members come in reverse order.
  const std::string body =
      absl::StrCat(R"({"data":{"o2":{"verdict":null},"o1":{"verdict":)",
                   schema::EncodeVerdict(VerdictWith(1, "ip", "1.1.1.1")), R"(},"o0":{"verdict":)",
                   schema::EncodeVerdict(VerdictWith(2, "ip", "2.2.2.2")), "}}}");
  auto results = internal::DecodeVerdictsAnswer(body, 3);
  ASSERT_TRUE(results.ok()) << results.status();
  ASSERT_EQ(results->size(), 3u);
  EXPECT_EQ(DispositionOf((*results)[0]), 2);
  EXPECT_EQ(DispositionOf((*results)[1]), 1);
  ASSERT_TRUE((*results)[2].ok());
  EXPECT_TRUE(std::holds_alternative<schema::NoVerdict>(*(*results)[2]));
}

TEST(GraphqlVerdictsTest, AliasErrorSettlesThatObservableOnly) {
  const std::string body = absl::StrCat(
      R"({"data":{"o0":{"verdict":)", schema::EncodeVerdict(VerdictWith(3, "ip", "1.1.1.1")),
      R"(},"o1":null,"o2":{"verdict":null}},)",
      R"("errors":[{"message":"ES timeout","path":["o1","verdict"]}]})");
  auto results = internal::DecodeVerdictsAnswer(body, 3);
  ASSERT_TRUE(results.ok()) << results.status();
  EXPECT_EQ(DispositionOf((*results)[0]), 3);
  ASSERT_FALSE((*results)[1].ok());
  EXPECT_TRUE(absl::IsUnavailable((*results)[1].status()));
  EXPECT_THAT(std::string((*results)[1].status().message()),
              HasSubstr("graphql error for o1: ES timeout"));
  EXPECT_TRUE((*results)[2].ok());
}

TEST(GraphqlVerdictsTest, MissingAliasAndBadVerdictAreErrorsForThemOnly) {
  const std::string body =
      R"({"data":{"o0":{"verdict":{"disposition":9}},"o7":{"verdict":null},"x":1}})";
  auto results = internal::DecodeVerdictsAnswer(body, 2);
  ASSERT_TRUE(results.ok()) << results.status();
  EXPECT_FALSE((*results)[0].ok());
  EXPECT_FALSE((*results)[1].ok());  // o7 is outside the batch: o1 has no answer
  EXPECT_THAT(std::string((*results)[1].status().message()), HasSubstr("no verdict for o1"));
}

TEST(GraphqlVerdictsTest, NonGraphqlAnswersAreFailedPrecondition) {
  for (absl::string_view body :
       {"<html>Not Found</html>", "", "[1,2]", R"({"message":"no verdict"})",
        R"({"type":"verdict","disposition":2})"}) {
    auto results = internal::DecodeVerdictsAnswer(body, 2);
    EXPECT_TRUE(absl::IsFailedPrecondition(results.status())) << body << " " << results.status();
  }
}

TEST(GraphqlVerdictsTest, GarbledJsonIsMalformedNotUnsupported) {
  auto results = internal::DecodeVerdictsAnswer(R"({"data":{"o0":{"verd)", 1);
  EXPECT_TRUE(absl::IsInvalidArgument(results.status())) << results.status();
}

// ---- VerdictBatcher ------------------------------------------------------------------

class VerdictBatcherTest : public ::testing::Test {
 protected:
  void Make(size_t size) {
    batcher_ = std::make_unique<VerdictBatcher>(
        size, absl::Milliseconds(5),
        [this](absl::Duration delay, std::function<void()> fn) {
          EXPECT_EQ(delay, absl::Milliseconds(5));
          timers_.push_back(std::move(fn));
        },
        [this] { ++cancels_; },
        [this](std::vector<VerdictBatcher::Lookup> batch) {
          std::vector<std::string> values;
          for (auto& l : batch) {
            values.push_back(l.observable.value);
            l.done(schema::VerdictResult(schema::NoVerdict{}));
          }
          flushed_.push_back(std::move(values));
        });
  }
  void Add(std::string value) {
    batcher_->Add({"ip", std::move(value)}, [this](VerdictOr r) {
      EXPECT_TRUE(r.ok());
      ++settled_;
    });
  }

  std::vector<std::function<void()>> timers_;
  std::vector<std::vector<std::string>> flushed_;
  int settled_ = 0;
  int cancels_ = 0;
  std::unique_ptr<VerdictBatcher> batcher_;
};

TEST_F(VerdictBatcherTest, FullBatchLeavesAtOnceInArrivalOrder) {
  Make(3);
  Add("a");
  Add("b");
  EXPECT_TRUE(flushed_.empty());
  Add("c");
  ASSERT_EQ(flushed_.size(), 1u);
  EXPECT_EQ(flushed_[0], (std::vector<std::string>{"a", "b", "c"}));
  EXPECT_EQ(settled_, 3);
  EXPECT_EQ(timers_.size(), 1u);  // armed by "a" only
  EXPECT_EQ(cancels_, 1);         // and disarmed when the batch left full
}

TEST_F(VerdictBatcherTest, LingerFlushesAPartialBatch) {
  Make(100);
  Add("a");
  Add("b");
  ASSERT_EQ(timers_.size(), 1u);
  timers_[0]();
  ASSERT_EQ(flushed_.size(), 1u);
  EXPECT_EQ(flushed_[0], (std::vector<std::string>{"a", "b"}));
  EXPECT_EQ(cancels_, 0);
  // The next lookup opens a new batch with its own timer.
  Add("c");
  ASSERT_EQ(timers_.size(), 2u);
  timers_[1]();
  ASSERT_EQ(flushed_.size(), 2u);
  EXPECT_EQ(flushed_[1], (std::vector<std::string>{"c"}));
}

TEST_F(VerdictBatcherTest, StaleTimerDoesNotCutTheNextBatchShort) {
  Make(2);
  Add("a");
  Add("b");  // full: flushed, but a's timer is still armed
  Add("c");  // a new batch, a new timer
  ASSERT_EQ(timers_.size(), 2u);
  timers_[0]();  // the stale one
  EXPECT_EQ(flushed_.size(), 1u);
  timers_[1]();
  ASSERT_EQ(flushed_.size(), 2u);
  EXPECT_EQ(flushed_[1], (std::vector<std::string>{"c"}));
}

TEST_F(VerdictBatcherTest, TimerAfterDestructionDoesNothing) {
  Make(10);
  Add("a");
  batcher_.reset();
  timers_[0]();
  EXPECT_TRUE(flushed_.empty());
}

TEST_F(VerdictBatcherTest, FlushNowSendsWhatIsCollected) {
  Make(10);
  batcher_->FlushNow();
  EXPECT_TRUE(flushed_.empty());
  Add("a");
  batcher_->FlushNow();
  ASSERT_EQ(flushed_.size(), 1u);
  timers_[0]();
  EXPECT_EQ(flushed_.size(), 1u);
}

// ---- the client against a scripted server ---------------------------------------------

// A GraphQL server for the subset the client sends: answers each alias from `answer(type,
// value)` (empty optional = no verdict), echoing an upper-cased observable.
class GraphqlClientTest : public ::testing::Test {
 protected:
  using Script = std::function<ScriptedReply(const ScriptedRequest&)>;

  void TearDown() override { Stop(); }
  void Stop() {
    rig_.Stop();
    client_ = nullptr;
    server_.reset();
  }

  void Start(Script script, size_t batch_size = 10) {
    Stop();
    script_ = std::move(script);
    server_ = std::make_unique<ScriptedHttpServer>(
        [this](const ScriptedRequest& r) { return script_(r); });
    CtiaClientOptions options;
    options.retry_backoff = absl::Milliseconds(1);
    options.max_backoff = absl::Milliseconds(5);
    options.batch_size = batch_size;
    options.batch_linger = absl::Milliseconds(20);
    options.notice = [this](absl::string_view text) {
      absl::MutexLock lock(&mu_);
      notices_.emplace_back(text);
    };
    client_ = &rig_.Start(server_->url(), tokens_, options);
  }

  // Answers a GraphQL request: disposition = 1 + (length of value) % 5, "none*" → no verdict,
  // "fail*" → an error for that alias. Echoes the value upper-cased.
  static ScriptedReply AnswerGraphql(const ScriptedRequest& r) {
    rapidjson::Document doc;
    doc.Parse(r.body.data(), r.body.size());
    std::string data;
    std::string errors;
    const auto& vars = doc["variables"];
    for (size_t i = 0;; ++i) {
      const std::string t = absl::StrCat("t", i), v = absl::StrCat("v", i);
      if (!vars.HasMember(t.c_str())) break;
      const std::string type = vars[t.c_str()].GetString();
      const std::string value = vars[v.c_str()].GetString();
      absl::StrAppend(&data, data.empty() ? "" : ",", "\"o", i, "\":");
      if (value.rfind("fail", 0) == 0) {
        absl::StrAppend(&data, "null");
        absl::StrAppend(&errors, errors.empty() ? "" : ",", R"({"message":"boom","path":["o)", i,
                        R"(","verdict"]})");
      } else if (value.rfind("none", 0) == 0) {
        absl::StrAppend(&data, R"({"verdict":null})");
      } else {
        std::string upper = value;
        for (char& c : upper) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
        absl::StrAppend(
            &data, R"({"verdict":)",
            schema::EncodeVerdict(VerdictWith(1 + static_cast<int>(value.size() % 5), type, upper)),
            "}");
      }
    }
    std::string body = absl::StrCat(R"({"data":{)", data, "}");
    if (!errors.empty()) absl::StrAppend(&body, R"(,"errors":[)", errors, "]");
    body += "}";
    return Reply(200, body);
  }

  static ScriptedReply AnswerRest(const ScriptedRequest& r) {
    // /ctia/<type>/<value>/verdict
    const std::string rest = r.target.substr(std::string("/ctia/").size());
    const std::string type = rest.substr(0, rest.find('/'));
    std::string value = rest.substr(type.size() + 1);
    value = value.substr(0, value.rfind("/verdict"));
    if (value.rfind("none", 0) == 0) {
      return Reply(404,
                   R"({"message":"no verdict currently available for the supplied observable"})");
    }
    return Reply(200, schema::EncodeVerdict(
                          VerdictWith(1 + static_cast<int>(value.size() % 5), type, value)));
  }

  Results Batch(std::vector<schema::Observable> batch) {
    auto r = Await<absl::StatusOr<Results>>([&](std::function<void(absl::StatusOr<Results>)> done) {
      client_->Verdicts(std::move(batch), [done](Results results) { done(std::move(results)); });
    });
    EXPECT_TRUE(r.ok()) << r.status();
    return r.ok() ? *r : Results{};
  }

  size_t Count(absl::string_view path_part) {
    size_t n = 0;
    for (const auto& r : server_->recorded()) n += absl::StrContains(r.target, path_part);
    return n;
  }

  ::enrich::testing::FixedTokenSource tokens_;
  Script script_;
  std::unique_ptr<ScriptedHttpServer> server_;
  ::enrich::testing::PoolClientRig rig_{2};
  BeastCtiaClient* client_ = nullptr;
  absl::Mutex mu_;
  std::vector<std::string> notices_ ABSL_GUARDED_BY(mu_);
};

TEST_F(GraphqlClientTest, OneRequestAnswersTheBatchInRequestOrder) {
  Start([](const ScriptedRequest& r) { return AnswerGraphql(r); });
  Results results = Batch({{"domain", "a.com"},
                           {"ip", "none-1"},
                           {"domain", "abc.com"},
                           {"ip", "fail-1"},
                           {"sha256", "ab"}});
  ASSERT_EQ(results.size(), 5u);
  EXPECT_EQ(DispositionOf(results[0]), 1 + 5 % 5);
  ASSERT_TRUE(results[1].ok());
  EXPECT_TRUE(std::holds_alternative<schema::NoVerdict>(*results[1]));
  EXPECT_EQ(DispositionOf(results[2]), 1 + 7 % 5);
  EXPECT_FALSE(results[3].ok());  // only o3 failed
  EXPECT_THAT(std::string(results[3].status().message()), HasSubstr("o3: boom"));
  EXPECT_EQ(DispositionOf(results[4]), 1 + 2 % 5);
  std::vector<ScriptedRequest> seen = server_->recorded();
  ASSERT_EQ(seen.size(), 1u);
  EXPECT_EQ(seen[0].method, "POST");
  EXPECT_EQ(seen[0].target, "/ctia/graphql");
  EXPECT_EQ(seen[0].Header("authorization"), "Bearer tok");
  EXPECT_EQ(seen[0].Header("content-type"), "application/json");
  const CtiaClientCounters c = client_->Snapshot();
  EXPECT_EQ(c.graphql_requests, 1u);
  EXPECT_EQ(c.verdict_requests, 0u);
  EXPECT_EQ(c.graphql_verdicts, 5u);
}

TEST_F(GraphqlClientTest, UnknownTypesAndSingletonsGoThroughRest) {
  Start([](const ScriptedRequest& r) {
    return r.target == "/ctia/graphql" ? AnswerGraphql(r) : AnswerRest(r);
  });
  Results results = Batch({{"ip", "1.2.3.4"}, {"no_such_type", "x"}, {"ip", "5.6.7.8"}});
  ASSERT_EQ(results.size(), 3u);
  for (const auto& r : results) EXPECT_NE(DispositionOf(r), 0) << r.status();
  EXPECT_EQ(Count("/ctia/graphql"), 1u);
  EXPECT_EQ(Count("/ctia/no_such_type/x/verdict"), 1u);
  // A batch with one GraphQL-able observable is a plain GET.
  results = Batch({{"ip", "9.9.9.9"}});
  EXPECT_EQ(DispositionOf(results.at(0)), 1 + 7 % 5);
  EXPECT_EQ(Count("/ctia/graphql"), 1u);
  EXPECT_EQ(Count("/ctia/ip/9.9.9.9/verdict"), 1u);
}

TEST_F(GraphqlClientTest, UnsupportedServerFallsBackToRestOnceWithOneNotice) {
  for (int status : {404, 400}) {
    SCOPED_TRACE(status);
    Start([status](const ScriptedRequest& r) {
      if (r.target == "/ctia/graphql") {
        return status == 404
                   ? ScriptedReply{::enrich::testing::HttpAnswer(404, "<html>Not Found</html>", {},
                                                                 "text/html")}
                   : Reply(400, R"({"errors":[{"message":"Unknown field"}],"data":null})");
      }
      return AnswerRest(r);
    });
    Results results = Batch({{"ip", "1.2.3.4"}, {"ip", "none"}, {"domain", "ab.com"}});
    ASSERT_EQ(results.size(), 3u);
    EXPECT_EQ(DispositionOf(results[0]), 1 + 7 % 5);
    ASSERT_TRUE(results[1].ok()) << results[1].status();
    EXPECT_TRUE(std::holds_alternative<schema::NoVerdict>(*results[1]));
    EXPECT_EQ(DispositionOf(results[2]), 1 + 6 % 5);
    results = Batch({{"ip", "1.1.1.1"}, {"ip", "2.2.2.2"}});
    EXPECT_EQ(DispositionOf(results[1]), 1 + 7 % 5);
    EXPECT_EQ(Count("/ctia/graphql"), 1u);  // never asked again
    EXPECT_EQ(Count("/verdict"), 5u);
    EXPECT_TRUE(client_->Snapshot().graphql_unsupported);
    absl::MutexLock lock(&mu_);
    ASSERT_EQ(notices_.size(), 1u);
    EXPECT_THAT(notices_[0], HasSubstr("/ctia/graphql is not usable"));
    EXPECT_THAT(notices_[0], HasSubstr(absl::StrCat("http ", status)));
    notices_.clear();
  }
}

TEST_F(GraphqlClientTest, NonGraphqlOkAnswerFallsBack) {
  // A fixed-answer server that sends the same verdict for every path.
  Start([](const ScriptedRequest&) {
    return Reply(200, schema::EncodeVerdict(VerdictWith(2, "ip", "1.2.3.4")));
  });
  Results results = Batch({{"ip", "1.2.3.4"}, {"ip", "5.6.7.8"}});
  EXPECT_EQ(DispositionOf(results[0]), 2);
  EXPECT_EQ(DispositionOf(results[1]), 2);
  EXPECT_EQ(Count("/ctia/graphql"), 1u);
  EXPECT_EQ(Count("/verdict"), 2u);
  EXPECT_TRUE(client_->Snapshot().graphql_unsupported);
}

TEST_F(GraphqlClientTest, ServerErrorRetriesTheWholeBatchThenSettlesEveryObservable) {
  std::atomic<int> posts{0};
  Start([&posts](const ScriptedRequest& r) {
    if (++posts == 1) return Reply(503, "<html>busy</html>");
    return AnswerGraphql(r);
  });
  Results results = Batch({{"ip", "1.2.3.4"}, {"ip", "none"}});
  EXPECT_EQ(DispositionOf(results[0]), 1 + 7 % 5);
  EXPECT_TRUE(results[1].ok());
  EXPECT_EQ(Count("/ctia/graphql"), 2u);
  EXPECT_EQ(client_->Snapshot().retries, 1u);
  EXPECT_FALSE(client_->Snapshot().graphql_unsupported);

  Start([](const ScriptedRequest&) { return Reply(500, R"({"type":"unknown-exception"})"); });
  results = Batch({{"ip", "1.2.3.4"}, {"ip", "none"}});
  ASSERT_EQ(results.size(), 2u);
  for (const auto& r : results) {
    ASSERT_FALSE(r.ok());
    EXPECT_THAT(std::string(r.status().message()), ::testing::StartsWith("http 500"));
  }
  EXPECT_EQ(Count("/ctia/graphql"), 3u);  // max_attempts
}

TEST_F(GraphqlClientTest, LookupVerdictCallsAreBatched) {
  Start([](const ScriptedRequest& r) { return AnswerGraphql(r); }, /*batch_size=*/4);
  std::vector<std::shared_ptr<std::promise<VerdictOr>>> promises;
  for (int i = 0; i < 10; ++i) {
    auto p = std::make_shared<std::promise<VerdictOr>>();
    promises.push_back(p);
    client_->LookupVerdict({"domain", std::string(static_cast<size_t>(i + 1), 'x')},
                           [p](VerdictOr r) { p->set_value(std::move(r)); });
  }
  for (int i = 0; i < 10; ++i) {
    auto f = promises[static_cast<size_t>(i)]->get_future();
    ASSERT_EQ(f.wait_for(std::chrono::seconds(10)), std::future_status::ready);
    EXPECT_EQ(DispositionOf(f.get()), 1 + (i + 1) % 5) << i;
  }
  // 4 + 4 full batches, and the last 2 after the linger.
  EXPECT_EQ(Count("/ctia/graphql"), 3u);
  EXPECT_EQ(client_->Snapshot().graphql_verdicts, 10u);
}

}  // namespace
}  // namespace enrich::transport
