#ifndef ENRICH_TESTS_ENGINE_JOB_FIXTURE_H_
#define ENRICH_TESTS_ENGINE_JOB_FIXTURE_H_

// The fixture of the engine::Job and engine::PlanJob tests: a temp dir holding in.csv, a log,
// and the JobOptions of a run of in.csv to out.csv against a fake verdict source (endpoint
// "fake", no stop-signal handlers, small chunks so several are parsed in parallel). A test
// changes the options it needs; NoVerdict answers every observable with no verdict.

#include "engine/job.h"
#include "tests/engine/temp_dir.h"

#include <sstream>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"
#include <gtest/gtest.h>

namespace enrich::engine {

inline absl::StatusOr<schema::VerdictResult> NoVerdict(const schema::Observable&) {
  return schema::VerdictResult(schema::NoVerdict{});
}

class JobFixture : public ::testing::Test {
 protected:
  void WriteInput(const std::string& csv) { testing::WriteFileBytes(tmp_.File("in.csv"), csv); }

  // A run of in.csv to out.csv on `columns` (as --column spells them: name, or name:type), in
  // chunks of `chunk_size` bytes, logging to log_.
  JobOptions FakeJobOptions(std::vector<ColumnSpec> columns, size_t chunk_size) {
    JobOptions o;
    o.input = tmp_.File("in.csv");
    o.output = tmp_.File("out.csv");
    std::string specs;
    for (const ColumnSpec& c : columns) {
      absl::StrAppend(&specs, specs.empty() ? "" : ",", c.name,
                      c.name == c.type ? "" : ":" + c.type);
    }
    o.column_specs = specs;
    o.endpoint = "fake";
    o.pipeline.columns = std::move(columns);
    o.pipeline.chunk_size = chunk_size;
    o.log = &log_;
    o.handle_stop_signals = false;
    return o;
  }

  testing::TempDir tmp_;
  std::ostringstream log_;
};

}  // namespace enrich::engine

#endif  // ENRICH_TESTS_ENGINE_JOB_FIXTURE_H_
