#!/usr/bin/env bash
# Installs what is missing, builds everything with warnings as errors, runs the whole ctest
# suite (unit + integration; integration tests start ctia-sim on 127.0.0.1 port 0).
#   BUILD_DIR (default build), BUILD_TYPE (default RelWithDebInfo), JOBS (default 2),
#   ENRICH_SANITIZE=ON for an ASan/UBSan build.
set -euo pipefail
cd "$(dirname "$0")/.."

tools/setup-deps.sh

# Let ccache hit across clones in different directories (CI builds a fresh clone).
export CCACHE_BASEDIR="$PWD" CCACHE_NOHASHDIR=true

build_dir=${BUILD_DIR:-build}
jobs=${JOBS:-2}
cmake -S . -B "$build_dir" -G Ninja \
  -DCMAKE_BUILD_TYPE="${BUILD_TYPE:-RelWithDebInfo}" \
  -DENRICH_BUILD_TESTS=ON -DENRICH_WERROR=ON \
  -DENRICH_SANITIZE="${ENRICH_SANITIZE:-OFF}"
cmake --build "$build_dir" -j "$jobs"
ctest --test-dir "$build_dir" --output-on-failure -j "$jobs" --timeout 600
