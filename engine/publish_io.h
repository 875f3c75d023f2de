#ifndef ENRICH_ENGINE_PUBLISH_IO_H_
#define ENRICH_ENGINE_PUBLISH_IO_H_

// The files of `ctia-enrich publish`: PublishReader reads the input's rows (CSV or NDJSON,
// compressed or not, through the engine's ByteSource, ChunkReader and CsvRecords) into the
// judgement fields of engine/publish_row.h; PublishResultWriter writes every row back, in
// order, with the columns ctia_judgement_id and ctia_publish_status, to a temp file renamed
// into place (ByteSink).

#include "engine/byte_io.h"
#include "engine/chunk_reader.h"
#include "engine/csv_records.h"
#include "engine/publish_row.h"

#include <array>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"

namespace enrich::engine {

enum class PublishFormat { kCsv, kNdjson };

struct PublishInputOptions {
  std::string path;
  std::optional<PublishFormat> format;  // nullopt: NDJSON when the first byte is '{'
  Compression compression = Compression::kAuto;
  char delimiter = ',';
  // CSV: false when the first record is a row (--no-header): columns are then named by their
  // 1-based position (--map value=1), and a field without one is absent.
  bool header = true;
  // Column (CSV header name or, without a header, 1-based position; NDJSON dotted field path)
  // of each field; empty = the field's own name (PublishFieldName).
  std::array<std::string, kPublishFieldCount> columns;
};

// One input row: where it is, its bytes, and the values of its columns.
struct PublishRecord {
  uint64_t line = 0;                       // 1-based line where the row starts
  std::string raw;                         // the row's bytes without its terminator
  std::string terminator;                  // CSV: "\r\n", "\n" or "" at the end of the input
  PublishValues values;                    // nullopt: no such column, or an empty cell / null
  std::optional<PublishRowError> problem;  // the row could not be read (field "row" or a field)
  bool json_object_empty = false;          // NDJSON: `{}`
};

// Not thread-safe.
class PublishReader {
 public:
  // Opens the input and, for CSV, reads its header. Errors name the input: I/O, an empty
  // input, and (usage errors, engine::UsageError) a --map column the header lacks, or a
  // value/type column missing when no flag gives them.
  static absl::StatusOr<std::unique_ptr<PublishReader>> Open(const PublishInputOptions& options,
                                                             const PublishValues& defaults);
  ~PublishReader();

  // The next row into `out`; false at the end of the input. Errors: I/O.
  absl::StatusOr<bool> Next(PublishRecord& out);

  PublishFormat format() const { return format_; }
  // CSV with a header: the header record's bytes and terminator (empty without one).
  bool has_header() const { return format_ == PublishFormat::kCsv && options_.header; }
  const std::string& header() const { return header_; }
  const std::string& header_terminator() const { return header_terminator_; }
  const std::string& name() const { return source_->name(); }

 private:
  PublishReader(const PublishInputOptions& options, std::unique_ptr<ByteSource> source);
  absl::Status ReadHeader(const PublishValues& defaults);
  // --no-header: the columns' positions from --map.
  absl::Status PositionColumns(const PublishValues& defaults);
  // Fills chunk_/records_ with the next chunk; false at the end.
  absl::StatusOr<bool> NextChunk();
  void ReadCsv(const CsvRecordView& view, PublishRecord& out) const;
  void ReadNdjson(absl::string_view line, PublishRecord& out) const;

  const PublishInputOptions options_;
  std::unique_ptr<ByteSource> source_;
  ChunkReader chunks_;
  PublishFormat format_ = PublishFormat::kCsv;
  Chunk chunk_;
  CsvRecords records_;
  size_t next_record_ = 0;    // CSV: in records_
  size_t ndjson_pos_ = 0;     // NDJSON: byte offset in chunk_
  uint64_t ndjson_line_ = 0;  // NDJSON: line of ndjson_pos_
  bool have_chunk_ = false;
  std::string header_;
  std::string header_terminator_;
  // CSV: the index of each field's column, -1 when absent.
  std::array<int, kPublishFieldCount> column_index_{};
};

// Not thread-safe.
class PublishResultWriter {
 public:
  // `path`: "-" for stdout; compression kAuto picks by extension. For CSV with `header_row`,
  // `header` and its terminator are the input's; the two columns are added to it (without,
  // --no-header, the result has no header either).
  static absl::StatusOr<std::unique_ptr<PublishResultWriter>> Open(
      const std::string& path, Compression compression, PublishFormat format, char delimiter,
      bool header_row, const std::string& header, const std::string& header_terminator);

  absl::Status Write(const PublishRecord& record, absl::string_view judgement_id,
                     absl::string_view status);
  absl::Status Finish() { return sink_->Finish(); }
  void Abandon() { sink_->Abandon(); }

 private:
  PublishResultWriter(std::unique_ptr<ByteSink> sink, PublishFormat format, char delimiter)
      : sink_(std::move(sink)), format_(format), delimiter_(delimiter) {}
  std::unique_ptr<ByteSink> sink_;
  PublishFormat format_;
  char delimiter_;
  std::string buf_;
};

}  // namespace enrich::engine

#endif  // ENRICH_ENGINE_PUBLISH_IO_H_
