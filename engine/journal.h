#ifndef ENRICH_ENGINE_JOURNAL_H_
#define ENRICH_ENGINE_JOURNAL_H_

// The journal of settled lookups: each verdict the transport settles is appended (crash-safe,
// checksummed records) by the job (engine/job.h), and reloaded into the verdict table on
// --resume, so an interrupted run pays no lookup twice.

#include "schema/observable.h"
#include "schema/verdict.h"

#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <thread>
#include <variant>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "absl/types/span.h"

namespace enrich::engine {

// A lookup that gave up after the transport's retries; `code` is what follows "error:" in the
// row status ("503", "deadline_exceeded", ...).
struct LookupError {
  std::string code;
  friend bool operator==(const LookupError& a, const LookupError& b) { return a.code == b.code; }
};

using LookupOutcome = std::variant<schema::Verdict, schema::NoVerdict, LookupError>;

// One settled lookup.
struct JournalEntry {
  schema::Observable observable;  // type + normalized value, as looked up
  LookupOutcome outcome;
  absl::Time settled_at;
  // A verdict's details the run kept, as engine::EncodeDetails wrote them (run --fields,
  // --judgements, --intel both); empty for none.
  std::string details = {};
};

// A settled lookup as views into the caller's data (AppendViews: nothing is copied).
struct JournalEntryView {
  absl::string_view type;  // of the observable, as looked up
  absl::string_view value;
  const schema::Verdict* verdict = nullptr;  // the verdict, if the lookup found one
  bool failed = false;                       // else: failed, or no verdict
  absl::string_view error_code;              // failed: what follows "error:" in the row status
  absl::Time settled_at;
  absl::string_view details = {};            // verdict: its details the run kept, or empty
};

struct JournalOptions {
  // The background flusher fdatasyncs written entries at most this long after the first of
  // them was appended...
  absl::Duration flush_interval = absl::Milliseconds(200);
  // ...or as soon as this many are unsynced.
  size_t flush_entries = 1024;
};

// One settled lookup as read back from a journal, without copies: the views point into the
// reader's buffer and stay valid during the callback that receives them only.
struct JournalRecordView {
  enum class Kind : uint8_t { kVerdict = 1, kNoVerdict = 2, kError = 3 };
  Kind kind = Kind::kNoVerdict;
  absl::Time settled_at;
  absl::string_view type;   // the observable looked up (type + normalized value)
  absl::string_view value;
  // kVerdict only:
  schema::Disposition disposition = schema::Disposition::kUnknown;
  absl::string_view judgement_id;
  absl::Time valid_start;
  absl::Time valid_end;
  absl::string_view verdict_type;  // the observable as the verdict names it
  absl::string_view verdict_value;
  // The details its run kept (engine::EncodeDetails; they begin with what that run kept, so a
  // run keeping other details tells them apart), or empty.
  absl::string_view details;
  // kError only: what follows "error:" in the row status.
  absl::string_view error_code;
};

// The entry a view stands for, with its strings copied.
JournalEntry ToJournalEntry(const JournalRecordView& view);

// What Open() found in an existing journal.
struct JournalLoad {
  uint64_t entries = 0;        // intact entries handed to the callback
  uint64_t dropped_bytes = 0;  // torn or damaged tail removed (a crash mid-write)
  // The fingerprint of the run that wrote the journal when it differs from this run's in its
  // input or columns only (same endpoint); empty when they are equal.
  std::string other_run;
};

// "input=<path> size=<bytes> columns=<spec> endpoint=<url>": the run a journal was written for.
// A resumed run must have the same endpoint (the journal's verdicts are that deployment's
// answers); its input and columns may differ (a damaged input replaced by an intact copy, a file
// that grew, a column added): the journal holds verdicts of observables, whatever rows hold them.
std::string RunFingerprint(absl::string_view input_path, uint64_t input_size,
                           absl::string_view column_spec, absl::string_view endpoint);

// Append-only, crash-safe journal of settled lookups, so that `--resume` pays no lookup twice.
//
// File format (little-endian): "CTIAJNL1", u32 n, the run fingerprint (n bytes), u32 crc32 of
// the fingerprint; then records: u32 payload length, u32 crc32 (zlib) of length and payload,
// payload. A verdict's payload ends with its details (u32 length, bytes) when it has any, so
// journals of runs without details read as before. A record cut short by a crash, or one
// whose checksum does not match, ends the intact part: on resume it and everything after it is
// ignored and truncated away, never read as an entry.
//
// Thread safety: Append(), Sync() and status() may be called from any thread.
//
// Durability: Append() writes its record to the file (write(2)) before it returns, so a
// process crash (kill -9) loses no appended entry; at most the record being written is torn,
// and resume cuts it off. Against power loss, entries become durable when the background
// flusher fdatasyncs them (group commit: within `flush_interval` or `flush_entries`), or when
// Sync() returns OK.
class Journal {
 public:
  // Opens or creates the journal at `path` for a run with `fingerprint`.
  //  - resume = false: the file must not exist (AlreadyExists, telling the user to pass
  //    --resume or remove it); it is created with its header.
  //  - resume = true: a missing file is created; an existing one must carry the same
  //    fingerprint, or one that differs before its " endpoint=" part only (load().other_run
  //    then holds it); otherwise FailedPrecondition showing both, unless it holds no record
  //    (nothing of the other endpoint): it is then started afresh with this fingerprint. Its intact entries are passed
  //    to `on_entry` in file order (on the calling thread, before Open returns), a torn tail is
  //    truncated, and appends continue after the last intact entry.
  // A file that is not a journal is an error naming the path (DataLoss).
  static absl::StatusOr<std::unique_ptr<Journal>> Open(
      const std::string& path, absl::string_view fingerprint, bool resume,
      const JournalOptions& options = {},
      const std::function<void(JournalEntry&&)>& on_entry = nullptr);
  // Open() handing the intact entries of a resumed journal over in batches, in file order, as
  // views (no copy of their strings; valid during the call only). The records are read,
  // checked and decoded on a thread of their own while the calling thread runs `on_batch`.
  static absl::StatusOr<std::unique_ptr<Journal>> Open(
      const std::string& path, absl::string_view fingerprint, bool resume,
      const JournalOptions& options,
      const std::function<void(absl::Span<const JournalRecordView>)>& on_batch);

