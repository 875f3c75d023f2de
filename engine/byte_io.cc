#include "engine/byte_io.h"

#include "schema/status_macros.h"

#include <cerrno>
#include <algorithm>
#include <cstring>
#include <utility>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/strip.h"
#include <dirent.h>
#include <fcntl.h>
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>
#include <zstd.h>

namespace enrich::engine {
namespace {

constexpr unsigned char kGzipMagic[] = {0x1f, 0x8b};
constexpr unsigned char kZstdMagic[] = {0x28, 0xb5, 0x2f, 0xfd};

bool HasPrefix(absl::string_view data, const unsigned char* magic, size_t n) {
  return data.size() >= n && std::memcmp(data.data(), magic, n) == 0;
}

// True when `head` is all there is and could be the start of `c`'s magic number: the decoder
// then reports the truncation (DataLoss) rather than a mismatch.
bool TruncatedMagic(absl::string_view head, Compression c) {
  const unsigned char* magic = c == Compression::kGzip ? kGzipMagic : kZstdMagic;
  const size_t size = c == Compression::kGzip ? sizeof(kGzipMagic) : sizeof(kZstdMagic);
  return c != Compression::kNone && head.size() < size &&
         (head.empty() || std::memcmp(head.data(), magic, head.size()) == 0);
}

Compression CompressionFromExtension(absl::string_view path) {
  if (absl::EndsWith(path, ".gz")) return Compression::kGzip;
  if (absl::EndsWith(path, ".zst")) return Compression::kZstd;
  return Compression::kNone;
}

absl::Status ErrnoError(int err, absl::string_view name, absl::string_view what) {
  return absl::ErrnoToStatus(err, absl::StrCat(name, ": ", what));
}

// ---------------------------------------------------------------------------------------------
// Reading

// Buffered reads from a file descriptor.
class FdInput {
 public:
  FdInput(int fd, bool owned, std::string name, std::optional<uint64_t> size)
      : fd_(fd), owned_(owned), name_(std::move(name)), size_(size), buf_(kByteIoBufferSize) {}
  ~FdInput() {
    if (owned_) ::close(fd_);
  }
  FdInput(const FdInput&) = delete;
  FdInput& operator=(const FdInput&) = delete;

  absl::string_view available() const { return {buf_.data() + pos_, len_ - pos_}; }
  void Consume(size_t n) { pos_ += n; }
  // Offset in the file of the first unconsumed byte.
  uint64_t offset() const { return read_total_ - (len_ - pos_); }
  uint64_t read_total() const { return read_total_; }
  std::optional<uint64_t> size() const { return size_; }
  const std::string& name() const { return name_; }

  // Reads more bytes after the unconsumed ones; false at end of file.
  absl::StatusOr<bool> Fill() {
    if (pos_ > 0) {
      std::memmove(buf_.data(), buf_.data() + pos_, len_ - pos_);
      len_ -= pos_;
      pos_ = 0;
    }
    // Invariant: callers fill only when fewer bytes than the buffer holds are unconsumed.
    while (true) {
      ssize_t got = ::read(fd_, buf_.data() + len_, buf_.size() - len_);
      if (got < 0 && errno == EINTR) continue;
      if (got < 0) return ErrnoError(errno, name_, "read failed");
      len_ += static_cast<size_t>(got);
      read_total_ += static_cast<uint64_t>(got);
      return got > 0;
    }
  }

  // With nothing buffered: reads up to `n` bytes straight into `out` (one copy instead of two
  // for a large read). 0 at end of file.
  absl::StatusOr<size_t> ReadDirect(char* out, size_t n) {
    // Invariant: callers read directly only when nothing is buffered.
    while (true) {
      ssize_t got = ::read(fd_, out, n);
      if (got < 0 && errno == EINTR) continue;
      if (got < 0) return ErrnoError(errno, name_, "read failed");
      read_total_ += static_cast<uint64_t>(got);
      return static_cast<size_t>(got);
    }
  }

 private:
  const int fd_;
  const bool owned_;
  const std::string name_;
  const std::optional<uint64_t> size_;
  std::vector<char> buf_;
  size_t pos_ = 0;
  size_t len_ = 0;
  uint64_t read_total_ = 0;
};

class PlainSource final : public ByteSource {
 public:
  explicit PlainSource(std::unique_ptr<FdInput> in) : in_(std::move(in)) {}

