#ifndef ENRICH_TRANSPORT_INTERNAL_ANSWER_READER_H_
#define ENRICH_TRANSPORT_INTERNAL_ANSWER_READER_H_

// The one HTTP/1.1 answer parser of the pool's connections: reads answers, in order, from the
// bytes a connection has received, into recycled HttpResponse objects.
//
// Contract: one reader per connection, not thread-safe (the connection's strand owns it). A
// whole answer of the plain shape (internal/plain_http_answer.h) is read in one pass; anything
// else (chunked, split over reads, HEAD, 1xx/204/304, HTTP/1.0, bodies ended by EOF) goes
// through Beast's parser, with the same result for the bytes both accept. The fast path is one
// function, not a second parser: it takes only whole answers of one shape and declines the rest;
// its header cites the benchmark that justifies it.

#include "transport/http_types.h"
#include "transport/internal/plain_http_answer.h"

#include <cstddef>
#include <cstdint>
#include <optional>

#include "absl/status/status.h"
#include "absl/strings/string_view.h"
#include "boost/beast/core/error.hpp"
#include "boost/beast/http/basic_parser.hpp"

namespace enrich::transport::internal {

// AnswerReader's general path: Beast's parser calling back into an HttpResponse, with no field
// container in between (one copy of each header and of the body). `out` is a recycled answer:
// its header strings and body keep their capacity, so a connection answered alike each time
// allocates nothing.
class ResponseParser final : public boost::beast::http::basic_parser<false> {
  using ErrorCode = boost::beast::error_code;
  using StringView = boost::beast::string_view;

 public:
  explicit ResponseParser(HttpResponse& out) : out_(out) {
    out_.status = 0;
    out_.body.clear();
  }

 private:
  void on_request_impl(boost::beast::http::verb, StringView, StringView, int, ErrorCode&) override {
  }
  void on_response_impl(int code, StringView, int, ErrorCode&) override { out_.status = code; }
  void on_field_impl(boost::beast::http::field, StringView name, StringView value,
                     ErrorCode&) override {
    SetHeader(out_, fields_++, absl::string_view(name.data(), name.size()),
              absl::string_view(value.data(), value.size()));
  }
  void on_header_impl(ErrorCode&) override { out_.headers.resize(fields_); }
  void on_body_init_impl(const boost::optional<std::uint64_t>& length, ErrorCode&) override {
    // A declared length above the body limit has already failed the parse.
    if (length) out_.body.reserve(static_cast<size_t>(*length));
  }
  size_t on_body_impl(StringView body, ErrorCode&) override {
    out_.body.append(body.data(), body.size());
    return body.size();
  }
  void on_chunk_header_impl(std::uint64_t, StringView, ErrorCode&) override {}
  size_t on_chunk_body_impl(std::uint64_t, StringView body, ErrorCode&) override {
    out_.body.append(body.data(), body.size());
    return body.size();
  }
  void on_finish_impl(ErrorCode&) override {}

  HttpResponse& out_;
  size_t fields_ = 0;  // header slots of `out_` filled so far
};

class AnswerReader {
 public:
  AnswerReader(size_t max_header_bytes, size_t max_body_bytes);
  ~AnswerReader();
  AnswerReader(const AnswerReader&) = delete;
  AnswerReader& operator=(const AnswerReader&) = delete;

  struct Progress {
    enum Kind {
      kNeedMore,  // the answer is not complete: wait for more bytes
      kPartial,   // bytes were taken, the answer is not complete: call Read() again
      kComplete,  // `out` holds the whole answer
      kError,     // the bytes are not a valid answer (or exceed a limit): see error
    } kind;
    size_t used = 0;                 // bytes of `data` taken (to drop from the buffer)
    bool headers_done = false;       // the answer's headers are complete
    bool keep_alive = true;          // kComplete: the connection may carry another answer
    boost::beast::error_code error;  // kError
  };

  // Reads the answer to a request (a HEAD request when `head_request`) from the front of
  // `data` into `out` (which the reader clears when it starts an answer, keeping its buffers'
  // capacity). `out` must stay the same object until kComplete or kError.
  Progress Read(absl::string_view data, bool head_request, HttpResponse& out);

  // The peer closed the connection: true (with `*keep_alive`) when that completed an answer
  // whose body ends at EOF (one without a length).
  bool FinishAtEof(bool* keep_alive);

  // True when bytes of an answer not yet complete were taken.
  bool got_some() const;

  // Drops a half-read answer (the connection closed).
  void Reset();

  // The Status for a kError `error`: ResourceExhausted past a limit, else InvalidArgument
  // ("bad HTTP from <origin>: ...").
  absl::Status ErrorStatus(const boost::beast::error_code& error, absl::string_view origin) const;

 private:
  const size_t max_header_bytes_;
  const size_t max_body_bytes_;
  std::optional<ResponseParser> parser_;  // the answer Beast is reading, if any
};

}  // namespace enrich::transport::internal

#endif  // ENRICH_TRANSPORT_INTERNAL_ANSWER_READER_H_
