#include "engine/publish_job.h"

#include "engine/exit_codes.h"
#include "engine/pipeline.h"
#include "engine/publish_journal.h"
#include "engine/signals.h"
#include "transport/verdict_source.h"

#include <algorithm>
#include <cstdio>
#include <future>
#include <optional>
#include <utility>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include <unistd.h>

namespace enrich::engine {
namespace {

void Print(absl::string_view message) {
  std::fprintf(stderr, "ctia-enrich: %.*s\n", static_cast<int>(message.size()), message.data());
}

// One row between reading and writing.
struct Pending {
  PublishRecord record;
  std::optional<PublishRow> row;  // valid rows
  std::string judgement_id;
  std::string status;  // set once settled
  int same_as = -1;    // a row of the same bulk with the same external id (index in the bulk)
};

}  // namespace

// The state of one Run(): the rows of the bulk being filled, the journal, the counts.
class PublishJob::Runner {
 public:
  Runner(PublishJob& job, transport::CtiaPublisher* publisher)
      : job_(job), options_(job.options_), publisher_(publisher) {}

  PublishResult Run() {
    if (absl::Status s = Start(); !s.ok()) return Fail(s);
    PublishRecord record;
    while (true) {
      absl::StatusOr<bool> more = job_.reader_->Next(record);
      if (!more.ok()) return Fail(more.status());
      if (!*more) break;
      Add(std::move(record));
      if (valid_pending_ == static_cast<size_t>(options_.bulk_size)) {
        if (absl::Status s = Flush(); !s.ok()) return Fail(s);
        if (checkpoint_.has_value()) return Checkpoint();
      }
    }
    if (absl::Status s = Flush(); !s.ok()) return Fail(s);
    if (checkpoint_.has_value()) return Checkpoint();
    if (writer_ != nullptr) {
      if (absl::Status s = writer_->Finish(); !s.ok()) return Fail(s);
    }
    return Finish();
  }

 private:
  absl::Status Start() {
    if (auto installed = ScopedStopSignals::Install(); installed.ok()) {
      signals_ = *std::move(installed);
    }
    if (!options_.dry_run && !job_.journal_path_.empty()) {
      absl::StatusOr<std::unique_ptr<PublishJournal>> journal =
          PublishJournal::Open(job_.journal_path_, options_.resume);
      if (!journal.ok()) return journal.status();
      journal_ = *std::move(journal);
      known_ = journal_->loaded().done;
    }
    if (!options_.output.empty()) {
      if (options_.output != "-") (void)RemoveStalePartialFiles(options_.output);
      absl::StatusOr<std::unique_ptr<PublishResultWriter>> writer = PublishResultWriter::Open(
          options_.output, options_.output_compression, job_.reader_->format(),
          options_.input.delimiter, job_.reader_->has_header(), job_.reader_->header(),
          job_.reader_->header_terminator());
      if (!writer.ok()) return writer.status();
      writer_ = *std::move(writer);
    }
    return absl::OkStatus();
  }

  // Checks a row and queues it.
  void Add(PublishRecord record) {
    ++counts_.rows;
    Pending p;
    PublishRowError error;
    if (record.problem.has_value()) {
      error = *record.problem;
    } else {
      PublishValues values = record.values;
      for (size_t f = 0; f < kPublishFieldCount; ++f) {
        if (!values[f].has_value()) values[f] = options_.defaults[f];
      }
      CheckedRow checked = CheckPublishRow(values, absl::Now());
      if (checked.ok()) {
        p.row = *std::move(checked.row);
      } else {
        error = checked.error;
      }
    }
    if (p.row.has_value()) {
      ++counts_.valid;
      ++valid_pending_;
      if (options_.dry_run) p.status = "valid";
    } else {
      ++counts_.invalid;
      p.status = absl::StrCat("invalid: ", error.field, ": ", error.why);
      if (counts_.invalid <= static_cast<uint64_t>(options_.max_messages)) {
        Print(absl::StrCat(job_.reader_->name(), ":", record.line, ": ", error.field, ": ",
                           error.why));
      }
    }
    p.record = std::move(record);
    pending_.push_back(std::move(p));
  }

  // Sends the valid rows queued (lookups first where needed), then writes every queued row.
  absl::Status Flush() {
    if (!options_.dry_run && valid_pending_ > 0) {
      if (StopRequested()) {
        checkpoint_ = "stopped by a signal";
        return absl::OkStatus();
      }
      std::vector<size_t> to_send;
      std::vector<size_t> to_look_up;
      Sort(&to_send, &to_look_up);
      if (!to_look_up.empty()) LookUp(to_look_up, &to_send);
      if (checkpoint_.has_value()) return absl::OkStatus();
      if (!to_send.empty()) {
        if (absl::Status s = Send(to_send); !s.ok()) return s;
        if (checkpoint_.has_value()) return absl::OkStatus();
      }
      for (Pending& p : pending_) {
        if (p.same_as >= 0) {
          const Pending& first = pending_[static_cast<size_t>(p.same_as)];
          p.judgement_id = first.judgement_id;
          p.status = first.judgement_id.empty() ? first.status : "exists";
          if (first.judgement_id.empty()) {
            ++counts_.failed;
          } else {
            ++counts_.exists;
          }
        }
      }
    }
    if (writer_ != nullptr) {
      for (const Pending& p : pending_) {
        if (absl::Status s = writer_->Write(p.record, p.judgement_id, p.status); !s.ok()) return s;
      }
    }
    pending_.clear();
    valid_pending_ = 0;
    return absl::OkStatus();
  }

