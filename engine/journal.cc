#include "engine/journal.h"

#include "schema/byte_coding.h"
#include "engine/byte_io.h"
#include "engine/signals.h"
#include "schema/status_macros.h"

#include <algorithm>
#include <cassert>
#include <cerrno>
#include <cstring>
#include <optional>
#include <deque>
#include <limits>
#include <thread>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>
#include <libdeflate.h>

namespace enrich::engine {
namespace {

using schema::LoadLE;
using schema::StoreLE;

constexpr absl::string_view kMagic = "CTIAJNL1";
// No entry comes near this (an observable value and a judgement id); a larger length field can
// only be damage.
constexpr uint32_t kMaxPayload = 1 << 20;

using Kind = JournalRecordView::Kind;

void PutU32(std::string& out, uint32_t v) {
  char b[4];
  out.append(b, static_cast<size_t>(StoreLE(b, v, 4) - b));
}
void PutU32String(std::string& out, absl::string_view s) {
  PutU32(out, static_cast<uint32_t>(s.size()));
  out.append(s.data(), s.size());
}

// CRC-32 (the gzip/zlib polynomial: the values zlib's crc32 gives, so journals written before
// stay readable), computed by libdeflate, several times faster than zlib's on a resume's reload.
uint32_t Crc(uint32_t crc, absl::string_view bytes) {
  return libdeflate_crc32(crc, bytes.data(), bytes.size());
}

// Reads fields off a payload; any overrun makes ok() false.
class PayloadReader {
 public:
  explicit PayloadReader(absl::string_view data) : data_(data) {}
  bool ok() const { return ok_; }
  bool done() const { return data_.empty(); }

  uint64_t Fixed(int bytes) {
    if (!Need(static_cast<size_t>(bytes))) return 0;
    const uint64_t v = LoadLE(data_.data(), bytes);
    data_.remove_prefix(static_cast<size_t>(bytes));
    return v;
  }
  // A length-prefixed string, as a view of the payload.
  absl::string_view String() {
    auto n = static_cast<size_t>(Fixed(4));
    if (!Need(n)) return {};
    absl::string_view s = data_.substr(0, n);
    data_.remove_prefix(n);
    return s;
  }
  absl::Time Time() {
    auto micros = static_cast<int64_t>(Fixed(8));
    if (micros == std::numeric_limits<int64_t>::max()) return absl::InfiniteFuture();
    if (micros == std::numeric_limits<int64_t>::min()) return absl::InfinitePast();
    return absl::FromUnixMicros(micros);
  }

