#!/usr/bin/env bash
# What `run --hits` and the summary's top hits cost on the all-cached path of `ctia-enrich run`
# (the pipeline's own CPU, no lookup sent; cached_vs_duckdb.sh's setup), and that they cost
# nothing when not asked for.
#
#   bench/engine/hits_cost.sh BUILD_DIR [RUNS=5] [ROWS=1000000] [UNIQUE=100000] [BASELINE_CLI]
#
# Variants, interleaved RUNS times, each from the same journal of every verdict:
#   off       --top-hits 0, no --hits: no hit disposition, the format stage skips hits
#   top       the default: hit rows counted per observable for the summary's top hits
#   hits      --hits FILE: the hit rows also written to a second file
#   baseline  BASELINE_CLI (e.g. a build of the commit before --hits), if given
# Before timing, the outputs of all variants are checked byte-identical, and the hits file is
# checked to be exactly the output rows whose disposition is Malicious or Suspicious, in order.
# Prints the median wall time and CPU (user + sys) of each, and each against `off`.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
usage="BUILD_DIR [RUNS] [ROWS] [UNIQUE] [BASELINE_CLI]"
runs="${2:-5}"
rows="${3:-1000000}"
unique="${4:-100000}"
baseline="${5:-}"
source "$here/common.sh"

log="$work/log.csv"
"$sample_log" --rows "$rows" --unique "$unique" -o "$log"
echo "== input: $rows rows, $unique distinct domains, $(stat -c %s "$log") bytes"
start_sim sim --no-demo --synthetic 50 --public-base http://ctia-sim.bench --threads 1
"$journal_tool" --input "$log" --column domain --endpoint "$sim_url" --percent 50 \
  --public-base http://ctia-sim.bench --journal "$work/verdicts.journal" \
  --verdicts-csv "$work/verdicts.csv"

variants=(off top hits)
[ -n "$baseline" ] && variants+=(baseline)
# run VARIANT OUT: one all-cached run; its CPU in $work/VARIANT.cpu.
run() {
  local v="$1" out="$2" bin="$cli"
  local args=(run -i "$log" --column domain --endpoint "$sim_url" -o "$out" --resume
              --journal "$work/run.journal" --summary-json "$work/$v.json")
  case "$v" in
    off) args+=(--top-hits 0) ;;
    hits) args+=(--hits "$work/hit-rows.csv") ;;
    baseline) bin="$baseline" ;;
  esac
  cp "$work/verdicts.journal" "$work/run.journal"
  rm -f "$out"
  /usr/bin/time -f "%U %S" -o "$work/$v.cpu" "$bin" "${args[@]}" 2>/dev/null
  [ "$(json_get "$work/$v.json" lookups)" = 0 ] || { echo "$v: lookups were sent" >&2; exit 1; }
}

for v in "${variants[@]}"; do run "$v" "$work/$v.csv"; done
for v in "${variants[@]}"; do cmp "$work/off.csv" "$work/$v.csv"; done
python3 - "$work/off.csv" "$work/hit-rows.csv" <<'PY'
import csv, sys
with open(sys.argv[1], newline="") as f:
    lines = f.read().splitlines(keepends=True)
header = next(csv.reader([lines[0]]))
name = header.index("ctia_disposition_name")
want = [lines[0]] + [l for l in lines[1:]
                     if next(csv.reader([l]))[name] in ("Malicious", "Suspicious")]
with open(sys.argv[2], newline="") as f:
    got = f.read().splitlines(keepends=True)
assert got == want, "hits file differs from the output's hit rows"
print(f"== verified: outputs identical; hits file = the {len(want) - 1} output rows "
      f"(of {len(lines) - 1}) with Malicious or Suspicious, in order")
PY
cat "$log" >/dev/null

declare -A wall cpu
for i in $(seq "$runs"); do
  echo "== run $i: $(uptime)"
  for v in "${variants[@]}"; do
    t="$(now)"
    run "$v" "$work/$v.csv"
    wall[$v]+="$(elapsed "$t") "
    cpu[$v]+="$(awk '{print $1 + $2}' "$work/$v.cpu") "
  done
done
args=()
for v in "${variants[@]}"; do args+=("$v" "${wall[$v]}" "${cpu[$v]}"); done
python3 - "$rows" "${args[@]}" <<'PY'
import statistics, sys
rows = int(sys.argv[1])
it = iter(sys.argv[2:])
res = {v: ([float(x) for x in w.split()], [float(x) for x in c.split()]) for v, w, c in zip(it, it, it)}
off_w, off_c = statistics.median(res["off"][0]), statistics.median(res["off"][1])
for v, (w, c) in res.items():
    mw, mc = statistics.median(w), statistics.median(c)
    print(f"   {v:9s} wall {mw:6.3f} s ({rows / mw:10,.0f} rows/s, {mw / off_w:5.3f}x off)  "
          f"CPU {mc:6.2f} s ({mc / off_c:5.3f}x off)  walls {' '.join(f'{x:.3f}' for x in w)}")
PY
bench_end