  // Splits the valid queued rows: known ones settle as `exists`; repeated ids follow their
  // first row; in-flight ones (or all, with check_existing) are looked up; the rest are sent.
  void Sort(std::vector<size_t>* to_send, std::vector<size_t>* to_look_up) {
    absl::flat_hash_map<std::string, size_t> in_bulk;
    for (size_t i = 0; i < pending_.size(); ++i) {
      Pending& p = pending_[i];
      if (!p.row.has_value()) continue;
      const std::string& xid = p.row->external_id;
      if (auto it = known_.find(xid); it != known_.end()) {
        p.judgement_id = it->second;
        p.status = "exists";
        ++counts_.exists;
        continue;
      }
      if (auto [it, inserted] = in_bulk.emplace(xid, i); !inserted) {
        p.same_as = static_cast<int>(it->second);
        continue;
      }
      const bool in_flight = journal_ != nullptr && journal_->loaded().in_flight.contains(xid);
      (in_flight || options_.check_existing ? to_look_up : to_send)->push_back(i);
    }
  }

  // GET /ctia/judgement/external_id/{xid} for each row of `rows`, all at once; found → exists
  // (journaled), not found → `to_send`.
  void LookUp(const std::vector<size_t>& rows, std::vector<size_t>* to_send) {
    using Found = absl::StatusOr<std::vector<schema::Judgement>>;
    std::vector<std::promise<Found>> answers(rows.size());
    std::vector<std::future<Found>> futures;
    for (size_t k = 0; k < rows.size(); ++k) {
      futures.push_back(answers[k].get_future());
      ++counts_.lookups;
      publisher_->JudgementsByExternalId(
          pending_[rows[k]].row->external_id, {},
          [&answers, k](Found found) { answers[k].set_value(std::move(found)); });
    }
    std::vector<std::pair<std::string, std::string>> found_ids;
    for (size_t k = 0; k < rows.size(); ++k) {
      Found found = futures[k].get();
      Pending& p = pending_[rows[k]];
      if (!found.ok()) {
        if (transport::CheckpointWait(found.status()).has_value()) {
          checkpoint_ = std::string(found.status().message());
        }
        p.status = absl::StrCat("lookup failed: ", found.status().message());
        ++counts_.failed;
      } else if (found->empty()) {
        to_send->push_back(rows[k]);
      } else {
        p.judgement_id = found->front().id;
        p.status = "exists";
        ++counts_.exists;
        found_ids.emplace_back(p.row->external_id, p.judgement_id);
        known_[p.row->external_id] = p.judgement_id;
      }
    }
    if (journal_ != nullptr) {
      if (absl::Status s = journal_->Done(found_ids); !s.ok()) journal_error_ = s;
    }
    std::sort(to_send->begin(), to_send->end());
  }

  // One POST /ctia/bulk of the rows `rows` (journaled before and after).
  absl::Status Send(const std::vector<size_t>& rows) {
    std::vector<std::string> xids;
    std::vector<schema::Judgement> judgements;
    for (size_t i : rows) {
      xids.push_back(pending_[i].row->external_id);
      judgements.push_back(pending_[i].row->judgement);
    }
    if (!journal_error_.ok()) return journal_error_;
    if (journal_ != nullptr) {
      if (absl::Status s = journal_->Sent(xids); !s.ok()) return s;
    }
    using Answer = absl::StatusOr<std::vector<absl::StatusOr<std::string>>>;
    std::promise<Answer> promise;
    std::future<Answer> future = promise.get_future();
    ++counts_.bulk_requests;
    publisher_->BulkCreateJudgements(std::move(judgements),
                                     [&promise](Answer a) { promise.set_value(std::move(a)); });
    Answer answer = future.get();
    if (!answer.ok()) {
      if (transport::CheckpointWait(answer.status()).has_value()) {
        // Refused before sending (budget) or answered 429: CTIA did not act on it.
        checkpoint_ = std::string(answer.status().message());
        return journal_ != nullptr ? journal_->Unsent(xids) : absl::OkStatus();
      }
      for (size_t i : rows) {
        pending_[i].status = std::string(answer.status().message());
        ++counts_.failed;
      }
      return absl::OkStatus();
    }
    std::vector<std::pair<std::string, std::string>> created;
    for (size_t k = 0; k < rows.size(); ++k) {
      Pending& p = pending_[rows[k]];
      const absl::StatusOr<std::string>& item = (*answer)[k];
      if (item.ok()) {
        p.judgement_id = *item;
        p.status = "created";
        ++counts_.created;
        created.emplace_back(p.row->external_id, *item);
        known_[p.row->external_id] = *item;
      } else {
        p.status = std::string(item.status().message());
        ++counts_.failed;
      }
    }
    if (journal_ != nullptr) return journal_->Done(created);
    return absl::OkStatus();
  }