 private:
  bool Need(size_t n) {
    if (data_.size() < n) ok_ = false;
    return ok_;
  }
  absl::string_view data_;
  bool ok_ = true;
};

std::string EncodeHeader(absl::string_view fingerprint) {
  std::string out(kMagic);
  PutU32String(out, fingerprint);
  PutU32(out, Crc(0, fingerprint));
  return out;
}

absl::Status WriteAll(int fd, absl::string_view data, const std::string& path) {
  while (!data.empty()) {
    ssize_t n = ::write(fd, data.data(), data.size());
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return absl::ErrnoToStatus(errno, absl::StrCat(path, ": journal write failed"));
    data.remove_prefix(static_cast<size_t>(n));
  }
  return absl::OkStatus();
}

// Reads up to `n` bytes into `out` (its capacity reused); fewer only at the end of the file.
absl::Status ReadUpTo(ByteSource& source, size_t n, std::string& out) {
  out.resize(n);
  size_t got = 0;
  while (got < n) {
    ENRICH_ASSIGN_OR_RETURN(size_t r, source.Read(out.data() + got, n - got));
    if (r == 0) break;
    got += r;
  }
  out.resize(got);
  return absl::OkStatus();
}
absl::StatusOr<std::string> ReadUpTo(ByteSource& source, size_t n) {
  std::string out;
  ENRICH_RETURN_IF_ERROR(ReadUpTo(source, n, out));
  return out;
}

// Decodes a record's payload into `out` (views of `payload`); false on anything
// AppendJournalPayload cannot have written.
bool DecodeView(absl::string_view payload, JournalRecordView& out) {
  PayloadReader r(payload);
  const auto kind = static_cast<Kind>(r.Fixed(1));
  out.kind = kind;
  out.details = {};
  out.settled_at = r.Time();
  out.type = r.String();
  out.value = r.String();
  switch (kind) {
    case Kind::kVerdict: {
      std::optional<schema::Disposition> d =
          schema::DispositionFromNumber(static_cast<int>(r.Fixed(1)));
      if (!d) return false;
      out.disposition = *d;
      out.judgement_id = r.String();
      out.valid_start = r.Time();
      out.valid_end = r.Time();
      out.verdict_type = r.String();
      out.verdict_value = r.String();
      out.details = r.done() ? absl::string_view() : r.String();
      break;
    }
    case Kind::kNoVerdict:
      break;
    case Kind::kError:
      out.error_code = r.String();
      break;
    default:
      return false;
  }
  return r.ok() && r.done();
}

// The part of a RunFingerprint a resumed run must share: from the last " endpoint=" on (the
// whole fingerprint when it has none).
absl::string_view FingerprintEndpoint(absl::string_view fingerprint) {
  const size_t at = fingerprint.rfind(" endpoint=");
  return at == absl::string_view::npos ? fingerprint : fingerprint.substr(at);
}

struct Scan {
  std::string other_run;  // the stored fingerprint when it differs (same endpoint)
  bool header_intact = false;
  uint64_t intact_bytes = 0;  // header and intact records
  uint64_t entries = 0;
};

// Reads and checks a journal's header (magic, fingerprint, its checksum): `scan` says whether it
// is intact, the source is left at the first record. A header torn at creation is not an error
// (nothing was journaled); a damaged one, or one of another endpoint, is.
absl::Status ReadJournalHeader(ByteSource& source, const std::string& path,
                               absl::string_view fingerprint, Scan& scan) {
  ENRICH_ASSIGN_OR_RETURN(std::string magic, ReadUpTo(source, kMagic.size()));
  if (kMagic.substr(0, magic.size()) != magic) {
    return absl::DataLossError(absl::StrCat(path, ": not a ctia-enrich journal"));
  }
  ENRICH_ASSIGN_OR_RETURN(std::string len_bytes, ReadUpTo(source, 4));
  if (magic.size() < kMagic.size() || len_bytes.size() < 4) return absl::OkStatus();  // torn
  const auto fp_len = static_cast<uint32_t>(PayloadReader(len_bytes).Fixed(4));
  if (fp_len > kMaxPayload) {
    return absl::DataLossError(absl::StrCat(path, ": damaged journal header"));
  }
  ENRICH_ASSIGN_OR_RETURN(std::string stored_fp, ReadUpTo(source, fp_len));
  ENRICH_ASSIGN_OR_RETURN(std::string crc_bytes, ReadUpTo(source, 4));
  if (stored_fp.size() < fp_len || crc_bytes.size() < 4) return absl::OkStatus();  // torn
  if (PayloadReader(crc_bytes).Fixed(4) != Crc(0, stored_fp)) {
    return absl::DataLossError(absl::StrCat(path, ": damaged journal header"));
  }
  if (stored_fp != fingerprint) {
    if (FingerprintEndpoint(stored_fp) != FingerprintEndpoint(fingerprint)) {
      // Without a record it holds nothing of that endpoint (a run stopped before any lookup
      // settled, e.g. by the circuit breaker on a wrong --endpoint): started afresh, as one
      // torn at creation.
      ENRICH_ASSIGN_OR_RETURN(std::string next, ReadUpTo(source, 1));
      if (next.empty()) return absl::OkStatus();
      return absl::FailedPreconditionError(absl::StrCat(
          path, ": the journal's lookups were made at another CTIA endpoint\n  journal:  ",
          stored_fp, "\n  this run: ", fingerprint,
          "\nresume with the same --endpoint, or remove the journal to start over"));
    }
    scan.other_run = stored_fp;
  }
  scan.header_intact = true;
  scan.intact_bytes = kMagic.size() + 4 + fp_len + 4;
  return absl::OkStatus();
}

// Reads the records after an intact header, checked and decoded, handing them to `on_batch`;
// stops at the first torn or damaged record. Counts them into `scan`.
absl::Status ScanRecords(
    ByteSource& source_ref, Scan& scan,
    const std::function<void(absl::Span<const JournalRecordView>)>& on_batch) {
  ByteSource* const source = &source_ref;

  // The records are read, checked and decoded (into views of the read buffer, no copies) on a
  // thread of their own, a buffer at a time, while this thread hands the decoded ones to
  // `on_batch` (the verdict table's reload): a resume waits for about the larger of the two
  // instead of their sum.
  constexpr size_t kBuffer = 64 << 10;  // ~600 records
  constexpr size_t kMaxBatchesReady = 8;
  struct Batch {
    std::unique_ptr<char[]> bytes;  // the records the views point into
    std::vector<JournalRecordView> entries;
  };
  absl::Mutex mu;
  std::deque<Batch> ready;  // guarded by mu
  bool reading = true;      // guarded by mu
  const auto room = [&ready] { return ready.size() < kMaxBatchesReady; };
  const auto any = [&ready, &reading] { return !ready.empty() || !reading; };
  auto hand_over = [&](Batch&& batch) {
    absl::MutexLock lock(&mu);
    mu.Await(absl::Condition(&room));
    ready.push_back(std::move(batch));
  };
  auto read_records = [&]() -> absl::Status {
    std::string carry;  // the start of a record the last buffer cut
    size_t need = 0;    // the whole size of that record, when its head was read
    bool eof = false;
    while (!eof) {
      const size_t size = std::max(kBuffer, need);
      Batch batch{std::unique_ptr<char[]>(new char[size]), {}};
      std::memcpy(batch.bytes.get(), carry.data(), carry.size());
      size_t have = carry.size();
      while (have < size) {
        ENRICH_ASSIGN_OR_RETURN(size_t r, source->Read(batch.bytes.get() + have, size - have));
        if (r == 0) {
          eof = true;
          break;
        }
        have += r;
      }
      absl::string_view rest(batch.bytes.get(), have);
      bool damaged = false;
      need = 0;
      while (rest.size() >= 8) {
        PayloadReader h(rest.substr(0, 8));
        const auto len = static_cast<uint32_t>(h.Fixed(4));
        const auto crc = static_cast<uint32_t>(h.Fixed(4));
        if (len > kMaxPayload) {
          damaged = true;
          break;
        }
        if (rest.size() < 8 + size_t{len}) {
          need = 8 + size_t{len};
          break;
        }
        const absl::string_view payload = rest.substr(8, len);
        JournalRecordView entry;
        if (Crc(Crc(0, rest.substr(0, 4)), payload) != crc || !DecodeView(payload, entry)) {
          damaged = true;
          break;
        }
        batch.entries.push_back(entry);
        scan.intact_bytes += 8 + len;
        ++scan.entries;
        rest.remove_prefix(8 + size_t{len});
      }
      carry.assign(rest.data(), rest.size());
      if (!batch.entries.empty()) hand_over(std::move(batch));
      if (damaged) break;
    }
    return absl::OkStatus();
  };
  absl::Status read_status;
  std::thread reader([&] {
    absl::Status s = read_records();
    absl::MutexLock lock(&mu);
    read_status = std::move(s);
    reading = false;
  });
  Batch batch;
  while (true) {
    {
      absl::MutexLock lock(&mu);
      mu.Await(absl::Condition(&any));
      if (ready.empty()) break;  // the reader is done
      batch = std::move(ready.front());
      ready.pop_front();
    }
    if (on_batch) on_batch(batch.entries);
  }
  reader.join();
  return read_status;
}

// Reads an existing journal: checks header and fingerprint, hands out intact entries, stops at
// the first torn or damaged record.
absl::StatusOr<Scan> ScanJournal(
    const std::string& path, absl::string_view fingerprint,
    const std::function<void(absl::Span<const JournalRecordView>)>& on_batch) {
  ENRICH_ASSIGN_OR_RETURN(std::unique_ptr<ByteSource> source, OpenSource(path, Compression::kNone));
  Scan scan;
  ENRICH_RETURN_IF_ERROR(ReadJournalHeader(*source, path, fingerprint, scan));
  if (!scan.header_intact) return scan;  // torn at creation
  ENRICH_RETURN_IF_ERROR(ScanRecords(*source, scan, on_batch));
  return scan;
}

absl::StatusOr<int> CreateJournalFile(const std::string& path, absl::string_view fingerprint,
                                      int extra_flags) {
  int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_CLOEXEC | extra_flags, 0644);
  if (fd < 0 && errno == EEXIST) {
    return absl::AlreadyExistsError(
        absl::StrCat(path,
                     ": a journal from an earlier run exists; pass --resume to continue "
                     "that run, or remove the file to start over"));
  }
  if (fd < 0) return absl::ErrnoToStatus(errno, absl::StrCat(path, ": cannot create journal"));
  absl::Status s = WriteAll(fd, EncodeHeader(fingerprint), path);
  if (s.ok() && ::fdatasync(fd) != 0) {
    s = absl::ErrnoToStatus(errno, absl::StrCat(path, ": journal fdatasync failed"));
  }
  if (s.ok()) s = SyncDirectoryOf(path);
  if (!s.ok()) {
    ::close(fd);
    return s;
  }
  return fd;
}

}  // namespace

