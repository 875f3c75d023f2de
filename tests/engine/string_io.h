#ifndef ENRICH_TESTS_ENGINE_STRING_IO_H_
#define ENRICH_TESTS_ENGINE_STRING_IO_H_

#include <algorithm>
#include <string>

#include "engine/byte_io.h"

namespace enrich::testing {

// A ByteSource over a string, handing out at most `max_read` bytes per Read (to exercise short
// reads).
class StringSource final : public engine::ByteSource {
 public:
  explicit StringSource(std::string text, size_t max_read = 1 << 20)
      : text_(std::move(text)), max_read_(std::max<size_t>(max_read, 1)) {}
  absl::StatusOr<size_t> Read(char* buf, size_t n) override {
    const size_t k = std::min({n, max_read_, text_.size() - pos_});
    text_.copy(buf, k, pos_);
    pos_ += k;
    return k;
  }
  uint64_t raw_bytes_read() const override { return pos_; }
  std::optional<uint64_t> raw_size() const override { return text_.size(); }
  engine::Compression compression() const override { return engine::Compression::kNone; }
  const std::string& name() const override { return name_; }

 private:
  std::string text_;
  size_t max_read_;
  size_t pos_ = 0;
  std::string name_ = "<string>";
};

// A ByteSink collecting into a string.
class StringSink final : public engine::ByteSink {
 public:
  absl::Status Write(absl::string_view data) override {
    text_.append(data.data(), data.size());
    return absl::OkStatus();
  }
  absl::Status Finish() override { return absl::OkStatus(); }
  void Abandon() override {}
  const std::string& name() const override { return name_; }
  const std::string& text() const { return text_; }

 private:
  std::string text_;
  std::string name_ = "<string>";
};

}  // namespace enrich::testing

#endif  // ENRICH_TESTS_ENGINE_STRING_IO_H_
