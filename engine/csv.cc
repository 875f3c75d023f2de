#include "engine/csv.h"

#include <algorithm>
#include <cerrno>
#include <cstring>

#include "absl/strings/str_cat.h"

namespace enrich::engine {

CsvReader::CsvReader(std::FILE* file, char delimiter, size_t block_size)
    : file_(file),
      delimiter_(delimiter),
      block_size_(std::max<size_t>(block_size, 1)),
      buf_(std::max<size_t>(block_size_, 3)) {}

bool CsvReader::Fill() {
  if (eof_) return false;
  len_ = std::fread(buf_.data(), 1, block_size_, file_);
  pos_ = 0;
  if (len_ == 0) {
    eof_ = true;
    if (std::ferror(file_)) {
      status_ = absl::DataLossError(absl::StrCat("read error: ", std::strerror(errno)));
    }
    return false;
  }
  return true;
}

int CsvReader::Peek() {
  if (pos_ == len_ && !Fill()) return EOF;
  return static_cast<unsigned char>(buf_[pos_]);
}

int CsvReader::Get() {
  if (pos_ == len_ && !Fill()) return EOF;
  return static_cast<unsigned char>(buf_[pos_++]);
}

const CsvRecord* CsvReader::Next() {
  CsvRecord& r = record_;
  r.raw.clear();
  r.fields_.clear();
  r.spans_.clear();
  r.terminator = "";
  r.malformed = false;
  r.problem.clear();
  r.line = line_;

  if (!started_) {
    started_ = true;
    // UTF-8 BOM: kept in raw, not part of the first field.
    static constexpr unsigned char kBom[] = {0xEF, 0xBB, 0xBF};
    Fill();
    // A short read may leave fewer than 3 bytes; top up so the BOM check sees them all.
    while (len_ < 3 && !eof_) {
      const size_t n = std::fread(buf_.data() + len_, 1, 3 - len_, file_);
      if (n == 0) break;
      len_ += n;
    }
    if (len_ - pos_ >= 3) {
      if (std::memcmp(buf_.data() + pos_, kBom, 3) == 0) {
        r.raw.append(buf_.data() + pos_, 3);
        pos_ += 3;
        had_bom_ = true;
      }
    }
  }
  if (Peek() == EOF) return nullptr;

  uint32_t field_start = 0;
  auto end_field = [&] {
    r.spans_.emplace_back(field_start, static_cast<uint32_t>(r.fields_.size()) - field_start);
    field_start = static_cast<uint32_t>(r.fields_.size());
  };
  auto flag = [&](std::string what) {
    if (!r.malformed) {
      r.malformed = true;
      r.problem = std::move(what);
    }
  };

  bool at_field_start = true;
  bool in_quotes = false;
  bool after_close_quote = false;
  uint64_t quote_line = 0;
  for (;;) {
    const int c = Get();
    if (c == EOF) {
      if (in_quotes) {
        flag(absl::StrCat("end of file inside the quoted field opened on line ", quote_line));
      }
      end_field();
      return &r;
    }
    const char ch = static_cast<char>(c);
    if (in_quotes) {
      r.raw.push_back(ch);
      if (ch == '"') {
        if (Peek() == '"') {
          r.raw.push_back('"');
          ++pos_;
          r.fields_.push_back('"');
        } else {
          in_quotes = false;
          after_close_quote = true;
        }
      } else {
        if (ch == '\n') ++line_;
        r.fields_.push_back(ch);
      }
      continue;
    }
    if (ch == '\n' || (ch == '\r' && Peek() == '\n')) {
      if (ch == '\r') ++pos_;
      r.terminator = ch == '\r' ? absl::string_view("\r\n") : absl::string_view("\n");
      ++line_;
      end_field();
      return &r;
    }
    r.raw.push_back(ch);
    if (ch == delimiter_) {
      end_field();
      at_field_start = true;
      after_close_quote = false;
      continue;
    }
    if (at_field_start && ch == '"') {
      in_quotes = true;
      quote_line = line_;
      at_field_start = false;
      continue;
    }
    at_field_start = false;
    if (after_close_quote) {
      flag(absl::StrCat("text after a closing quote in field ", r.spans_.size() + 1));
    }
    r.fields_.push_back(ch);
  }
}

void AppendCsvField(std::string& out, absl::string_view value, char delimiter) {
  // No early exit: this loop vectorizes, and fields that need quotes are rare.
  bool quote = false;
  for (char c : value) quote |= (c == delimiter) | (c == '"') | (c == '\r') | (c == '\n');
  if (!quote) {
    out.append(value.data(), value.size());
    return;
  }
  out.push_back('"');
  for (char c : value) {
    if (c == '"') out.push_back('"');
    out.push_back(c);
  }
  out.push_back('"');
}

}  // namespace enrich::engine
