#!/usr/bin/env bash
# First run: installs dependencies, builds Release, writes a sample proxy log and enriches it
# against the embedded ctia-sim (no network, no credentials needed).
set -euo pipefail
cd "$(dirname "$0")/.."

tools/setup-deps.sh

build_dir=${BUILD_DIR:-build-release}
cmake -S . -B "$build_dir" -G Ninja -DCMAKE_BUILD_TYPE=Release -DENRICH_BUILD_TESTS=OFF >/dev/null
cmake --build "$build_dir" -j "${JOBS:-2}" --target ctia-enrich ctia-sim make-sample-log

mkdir -p out
input=out/sample-proxy.csv
output=out/sample-proxy.enriched.csv
"$build_dir/tools/sample/make-sample-log" --rows "${ROWS:-100000}" --unique "${UNIQUE:-5000}" \
  -o "$input"
echo "sample log: $input ($(($(wc -l <"$input") - 1)) data rows)"
echo

"$build_dir/tools/cli/ctia-enrich" run -i "$input" -o "$output" --column domain

rows_in=$(($(wc -l <"$input") - 1))
rows_out=$(($(wc -l <"$output") - 1))
echo
echo "data rows in: $rows_in, data rows out: $rows_out"
[[ "$rows_in" == "$rows_out" ]] || { echo "row count mismatch" >&2; exit 1; }
echo
echo "first rows with a verdict:"
grep -m 5 ',ok$' "$output" || true
echo
echo "enriched log: $output"
