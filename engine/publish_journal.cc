#include "engine/publish_journal.h"

#include "engine/byte_io.h"
#include "engine/signals.h"
#include "schema/path_encoding.h"

#include <cerrno>
#include <cstring>
#include <fstream>
#include <sstream>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include <unistd.h>

namespace enrich::engine {
namespace {

constexpr absl::string_view kHeader = "ctia-enrich publish journal 1";

absl::Status Damaged(const std::string& path, size_t line, absl::string_view why) {
  return absl::DataLossError(absl::StrCat(path, ":", line, ": damaged publish journal (", why,
                                          "); remove it to publish without it"));
}

}  // namespace

absl::StatusOr<PublishJournalState> LoadPublishJournal(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return absl::NotFoundError(absl::StrCat(path, ": cannot read the publish journal"));
  std::stringstream buffer;
  buffer << in.rdbuf();
  const std::string text = buffer.str();
  PublishJournalState state;
  std::vector<absl::string_view> lines = absl::StrSplit(text, '\n');
  // The last element follows the last '\n': empty, or a torn record that is ignored.
  lines.pop_back();
  for (size_t i = 0; i < lines.size(); ++i) {
    const size_t number = i + 1;
    if (i == 0) {
      if (lines[0] != kHeader) return Damaged(path, number, "not a publish journal");
      continue;
    }
    std::vector<absl::string_view> words = absl::StrSplit(lines[i], ' ', absl::SkipEmpty());
    if (words.empty()) return Damaged(path, number, "empty line");
    std::vector<std::string> decoded;
    for (size_t w = 1; w < words.size(); ++w) {
      absl::StatusOr<std::string> d = schema::PercentDecode(words[w]);
      if (!d.ok()) return Damaged(path, number, d.status().message());
      decoded.push_back(*std::move(d));
    }
    if (words[0] == "sent") {
      for (std::string& xid : decoded) {
        if (!state.done.contains(xid)) state.in_flight.insert(std::move(xid));
      }
    } else if (words[0] == "unsent") {
      for (const std::string& xid : decoded) state.in_flight.erase(xid);
    } else if (words[0] == "done" && decoded.size() == 2) {
      state.in_flight.erase(decoded[0]);
      state.done[decoded[0]] = std::move(decoded[1]);
    } else {
      return Damaged(path, number, "unknown record");
    }
  }
  return state;
}

absl::StatusOr<std::unique_ptr<PublishJournal>> PublishJournal::Open(const std::string& path,
                                                                     bool resume) {
  const bool exists = ::access(path.c_str(), F_OK) == 0;
  if (exists && !resume) {
    return absl::FailedPreconditionError(absl::StrCat(
        "publish journal ", path,
        " exists (an earlier publish to the same result file): add --resume to continue it "
        "(the rows it records are not sent again, rows sent when that run stopped are looked "
        "up first), or remove it to publish without it"));
  }
  PublishJournalState state;
  if (exists) {
    absl::StatusOr<PublishJournalState> loaded = LoadPublishJournal(path);
    if (!loaded.ok()) return loaded.status();
    state = *std::move(loaded);
  }
  std::FILE* file = std::fopen(path.c_str(), "ab");
  if (file == nullptr) {
    return absl::PermissionDeniedError(
        absl::StrCat(path, ": cannot write the publish journal: ", std::strerror(errno)));
  }
  std::unique_ptr<PublishJournal> journal(new PublishJournal(path, file));
  journal->loaded_ = std::move(state);
  if (!exists) {
    if (absl::Status s = journal->Append(absl::StrCat(kHeader, "\n")); !s.ok()) return s;
    if (absl::Status s = SyncDirectoryOf(path); !s.ok()) return s;
  }
  return journal;
}

PublishJournal::~PublishJournal() { std::fclose(file_); }

absl::Status PublishJournal::Append(const std::string& text) {
  JournalWriteGuard guard;  // a second stop signal waits for the whole write
  if (std::fwrite(text.data(), 1, text.size(), file_) != text.size() || std::fflush(file_) != 0 ||
      ::fsync(::fileno(file_)) != 0) {
    return absl::DataLossError(
        absl::StrCat(path_, ": cannot write the publish journal: ", std::strerror(errno)));
  }
  return absl::OkStatus();
}

absl::Status PublishJournal::Sent(const std::vector<std::string>& external_ids) {
  return AppendIds("sent", external_ids);
}

absl::Status PublishJournal::Unsent(const std::vector<std::string>& external_ids) {
  return AppendIds("unsent", external_ids);
}

absl::Status PublishJournal::AppendIds(absl::string_view record,
                                       const std::vector<std::string>& external_ids) {
  if (external_ids.empty()) return absl::OkStatus();
  std::string line(record);
  for (const std::string& xid : external_ids) {
    absl::StrAppend(&line, " ", schema::PercentEncodePathSegment(xid));
  }
  line.push_back('\n');
  return Append(line);
}

absl::Status PublishJournal::Done(const std::vector<std::pair<std::string, std::string>>& created) {
  if (created.empty()) return absl::OkStatus();
  std::string text;
  for (const auto& [xid, id] : created) {
    absl::StrAppend(&text, "done ", schema::PercentEncodePathSegment(xid), " ",
                    schema::PercentEncodePathSegment(id), "\n");
  }
  return Append(text);
}

}  // namespace enrich::engine