  absl::StatusOr<size_t> Read(char* buf, size_t n) override {
    if (!status_.ok()) return status_;
    if (in_->available().empty() && n >= kByteIoBufferSize) {
      absl::StatusOr<size_t> got = in_->ReadDirect(buf, n);
      if (!got.ok()) status_ = got.status();
      return got;
    }
    if (in_->available().empty()) {
      absl::StatusOr<bool> more = in_->Fill();
      if (!more.ok()) return status_ = more.status();
      if (!*more) return 0;
    }
    absl::string_view avail = in_->available();
    size_t take = std::min(n, avail.size());
    std::memcpy(buf, avail.data(), take);
    in_->Consume(take);
    return take;
  }
  uint64_t raw_bytes_read() const override { return in_->read_total(); }
  std::optional<uint64_t> raw_size() const override { return in_->size(); }
  Compression compression() const override { return Compression::kNone; }
  const std::string& name() const override { return in_->name(); }

 private:
  std::unique_ptr<FdInput> in_;
  absl::Status status_;
};

// One step of a streaming decoder.
struct DecodeStep {
  size_t consumed = 0;
  size_t produced = 0;
  std::string error;  // non-empty: the data is corrupt; says why
};

class Decoder {
 public:
  virtual ~Decoder() = default;
  // Decodes from `in` into `out` (n > 0 bytes). `in` may be empty: the decoder then only
  // drains what it holds.
  virtual DecodeStep Step(absl::string_view in, char* out, size_t n) = 0;
  // True between frames/members, i.e. where the input may end.
  virtual bool AtBoundary() const = 0;
  virtual absl::string_view format() const = 0;
};

class GzipDecoder final : public Decoder {
 public:
  GzipDecoder() {
    // 15 + 16: a gzip wrapper (not zlib, not raw deflate), 32 KiB window.
    init_rc_ = inflateInit2(&zs_, 15 + 16);
  }
  ~GzipDecoder() override { inflateEnd(&zs_); }
  bool ok() const { return init_rc_ == Z_OK; }

  DecodeStep Step(absl::string_view in, char* out, size_t n) override {
    zs_.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(in.data()));
    zs_.avail_in = static_cast<uInt>(in.size());
    zs_.next_out = reinterpret_cast<Bytef*>(out);
    zs_.avail_out = static_cast<uInt>(std::min<size_t>(n, 1u << 30));
    const uInt out_before = zs_.avail_out;
    int rc = inflate(&zs_, Z_NO_FLUSH);
    DecodeStep step;
    step.consumed = in.size() - zs_.avail_in;
    step.produced = out_before - zs_.avail_out;
    if (step.consumed > 0) at_boundary_ = false;
    if (rc == Z_STREAM_END) {
      // One member ends; another may follow (gzip files may be concatenated, RFC 1952 §2.2).
      inflateReset(&zs_);
      at_boundary_ = true;
    } else if (rc != Z_OK && rc != Z_BUF_ERROR) {
      step.error = zs_.msg != nullptr ? zs_.msg : absl::StrCat("zlib error ", rc);
    }
    return step;
  }
  bool AtBoundary() const override { return at_boundary_; }
  absl::string_view format() const override { return "gzip"; }

 private:
  z_stream zs_{};
  int init_rc_ = Z_OK;
  bool at_boundary_ = false;  // an empty file is not a gzip file
};

class ZstdDecoder final : public Decoder {
 public:
  ZstdDecoder() : dctx_(ZSTD_createDCtx()) {}
  ~ZstdDecoder() override { ZSTD_freeDCtx(dctx_); }
  bool ok() const { return dctx_ != nullptr; }

  DecodeStep Step(absl::string_view in, char* out, size_t n) override {
    ZSTD_inBuffer input{in.data(), in.size(), 0};
    ZSTD_outBuffer output{out, n, 0};
    size_t rc = ZSTD_decompressStream(dctx_, &output, &input);
    DecodeStep step;
    step.consumed = input.pos;
    step.produced = output.pos;
    if (ZSTD_isError(rc)) {
      step.error = ZSTD_getErrorName(rc);
    } else if (input.pos > 0 || output.pos > 0) {
      // 0: a frame is complete and fully flushed. A call that moves nothing after that already
      // asks for the next frame's header (non-zero), so only calls that made progress count.
      last_hint_ = rc;
    }
    return step;
  }
  bool AtBoundary() const override { return last_hint_ == 0; }
  absl::string_view format() const override { return "zstd"; }

