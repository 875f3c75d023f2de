#include "engine/pipeline.h"

#include <algorithm>
#include <exception>
#include <memory>
#include <optional>
#include <utility>

#include "absl/base/thread_annotations.h"
#include "absl/cleanup/cleanup.h"
#include "absl/strings/cord.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "engine/internal/chunk_parser.h"
#include "engine/internal/chunk_work.h"
#include "engine/internal/column_layout.h"
#include "engine/internal/lookup_dispatcher.h"
#include "engine/internal/output_format.h"
#include "oneapi/tbb/parallel_pipeline.h"
#include "oneapi/tbb/task_arena.h"
#include "schema/clock.h"

namespace enrich::engine {
namespace {

using internal::ChunkWork;
using internal::kFixedStatuses;
using internal::kFixedStatusNames;

constexpr absl::string_view kUsageErrorPayload = "enrich.engine/usage-error";

// Chunks that went through the pipeline, for reuse (at most `max_live_chunks` exist), so that a
// run in steady state does not allocate per chunk. Thread-safe.
class ChunkPool {
 public:
  std::unique_ptr<ChunkWork> Take() {
    std::unique_ptr<ChunkWork> w;
    {
      absl::MutexLock lock(&mu_);
      if (!spare_.empty()) {
        w = std::move(spare_.back());
        spare_.pop_back();
      }
    }
    if (w == nullptr) w = std::make_unique<ChunkWork>();
    return w;
  }
  void Give(std::unique_ptr<ChunkWork> w) {
    w->Reset();
    absl::MutexLock lock(&mu_);
    spare_.push_back(std::move(w));
  }

 private:
  absl::Mutex mu_;
  std::vector<std::unique_ptr<ChunkWork>> spare_ ABSL_GUARDED_BY(mu_);
};

// The state of one RunPipeline call, and its stages in data-flow order (DESIGN.md, "Data flow
// of run"): each method is one filter of the TBB pipeline.
class Run {
 public:
  // `first` is the input's first chunk (already read for the layout), null for an empty input.
  // Counts go to `stats`.
  Run(const PipelineOptions& options, RunStats& stats, ByteSource& in, ByteSink& out,
      ChunkReader& reader, internal::Layout layout, VerdictTable& table,
      transport::VerdictSource& source, std::unique_ptr<ChunkWork> first, size_t max_live,
      uint64_t uncounted_bytes)
      : max_live_(max_live),
        uncounted_bytes_(uncounted_bytes),
        streaming_(!in.raw_size().has_value()),
        options_(options),
        stats_(stats),
        in_(in),
        out_(out),
        reader_(reader),
        pending_first_(std::move(first)),
        source_(source),
        hits_{options.hit_dispositions, options.hits != nullptr},
        dispatcher_(
            table, source, options.max_in_flight, options, stats,
            [this](absl::Status status) { Fail(std::move(status)); },
            [this] { NoteProgress(); }),
        parser_(std::move(layout), table, dispatcher_) {}

  // Read (serial, in order): the next chunk of whole records; null at the end or once failed.
  ChunkWork* Read(tbb::flow_control& fc);
  // The reader's next chunk (counted as read), or null at the input's end (read stage only).
  absl::StatusOr<std::unique_ptr<ChunkWork>> ReadChunk();
  // Tells the source, once, that the input has ended (VerdictSource::InputEnded) when the
  // reader has found the end and `parsed` (chunks parsed so far) is every chunk read: their
  // lookups are all asked, as InputEnded's contract says.
  void TellInputEndedAt(uint64_t parsed);
  // Parse + extract + resolve (parallel): rows, cells and uniques; misses go out at once.
  ChunkWork* ParseExtractResolve(ChunkWork* w) {
    if (!failed()) parser_.Parse(*w);
    stats_.NoteLookupsAt(w->input_end);  // its misses are queued: for the ETA
    parsing_.fetch_sub(1);
    TellInputEndedAt(parsed_.fetch_add(1) + 1);
    NoteProgress();
    return w;
  }
  // Await (parallel): the task is suspended, its thread free, until the chunk's lookups settle.
  ChunkWork* Await(ChunkWork* w) {
    if (w->Waits()) {
      w->CountWaiting(&waiting_);
      NoteProgress();
    }
    w->Await();
    return w;
  }
  // Format (parallel): the rows with their added columns.
  ChunkWork* Format(ChunkWork* w) {
    if (!failed() && w->row_error.ok()) internal::FormatChunk(parser_.layout(), *w, hits_);
    return w;
  }
  // Write (serial, in order): the chunk's output, and its counts; the chunk goes back to the
  // pool.
  void Write(ChunkWork* raw);

