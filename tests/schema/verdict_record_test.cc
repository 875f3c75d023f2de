#include "schema/verdict_record.h"
#include "schema/observable.h"

#include <array>
#include <deque>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include <gtest/gtest.h>

namespace enrich::schema {
namespace {

constexpr absl::string_view kUuid = "0f1e2d3c-4b5a-6978-8796-a5b4c3d2e1f0";
constexpr absl::string_view kPrivate =
    "https://private.intel.amp.cisco.com:443/ctia/judgement/judgement-";

// Encodes `s`, checks the record's size and expiry, decodes it and returns what came back (its
// views into a record kept for the test's length).
Settled RoundTrip(const Settled& s, IdPrefixes& prefixes, std::string* record = nullptr) {
  static std::deque<std::string> kept;
  std::string& bytes = kept.emplace_back();
  EncodeRecord(s, 1'700'000'000'123, prefixes, bytes);
  EXPECT_EQ(RecordSize(bytes), bytes.size());
  EXPECT_EQ(RecordExpiryMs(bytes.data()), 1'700'000'000'123);
  Settled back;
  int64_t expiry = 0;
  EXPECT_TRUE(DecodeRecord(bytes, prefixes, back, expiry));
  EXPECT_EQ(expiry, 1'700'000'000'123);
  if (record != nullptr) *record = bytes;
  return back;
}

TEST(VerdictRecord, UuidIdKeepsSixteenBytesAndOnePrefix) {
  IdPrefixes prefixes;
  Settled s;
  s.kind = Settled::Kind::kVerdict;
  s.disposition = 2;
  s.valid_until_ms = 4'102'444'800'000;
  const std::string id = absl::StrCat(kPrivate, kUuid);
  s.judgement_id = id;
  std::string record;
  Settled back = RoundTrip(s, prefixes, &record);
  EXPECT_EQ(back.kind, Settled::Kind::kVerdict);
  EXPECT_EQ(back.disposition, 2);
  EXPECT_EQ(back.valid_until_ms, 4'102'444'800'000);
  EXPECT_EQ(back.judgement_id, id);
  EXPECT_EQ(back.judgement_id.ToString(), id);
  EXPECT_TRUE(back.details.empty());
  // length, flags, disposition, expiry, valid_until, prefix number, UUID
  EXPECT_EQ(record.size(), 1u + 1 + 1 + 8 + 8 + 1 + 16);
  EXPECT_LT(record.size(), id.size() / 2);
  EXPECT_EQ(prefixes.size(), 1u);

  // A second id of the same host shares the prefix; another host gets its own.
  const std::string same_host = absl::StrCat(kPrivate, "00000000-0000-4000-8000-000000000001");
  s.judgement_id = same_host;
  EXPECT_EQ(RoundTrip(s, prefixes).judgement_id, same_host);
  EXPECT_EQ(prefixes.size(), 1u);
  const std::string global =
      absl::StrCat("https://intel.amp.cisco.com:443/ctia/judgement/judgement-", kUuid);
  s.judgement_id = global;
  EXPECT_EQ(RoundTrip(s, prefixes).judgement_id, global);
  EXPECT_EQ(prefixes.size(), 2u);
  EXPECT_EQ(prefixes.At(0), kPrivate);
}

TEST(VerdictRecord, OtherIdsAreKeptAsText) {
  IdPrefixes prefixes;
  Settled s;
  s.kind = Settled::Kind::kVerdict;
  s.disposition = 1;
  for (const std::string& id :
       {std::string("judgement-1"), std::string("j"),
        // upper-case hex would not format back to the same text
        absl::StrCat(kPrivate, "0F1E2D3C-4B5A-6978-8796-A5B4C3D2E1F0"),
        // a dash out of place, a non-hex digit
        absl::StrCat(kPrivate, "0f1e2d3c4-b5a-6978-8796-a5b4c3d2e1f0"),
        absl::StrCat(kPrivate, "0f1e2d3c-4b5a-6978-8796-a5b4c3d2e1fg"),
        std::string(200, 'x')}) {
    s.judgement_id = id;
    std::string record;
    const Settled back = RoundTrip(s, prefixes, &record);
    EXPECT_EQ(back.judgement_id, id);
    EXPECT_GE(record.size(), id.size());
  }
  EXPECT_EQ(prefixes.size(), 0u);
  // A bare UUID is a UUID id with an empty prefix.
  s.judgement_id = kUuid;
  EXPECT_EQ(RoundTrip(s, prefixes).judgement_id, kUuid);
  EXPECT_EQ(prefixes.At(0), "");
}

TEST(VerdictRecord, PrefixesBeyondTheLimitFallBackToText) {
  IdPrefixes prefixes;
  Settled s;
  s.kind = Settled::Kind::kVerdict;
  for (size_t i = 0; i < IdPrefixes::kMax + 5; ++i) {
    const std::string id = absl::StrCat("https://h", i, ":443/ctia/judgement/judgement-", kUuid);
    s.judgement_id = id;
    EXPECT_EQ(RoundTrip(s, prefixes).judgement_id, id);
  }
  EXPECT_EQ(prefixes.size(), IdPrefixes::kMax);
  EXPECT_EQ(prefixes.Intern("another"), -1);
  EXPECT_EQ(prefixes.Intern("https://h3:443/ctia/judgement/judgement-"), 3);
}

TEST(VerdictRecord, DetailsNoVerdictAndFailures) {
  IdPrefixes prefixes;
  Settled s;
  s.kind = Settled::Kind::kVerdict;
  s.disposition = 5;
  const std::string id = absl::StrCat(kPrivate, kUuid);
  s.judgement_id = id;
  const std::string details("\x02\x01\x00source\xff", 10);
  s.details = details;
  Settled back = RoundTrip(s, prefixes);
  EXPECT_EQ(back.details, details);
  EXPECT_EQ(back.judgement_id, id);

  Settled none;
  none.kind = Settled::Kind::kNoVerdict;
  std::string record;
  back = RoundTrip(none, prefixes, &record);
  EXPECT_EQ(back.kind, Settled::Kind::kNoVerdict);
  EXPECT_TRUE(back.judgement_id.empty());
  EXPECT_EQ(record.size(), 11u);

  Settled failed;
  failed.kind = Settled::Kind::kFailed;
  failed.error = "error:timeout";
  back = RoundTrip(failed, prefixes);
  EXPECT_EQ(back.kind, Settled::Kind::kFailed);
  EXPECT_EQ(back.error, "error:timeout");
}

TEST(VerdictRecord, DamagedRecordsAreRejected) {
  IdPrefixes prefixes;
  Settled s;
  s.kind = Settled::Kind::kVerdict;
  const std::string id = absl::StrCat(kPrivate, kUuid);
  s.judgement_id = id;
  std::string record;
  EncodeRecord(s, 1, prefixes, record);
  Settled out;
  int64_t expiry = 0;
  for (size_t cut = 0; cut < record.size(); ++cut) {
    EXPECT_FALSE(DecodeRecord(record.substr(0, cut), prefixes, out, expiry)) << cut;
    EXPECT_EQ(RecordSize(record.substr(0, cut)), 0u) << cut;
  }
  IdPrefixes empty;  // the prefix number is unknown there
  EXPECT_FALSE(DecodeRecord(record, empty, out, expiry));
  std::string bad_kind = record;
  bad_kind[1] = 3;
  EXPECT_FALSE(DecodeRecord(bad_kind, prefixes, out, expiry));
}

TEST(VerdictRecord, KeysNumberKnownTypesAndSpellOthers) {
  std::string key;
  EncodeKey("domain", "example.org", key);
  EXPECT_EQ(key.size(), 1 + std::string("example.org").size());
  absl::string_view type, value;
  ASSERT_TRUE(DecodeKey(key, type, value));
  EXPECT_EQ(type, "domain");
  EXPECT_EQ(value, "example.org");

  std::string other;
  EncodeKey("not_a_ctia_type", "v", other);
  ASSERT_TRUE(DecodeKey(other, type, value));
  EXPECT_EQ(type, "not_a_ctia_type");
  EXPECT_EQ(value, "v");

  // Different types give different keys for one value; so do all the known types.
  std::string ip, sha;
  EncodeKey("ip", "1.2.3.4", ip);
  EncodeKey("sha256", "1.2.3.4", sha);
  EXPECT_NE(ip, sha);
  std::string empty_value;
  EncodeKey("ip", "", empty_value);
  ASSERT_TRUE(DecodeKey(empty_value, type, value));
  EXPECT_EQ(type, "ip");
  EXPECT_EQ(value, "");
}

TEST(VerdictRecord, EveryKnownTypeHasItsNumberAndNearNamesNone) {
  const auto& known = schema::KnownObservableTypes();
  for (size_t i = 0; i < known.size(); ++i) {
    std::string key;
    EncodeKey(known[i], "v", key);
    ASSERT_EQ(key.size(), 2u) << known[i];
    EXPECT_EQ(static_cast<uint8_t>(key[0]), i + 1) << known[i];
    absl::string_view type, value;
    ASSERT_TRUE(DecodeKey(key, type, value));
    EXPECT_EQ(type, known[i]);
    // Same first letter and length, another name: spelled out.
    std::string near(known[i]);
    near.back() = near.back() == 'z' ? 'y' : 'z';
    std::string other;
    EncodeKey(near, "v", other);
    EXPECT_EQ(other[0], 0) << near;
    ASSERT_TRUE(DecodeKey(other, type, value));
    EXPECT_EQ(type, near);
  }
  for (const char* odd : {"", "Domain", "_x", "an_observable_type_name_of_many_letters"}) {
    std::string key;
    EncodeKey(odd, "v", key);
    EXPECT_EQ(key[0], 0) << odd;
  }
}

TEST(VerdictRecord, DecodeStoredRecordReadsWhatDecodeRecordReads) {
  IdPrefixes prefixes;
  std::vector<Settled> all(5);
  all[0].kind = Settled::Kind::kVerdict;
  all[0].disposition = 2;
  all[0].valid_until_ms = 1234;
  const std::string id = absl::StrCat(kPrivate, kUuid);
  all[0].judgement_id = id;
  all[1] = all[0];
  all[1].judgement_id = "judgement-1";
  const std::string details("\x02\x01\x00source\xff", 10);
  all[2] = all[0];
  all[2].details = details;
  all[3].kind = Settled::Kind::kNoVerdict;
  all[4].kind = Settled::Kind::kFailed;
  all[4].error = "error:timeout";
  for (const Settled& s : all) {
    std::string record;
    EncodeRecord(s, 99, prefixes, record);
    Settled checked, stored;
    int64_t expiry = 0;
    ASSERT_TRUE(DecodeRecord(record, prefixes, checked, expiry));
    DecodeStoredRecord(record.data(), prefixes, stored);
    EXPECT_EQ(stored.kind, checked.kind);
    EXPECT_EQ(stored.disposition, checked.disposition);
    EXPECT_EQ(stored.valid_until_ms, checked.valid_until_ms);
    EXPECT_EQ(stored.judgement_id, checked.judgement_id.ToString());
    EXPECT_EQ(stored.error, checked.error);
    EXPECT_EQ(stored.details, checked.details);
    EXPECT_EQ(RecordExpiryMs(record.data()), 99);
  }
}

TEST(VerdictRecord, JudgementIdRefFormsAndIdentity) {
  std::string buf;
  const JudgementIdRef text("judgement-1");
  EXPECT_EQ(text.Text(buf), "judgement-1");
  std::array<char, kUuidBytes> uuid;
  absl::string_view prefix;
  const std::string id = absl::StrCat(kPrivate, kUuid);
  ASSERT_TRUE(SplitUuidId(id, prefix, uuid));
  EXPECT_EQ(prefix, kPrivate);
  const JudgementIdRef ref = JudgementIdRef::OfUuid(prefix, uuid.data());
  EXPECT_EQ(ref.Text(buf), id);
  EXPECT_EQ(ref.size(), id.size());
  EXPECT_EQ(ref, JudgementIdRef(id));
  EXPECT_NE(ref, absl::StrCat(kPrivate, "0f1e2d3c-4b5a-6978-8796-a5b4c3d2e1f1"));
  EXPECT_EQ(ref.identity(), uuid.data());
  EXPECT_EQ(JudgementIdRef().identity(), nullptr);
  EXPECT_TRUE(JudgementIdRef().empty());
}

}  // namespace
}  // namespace enrich::schema