 private:
  ZSTD_DCtx* dctx_;
  size_t last_hint_ = 1;  // an empty file is not a zstd file
};

class DecodingSource final : public ByteSource {
 public:
  DecodingSource(std::unique_ptr<FdInput> in, std::unique_ptr<Decoder> decoder,
                 Compression compression)
      : in_(std::move(in)), decoder_(std::move(decoder)), compression_(compression) {}

  absl::StatusOr<size_t> Read(char* buf, size_t n) override {
    if (!status_.ok()) return status_;
    if (done_ || n == 0) return 0;
    while (true) {
      absl::string_view avail = in_->available();
      DecodeStep step = decoder_->Step(avail, buf, n);
      in_->Consume(step.consumed);
      if (!step.error.empty()) {
        return status_ = absl::DataLossError(absl::StrCat(name(), ": corrupt ", decoder_->format(),
                                                          " data at byte ", in_->offset(), " (",
                                                          step.error, ")"));
      }
      if (step.produced > 0) return step.produced;
      if (!in_->available().empty()) {
        if (step.consumed == 0) {
          // Both buffers had room and nothing moved: the library refuses the data.
          return status_ = absl::DataLossError(absl::StrCat(
                     name(), ": corrupt ", decoder_->format(), " data at byte ", in_->offset()));
        }
        continue;
      }
      absl::StatusOr<bool> more = in_->Fill();
      if (!more.ok()) return status_ = more.status();
      if (!*more) {
        if (decoder_->AtBoundary()) {
          done_ = true;
          return 0;
        }
        return status_ = absl::DataLossError(
                   absl::StrCat(name(), ": truncated ", decoder_->format(),
                                " data (unexpected end of file at byte ", in_->offset(), ")"));
      }
    }
  }
  uint64_t raw_bytes_read() const override { return in_->read_total(); }
  std::optional<uint64_t> raw_size() const override { return in_->size(); }
  Compression compression() const override { return compression_; }
  const std::string& name() const override { return in_->name(); }

 private:
  std::unique_ptr<FdInput> in_;
  std::unique_ptr<Decoder> decoder_;
  const Compression compression_;
  absl::Status status_;
  bool done_ = false;
};

// ---------------------------------------------------------------------------------------------
// Writing

// Buffered writes to a file descriptor: a temp file renamed on Finish(), or stdout, a device
// or a pipe written in place.
class FdOutput {
 public:
  // `final_path` empty: `fd` is written in place; closed at the end when `owned` (not stdout).
  FdOutput(int fd, std::string name, std::string temp_path, std::string final_path,
           bool owned = false)
      : fd_(fd),
        name_(std::move(name)),
        temp_path_(std::move(temp_path)),
        final_path_(std::move(final_path)),
        owned_(owned) {
    buf_.reserve(kByteIoBufferSize);
  }
  ~FdOutput() {
    Abandon();
    if (owned_ && fd_ >= 0) ::close(fd_);
  }
  FdOutput(const FdOutput&) = delete;
  FdOutput& operator=(const FdOutput&) = delete;

  const std::string& name() const { return name_; }

  absl::Status Append(absl::string_view data) {
    if (buf_.size() + data.size() > kByteIoBufferSize) {
      ENRICH_RETURN_IF_ERROR(Flush());
      if (data.size() >= kByteIoBufferSize) return WriteFd(data);
    }
    buf_.append(data.data(), data.size());
    return absl::OkStatus();
  }

  absl::Status Finish() {
    ENRICH_RETURN_IF_ERROR(Flush());
    if (final_path_.empty()) {
      // stdout: fsync only when redirected to a regular file (pipes and ttys cannot).
      struct stat st;
      if (::fstat(fd_, &st) == 0 && S_ISREG(st.st_mode) && ::fsync(fd_) != 0) {
        return ErrnoError(errno, name_, "fsync failed");
      }
      return absl::OkStatus();
    }
    if (::fsync(fd_) != 0) return ErrnoError(errno, name_, "fsync failed");
    int fd = std::exchange(fd_, -1);
    if (::close(fd) != 0) return ErrnoError(errno, name_, "close failed");
    if (::rename(temp_path_.c_str(), final_path_.c_str()) != 0) {
      return ErrnoError(errno, name_, absl::StrCat("rename from ", temp_path_, " failed"));
    }
    temp_path_.clear();
    return SyncDirectoryOf(final_path_);
  }