std::string RunFingerprint(absl::string_view input_path, uint64_t input_size,
                           absl::string_view column_spec, absl::string_view endpoint) {
  return absl::StrCat("input=", input_path, " size=", input_size, " columns=", column_spec,
                      " endpoint=", endpoint);
}

namespace {

JournalEntryView ViewOf(const JournalEntry& entry) {
  JournalEntryView v;
  v.type = entry.observable.type;
  v.value = entry.observable.value;
  v.verdict = std::get_if<schema::Verdict>(&entry.outcome);
  if (const auto* error = std::get_if<LookupError>(&entry.outcome)) {
    v.failed = true;
    v.error_code = error->code;
  }
  v.settled_at = entry.settled_at;
  v.details = entry.details;
  return v;
}

// EncodeJournalEntry's payload, appended to `out`.
// Little-endian stores into a buffer sized beforehand (no capacity check per byte).
char* StoreU32(char* p, uint32_t v) { return StoreLE(p, v, 4); }
char* StoreI64(char* p, int64_t v) { return StoreLE(p, static_cast<uint64_t>(v), 8); }
char* StoreString(char* p, absl::string_view s) {
  p = StoreU32(p, static_cast<uint32_t>(s.size()));
  if (!s.empty()) std::memcpy(p, s.data(), s.size());
  return p + s.size();
}
// Unix microseconds; the infinities map to the int64 extremes and back.
char* StoreTime(char* p, absl::Time t) { return StoreI64(p, absl::ToUnixMicros(t)); }

void AppendJournalPayload(std::string& out, const JournalEntryView& entry) {
  const Kind kind = entry.verdict != nullptr ? Kind::kVerdict
                    : entry.failed           ? Kind::kError
                                             : Kind::kNoVerdict;
  // kind, settled_at, type, value; then the verdict's or the error's fields.
  size_t size = 1 + 8 + 4 + entry.type.size() + 4 + entry.value.size();
  const schema::Verdict* v = entry.verdict;
  if (v != nullptr) {
    size += 1 + 4 + v->judgement_id.size() + 8 + 8 + 4 + v->observable.type.size() + 4 +
            v->observable.value.size();
    if (!entry.details.empty()) size += 4 + entry.details.size();
  } else if (entry.failed) {
    size += 4 + entry.error_code.size();
  }
  const size_t at = out.size();
  out.resize(at + size);
  char* p = out.data() + at;
  *p++ = static_cast<char>(kind);
  p = StoreTime(p, entry.settled_at);
  p = StoreString(p, entry.type);
  p = StoreString(p, entry.value);
  if (v != nullptr) {
    *p++ = static_cast<char>(static_cast<int>(v->disposition));
    p = StoreString(p, v->judgement_id);
    p = StoreTime(p, v->valid_time.start_time);
    p = StoreTime(p, v->valid_time.end_time);
    p = StoreString(p, v->observable.type);
    p = StoreString(p, v->observable.value);
    if (!entry.details.empty()) p = StoreString(p, entry.details);
  } else if (entry.failed) {
    p = StoreString(p, entry.error_code);
  }
  assert(p == out.data() + out.size());  // the size above counts every field written
}

}  // namespace

