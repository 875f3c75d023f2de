#include "transport/internal/answer_reader.h"

#include <algorithm>
#include <cstdint>
#include <limits>

#include "absl/strings/str_cat.h"
#include "boost/asio/buffer.hpp"
#include "boost/beast/http/error.hpp"

namespace enrich::transport::internal {

namespace http = boost::beast::http;

AnswerReader::AnswerReader(size_t max_header_bytes, size_t max_body_bytes)
    : max_header_bytes_(max_header_bytes), max_body_bytes_(max_body_bytes) {}

AnswerReader::~AnswerReader() = default;

AnswerReader::Progress AnswerReader::Read(absl::string_view data, bool head_request,
                                          HttpResponse& out) {
  Progress progress;
  if (!parser_ && !head_request) {
    // A whole answer of the plain shape is read without Beast's parser (same result).
    bool keep_alive = true;
    const size_t used = ReadPlainAnswer(data, max_header_bytes_, max_body_bytes_, out, &keep_alive);
    if (used > 0) {
      progress.kind = Progress::kComplete;
      progress.used = used;
      progress.headers_done = true;
      progress.keep_alive = keep_alive;
      return progress;
    }
  }
  if (!parser_) {
    parser_.emplace(out);
    parser_->eager(true);
    parser_->body_limit(max_body_bytes_);
    parser_->header_limit(static_cast<std::uint32_t>(
        std::min<size_t>(max_header_bytes_, std::numeric_limits<std::uint32_t>::max())));
    if (head_request) parser_->skip(true);
  }
  boost::beast::error_code ec;
  progress.used = parser_->put(boost::asio::const_buffer(data.data(), data.size()), ec);
  progress.headers_done = parser_->is_header_done();
  if (ec == http::error::need_more) {
    progress.kind = Progress::kNeedMore;
  } else if (ec) {
    progress.kind = Progress::kError;
    progress.error = ec;
  } else if (!parser_->is_done()) {
    progress.kind = progress.used == 0 ? Progress::kNeedMore : Progress::kPartial;
  } else {
    progress.kind = Progress::kComplete;
    progress.keep_alive = parser_->keep_alive();
    parser_.reset();
  }
  return progress;
}

bool AnswerReader::FinishAtEof(bool* keep_alive) {
  if (!parser_ || !parser_->got_some()) return false;
  boost::beast::error_code ec;
  parser_->put_eof(ec);
  if (ec || !parser_->is_done()) return false;
  *keep_alive = parser_->keep_alive();
  parser_.reset();
  return true;
}

bool AnswerReader::got_some() const { return parser_ && parser_->got_some(); }

void AnswerReader::Reset() { parser_.reset(); }

absl::Status AnswerReader::ErrorStatus(const boost::beast::error_code& error,
                                       absl::string_view origin) const {
  if (error == http::error::body_limit) {
    return absl::ResourceExhaustedError(
        absl::StrCat("response from ", origin, " exceeds ", max_body_bytes_, " bytes"));
  }
  if (error == http::error::header_limit) {
    return absl::ResourceExhaustedError(
        absl::StrCat("response headers from ", origin, " exceed ", max_header_bytes_, " bytes"));
  }
  return absl::InvalidArgumentError(absl::StrCat("bad HTTP from ", origin, ": ", error.message()));
}

}  // namespace enrich::transport::internal