  void Abandon() {
    if (temp_path_.empty()) return;
    if (fd_ >= 0) ::close(std::exchange(fd_, -1));
    ::unlink(temp_path_.c_str());
    temp_path_.clear();
  }

 private:
  absl::Status Flush() {
    absl::Status s = WriteFd(buf_);
    buf_.clear();
    return s;
  }

  absl::Status WriteFd(absl::string_view data) {
    while (!data.empty()) {
      ssize_t n = ::write(fd_, data.data(), data.size());
      if (n < 0 && errno == EINTR) continue;
      if (n < 0) return ErrnoError(errno, name_, "write failed");
      data.remove_prefix(static_cast<size_t>(n));
      written_ += static_cast<uint64_t>(n);
    }
    StartWriteback();
    return absl::OkStatus();
  }

  // A temp file is fsynced before its rename: start writing what it has to disk every few
  // MiB (sync_file_range without waiting, Linux), so the final fsync waits for the last part
  // only instead of the whole output. A hint: failures show in the fsync.
  void StartWriteback() {
#if defined(__linux__)
    constexpr uint64_t kWritebackStep = 8 << 20;
    if (final_path_.empty() || written_ - writeback_from_ < kWritebackStep) return;
    ::sync_file_range(fd_, static_cast<off64_t>(writeback_from_),
                      static_cast<off64_t>(written_ - writeback_from_), SYNC_FILE_RANGE_WRITE);
    writeback_from_ = written_;
#endif
  }

  int fd_;
  const std::string name_;
  std::string temp_path_;  // empty once renamed or removed, or for stdout
  const std::string final_path_;
  const bool owned_;
  std::string buf_;
  uint64_t written_ = 0;         // bytes written to fd_
  uint64_t writeback_from_ = 0;  // bytes before this were handed to StartWriteback
};

class Encoder {
 public:
  virtual ~Encoder() = default;
  virtual absl::Status Write(absl::string_view data, FdOutput& out) = 0;
  // Ends the stream (trailer / epilogue).
  virtual absl::Status End(FdOutput& out) = 0;
};

class GzipEncoder final : public Encoder {
 public:
  GzipEncoder() : chunk_(kByteIoBufferSize) {
    init_rc_ =
        deflateInit2(&zs_, Z_DEFAULT_COMPRESSION, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY);
  }
  ~GzipEncoder() override { deflateEnd(&zs_); }
  bool ok() const { return init_rc_ == Z_OK; }

  absl::Status Write(absl::string_view data, FdOutput& out) override {
    while (!data.empty()) {
      // zlib counts in uInt; feed at most 1 GiB per call.
      size_t take = std::min<size_t>(data.size(), 1u << 30);
      ENRICH_RETURN_IF_ERROR(Deflate(data.substr(0, take), Z_NO_FLUSH, out));
      data.remove_prefix(take);
    }
    return absl::OkStatus();
  }
  absl::Status End(FdOutput& out) override { return Deflate({}, Z_FINISH, out); }

 private:
  absl::Status Deflate(absl::string_view data, int flush, FdOutput& out) {
    zs_.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(data.data()));
    zs_.avail_in = static_cast<uInt>(data.size());
    while (true) {
      zs_.next_out = reinterpret_cast<Bytef*>(chunk_.data());
      zs_.avail_out = static_cast<uInt>(chunk_.size());
      int rc = deflate(&zs_, flush);
      if (rc == Z_STREAM_ERROR) {
        return absl::InternalError(absl::StrCat(out.name(), ": gzip compression failed"));
      }
      ENRICH_RETURN_IF_ERROR(out.Append({chunk_.data(), chunk_.size() - zs_.avail_out}));
      if (flush == Z_FINISH ? rc == Z_STREAM_END : zs_.avail_in == 0 && zs_.avail_out != 0) {
        return absl::OkStatus();
      }
    }
  }

  z_stream zs_{};
  int init_rc_ = Z_OK;
  std::vector<char> chunk_;
};