  // Reads the journal at `path` as Open() with resume = true reads an existing one (the same
  // fingerprint rule and errors, its intact entries to `on_batch` in file order), without
  // changing it: a torn tail is left in place (its bytes are load.dropped_bytes), nothing is
  // created. For `ctia-enrich plan`. NotFound when there is no file.
  static absl::StatusOr<JournalLoad> Read(
      const std::string& path, absl::string_view fingerprint,
      const std::function<void(absl::Span<const JournalRecordView>)>& on_batch);

  // Flushes what is pending, stops the flusher and closes the file (see Close()).
  ~Journal();
  Journal(const Journal&) = delete;
  Journal& operator=(const Journal&) = delete;

  // Writes one entry (a small write(2) under the journal's lock; no fsync). Returns the first
  // write error of the journal, if any (the entry is then dropped: the run may go on, it only
  // loses crash safety).
  absl::Status Append(const JournalEntry& entry);
  // Append() of several entries with one write.
  absl::Status AppendBatch(absl::Span<const JournalEntry> entries);
  // AppendBatch() of views, encoded straight into one reused buffer.
  absl::Status AppendViews(absl::Span<const JournalEntryView> entries);
  // Blocks until every entry appended before the call is on disk; the first write error if any.
  absl::Status Sync();
  // Sync(), then stops the flusher and closes the file. Append() after Close() fails.
  absl::Status Close();

  const JournalLoad& load() const { return load_; }
  const std::string& path() const { return path_; }
  // Entries appended since Open() (reloaded ones not counted).
  uint64_t appended() const;

 private:
  Journal(std::string path, int fd, const JournalOptions& options, JournalLoad load);
  void FlushLoop();

  const std::string path_;
  const JournalOptions options_;
  const JournalLoad load_;
  int fd_ ABSL_GUARDED_BY(mu_);  // records are written under mu_; closed after the flusher ends

  mutable absl::Mutex mu_;
  size_t unsynced_entries_ ABSL_GUARDED_BY(mu_) = 0;  // written, not yet fdatasynced
  uint64_t appended_ ABSL_GUARDED_BY(mu_) = 0;  // entries appended so far
  uint64_t flushed_ ABSL_GUARDED_BY(mu_) = 0;   // of those, synced
  bool sync_requested_ ABSL_GUARDED_BY(mu_) = false;
  bool closing_ ABSL_GUARDED_BY(mu_) = false;
  absl::Status status_ ABSL_GUARDED_BY(mu_);
  std::thread flusher_;
};

// The record payload of one entry, and back (exposed for tests). DecodeJournalEntry fails
// (DataLoss) on anything EncodeJournalEntry cannot have written.
std::string EncodeJournalEntry(const JournalEntry& entry);
absl::StatusOr<JournalEntry> DecodeJournalEntry(absl::string_view payload);

}  // namespace enrich::engine

#endif  // ENRICH_ENGINE_JOURNAL_H_
