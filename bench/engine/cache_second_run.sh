#!/usr/bin/env bash
# `run --cache DIR` against the all-cached in-memory path (issue 16 acceptance: the second run
# of one file with --cache sends no lookup, in at most 1.3x the wall time of the all-cached
# path that cached_vs_duckdb.sh times: every verdict reloaded from a --resume journal).
#
#   bench/engine/cache_second_run.sh BUILD_DIR [RUNS=3] [ROWS=1000000] [UNIQUE=100000]
#
# 1. make-sample-log writes ROWS rows with UNIQUE distinct domains; ctia-sim --synthetic 50.
# 2. First run with --cache (every domain looked up, the cache filled): its wall time and
#    lookups, and the cache's size.
# 3. Timed, RUNS times each, alternating: the second run with --cache (must send 0 lookups and
#    write the first run's bytes), and the all-cached journal path (cached_vs_duckdb.sh's
#    contender: --resume with a journal of every verdict). Ratio cache / journal, per pair
#    and of the medians.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
build="${1:?usage: $0 BUILD_DIR [RUNS] [ROWS] [UNIQUE]}"
runs="${2:-3}"
rows="${3:-1000000}"
unique="${4:-100000}"
source "$here/common.sh"

echo "== uptime at start: $(uptime)"
log="$work/log.csv"
"$sample_log" --rows "$rows" --unique "$unique" -o "$log"
echo "== input: $rows rows, $unique distinct domains, $(stat -c %s "$log") bytes"
start_sim sim --no-demo --synthetic 50 --public-base http://ctia-sim.bench --threads 1
run_args=(run -i "$log" --column domain --endpoint "$sim_url")
"$journal_tool" --input "$log" --column domain --endpoint "$sim_url" --percent 50 \
  --public-base http://ctia-sim.bench --journal "$work/verdicts.journal" \
  --verdicts-csv "$work/verdicts.csv"
cache="$work/cache"

t="$(now)"
"$cli" "${run_args[@]}" -o "$work/first.csv" --cache "$cache" \
  --summary-json "$work/first.json" 2>/dev/null
first_s="$(elapsed "$t")"
echo "== first run with --cache: ${first_s} s, $(json_get "$work/first.json" lookups) lookups," \
  "$(json_get "$work/first.json" persistent_cache.writes) written;" \
  "data.mdb $(du -k "$cache/data.mdb" | cut -f1) KiB on disk"
"$cli" cache stats "$cache" | head -2 | sed 's/^/   /'
cat "$log" >/dev/null  # page cache warm for both contenders

cache_times=()
journal_times=()
for i in $(seq "$runs"); do
  echo "== pair $i: $(uptime)"
  rm -f "$work/second.csv"
  t="$(now)"
  /usr/bin/time -f "%U %S %M" -o "$work/cache.cpu" \
    "$cli" "${run_args[@]}" -o "$work/second.csv" --cache "$cache" \
    --summary-json "$work/second.json" 2>/dev/null
  cache_s="$(elapsed "$t")"
  [ "$(json_get "$work/second.json" lookups)" = 0 ] || { echo "second run sent lookups" >&2; exit 1; }
  cmp "$work/first.csv" "$work/second.csv"

  cp "$work/verdicts.journal" "$work/run.journal"
  rm -f "$work/journal.csv"
  t="$(now)"
  /usr/bin/time -f "%U %S %M" -o "$work/journal.cpu" \
    "$cli" "${run_args[@]}" -o "$work/journal.csv" --resume --journal "$work/run.journal" \
    --summary-json "$work/journal.json" 2>/dev/null
  journal_s="$(elapsed "$t")"
  [ "$(json_get "$work/journal.json" lookups)" = 0 ] || { echo "journal run sent lookups" >&2; exit 1; }
  cmp "$work/first.csv" "$work/journal.csv"
  cache_times+=("$cache_s")
  journal_times+=("$journal_s")
  read -r cu cs cm <"$work/cache.cpu"
  read -r ju js jm <"$work/journal.cpu"
  echo "   --cache second run  ${cache_s} s (CPU ${cu}+${cs} s, peak RSS $((cm / 1024)) MiB)," \
    "$(json_get "$work/second.json" persistent_cache.hits) cache hits, 0 lookups, same bytes"
  echo "   journal all-cached  ${journal_s} s (CPU ${ju}+${js} s, peak RSS $((jm / 1024)) MiB)"
  python3 -c "import sys; print(f'   ratio cache / journal = {float(sys.argv[1]) / float(sys.argv[2]):.2f}x (goal <= 1.3)')" \
    "$cache_s" "$journal_s"
done
python3 - "${cache_times[*]}" "${journal_times[*]}" <<'PY'
import statistics, sys
c = [float(x) for x in sys.argv[1].split()]
j = [float(x) for x in sys.argv[2].split()]
mc, mj = statistics.median(c), statistics.median(j)
print(f"== medians: --cache {mc:.3f} s, journal {mj:.3f} s, ratio {mc / mj:.2f}x (goal <= 1.3)")
PY
echo "== uptime at end: $(uptime)"