std::string EncodeJournalEntry(const JournalEntry& entry) {
  std::string out;
  AppendJournalPayload(out, ViewOf(entry));
  return out;
}

JournalEntry ToJournalEntry(const JournalRecordView& view) {
  JournalEntry entry;
  entry.observable.type = std::string(view.type);
  entry.observable.value = std::string(view.value);
  entry.settled_at = view.settled_at;
  entry.details = std::string(view.details);
  switch (view.kind) {
    case Kind::kVerdict: {
      schema::Verdict v;
      v.disposition = view.disposition;
      v.disposition_name = std::string(schema::DispositionName(view.disposition));
      v.judgement_id = std::string(view.judgement_id);
      v.valid_time.start_time = view.valid_start;
      v.valid_time.end_time = view.valid_end;
      v.observable.type = std::string(view.verdict_type);
      v.observable.value = std::string(view.verdict_value);
      entry.outcome = std::move(v);
      break;
    }
    case Kind::kNoVerdict:
      entry.outcome = schema::NoVerdict{};
      break;
    case Kind::kError:
      entry.outcome = LookupError{std::string(view.error_code)};
      break;
  }
  return entry;
}

absl::StatusOr<JournalEntry> DecodeJournalEntry(absl::string_view payload) {
  JournalRecordView view;
  if (!DecodeView(payload, view)) return absl::DataLossError("journal entry: damaged payload");
  return ToJournalEntry(view);
}

