#!/usr/bin/env bash
# End-to-end lookups/s of `ctia-enrich run` against ctia-sim's synthetic mode, beside the
# transport's own figure (`ctia-enrich bench`) against the same server with the same
# connections, same script run (issue 6 acceptance: run ≥ 0.85 × bench, i.e. the pipeline adds
# no bottleneck).
#
#   bench/engine/e2e_vs_transport.sh BUILD_DIR [RUNS=3] [CONNECTIONS=16] [ROWS=1000000] [UNIQUE=100000]
#
# The run's rate is lookups settled / lookup phase (first lookup sent to last settled, from its
# --summary-json). The bench looks up the same distinct domains for as long (at least 5 s), with
# the same connections and lookups in flight.
# Every run's output is checked row by row against the verdicts ctia-sim gives (recomputed by
# synthetic-journal) before its figures are printed. ctia-sim runs as its own process.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
build="${1:?usage: $0 BUILD_DIR [RUNS] [CONNECTIONS] [ROWS] [UNIQUE]}"
runs="${2:-3}"
conns="${3:-16}"
rows="${4:-1000000}"
unique="${5:-100000}"
source "$here/common.sh"

echo "== uptime at start: $(uptime)"
log="$work/log.csv"
"$sample_log" --rows "$rows" --unique "$unique" -o "$log"
echo "== input: $rows rows, $unique distinct domains, $(stat -c %s "$log") bytes"
start_sim sim --no-demo --synthetic 50 --public-base http://ctia-sim.bench --threads 1
echo "== ctia-sim --no-demo --synthetic 50 --threads 1 at $sim_url (pid $sim_pid)"
"$journal_tool" --input "$log" --column domain --endpoint "$sim_url" --percent 50 \
  --public-base http://ctia-sim.bench --journal "$work/unused.journal" \
  --verdicts-csv "$work/verdicts.csv"
# The bench's observables: the same distinct domains the run looks up.
python3 - "$work/verdicts.csv" "$work/observables.txt" <<'PY'
import csv, sys
with open(sys.argv[1], newline="") as f, open(sys.argv[2], "w") as out:
    for row in list(csv.reader(f))[1:]:
        if row[5] in ("ok", "no_verdict"):
            out.write(f"domain,{row[0]}\n")
PY
echo "== bench observables: $(wc -l <"$work/observables.txt") distinct domains"

for i in $(seq "$runs"); do
  echo "== run $i: $(uptime)"
  rm -f "$work/out.csv"
  "$cli" run -i "$log" -o "$work/out.csv" --column domain --endpoint "$sim_url" \
    --connections "$conns" --summary-json "$work/run.json" 2>"$work/run.err"
  python3 "$here/check_verdicts.py" "$log" "$work/out.csv" "$work/verdicts.csv" domain
  phase_s="$(json_get "$work/run.json" lookup_phase_seconds)"
  run_rate="$(json_get "$work/run.json" lookup_phase_lookups_per_second)"
  lookups="$(json_get "$work/run.json" lookups)"
  run_s="$(json_get "$work/run.json" seconds)"
  secs="$(python3 -c "import sys; print(max(5, round(float(sys.argv[1]))))" "$phase_s")"
  # The same lookups in flight as the run keeps (8 × connections, run_command.cc).
  bench_out="$("$cli" bench --target "$sim_url" --connections "$conns" --duration "$secs" \
    --in-flight $((conns * 8)) --observables "$work/observables.txt")"
  grep -E '^(target|observables|latency|statuses|results)' <<<"$bench_out" | sed 's/^/   bench: /'
  bench_rate="$(sed -n 's/^bench_result .*observables_per_s=\([0-9.]*\).*/\1/p' <<<"$bench_out")"
  grep -q 'errors=0$' <<<"$bench_out" || { echo "bench had errors" >&2; exit 1; }
  python3 - "$lookups" "$phase_s" "$run_rate" "$run_s" "$bench_rate" "$conns" <<'PY'
import sys
lookups, phase, run_rate, run_s, bench_rate = (float(x) for x in sys.argv[1:6])
print(f"   run:   {lookups:.0f} lookups in a {phase:.2f} s lookup phase = {run_rate:,.0f} lookups/s"
      f" (whole run {run_s:.2f} s), connections {sys.argv[6]}")
print(f"   bench: {bench_rate:,.0f} lookups/s")
print(f"   ratio run / bench = {run_rate / bench_rate:.3f} (goal >= 0.85)")
PY
done
echo "== uptime at end: $(uptime)"