  // Records the first failure; stops reading and sending.
  void Fail(absl::Status status) {
    {
      absl::MutexLock lock(&mu_);
      if (!failure_.ok()) return;
      failure_ = std::move(status);
    }
    failed_.store(true, std::memory_order_release);
    dispatcher_.Stop();
  }
  bool failed() const { return failed_.load(std::memory_order_acquire); }
  absl::Status failure() {
    absl::MutexLock lock(&mu_);
    return failure_;
  }


 private:
  // Counts a written chunk's rows, statuses, resolves and hits.
  void Count(const ChunkWork& w);
  void CountHits(const ChunkWork& w);

  // Called when a chunk is parsed, starts waiting for its lookups or is written, when the
  // input ends, and when answers were settled: when the oldest live chunk (which holds the
  // write stage) waits, no chunk is being parsed, no more can be read (the live bound, the
  // input's end, or a pipe whose writer has sent nothing more yet), and no answer is still to
  // come but for the lookups the source holds in the GraphQL batch it collects, the run is
  // stuck until that batch goes: it goes now (LookupDispatcher::FlushIfIdle). So a batch
  // leaves full or at such a point, which the input and the live bound decide, not timing
  // (but for a pipe's pauses): most often the input's end alone (a last partial batch), also
  // earlier ones when new observables are sparse over more chunks than are live. `ctia-enrich
  // plan` meets the same points (engine/plan.h). The source's linger is a safety net.
  void NoteProgress() {
    const uint64_t read = read_.load();
    const uint64_t written = written_.load();
    if (!Stuck()) return;
    // Checked again once the dispatcher found nothing but the batch unsettled: no chunk was
    // read or written meanwhile, so no lookup was added and the oldest chunk waits for the batch.
    dispatcher_.FlushIfIdle(
        [&] { return read_.load() == read && written_.load() == written && Stuck(); });
  }
  // The pipeline cannot go on by itself: the oldest live chunk (which holds the write stage)
  // waits for lookups, none is being parsed, and no more can be read.
  bool Stuck() const {
    if (waiting_.load() == 0 || parsing_.load() > 0) return false;
    const size_t live = live_.load();
    if (live == 0 || !(eof_.load() || live >= max_live_ || reading_.load())) return false;
    const ChunkWork* oldest = slots_[written_.load() % max_live_].load();
    return oldest != nullptr && oldest->CountedWaiting();
  }
  // A chunk enters the pipeline (read stage): counted live and parsing, in its slot.
  ChunkWork* Enter(ChunkWork* w) {
    slots_[read_.fetch_add(1) % max_live_].store(w);
    live_.fetch_add(1);
    parsing_.fetch_add(1);
    return w;
  }

  const size_t max_live_;
  // A shard's bytes before its range: read (scanned) but not counted as read (kBytesRead),
  // so that the progress and the summary count the shard's own bytes.
  const uint64_t uncounted_bytes_;
  // The live chunks by their number modulo max_live_ (the live ones are max_live_ consecutive
  // numbers at most): the oldest is slots_[written_ % max_live_].
  std::unique_ptr<std::atomic<ChunkWork*>[]> slots_{new std::atomic<ChunkWork*>[max_live_]()};
  std::atomic<uint64_t> read_{0};    // chunks read
  std::atomic<uint64_t> written_{0};  // chunks through the write stage
  std::atomic<size_t> live_{0};      // read and not yet written
  std::atomic<size_t> parsing_{0};   // of those, not parsed yet
  std::atomic<size_t> waiting_{0};   // of those, waiting for lookups (ChunkWork::CountWaiting)
  std::atomic<bool> eof_{false};     // the reader has reached the input's end
  // An input that is not a regular file (a pipe, stdin) may block the reader for as long as
  // its writer likes: while it does, the chunks read so far are all the run has.
  const bool streaming_;
  std::atomic<bool> reading_{false};  // streaming_, and the reader waits for input