absl::StatusOr<std::unique_ptr<Journal>> Journal::Open(
    const std::string& path, absl::string_view fingerprint, bool resume,
    const JournalOptions& options, const std::function<void(JournalEntry&&)>& on_entry) {
  if (!on_entry) {
    return Open(path, fingerprint, resume, options,
                std::function<void(absl::Span<const JournalRecordView>)>());
  }
  return Open(path, fingerprint, resume, options,
              [&on_entry](absl::Span<const JournalRecordView> batch) {
                for (const JournalRecordView& view : batch) on_entry(ToJournalEntry(view));
              });
}

absl::StatusOr<std::unique_ptr<Journal>> Journal::Open(
    const std::string& path, absl::string_view fingerprint, bool resume,
    const JournalOptions& options,
    const std::function<void(absl::Span<const JournalRecordView>)>& on_batch) {
  JournalLoad load;
  int fd = -1;
  if (!resume || ::access(path.c_str(), F_OK) != 0) {
    ENRICH_ASSIGN_OR_RETURN(fd, CreateJournalFile(path, fingerprint, O_EXCL));
  } else {
    ENRICH_ASSIGN_OR_RETURN(Scan scan, ScanJournal(path, fingerprint, on_batch));
    if (!scan.header_intact) {
      // Killed while creating it: nothing was journaled yet.
      ENRICH_ASSIGN_OR_RETURN(fd, CreateJournalFile(path, fingerprint, O_TRUNC));
    } else {
      fd = ::open(path.c_str(), O_WRONLY | O_CLOEXEC);
      if (fd < 0) return absl::ErrnoToStatus(errno, absl::StrCat(path, ": cannot open journal"));
      const off_t end = ::lseek(fd, 0, SEEK_END);
      if (end < 0) {
        absl::Status s = absl::ErrnoToStatus(errno, absl::StrCat(path, ": cannot seek journal"));
        ::close(fd);
        return s;
      }
      load.entries = scan.entries;
      load.other_run = std::move(scan.other_run);
      load.dropped_bytes = static_cast<uint64_t>(end) - scan.intact_bytes;
      // Only a torn tail is cut (and the cut synced); an intact journal is left as it is, so
      // a resume does not wait for the sync of a journal it did not change.
      if (load.dropped_bytes > 0 &&
          (::ftruncate(fd, static_cast<off_t>(scan.intact_bytes)) != 0 ||
           ::lseek(fd, 0, SEEK_END) < 0 || ::fdatasync(fd) != 0)) {
        absl::Status s = absl::ErrnoToStatus(
            errno, absl::StrCat(path, ": cannot cut the torn tail of the journal"));
        ::close(fd);
        return s;
      }
    }
  }
  return std::unique_ptr<Journal>(new Journal(path, fd, options, std::move(load)));
}

absl::StatusOr<JournalLoad> Journal::Read(
    const std::string& path, absl::string_view fingerprint,
    const std::function<void(absl::Span<const JournalRecordView>)>& on_batch) {
  struct stat st {};
  if (::stat(path.c_str(), &st) != 0) {
    return absl::ErrnoToStatus(errno, absl::StrCat(path, ": cannot read journal"));
  }
  ENRICH_ASSIGN_OR_RETURN(Scan scan, ScanJournal(path, fingerprint, on_batch));
  JournalLoad load;
  load.entries = scan.entries;
  load.other_run = std::move(scan.other_run);
  load.dropped_bytes = static_cast<uint64_t>(st.st_size) - scan.intact_bytes;
  return load;
}

uint64_t Journal::appended() const {
  absl::MutexLock lock(&mu_);
  return appended_;
}

Journal::Journal(std::string path, int fd, const JournalOptions& options, JournalLoad load)
    : path_(std::move(path)), options_(options), load_(std::move(load)), fd_(fd) {
  flusher_ = std::thread([this] { FlushLoop(); });
}