class ZstdEncoder final : public Encoder {
 public:
  ZstdEncoder() : cctx_(ZSTD_createCCtx()), chunk_(kByteIoBufferSize) {
    if (cctx_ != nullptr) {
      ZSTD_CCtx_setParameter(cctx_, ZSTD_c_compressionLevel, 3);
      // A content checksum per frame, so a damaged file is an error rather than wrong rows.
      ZSTD_CCtx_setParameter(cctx_, ZSTD_c_checksumFlag, 1);
    }
  }
  ~ZstdEncoder() override { ZSTD_freeCCtx(cctx_); }
  bool ok() const { return cctx_ != nullptr; }

  absl::Status Write(absl::string_view data, FdOutput& out) override {
    ZSTD_inBuffer input{data.data(), data.size(), 0};
    while (input.pos < input.size) {
      ENRICH_RETURN_IF_ERROR(Compress(input, ZSTD_e_continue, out).status());
    }
    return absl::OkStatus();
  }
  absl::Status End(FdOutput& out) override {
    ZSTD_inBuffer input{nullptr, 0, 0};
    while (true) {
      ENRICH_ASSIGN_OR_RETURN(size_t remaining, Compress(input, ZSTD_e_end, out));
      if (remaining == 0) return absl::OkStatus();
    }
  }

 private:
  absl::StatusOr<size_t> Compress(ZSTD_inBuffer& input, ZSTD_EndDirective mode, FdOutput& out) {
    ZSTD_outBuffer output{chunk_.data(), chunk_.size(), 0};
    size_t rc = ZSTD_compressStream2(cctx_, &output, &input, mode);
    if (ZSTD_isError(rc)) {
      return absl::InternalError(
          absl::StrCat(out.name(), ": zstd compression failed: ", ZSTD_getErrorName(rc)));
    }
    ENRICH_RETURN_IF_ERROR(out.Append({chunk_.data(), output.pos}));
    return rc;
  }

  ZSTD_CCtx* cctx_;
  std::vector<char> chunk_;
};

class EncodingSink final : public ByteSink {
 public:
  EncodingSink(std::unique_ptr<FdOutput> out, std::unique_ptr<Encoder> encoder)
      : out_(std::move(out)), encoder_(std::move(encoder)) {}
  ~EncodingSink() override {
    if (!finished_) Abandon();
  }

  absl::Status Write(absl::string_view data) override {
    if (!status_.ok()) return status_;
    if (finished_) return absl::FailedPreconditionError(absl::StrCat(name(), ": already closed"));
    status_ = encoder_ ? encoder_->Write(data, *out_) : out_->Append(data);
    return status_;
  }
  absl::Status Finish() override {
    if (!status_.ok()) return status_;
    if (finished_) return absl::FailedPreconditionError(absl::StrCat(name(), ": already closed"));
    finished_ = true;
    if (encoder_) status_ = encoder_->End(*out_);
    if (status_.ok()) status_ = out_->Finish();
    return status_;
  }
  void Abandon() override {
    finished_ = true;
    out_->Abandon();
    if (status_.ok()) status_ = absl::CancelledError(absl::StrCat(name(), ": abandoned"));
  }
  const std::string& name() const override { return out_->name(); }

 private:
  std::unique_ptr<FdOutput> out_;
  std::unique_ptr<Encoder> encoder_;
  absl::Status status_;
  bool finished_ = false;
};

}  // namespace

absl::Status SyncDirectoryOf(const std::string& path) {
  size_t slash = path.rfind('/');
  std::string dir = slash == std::string::npos ? "." : path.substr(0, slash == 0 ? 1 : slash);
  int dfd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (dfd < 0) return ErrnoError(errno, path, absl::StrCat("cannot open directory ", dir));
  int rc = ::fsync(dfd);
  int err = errno;
  ::close(dfd);
  // Some file systems do not support fsync on directories (EINVAL); nothing more to do there.
  if (rc != 0 && err != EINVAL) return ErrnoError(err, path, "directory fsync failed");
  return absl::OkStatus();
}

absl::string_view CompressionName(Compression c) {
  switch (c) {
    case Compression::kAuto:
      return "auto";
    case Compression::kNone:
      return "none";
    case Compression::kGzip:
      return "gzip";
    case Compression::kZstd:
      return "zstd";
  }
  return "unknown";
}

std::string PartialPathFor(const std::string& path) {
  return absl::StrCat(path, ".partial-", ::getpid());
}

