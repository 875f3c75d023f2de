#ifndef ENRICH_ENGINE_BYTE_IO_H_
#define ENRICH_ENGINE_BYTE_IO_H_

// The bytes in and out of a run: ByteSource decodes the input file (gzip, zstd or plain),
// ByteSink encodes the output to a temp file renamed into place. The pipeline reads and writes
// only through these interfaces, so tests can wrap them (tests/fakes/faulty_byte_io.h).

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace enrich::engine {

// Buffer size of every source and sink (raw and decoded side).
inline constexpr size_t kByteIoBufferSize = 256 * 1024;

enum class Compression {
  kAuto,  // sources: magic bytes (gzip 1f 8b, zstd 28 b5 2f fd); sinks: extension .gz / .zst
  kNone,
  kGzip,  // zlib; a source reads every member of a multi-member file
  kZstd,  // libzstd streaming; a source reads every frame (skippable frames are skipped)
};

// Decoded bytes of an input. Not thread-safe (one reader at a time); owns its file descriptor.
class ByteSource {
 public:
  virtual ~ByteSource() = default;

  // Reads up to `n` (> 0) decoded bytes into `buf`; returns how many, 0 only at the end of the
  // input. Errors name the input and the cause, e.g. "events.csv.gz: corrupt gzip data at
  // byte 1234" (DataLoss; the byte is an offset into the compressed file) or "...: truncated
  // gzip data (unexpected end of file at byte 20)". After an error every call returns it again.
  virtual absl::StatusOr<size_t> Read(char* buf, size_t n) = 0;

  // Bytes consumed from the underlying file so far (compressed bytes for a compressed input),
  // for progress against raw_size().
  virtual uint64_t raw_bytes_read() const = 0;
  // Size of the underlying file when it is a regular file; nullopt for pipes and stdin.
  virtual std::optional<uint64_t> raw_size() const = 0;
  // The compression in use (never kAuto).
  virtual Compression compression() const = 0;
  // "events.csv.gz", or "<stdin>".
  virtual const std::string& name() const = 0;
};

// Encoded output. Not thread-safe (one writer at a time).
//
// A file sink writes to `<path>.partial-<pid>` beside the target; nothing appears under the
// final name until Finish() succeeds. Destroying a sink that was neither finished nor
// abandoned abandons it.
class ByteSink {
 public:
  virtual ~ByteSink() = default;

  // Appends bytes (buffered). Errors name the output and the cause. After an error every call
  // returns it again.
  virtual absl::Status Write(absl::string_view data) = 0;
  // Ends the compressed stream, flushes, fsyncs and closes; for a file, renames the temp file
  // to the final name and fsyncs the directory. Call once; no Write() after it.
  virtual absl::Status Finish() = 0;
  // Gives up: a file sink closes and removes its temp file (the final name is never touched);
  // stdout is left as it is. Safe to call after a failed Finish() and more than once.
  virtual void Abandon() = 0;
  // "out.csv.zst", or "<stdout>".
  virtual const std::string& name() const = 0;
};

// Opens `path` for reading ("-" = stdin). With kAuto the first bytes decide (magic numbers); a
// file named *.gz / *.zst that does not start with the matching magic is an error (it is
// likely damaged). An explicit compression must agree with the first bytes: gzip/zstd data
// starts with its magic number, and uncompressed data with neither (InvalidArgument naming
// the input and what it holds otherwise). Errors: NotFound / PermissionDenied / ... naming the
// path.
absl::StatusOr<std::unique_ptr<ByteSource>> OpenSource(const std::string& path,
                                                       Compression compression);

// An uncompressed ByteSource over `file`, which it does not own (tools and tests); read errors
// name `name`.
std::unique_ptr<ByteSource> SourceFromFile(std::FILE* file, std::string name);

// Opens `path` for writing ("-" = stdout). A regular file is written to a temp file beside it,
// renamed over it by Finish(); stdout, or an existing device or pipe (/dev/null, a FIFO), is
// written in place. kAuto picks by extension (.gz, .zst, otherwise none).
// Errors (e.g. the directory does not exist) name the path.
absl::StatusOr<std::unique_ptr<ByteSink>> OpenSink(const std::string& path,
                                                   Compression compression);

// The temp file name a sink for `path` writes to in this process: `<path>.partial-<pid>`.
std::string PartialPathFor(const std::string& path);

// Removes the temp files that killed runs left beside `path`: `<path>.partial-<pid>` whose pid
// is not a live process (a live one, even an unrelated process that reused the pid, keeps its
// file). Returns the paths removed. Errors: the directory cannot be read, or a stale file
// cannot be removed (naming it).
absl::StatusOr<std::vector<std::string>> RemoveStalePartialFiles(const std::string& path);

// Writes `contents` to `path` through a plain file sink (temp file, fsync, rename), so a reader
// sees either the old file or the whole new one.
absl::Status WriteFileAtomically(const std::string& path, absl::string_view contents);

// Makes a file's creation or rename under `path` durable: fsyncs the directory holding it.
absl::Status SyncDirectoryOf(const std::string& path);

// "none", "gzip", "zstd", "auto".
absl::string_view CompressionName(Compression c);

}  // namespace enrich::engine

#endif  // ENRICH_ENGINE_BYTE_IO_H_
