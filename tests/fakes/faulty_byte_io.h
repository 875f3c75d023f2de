#ifndef ENRICH_TESTS_FAKES_FAULTY_BYTE_IO_H_
#define ENRICH_TESTS_FAKES_FAULTY_BYTE_IO_H_

// Fault injection for engine/byte_io.h, as Beast's fail_count and leveldb's fault-injection
// Env: ByteSource / ByteSink wrappers that count their operations on a shared FailCount and
// fail the n-th one, so a test can loop n = 1, 2, ... until a run succeeds.

#include <atomic>
#include <cerrno>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <utility>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"
#include "engine/byte_io.h"
#include "engine/job.h"

namespace enrich::testing {

// Counts operations (reads, writes, finishes) over every wrapper that shares it; the n-th one
// (1-based) fails. Thread-safe: a run reads and writes on different threads.
class FailCount {
 public:
  explicit FailCount(uint64_t n) : n_(n) {}
  // Counts one operation; true when it is the one to fail.
  bool Fail() { return count_.fetch_add(1) + 1 == n_; }
  // Operations counted so far (the failed one included).
  uint64_t count() const { return count_.load(); }
  // True once the n-th operation has been reached.
  bool fired() const { return count_.load() >= n_; }

 private:
  const uint64_t n_;
  std::atomic<uint64_t> count_{0};
};

// The error a failed operation returns, worded as the real file's (engine/byte_io.cc): it names
// the file and the operation, with EIO as the cause.
inline absl::Status InjectedFault(absl::string_view name, absl::string_view operation) {
  return absl::ErrnoToStatus(EIO, absl::StrCat(name, ": ", operation, " failed (injected)"));
}

// A ByteSource whose Read() counts on `fail_count` and fails the n-th; after a failure every
// call returns the error again (ByteSource's contract).
class FaultyByteSource : public engine::ByteSource {
 public:
  FaultyByteSource(std::unique_ptr<engine::ByteSource> inner, FailCount& fail_count)
      : inner_(std::move(inner)), fail_count_(fail_count) {}

  absl::StatusOr<size_t> Read(char* buf, size_t n) override {
    if (!status_.ok()) return status_;
    if (fail_count_.Fail()) return status_ = InjectedFault(name(), "read");
    return inner_->Read(buf, n);
  }
  uint64_t raw_bytes_read() const override { return inner_->raw_bytes_read(); }
  std::optional<uint64_t> raw_size() const override { return inner_->raw_size(); }
  engine::Compression compression() const override { return inner_->compression(); }
  const std::string& name() const override { return inner_->name(); }

 private:
  std::unique_ptr<engine::ByteSource> inner_;
  FailCount& fail_count_;
  absl::Status status_;
};

// A ByteSink whose Write() and Finish() count on `fail_count` and fail the n-th. A failed
// Finish() does not finish the wrapped sink: its temp file stays until Abandon() or destruction
// removes it, as after a real failed fsync or rename.
class FaultyByteSink : public engine::ByteSink {
 public:
  FaultyByteSink(std::unique_ptr<engine::ByteSink> inner, FailCount& fail_count)
      : inner_(std::move(inner)), fail_count_(fail_count) {}

  absl::Status Write(absl::string_view data) override {
    if (!status_.ok()) return status_;
    if (fail_count_.Fail()) return status_ = InjectedFault(name(), "write");
    return inner_->Write(data);
  }
  absl::Status Finish() override {
    if (!status_.ok()) return status_;
    if (fail_count_.Fail()) return status_ = InjectedFault(name(), "finish");
    return inner_->Finish();
  }
  void Abandon() override { inner_->Abandon(); }
  const std::string& name() const override { return inner_->name(); }

 private:
  std::unique_ptr<engine::ByteSink> inner_;
  FailCount& fail_count_;
  absl::Status status_;
};

// Openers for engine::JobOptions that wrap the real files (engine::OpenSource / OpenSink) in
// the faulty wrappers above. `fail_count` must outlive the job.
inline engine::SourceOpener FaultySourceOpener(FailCount& fail_count) {
  return [&fail_count](const std::string& path, engine::Compression compression)
             -> absl::StatusOr<std::unique_ptr<engine::ByteSource>> {
    auto source = engine::OpenSource(path, compression);
    if (!source.ok()) return source.status();
    return std::make_unique<FaultyByteSource>(*std::move(source), fail_count);
  };
}
inline engine::SinkOpener FaultySinkOpener(FailCount& fail_count) {
  return [&fail_count](const std::string& path, engine::Compression compression)
             -> absl::StatusOr<std::unique_ptr<engine::ByteSink>> {
    auto sink = engine::OpenSink(path, compression);
    if (!sink.ok()) return sink.status();
    return std::make_unique<FaultyByteSink>(*std::move(sink), fail_count);
  };
}

}  // namespace enrich::testing

#endif  // ENRICH_TESTS_FAKES_FAULTY_BYTE_IO_H_