  const PipelineOptions& options_;
  RunStats& stats_;
  ByteSource& in_;
  ByteSink& out_;
  ChunkReader& reader_;
  std::unique_ptr<ChunkWork> pending_first_;  // read stage only
  std::unique_ptr<ChunkWork> ahead_;          // read stage only: the next chunk, read ahead
  absl::Status ahead_error_;                  // read stage only: reading ahead failed
  bool ended_ = false;                        // read stage only: the reader found the end
  // Once the end is found: the chunks read in all (else none). Parsed chunks are counted
  // against it (TellInputEndedAt).
  std::atomic<int64_t> chunks_in_all_{-1};
  std::atomic<uint64_t> parsed_{0};
  std::atomic<bool> told_ended_{false};
  transport::VerdictSource& source_;
  const internal::HitSelection hits_;
  std::vector<HitCount> hit_counts_;  // write stage only
  ChunkPool pool_;
  std::atomic<bool> failed_{false};
  absl::Mutex mu_;
  absl::Status failure_ ABSL_GUARDED_BY(mu_);
  // Last: the dispatcher's answers may call Fail, and the parser sends to the dispatcher.
  internal::LookupDispatcher dispatcher_;
  internal::ChunkParser parser_;
};

ChunkWork* Run::Read(tbb::flow_control& fc) {
  if (options_.stop_requested != nullptr && options_.stop_requested->load()) {
    Fail(absl::CancelledError("interrupted"));
  }
  if (!ahead_error_.ok()) Fail(std::exchange(ahead_error_, absl::OkStatus()));
  if (failed()) {
    fc.stop();
    return nullptr;
  }
  std::unique_ptr<ChunkWork> w = std::move(pending_first_);
  if (w == nullptr) w = std::move(ahead_);
  if (w == nullptr && !ended_) {
    absl::StatusOr<std::unique_ptr<ChunkWork>> next = ReadChunk();
    if (!next.ok()) {
      Fail(next.status());
      fc.stop();
      return nullptr;
    }
    w = *std::move(next);
  }
  if (w == nullptr) {
    chunks_in_all_.store(static_cast<int64_t>(read_.load()));
    TellInputEndedAt(parsed_.load());
    eof_.store(true);
    NoteProgress();
    fc.stop();
    return nullptr;
  }
  // A regular file is read a chunk ahead: the source hears of the input's end once its last
  // chunk is parsed, before the run gets stuck on that chunk's lookups (with max_live_chunks
  // live, the read that finds the end would only come once the oldest chunk is written), so a
  // source may hand its last partial batch to another worker (VerdictSource::InputEnded). A
  // pipe is not: a read may wait for its writer.
  bool end_found = false;
  if (!streaming_ && !ended_) {
    absl::StatusOr<std::unique_ptr<ChunkWork>> next = ReadChunk();
    if (!next.ok()) {
      ahead_error_ = next.status();  // fails the run at the next read, after this chunk
    } else if (*next == nullptr) {
      end_found = true;
    } else {
      ahead_ = *std::move(next);
    }
  }
  ChunkWork* entered = Enter(w.release());
  if (end_found) {
    chunks_in_all_.store(static_cast<int64_t>(read_.load()));
    TellInputEndedAt(parsed_.load());
  }
  return entered;
}

absl::StatusOr<std::unique_ptr<ChunkWork>> Run::ReadChunk() {
  std::unique_ptr<ChunkWork> w = pool_.Take();
  if (streaming_) {
    reading_.store(true);
    NoteProgress();
  }
  absl::StatusOr<bool> more = reader_.Next(w->chunk);
  reading_.store(false);
  if (!more.ok()) return more.status();
  w->input_end = reader_.bytes_read();
  // Here, in the serial input stage: the source is not thread-safe.
  const uint64_t raw = in_.raw_bytes_read();
  stats_.Set(RunCounter::kBytesRead, raw - std::min(raw, uncounted_bytes_));
  if (!*more) {
    ended_ = true;
    pool_.Give(std::move(w));
    return nullptr;
  }
  return w;
}

void Run::TellInputEndedAt(uint64_t parsed) {
  const int64_t in_all = chunks_in_all_.load();
  if (in_all < 0 || parsed != static_cast<uint64_t>(in_all)) return;
  if (told_ended_.exchange(true)) return;
  source_.InputEnded();
}

void Run::Write(ChunkWork* raw) {
  std::unique_ptr<ChunkWork> w(raw);
  absl::Cleanup recycle = [&] {
    slots_[written_.load() % max_live_].store(nullptr);
    pool_.Give(std::move(w));
    written_.fetch_add(1);
    live_.fetch_sub(1);
    NoteProgress();
  };
  if (failed()) return;
  if (!w->row_error.ok()) {
    Fail(w->row_error);
    return;
  }
  if (absl::Status s = out_.Write(w->out); !s.ok()) {
    Fail(s);
    return;
  }
  if (options_.hits != nullptr && !w->hit_out.empty()) {
    if (absl::Status s = options_.hits->Write(w->hit_out); !s.ok()) {
      Fail(s);
      return;
    }
  }
  Count(*w);
}

void Run::CountHits(const ChunkWork& w) {
  hit_counts_.clear();
  for (uint32_t slot : w.hit_slots) {
    const Settled& s = w.results[slot];
    // The judgement id's bytes in the verdict table's record stand for the verdict
    // (HitCount::identity).
    hit_counts_.push_back(HitCount{w.uniques[slot].type, w.uniques[slot].value, s.disposition,
                                   internal::JudgementSourceOf(parser_.layout(), s), w.hit_rows[slot],
                                   s.judgement_id.identity()});
  }
  stats_.CountHits(hit_counts_);
}

void Run::Count(const ChunkWork& w) {
  const uint64_t rows = w.rows.size() - w.blank_lines;
  stats_.Add(RunCounter::kRowsRead, rows);
  stats_.Add(RunCounter::kRowsWritten, rows);
  if (w.blank_lines > 0) stats_.Add(RunCounter::kBlankLines, w.blank_lines);
  stats_.Add(RunCounter::kCells, w.cells.size() - w.blank_lines * parser_.layout().types.size());
  stats_.Add(RunCounter::kCacheHits, w.hits);
  if (w.joined > 0) stats_.Add(RunCounter::kJoined, w.joined);
  if (w.allowlisted_cells > 0) stats_.Add(RunCounter::kAllowlisted, w.allowlisted_cells);
  for (size_t i = 0; i < kFixedStatuses; ++i) {
    if (w.fixed_counts[i] > 0) stats_.CountStatus(kFixedStatusNames[i], w.fixed_counts[i]);
  }
  for (const auto& [status, count] : w.error_counts) stats_.CountStatus(status, count);
  for (int d = 0; d < 6; ++d) {
    if (w.disposition_counts[d] > 0) stats_.CountDisposition(d, w.disposition_counts[d]);
  }
  if (!w.hit_slots.empty()) CountHits(w);
}

RecordFormat RecordFormatOf(DataFormat format) {
  return format == DataFormat::kCsv ? RecordFormat::kCsv : RecordFormat::kNdjson;
}

// `given` with the formats it leaves to the input decided (detect_input_format), before the
// reader hands out its first chunk.
absl::StatusOr<PipelineOptions> ResolveFormats(const PipelineOptions& given, ChunkReader& reader) {
  PipelineOptions options = given;
  if (!given.detect_input_format) return options;
  absl::StatusOr<std::optional<char>> first = reader.PeekFirstDataByte();
  if (!first.ok()) return first.status();
  if (*first == '{') options.input_format = DataFormat::kNdjson;
  reader.set_format(RecordFormatOf(options.input_format));
  if (given.output_format_follows_input) options.output_format = options.input_format;
  return options;
}

// --shard: the reader hands out the records of the shard's byte range (and the CSV header).
// Returns the range's start (the bytes before it are not counted as read).
absl::StatusOr<uint64_t> SetShardRange(ByteSource& in, const PipelineOptions& options,
                                       ChunkReader& reader) {
  const std::string shard = ShardName(*options.shard);
  if (in.compression() != Compression::kNone) {
    return UsageError(absl::StrCat(
        "--shard ", shard, ": ", in.name(), " is ", CompressionName(in.compression()),
        " data; a compressed input cannot be cut into byte ranges: compressed inputs shard by "
        "file (give each worker a file of its own, without --shard)"));
  }
  if (!in.raw_size().has_value()) {
    return UsageError(absl::StrCat("--shard ", shard, ": ", in.name(),
                                   " is not a regular file; a shard is a byte range of a file"));
  }
  const ByteRange range = ShardRange(*in.raw_size(), *options.shard);
  reader.set_range(range.begin, range.end,
                   options.input_format == DataFormat::kCsv && options.header);
  return range.begin;
}

}  // namespace

absl::Status UsageError(absl::string_view message) {
  absl::Status status = absl::InvalidArgumentError(message);
  status.SetPayload(kUsageErrorPayload, absl::Cord());
  return status;
}

bool IsUsageError(const absl::Status& status) {
  return status.GetPayload(kUsageErrorPayload).has_value();
}

absl::Status CheckPipelineOptions(const PipelineOptions& options) {
  if (options.columns.empty()) return UsageError("no observable column given");
  if (options.hits != nullptr && options.hit_dispositions == 0) {
    return UsageError("a hits output needs at least one hit disposition");
  }
  if (options.input_format == DataFormat::kCsv && !options.header) {
    for (const ColumnSpec& c : options.columns) {
      if (auto number = internal::ColumnNumber(c); !number.ok()) return number.status();
    }
  }
  return absl::OkStatus();
}

DetailsSpec DetailsSpecOf(const PipelineOptions& options) {
  return DetailsSpec::Of(options.fields, options.judgements, options.intel_column,
                         options.both_intel_columns);
}

absl::Status RunPipeline(ByteSource& in, ByteSink& out, const PipelineOptions& given,
                         VerdictTable& table, transport::VerdictSource& source) {
  if (absl::Status s = CheckPipelineOptions(given); !s.ok()) return s;
  ChunkReader reader(in, RecordFormatOf(given.input_format), given.delimiter, given.chunk_size,
                     given.max_record_bytes);
  absl::StatusOr<PipelineOptions> resolved = ResolveFormats(given, reader);
  if (!resolved.ok()) return resolved.status();
  const PipelineOptions& options = *resolved;
  uint64_t uncounted_bytes = 0;
  if (options.shard.has_value()) {
    absl::StatusOr<uint64_t> begin = SetShardRange(in, options, reader);
    if (!begin.ok()) return begin.status();
    uncounted_bytes = *begin;
  }
  auto first = std::make_unique<ChunkWork>();
  absl::StatusOr<bool> have_first = reader.Next(first->chunk);
  if (!have_first.ok()) return have_first.status();
  first->input_end = reader.bytes_read();

  internal::Layout layout;
  std::string header;
  if (absl::Status s = internal::PrepareLayout(options, first->chunk, *have_first, layout, header);
      !s.ok()) {
    return s;
  }
  if (layout.header) first->skip_records = 1;
  // Every shard reads the header; shard 0 alone writes it (the outputs are concatenated).
  if (!header.empty() && (!options.shard.has_value() || options.shard->index == 0)) {
    if (absl::Status s = out.Write(header); !s.ok()) return s;
    if (options.hits != nullptr) {
      if (absl::Status s = options.hits->Write(header); !s.ok()) return s;
    }
  }

  const size_t threads =
      options.threads > 0 ? options.threads
                          : static_cast<size_t>(tbb::this_task_arena::max_concurrency());
  const size_t live = options.max_live_chunks > 0 ? options.max_live_chunks : 2 * threads + 2;

  std::optional<RunStats> own_stats;
  RunStats& stats = options.stats != nullptr
                        ? *options.stats
                        : own_stats.emplace(schema::SystemClock::Instance());
  Run run(options, stats, in, out, reader, std::move(layout), table, source,
          *have_first ? std::move(first) : nullptr, live, uncounted_bytes);
  // The stages as DESIGN.md draws them: read → parse+extract+resolve → await → format → write.
  using tbb::filter_mode;
  const auto read = tbb::make_filter<void, ChunkWork*>(
      filter_mode::serial_in_order, [&run](tbb::flow_control& fc) { return run.Read(fc); });
  const auto parse_extract_resolve = tbb::make_filter<ChunkWork*, ChunkWork*>(
      filter_mode::parallel, [&run](ChunkWork* w) { return run.ParseExtractResolve(w); });
  const auto await = tbb::make_filter<ChunkWork*, ChunkWork*>(
      filter_mode::parallel, [&run](ChunkWork* w) { return run.Await(w); });
  const auto format = tbb::make_filter<ChunkWork*, ChunkWork*>(
      filter_mode::parallel, [&run](ChunkWork* w) { return run.Format(w); });
  const auto write = tbb::make_filter<ChunkWork*, void>(
      filter_mode::serial_in_order, [&run](ChunkWork* w) { run.Write(w); });
  tbb::task_arena arena(static_cast<int>(threads));
  try {
    arena.execute([&] {
      tbb::parallel_pipeline(live, read & parse_extract_resolve & await & format & write);
    });
  } catch (const std::exception& e) {
    // Only allocation failures can throw here; the chunks in flight are lost with the run.
    run.Fail(absl::ResourceExhaustedError(absl::StrCat("pipeline failed: ", e.what())));
  }
  if (run.failed()) return run.failure();

  stats.Set(RunCounter::kInputBytes, reader.bytes_read());
  stats.Set(RunCounter::kUniqueObservables, table.size());
  return absl::OkStatus();
}

}  // namespace enrich::engine
