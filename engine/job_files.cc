// The files around a job that plan reads as run does: its allowlist, input, journal path and
// identity, and the reload of a journal into a verdict table (engine/job.h).

#include "engine/job.h"

#include "engine/shard.h"
#include "schema/verdict_details.h"

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include <sys/stat.h>
#include <unistd.h>

namespace enrich::engine {

bool WrittenInPlace(const std::string& output) {
  struct stat st;
  return output == "-" ||
         (stat(output.c_str(), &st) == 0 && !S_ISREG(st.st_mode) && !S_ISDIR(st.st_mode));
}

absl::StatusOr<schema::Allowlist> ReadAllowlist(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  if (!f) {
    return UsageError(
        absl::StrCat("cannot open allowlist \"", path, "\": ", std::strerror(errno)));
  }
  std::stringstream text;
  text << f.rdbuf();
  auto parsed = schema::Allowlist::Parse(text.str(), path);
  if (!parsed.ok()) return UsageError(parsed.status().message());
  return parsed;
}

std::string JournalPathFor(const JobOptions& options) {
  if (!options.journal.empty()) return options.journal;
  if (options.output.empty() || WrittenInPlace(options.output)) return "";
  return absl::StrCat(options.output, ".journal");
}

absl::StatusOr<std::unique_ptr<ByteSource>> OpenJobInput(const JobOptions& options) {
  const std::string& input = options.input;
  if (input != "-" && access(input.c_str(), R_OK) != 0) {
    const int err = errno;
    return absl::Status(absl::ErrnoToStatusCode(err), absl::StrCat("cannot open input \"", input,
                                                                   "\": ", std::strerror(err)));
  }
  auto source = (options.open_source ? options.open_source : OpenSource)(input,
                                                                         options.input_compression);
  if (!source.ok()) {
    const absl::Status& s = source.status();
    if (s.code() == absl::StatusCode::kInvalidArgument &&
        options.input_compression != Compression::kAuto) {
      // The data contradicts --compression.
      return UsageError(absl::StrCat(
          s.message(), "; --compression ", options.compression_flag,
          " applies to the input and the output (--compression auto detects the input's; "
          "--output-compression sets the output's alone)"));
    }
    return s;  // not the options' fault: the input is damaged or unreadable
  }
  return source;
}

std::string JobFingerprint(const JobOptions& options, uint64_t input_size) {
  // The details the run writes belong to its columns: a journal of other details is reused,
  // its verdicts without them looked up again (JournalReload).
  const std::string details = DetailsSpecOf(options.pipeline).Describe();
  // A shard's journal holds its own lookups: the shard is part of the input it read.
  return RunFingerprint(
      options.pipeline.shard.has_value()
          ? absl::StrCat(options.input, " shard=", ShardName(*options.pipeline.shard))
          : options.input,
      input_size,
      details.empty() ? options.column_specs : absl::StrCat(options.column_specs, " ", details),
      options.endpoint);
}

JournalReload::JournalReload(VerdictTable& table, DetailsSpec details)
    : table_(table), details_(details), details_header_(details.Header()) {}

void JournalReload::Restore(absl::Span<const JournalRecordView> batch) {
  restored_.clear();
  errors_.clear();
  for (const JournalRecordView& e : batch) {
    // A verdict journaled by a run that kept other details (or none) lacks what this run writes:
    // it is looked up again. Details this run does not write are dropped.
    if (e.kind == JournalRecordView::Kind::kVerdict && !details_.empty() &&
        !absl::StartsWith(e.details, details_header_)) {
      ++without_details_;
      continue;
    }
    VerdictTable::Restored& r =
        restored_.emplace_back(VerdictTable::Restored{e.type, e.value, {}, e.valid_end,
                                                      e.settled_at});
    switch (e.kind) {
      case JournalRecordView::Kind::kVerdict:
        r.settled.kind = Settled::Kind::kVerdict;
        r.settled.disposition = static_cast<int8_t>(e.disposition);
        r.settled.judgement_id = e.judgement_id;
        if (!details_.empty()) r.settled.details = e.details;
        break;
      case JournalRecordView::Kind::kNoVerdict:
        r.settled.kind = Settled::Kind::kNoVerdict;
        break;
      case JournalRecordView::Kind::kError:
        r.settled.kind = Settled::Kind::kFailed;
        r.settled.error = errors_.emplace_back(absl::StrCat("error:", e.error_code));
        break;
    }
  }
  table_.RestoreBatch(restored_);
}

absl::StatusOr<std::unique_ptr<PersistentCache>> OpenJobCache(
    const JobOptions& options, const std::function<void(absl::string_view)>& say,
    bool existing_only) {
  if (options.cache_dir.empty()) return nullptr;
  if (existing_only && !std::filesystem::exists(options.cache_dir + "/data.mdb")) return nullptr;
  PersistentCacheOptions o;
  o.dir = options.cache_dir;
  o.endpoint = options.endpoint.empty() ? "embedded-demo" : options.endpoint;
  o.intel = options.cache_intel;
  o.details = DetailsSpecOf(options.pipeline).Describe();
  o.max_ttl = options.max_cache_ttl;
  o.negative_ttl = options.cache_negative_ttl;
  o.notice = say;
  auto cache = PersistentCache::Open(std::move(o));
  if (cache.ok() || !absl::IsDataLoss(cache.status())) return cache;
  if (options.cache_damaged_fail) {
    return UsageError(absl::StrCat(cache.status().message(),
                                   "; --cache-damaged=fail: nothing looked up"));
  }
  if (say) say(absl::StrCat(cache.status().message(), ": going on without the cache"));
  return nullptr;
}

}  // namespace enrich::engine
