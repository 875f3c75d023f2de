#!/usr/bin/env bash
# Installs what is missing, builds everything with warnings as errors, runs the whole ctest
# suite (unit + integration; integration tests start ctia-sim on 127.0.0.1 port 0).
#   BUILD_DIR (default build), BUILD_TYPE (default RelWithDebInfo), JOBS (default 2),
#   ENRICH_SANITIZE=ON for an ASan/UBSan build (a finding of either fails its test),
#   ENRICH_BUILD_BENCH=ON to build the bench/ programs too (built, not run).
set -euo pipefail
cd "$(dirname "$0")/.."

tools/setup-deps.sh

# Let ccache hit across clones in different directories (CI builds a fresh clone).
export CCACHE_BASEDIR="$PWD" CCACHE_NOHASHDIR=true

build_dir=${BUILD_DIR:-build}
jobs=${JOBS:-2}
sanitize=${ENRICH_SANITIZE:-OFF}
opt_flags=()
if [[ "$sanitize" == "ON" ]]; then
  # -O1 for the sanitizer build: it compiles faster than -O2 on CI's two CPUs. -g1 keeps
  # the function names and line tables ASan/UBSan's stack traces need, and makes the build
  # dir about a third of -g's size (7.4 GB with -g).
  opt_flags=(-DCMAKE_CXX_FLAGS_RELWITHDEBINFO="-O1 -g1 -DNDEBUG")
fi
cmake -S . -B "$build_dir" -G Ninja "${opt_flags[@]}" \
  -DCMAKE_BUILD_TYPE="${BUILD_TYPE:-RelWithDebInfo}" \
  -DENRICH_BUILD_TESTS=ON -DENRICH_WERROR=ON \
  -DENRICH_SANITIZE="$sanitize" \
  -DENRICH_BUILD_BENCH="${ENRICH_BUILD_BENCH:-OFF}"
# UBSan only reports by default; make every finding fail its test, with a stack trace. ASan
# stops at its first finding already; LeakSanitizer reports leaks at exit.
export UBSAN_OPTIONS="${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}"
export ASAN_OPTIONS="${ASAN_OPTIONS:-detect_leaks=1}"
cmake --build "$build_dir" -j "$jobs"
ctest --test-dir "$build_dir" --output-on-failure -j "$jobs" --timeout 600
