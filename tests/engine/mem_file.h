#ifndef ENRICH_TESTS_ENGINE_MEM_FILE_H_
#define ENRICH_TESTS_ENGINE_MEM_FILE_H_

#include <cstdio>
#include <cstdlib>
#include <string>

namespace enrich::testing {

// A readable FILE* over a copy of `text`.
class InputFile {
 public:
  explicit InputFile(std::string text) : text_(std::move(text)) {
    file_ = text_.empty() ? std::fopen("/dev/null", "r")
                          : fmemopen(text_.data(), text_.size(), "r");
  }
  ~InputFile() { std::fclose(file_); }
  std::FILE* get() { return file_; }

 private:
  std::string text_;
  std::FILE* file_;
};

// A writable FILE* whose contents are read back with str().
class OutputFile {
 public:
  OutputFile() : file_(open_memstream(&buf_, &size_)) {}
  ~OutputFile() {
    std::fclose(file_);
    std::free(buf_);
  }
  std::FILE* get() { return file_; }
  std::string str() {
    std::fflush(file_);
    return std::string(buf_, size_);
  }

 private:
  char* buf_ = nullptr;
  size_t size_ = 0;
  std::FILE* file_;
};

}  // namespace enrich::testing

#endif  // ENRICH_TESTS_ENGINE_MEM_FILE_H_
