#include "transport/redis/shared_verdict_codec.h"

#include <cstdint>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_replace.h"
#include "schema/disposition.h"

namespace enrich::transport {
namespace {

constexpr char kVersion = 1;

void PutInt64(std::string& out, int64_t v) {
  const uint64_t u = static_cast<uint64_t>(v);
  for (int i = 0; i < 8; ++i) out.push_back(static_cast<char>((u >> (8 * i)) & 0xff));
}

void PutString(std::string& out, absl::string_view s) {
  uint64_t n = s.size();
  while (n >= 0x80) {
    out.push_back(static_cast<char>((n & 0x7f) | 0x80));
    n >>= 7;
  }
  out.push_back(static_cast<char>(n));
  out.append(s.data(), s.size());
}

// Reads from `in`, advancing it; false when it runs out.
bool GetInt64(absl::string_view& in, int64_t& v) {
  if (in.size() < 8) return false;
  uint64_t u = 0;
  for (int i = 0; i < 8; ++i) u |= static_cast<uint64_t>(static_cast<uint8_t>(in[i])) << (8 * i);
  v = static_cast<int64_t>(u);
  in.remove_prefix(8);
  return true;
}

bool GetString(absl::string_view& in, std::string& s) {
  uint64_t n = 0;
  for (int shift = 0;; shift += 7) {
    if (in.empty() || shift > 28) return false;
    const uint8_t b = static_cast<uint8_t>(in[0]);
    in.remove_prefix(1);
    n |= static_cast<uint64_t>(b & 0x7f) << shift;
    if ((b & 0x80) == 0) break;
  }
  if (n > in.size()) return false;
  s.assign(in.data(), n);
  in.remove_prefix(n);
  return true;
}

absl::Status Corrupt(absl::string_view why) {
  return absl::InvalidArgumentError(absl::StrCat("shared cache entry: ", why));
}

}  // namespace

std::string SharedKeyText(const SharedLookupKey& key) {
  auto part = [](absl::string_view s) { return absl::StrReplaceAll(s, {{"|", "%7C"}}); };
  return absl::StrCat(part(key.endpoint), "|", part(key.intel), "|", part(key.type), "|",
                      key.value);
}

std::string EncodeSharedVerdict(const schema::VerdictResult& result) {
  std::string out;
  out.push_back(kVersion);
  const auto* v = std::get_if<schema::Verdict>(&result);
  if (v == nullptr) {
    out.push_back(0);
    return out;
  }
  out.push_back(1);
  out.push_back(static_cast<char>(static_cast<int>(v->disposition)));
  PutInt64(out, absl::ToUnixMillis(v->valid_time.start_time));
  PutInt64(out, absl::ToUnixMillis(v->valid_time.end_time));
  PutString(out, v->observable.type);
  PutString(out, v->observable.value);
  PutString(out, v->judgement_id);
  PutString(out, v->intel);
  return out;
}

absl::StatusOr<schema::VerdictResult> DecodeSharedVerdict(absl::string_view in) {
  if (in.size() < 2) return Corrupt("truncated");
  if (in[0] != kVersion) return Corrupt(absl::StrCat("unknown version ", static_cast<int>(in[0])));
  const char kind = in[1];
  in.remove_prefix(2);
  if (kind == 0) {
    if (!in.empty()) return Corrupt("bytes after a no-verdict entry");
    return schema::VerdictResult(schema::NoVerdict{});
  }
  if (kind != 1 || in.empty()) return Corrupt("bad kind");
  auto disposition = schema::DispositionFromNumber(static_cast<uint8_t>(in[0]));
  if (!disposition) return Corrupt("bad disposition");
  in.remove_prefix(1);
  schema::Verdict v;
  v.disposition = *disposition;
  v.disposition_name = std::string(schema::DispositionName(*disposition));
  int64_t start = 0, end = 0;
  if (!GetInt64(in, start) || !GetInt64(in, end) || !GetString(in, v.observable.type) ||
      !GetString(in, v.observable.value) || !GetString(in, v.judgement_id) ||
      !GetString(in, v.intel)) {
    return Corrupt("truncated verdict");
  }
  if (!in.empty()) return Corrupt("bytes after the verdict");
  v.valid_time.start_time = absl::FromUnixMillis(start);
  v.valid_time.end_time = absl::FromUnixMillis(end);
  return schema::VerdictResult(std::move(v));
}

}  // namespace enrich::transport