namespace {

// A ByteSource over a FILE* it does not own.
class FileSource final : public ByteSource {
 public:
  FileSource(std::FILE* file, std::string name) : file_(file), name_(std::move(name)) {}
  absl::StatusOr<size_t> Read(char* buf, size_t n) override {
    const size_t got = std::fread(buf, 1, n, file_);
    if (got == 0 && std::ferror(file_)) {
      return absl::DataLossError(absl::StrCat(name_, ": read error: ", std::strerror(errno)));
    }
    read_ += got;
    return got;
  }
  uint64_t raw_bytes_read() const override { return read_; }
  std::optional<uint64_t> raw_size() const override { return std::nullopt; }
  Compression compression() const override { return Compression::kNone; }
  const std::string& name() const override { return name_; }

 private:
  std::FILE* file_;
  std::string name_;
  uint64_t read_ = 0;
};

}  // namespace

std::unique_ptr<ByteSource> SourceFromFile(std::FILE* file, std::string name) {
  return std::make_unique<FileSource>(file, std::move(name));
}

absl::StatusOr<std::vector<std::string>> RemoveStalePartialFiles(const std::string& path) {
  std::vector<std::string> removed;
  const size_t slash = path.rfind('/');
  const std::string dir = slash == std::string::npos ? "." : path.substr(0, slash + 1);
  const std::string prefix =
      absl::StrCat(slash == std::string::npos ? path : path.substr(slash + 1), ".partial-");
  DIR* d = ::opendir(dir.c_str());
  if (d == nullptr) return ErrnoError(errno, dir, "cannot list the output's directory");
  absl::Status status;
  while (const dirent* e = ::readdir(d)) {
    absl::string_view name = e->d_name;
    if (!absl::ConsumePrefix(&name, prefix)) continue;
    int64_t pid = 0;
    if (!absl::SimpleAtoi(name, &pid) || pid <= 0 || pid == ::getpid() ||
        absl::StrCat(pid) != name) {
      continue;
    }
    // kill(pid, 0) fails with ESRCH only when no such process exists; EPERM means it lives.
    if (::kill(static_cast<pid_t>(pid), 0) == 0 || errno != ESRCH) continue;
    std::string stale = slash == std::string::npos ? std::string(e->d_name)
                                                   : absl::StrCat(dir, e->d_name);
    struct stat st;
    if (::lstat(stale.c_str(), &st) != 0 || !S_ISREG(st.st_mode)) continue;
    if (::unlink(stale.c_str()) != 0) {
      if (errno != ENOENT && status.ok()) {
        status = ErrnoError(errno, stale, "cannot remove the stale partial output");
      }
      continue;
    }
    removed.push_back(std::move(stale));
  }
  ::closedir(d);
  if (!status.ok()) return status;
  std::sort(removed.begin(), removed.end());
  return removed;
}

