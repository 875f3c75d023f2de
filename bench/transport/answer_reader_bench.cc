// The pool's answer parser (transport/internal/answer_reader.h) on one CTIA verdict answer: its
// plain-shape fast path (internal/plain_http_answer.h) against Beast's parser set up exactly as
// the reader's general path sets it up (eager, header and body limits, the same ResponseParser
// writing into a recycled HttpResponse). Before timing, both are checked to read the answer to
// the same status, headers and body. Items are answers, bytes their bytes.
//
//   cmake -S . -B build-release -G Ninja -DCMAKE_BUILD_TYPE=Release -DENRICH_BUILD_BENCH=ON
//   ninja -C build-release answer_reader_bench && build-release/bench/answer_reader_bench
//
// The ratio of the two is what the fast path saves per answer; bench/transport/client_vs_wrk.sh
// gives the client's whole CPU per request, the share that saving is of it.

#include "transport/internal/answer_reader.h"

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <limits>
#include <string>

#include "boost/asio/buffer.hpp"
#include "transport/http_types.h"
#include <benchmark/benchmark.h>

namespace enrich::transport::internal {
namespace {

constexpr size_t kHeaderLimit = 64 << 10;
constexpr size_t kBodyLimit = 8 << 20;

// A verdict answer as CTIA sends it: its usual headers and a Malicious verdict body.
std::string VerdictAnswer() {
  const std::string body =
      R"({"type":"verdict","disposition":2,"disposition_name":"Malicious",)"
      R"("observable":{"type":"domain","value":"evil.example.com"},)"
      R"("judgement_id":"https://private.intel.amp.cisco.com:443/ctia/judgement/)"
      R"(judgement-6f1c43b5-6a0a-4bb0-a9b4-3d4f8a6c0b9e",)"
      R"("valid_time":{"start_time":"2026-11-30T00:00:00.000Z",)"
      R"("end_time":"2525-01-01T00:00:00.000Z"}})";
  return "HTTP/1.1 200 OK\r\n"
         "Date: Sun, 06 Dec 2026 08:00:00 GMT\r\n"
         "Content-Type: application/json;charset=utf-8\r\n"
         "Content-Length: " +
         std::to_string(body.size()) +
         "\r\n"
         "Connection: keep-alive\r\n"
         "X-Ctia-Version: 1.1.1\r\n"
         "X-RateLimit-ORG-Limit: 18000\r\n"
         "Strict-Transport-Security: max-age=31536000\r\n"
         "Vary: Accept-Encoding\r\n"
         "\r\n" +
         body;
}

// Reads `data` with Beast's parser as AnswerReader's general path does; returns bytes used.
size_t ReadWithBeast(const std::string& data, HttpResponse& out) {
  ResponseParser parser(out);
  parser.eager(true);
  parser.body_limit(kBodyLimit);
  parser.header_limit(static_cast<std::uint32_t>(kHeaderLimit));
  boost::beast::error_code ec;
  const size_t used = parser.put(boost::asio::const_buffer(data.data(), data.size()), ec);
  if (ec || !parser.is_done()) return 0;
  return used;
}

size_t ReadWithFastPath(const std::string& data, HttpResponse& out) {
  bool keep_alive = true;
  return ReadPlainAnswer(data, kHeaderLimit, kBodyLimit, out, &keep_alive);
}

// Both paths read the answer alike, or the benchmark stops before timing.
void CheckSame(const std::string& data) {
  HttpResponse fast;
  HttpResponse beast;
  if (ReadWithFastPath(data, fast) != data.size() || ReadWithBeast(data, beast) != data.size() ||
      fast.status != beast.status || fast.headers != beast.headers || fast.body != beast.body) {
    std::fprintf(stderr, "answer_reader_bench: the two paths disagree on the answer\n");
    std::abort();
  }
}

template <size_t (*Read)(const std::string&, HttpResponse&)>
void BM_ReadVerdictAnswer(benchmark::State& state) {
  const std::string data = VerdictAnswer();
  CheckSame(data);
  HttpResponse out;  // recycled, as a connection recycles its answers
  for (auto _ : state) {
    benchmark::DoNotOptimize(Read(data, out));
    benchmark::DoNotOptimize(out.body.data());
  }
  state.SetItemsProcessed(state.iterations());
  state.SetBytesProcessed(state.iterations() * static_cast<int64_t>(data.size()));
}

BENCHMARK_TEMPLATE(BM_ReadVerdictAnswer, ReadWithFastPath)->Name("ReadVerdictAnswer/fast_path");
BENCHMARK_TEMPLATE(BM_ReadVerdictAnswer, ReadWithBeast)->Name("ReadVerdictAnswer/beast_parser");

}  // namespace
}  // namespace enrich::transport::internal
