#!/usr/bin/env bash
# All-cached path of `ctia-enrich run` against `cat` and a DuckDB hash join, same file, same
# verdict table, same script run (issue 6 acceptance: ctia-enrich ≥ 5× faster than DuckDB).
#
#   bench/engine/cached_vs_duckdb.sh BUILD_DIR [RUNS=3] [ROWS=1000000] [UNIQUE=100000]
#
# 1. make-sample-log writes ROWS rows with UNIQUE distinct domains.
# 2. synthetic-journal writes the verdict of every distinct domain, as `ctia-sim --synthetic 50`
#    answers it, twice: as a `run` journal and as a CSV table for DuckDB.
# 3. Verification before timing: a normal run against that ctia-sim (every domain looked up)
#    must give the byte-identical output of the all-cached run, which must send no lookup.
# 4. Timed, RUNS times each: `cat FILE > /dev/null`; `ctia-enrich run ... --resume` (every
#    verdict reloaded from the journal, the product's resume path; output to a file, which it
#    fsyncs and renames); DuckDB: read_csv + LEFT JOIN + ORDER BY row number + COPY TO CSV.
# 5. The outputs are compared row by row (same rows, order, input fields, added fields).
#
# DuckDB 1.5 comes from the npm package @duckdb/node-api, installed (once) into
# $DUCKDB_NODE_DIR (default ~/.cache/ctia-enrich-bench/duckdb), never into the repository.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
usage="BUILD_DIR [RUNS] [ROWS] [UNIQUE]"
runs="${2:-3}"
rows="${3:-1000000}"
unique="${4:-100000}"
source "$here/common.sh"
duckdb_dir="${DUCKDB_NODE_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/ctia-enrich-bench/duckdb}"
if [ ! -d "$duckdb_dir/node_modules/@duckdb/node-api" ]; then
  mkdir -p "$duckdb_dir"
  npm install --prefix "$duckdb_dir" --no-audit --no-fund @duckdb/node-api@1.5.6-r.1 >&2
fi

log="$work/log.csv"
"$sample_log" --rows "$rows" --unique "$unique" -o "$log"
size="$(stat -c %s "$log")"
echo "== input: $rows rows, $unique distinct domains, $size bytes"

start_sim sim --no-demo --synthetic 50 --public-base http://ctia-sim.bench --threads 1
echo "== ctia-sim --no-demo --synthetic 50 at $sim_url (pid $sim_pid)"
run_args=(run -i "$log" --column domain --endpoint "$sim_url")
"$journal_tool" --input "$log" --column domain --endpoint "$sim_url" --percent 50 \
  --public-base http://ctia-sim.bench --journal "$work/verdicts.journal" \
  --verdicts-csv "$work/verdicts.csv"

# Verification: the normal run (all lookups) and the all-cached run agree byte for byte.
"$cli" "${run_args[@]}" -o "$work/reference.csv" --summary-json "$work/reference.json" 2>/dev/null
cp "$work/verdicts.journal" "$work/run.journal"
"$cli" "${run_args[@]}" -o "$work/cached.csv" --resume --journal "$work/run.journal" \
  --summary-json "$work/cached.json" 2>/dev/null
cmp "$work/reference.csv" "$work/cached.csv"
[ "$(json_get "$work/cached.json" lookups)" = 0 ] || { echo "cached run sent lookups" >&2; exit 1; }
echo "== verified: the all-cached run sent 0 lookups (the normal run sent" \
  "$(json_get "$work/reference.json" lookups)) and both outputs are byte-identical"
rm -f "$work/reference.csv"
cat "$log" >/dev/null  # page cache warm for every contender

results=()
for i in $(seq "$runs"); do
  echo "== run $i: $(uptime)"
  t="$(now)"; cat "$log" >/dev/null; cat_s="$(elapsed "$t")"

  cp "$work/verdicts.journal" "$work/run.journal"
  rm -f "$work/cached.csv"  # both contenders write into a fresh file
  t="$(now)"
  /usr/bin/time -f "%U %S" -o "$work/ours.cpu" \
    "$cli" "${run_args[@]}" -o "$work/cached.csv" --resume --journal "$work/run.journal" \
    --summary-json "$work/cached.json" 2>/dev/null
  ours_s="$(elapsed "$t")"
  [ "$(json_get "$work/cached.json" lookups)" = 0 ] || { echo "lookups were sent" >&2; exit 1; }

  rm -f "$work/duckdb.csv"
  t="$(now)"
  duck_line="$(/usr/bin/time -f "%U %S" -o "$work/duck.cpu" node "$here/duckdb_join.mjs" \
    "$duckdb_dir" "$log" "$work/verdicts.csv" "$work/duckdb.csv" domain)"
  duck_process_s="$(elapsed "$t")"
  duck_s="$(sed -n 's/.*seconds=\([0-9.]*\).*/\1/p' <<<"$duck_line")"

  python3 "$here/compare_outputs.py" "$log" "$work/cached.csv" "$work/duckdb.csv"
  python3 - "$rows" "$size" "$cat_s" "$ours_s" "$duck_s" "$duck_process_s" "$duck_line" \
    "$(cat "$work/ours.cpu")" "$(cat "$work/duck.cpu")" <<'PY'
import sys
rows, size = int(sys.argv[1]), int(sys.argv[2])
cat_s, ours_s, duck_s, duck_proc_s = map(float, sys.argv[3:7])
ours_cpu = sum(map(float, sys.argv[8].split()))
duck_cpu = sum(map(float, sys.argv[9].split()))
mb = size / 1e6
print(f"   cat > /dev/null      {cat_s:7.3f} s  {mb / cat_s:8.1f} MB/s")
print(f"   ctia-enrich (cached) {ours_s:7.3f} s  {mb / ours_s:8.1f} MB/s  {rows / ours_s:12,.0f} rows/s"
      f"  (whole process: journal reload, parse, format, write, fsync, rename)")
print(f"   DuckDB join          {duck_s:7.3f} s  {mb / duck_s:8.1f} MB/s  {rows / duck_s:12,.0f} rows/s"
      f"  (COPY statement only; node process {duck_proc_s:.3f} s; {sys.argv[7].split(' ', 2)[2]})")
print(f"   ratio DuckDB / ctia-enrich = {duck_s / ours_s:.2f}x (goal >= 5), "
      f"ctia-enrich / cat = {ours_s / cat_s:.2f}x")
print(f"   CPU (user + sys): ctia-enrich {ours_cpu:.2f} s, DuckDB node process {duck_cpu:.2f} s,"
      f" ratio {duck_cpu / ours_cpu:.2f}x")
PY
done
bench_end