  void PrintSummary() const {
    if (counts_.invalid > static_cast<uint64_t>(options_.max_messages)) {
      Print(absl::StrCat(counts_.invalid - options_.max_messages,
                         " more invalid rows not shown (their status is in the result file)"));
    }
    const PublishCounts& c = counts_;
    Print(absl::StrCat(options_.dry_run ? "publish --dry-run: " : "publish: ", "rows ", c.rows,
                       ", valid ", c.valid, ", invalid ", c.invalid, ", created ", c.created,
                       ", exists ", c.exists, ", failed ", c.failed, ", bulk requests ",
                       c.bulk_requests, ", lookups ", c.lookups,
                       options_.dry_run ? " (nothing sent)" : ""));
  }

  PublishResult Finish() {
    PrintSummary();
    return {counts_.failed > 0 ? kExitErrorRows : kExitDone, counts_};
  }

  PublishResult Checkpoint() {
    if (writer_ != nullptr) writer_->Abandon();
    PrintSummary();
    Print(absl::StrCat("checkpointed (", *checkpoint_, "): the journal ", job_.journal_path_,
                       " holds what was published; rerun the same command with --resume"));
    return {kExitCheckpointed, counts_};
  }

  PublishResult Fail(const absl::Status& status) {
    if (writer_ != nullptr) writer_->Abandon();
    Print(status.message());
    PrintSummary();
    const bool usage = IsUsageError(status) || absl::IsFailedPrecondition(status);
    return {usage ? kExitUsage : kExitFailed, counts_};
  }

  PublishJob& job_;
  const PublishOptions& options_;
  transport::CtiaPublisher* publisher_;
  std::unique_ptr<ScopedStopSignals> signals_;
  std::unique_ptr<PublishJournal> journal_;
  std::unique_ptr<PublishResultWriter> writer_;
  absl::flat_hash_map<std::string, std::string> known_;  // external id → judgement id
  std::vector<Pending> pending_;
  size_t valid_pending_ = 0;
  PublishCounts counts_;
  std::optional<std::string> checkpoint_;
  absl::Status journal_error_;
};

PublishJob::PublishJob(PublishOptions options, std::unique_ptr<PublishReader> reader,
                       std::string journal_path)
    : options_(std::move(options)),
      reader_(std::move(reader)),
      journal_path_(std::move(journal_path)) {}

PublishJob::~PublishJob() = default;

absl::StatusOr<std::unique_ptr<PublishJob>> PublishJob::Open(PublishOptions options) {
  if (options.bulk_size < 1 || options.bulk_size > kMaxPublishBulk) {
    return UsageError(absl::StrCat("--bulk-size ", options.bulk_size, ": expected 1..",
                                   kMaxPublishBulk, " (CTIA's limit per POST /ctia/bulk)"));
  }
  // The journal belongs to the input, not to the result file: the same file published again,
  // into any result file, finds it (and is refused without --resume) rather than creating its
  // judgements twice. Only stdin's journal goes beside the result file.
  std::string journal = options.journal;
  if (journal.empty() && options.input.path != "-") {
    journal = options.input.path + ".publish-journal";
  }
  if (journal.empty() && !options.output.empty() && options.output != "-") {
    journal = options.output + ".journal";
  }
  if (!options.dry_run && !options.resume && !journal.empty() &&
      ::access(journal.c_str(), F_OK) == 0) {
    // Before anything is opened or sent (PublishJournal::Open says the same later).
    return UsageError(absl::StrCat(
        "publish journal ", journal,
        " exists (an earlier publish of the same input): add --resume to continue it "
        "(the rows it records are not sent again, rows in flight when it stopped are looked "
        "up first), or remove it to publish without it"));
  }
  absl::StatusOr<std::unique_ptr<PublishReader>> reader =
      PublishReader::Open(options.input, options.defaults);
  if (!reader.ok()) return reader.status();
  return std::unique_ptr<PublishJob>(
      new PublishJob(std::move(options), *std::move(reader), std::move(journal)));
}

PublishResult PublishJob::Run(transport::CtiaPublisher* publisher) {
  if (publisher == nullptr) options_.dry_run = true;
  Runner runner(*this, publisher);
  return runner.Run();
}

}  // namespace enrich::engine
