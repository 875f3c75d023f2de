#ifndef ENRICH_ENGINE_PUBLISH_JOURNAL_H_
#define ENRICH_ENGINE_PUBLISH_JOURNAL_H_

// The journal of `ctia-enrich publish`: which external ids were sent to CTIA and which
// judgement each one created, so a rerun (--resume) never creates a judgement twice. A small
// append-only text file, fsynced after each record group; lines:
//
//   ctia-enrich publish journal 1
//   sent <xid> <xid> ...      before a POST /ctia/bulk: the ids it carries
//   done <xid> <judgement id> after the answer (or a lookup found it): one per created id
//   unsent <xid> <xid> ...    a bulk CTIA certainly did not act on (refused before sending
//                             for a rate-limit checkpoint, or answered 429)
//
// Ids are percent-encoded (schema::PercentEncodePathSegment), so a line holds no blanks. A
// torn last line (a kill during a write) is ignored on load. An id sent and never done was in
// flight when a run died: CTIA may or may not have created it, so the next run looks it up by
// external id before sending it again.

#include <cstdio>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/container/flat_hash_set.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace enrich::engine {

// What an existing journal says.
struct PublishJournalState {
  absl::flat_hash_map<std::string, std::string> done;  // external id → judgement id
  absl::flat_hash_set<std::string> in_flight;          // sent, never done
};

class PublishJournal {
 public:
  // Opens `path`: creates it (header written and synced) when it does not exist; otherwise,
  // with `resume`, loads it and appends to it; without `resume` it is refused
  // (FailedPrecondition naming the file and --resume, a usage error for the CLI). Errors name
  // the file (and line, for a damaged record).
  static absl::StatusOr<std::unique_ptr<PublishJournal>> Open(const std::string& path, bool resume);
  ~PublishJournal();
  PublishJournal(const PublishJournal&) = delete;
  PublishJournal& operator=(const PublishJournal&) = delete;

  // What the file held when opened (empty for a new one).
  const PublishJournalState& loaded() const { return loaded_; }
  const std::string& path() const { return path_; }

  // Appends `sent` with the ids and syncs, before the bulk goes out.
  absl::Status Sent(const std::vector<std::string>& external_ids);
  // Appends `unsent` with the ids and syncs: they are no longer in flight.
  absl::Status Unsent(const std::vector<std::string>& external_ids);
  // Appends one `done` per (external id, judgement id) and syncs.
  absl::Status Done(const std::vector<std::pair<std::string, std::string>>& created);

 private:
  PublishJournal(std::string path, std::FILE* file) : path_(std::move(path)), file_(file) {}
  absl::Status Append(const std::string& text);
  absl::Status AppendIds(absl::string_view record, const std::vector<std::string>& external_ids);

  std::string path_;
  std::FILE* file_;
  PublishJournalState loaded_;
};

// Reads a journal's records (the torn last line, if any, ignored). Errors name path:line.
absl::StatusOr<PublishJournalState> LoadPublishJournal(const std::string& path);

}  // namespace enrich::engine

#endif  // ENRICH_ENGINE_PUBLISH_JOURNAL_H_