Journal::~Journal() { Close().IgnoreError(); }

absl::Status Journal::Append(const JournalEntry& entry) {
  return AppendBatch(absl::MakeConstSpan(&entry, 1));
}

absl::Status Journal::AppendBatch(absl::Span<const JournalEntry> entries) {
  std::vector<JournalEntryView> views;
  views.reserve(entries.size());
  for (const JournalEntry& entry : entries) views.push_back(ViewOf(entry));
  return AppendViews(views);
}

absl::Status Journal::AppendViews(absl::Span<const JournalEntryView> entries) {
  // Each record's payload is encoded in place, after room for its length and checksum. One
  // buffer per thread, reused: the settle path appends every batch of answers here.
  thread_local std::string records;
  records.clear();
  for (const JournalEntryView& entry : entries) {
    const size_t start = records.size();
    records.append(8, '\0');
    AppendJournalPayload(records, entry);
    const auto len = static_cast<uint32_t>(records.size() - start - 8);
    char head[8];
    for (int i = 0; i < 4; ++i) head[i] = static_cast<char>((len >> (8 * i)) & 0xff);
    const uint32_t crc =
        Crc(Crc(0, absl::string_view(head, 4)), absl::string_view(records).substr(start + 8));
    for (int i = 0; i < 4; ++i) head[4 + i] = static_cast<char>((crc >> (8 * i)) & 0xff);
    std::memcpy(records.data() + start, head, sizeof(head));
  }

  absl::MutexLock lock(&mu_);
  if (!status_.ok()) return status_;
  if (closing_) return absl::FailedPreconditionError(absl::StrCat(path_, ": journal is closed"));
  // Written now, not batched: a killed process must not lose a lookup it has been told of
  // (the caller then uses its result). Under mu_, so records never interleave.
  // A second stop signal waits for the write to end (engine/signals.h): whole records only.
  absl::Status written;
  {
    JournalWriteGuard whole;
    written = WriteAll(fd_, records, path_);
  }
  if (!written.ok()) {
    status_ = written;
    return written;
  }
  unsynced_entries_ += entries.size();
  appended_ += entries.size();
  return absl::OkStatus();
}

absl::Status Journal::Sync() {
  absl::MutexLock lock(&mu_);
  const uint64_t target = appended_;
  if (flushed_ >= target) return status_;
  sync_requested_ = true;
  auto synced = [this, target]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    return flushed_ >= target || !status_.ok();
  };
  mu_.Await(absl::Condition(&synced));
  return status_;
}

absl::Status Journal::Close() {
  {
    absl::MutexLock lock(&mu_);
    if (closing_ && !flusher_.joinable()) return status_;
    closing_ = true;
  }
  if (flusher_.joinable()) flusher_.join();
  absl::MutexLock lock(&mu_);
  if (fd_ >= 0 && ::close(std::exchange(fd_, -1)) != 0 && status_.ok()) {
    status_ = absl::ErrnoToStatus(errno, absl::StrCat(path_, ": journal close failed"));
  }
  return status_;
}

void Journal::FlushLoop() {
  absl::MutexLock lock(&mu_);
  while (true) {
    auto anything = [this]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
      return unsynced_entries_ > 0 || sync_requested_ || closing_;
    };
    mu_.Await(absl::Condition(&anything));
    // Group commit: wait for more entries unless a batch is full or someone waits for it.
    auto due = [this]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
      return unsynced_entries_ >= options_.flush_entries || sync_requested_ || closing_;
    };
    mu_.AwaitWithTimeout(absl::Condition(&due), options_.flush_interval);
    if (unsynced_entries_ == 0) {
      sync_requested_ = false;
      flushed_ = appended_;
      if (closing_) return;
      continue;
    }
    const uint64_t batch_end = appended_;
    unsynced_entries_ = 0;
    sync_requested_ = false;
    const bool failed = !status_.ok();
    const int fd = fd_;

    // fdatasync without the lock: appends go on meanwhile and are synced by the next round.
    mu_.Unlock();
    absl::Status s;
    if (!failed && ::fdatasync(fd) != 0) {
      s = absl::ErrnoToStatus(errno, absl::StrCat(path_, ": journal fdatasync failed"));
    }
    mu_.Lock();
    if (!s.ok() && status_.ok()) status_ = s;
    flushed_ = batch_end;
  }
}

}  // namespace enrich::engine