absl::StatusOr<std::unique_ptr<ByteSource>> OpenSource(const std::string& path,
                                                       Compression compression) {
  std::unique_ptr<FdInput> in;
  if (path == "-") {
    in = std::make_unique<FdInput>(STDIN_FILENO, false, "<stdin>", std::nullopt);
  } else {
    int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0) return ErrnoError(errno, path, "cannot open");
    struct stat st;
    if (::fstat(fd, &st) != 0) {
      int err = errno;
      ::close(fd);
      return ErrnoError(err, path, "cannot stat");
    }
    if (S_ISDIR(st.st_mode)) {
      ::close(fd);
      return absl::InvalidArgumentError(absl::StrCat(path, ": is a directory"));
    }
    std::optional<uint64_t> size;
    if (S_ISREG(st.st_mode)) size = static_cast<uint64_t>(st.st_size);
    in = std::make_unique<FdInput>(fd, true, path, size);
  }

  // Sniff the magic numbers: enough bytes for the longest, unless the input is shorter.
  while (in->available().size() < sizeof(kZstdMagic)) {
    ENRICH_ASSIGN_OR_RETURN(bool more, in->Fill());
    if (!more) break;
  }
  const absl::string_view head = in->available();
  Compression sniffed = Compression::kNone;
  if (HasPrefix(head, kGzipMagic, sizeof(kGzipMagic))) {
    sniffed = Compression::kGzip;
  } else if (HasPrefix(head, kZstdMagic, sizeof(kZstdMagic))) {
    sniffed = Compression::kZstd;
  }
  if (compression == Compression::kAuto) {
    Compression by_name = CompressionFromExtension(path);
    if (sniffed == Compression::kNone && by_name != Compression::kNone) {
      return absl::DataLossError(
          absl::StrCat(path, ": not ", CompressionName(by_name), " data (",
                       head.empty() ? "the file is empty" : "wrong magic bytes at byte 0",
                       "); pass the compression explicitly if the name is misleading"));
    }
    compression = sniffed;
  } else if (compression != sniffed && !TruncatedMagic(head, compression)) {
    // Asked for one compression, the data starts like another (or like none).
    const std::string name = in->name();
    if (compression == Compression::kNone) {
      return absl::InvalidArgumentError(
          absl::StrCat(name, ": ", CompressionName(sniffed),
                       " data (its magic bytes at byte 0), but uncompressed input was asked for"));
    }
    return absl::InvalidArgumentError(absl::StrCat(
        name, ": not ", CompressionName(compression), " data (",
        head.empty()                      ? std::string("the input is empty")
        : sniffed != Compression::kNone ? absl::StrCat("it is ", CompressionName(sniffed))
                                          : std::string("no magic bytes at byte 0"),
        ")"));
  }

  switch (compression) {
    case Compression::kGzip: {
      auto decoder = std::make_unique<GzipDecoder>();
      if (!decoder->ok()) return absl::ResourceExhaustedError("zlib: inflateInit2 failed");
      return std::make_unique<DecodingSource>(std::move(in), std::move(decoder), compression);
    }
    case Compression::kZstd: {
      auto decoder = std::make_unique<ZstdDecoder>();
      if (!decoder->ok()) return absl::ResourceExhaustedError("zstd: ZSTD_createDCtx failed");
      return std::make_unique<DecodingSource>(std::move(in), std::move(decoder), compression);
    }
    case Compression::kNone:
    case Compression::kAuto:  // resolved above
      break;
  }
  return std::make_unique<PlainSource>(std::move(in));
}

absl::StatusOr<std::unique_ptr<ByteSink>> OpenSink(const std::string& path,
                                                   Compression compression) {
  if (compression == Compression::kAuto) {
    compression = path == "-" ? Compression::kNone : CompressionFromExtension(path);
  }
  std::unique_ptr<Encoder> encoder;
  if (compression == Compression::kGzip) {
    auto gzip = std::make_unique<GzipEncoder>();
    if (!gzip->ok()) return absl::ResourceExhaustedError("zlib: deflateInit2 failed");
    encoder = std::move(gzip);
  } else if (compression == Compression::kZstd) {
    auto zstd = std::make_unique<ZstdEncoder>();
    if (!zstd->ok()) return absl::ResourceExhaustedError("zstd: ZSTD_createCCtx failed");
    encoder = std::move(zstd);
  }

  std::unique_ptr<FdOutput> out;
  struct stat st;
  if (path == "-") {
    out = std::make_unique<FdOutput>(STDOUT_FILENO, "<stdout>", "", "");
  } else if (::stat(path.c_str(), &st) == 0 && !S_ISREG(st.st_mode) && !S_ISDIR(st.st_mode)) {
    // A device or a pipe (/dev/null, a FIFO): written in place, as a temp file renamed over it
    // would replace it.
    int fd = ::open(path.c_str(), O_WRONLY | O_CLOEXEC);
    if (fd < 0) return ErrnoError(errno, path, "cannot open for writing");
    out = std::make_unique<FdOutput>(fd, path, "", "", /*owned=*/true);
  } else {
    std::string temp = PartialPathFor(path);
    int fd = ::open(temp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0666);
    if (fd < 0) return ErrnoError(errno, path, absl::StrCat("cannot create ", temp));
    out = std::make_unique<FdOutput>(fd, path, std::move(temp), path);
  }
  return std::make_unique<EncodingSink>(std::move(out), std::move(encoder));
}

absl::Status WriteFileAtomically(const std::string& path, absl::string_view contents) {
  ENRICH_ASSIGN_OR_RETURN(std::unique_ptr<ByteSink> sink, OpenSink(path, Compression::kNone));
  ENRICH_RETURN_IF_ERROR(sink->Write(contents));
  return sink->Finish();
}

}  // namespace enrich::engine
