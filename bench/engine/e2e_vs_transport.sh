#!/usr/bin/env bash
# End-to-end lookups/s of `ctia-enrich run` against ctia-sim's synthetic mode, beside the
# transport's own figure (`ctia-enrich bench`) against the same server with the same
# connections, same script run (issue 6 acceptance: run ≥ 0.85 × bench, i.e. the pipeline adds
# no bottleneck).
#
#   bench/engine/e2e_vs_transport.sh BUILD_DIR [RUNS=3] [CONNECTIONS=16] [BATCH=100] [ROWS=1000000]
#                                    [UNIQUE=100000] [LATENCY_MS=20]
#
# ctia-sim answers every request LATENCY_MS after it has it (--latency-ms), as a CTIA region
# across a network does, so round trips set the pace of run and bench alike and the ratio shows
# whether the pipeline keeps the transport's connections as full as the bench does. With 16
# connections, batches of 100 and 20 ms that is about 70k lookups/s, with the sim about 60%
# busy. LATENCY_MS=0 makes the sim's own CPU the limit instead: on a 2-vCPU VM its CPU per
# lookup moves 6-11 us from one 1 s window to the next, with the same requests, so the ratio
# then moves with the server (0.70-1.25 in earlier runs) rather than with the pipeline.
#
# The run's rate is lookups settled / lookup phase (first lookup sent to last settled, from its
# --summary-json). The bench (6 s before and 6 s after each run) looks up the same distinct
# domains with the same connections, batch size and lookups in flight.
# Beside the ratio it prints ctia-sim's CPU per lookup in the run and in the benches, and how
# busy it was during the run's lookup phase (about 100% with LATENCY_MS=0: the server set the pace, not the run).
# With 2 or more CPUs the sim runs on a CPU of its own and the client on the others (common.sh;
# ENRICH_BENCH_PIN=0 shares them).
# Every run's output is checked row by row against the verdicts ctia-sim gives (recomputed by
# synthetic-journal) before its figures are printed. ctia-sim runs as its own process.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
usage="BUILD_DIR [RUNS] [CONNECTIONS] [BATCH] [ROWS] [UNIQUE] [LATENCY_MS]"
runs="${2:-3}"
conns="${3:-16}"
batch="${4:-100}"  # lookups per GraphQL request (--batch-size), the same for run and bench
rows="${5:-1000000}"
unique="${6:-100000}"
latency_ms="${7:-20}"
source "$here/common.sh"

log="$work/log.csv"
"$sample_log" --rows "$rows" --unique "$unique" -o "$log"
echo "== input: $rows rows, $unique distinct domains, $(stat -c %s "$log") bytes"
start_sim sim --no-demo --synthetic 50 --public-base http://ctia-sim.bench --threads 1 \
  --latency-ms "$latency_ms"
echo "== ctia-sim --no-demo --synthetic 50 --threads 1 --latency-ms $latency_ms at $sim_url (pid $sim_pid)"
echo "== $(pinning)"
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

# bench_once SECONDS: the transport's own figure (lookups/s) against the sim, into bench_rate.
# The same GraphQL batch size, and as many lookups in flight as the run keeps (two full batches
# per connection: 2 × connections × max(8, batch size), run_command.cc).
bench_once() {
  local out cpu0
  cpu0="$(sim_cpu)"
  out="$("${client_cpus[@]}" "$cli" bench --target "$sim_url" --connections "$conns" --duration "$1" \
    --batch-size "$batch" --in-flight $((2 * conns * (batch > 8 ? batch : 8))) \
    --observables "$work/observables.txt")"
  grep -E '^(observables|latency|results)' <<<"$out" | sed 's/^/   bench: /'
  grep -q 'errors=0$' <<<"$out" || { echo "bench had errors" >&2; exit 1; }
  bench_rate="$(sed -n 's/^bench_result .*observables_per_s=\([0-9.]*\).*/\1/p' <<<"$out")"
  bench_sim_us="$(python3 -c 'import sys; print(f"{(int(sys.argv[2]) - int(sys.argv[1])) / int(sys.argv[3]) * 1e6 / int(sys.argv[4]):.2f}")' \
    "$cpu0" "$(sim_cpu)" "$clk_tck" "$(sed -n 's/^observables: \([0-9]*\) .*/\1/p' <<<"$out")")"
}

# sim_cpu: ctia-sim's CPU time so far (user + system, clock ticks), to tell how busy the
# server was: its CPU per lookup in the run and in the benches, and the share of the run's
# lookup phase it spent working (about 100% means the server, not the pipeline, set the pace).
clk_tck="$(getconf CLK_TCK)"
sim_cpu() { awk '{print $14 + $15}' "/proc/$sim_pid/stat"; }

# Each run: the bench, the run, the bench again (the machine's load moves; the run is compared
# with the mean of the two bench figures around it).
for i in $(seq "$runs"); do
  echo "== run $i: $(uptime)"
  bench_once 6
  before="$bench_rate"
  before_sim_us="$bench_sim_us"
  rm -f "$work/out.csv"
  run_cpu0="$(sim_cpu)"
  "${client_cpus[@]}" "$cli" run -i "$log" -o "$work/out.csv" --column domain --endpoint "$sim_url" \
    --connections "$conns" --batch-size "$batch" --summary-json "$work/run.json" 2>"$work/run.err"
  run_cpu1="$(sim_cpu)"
  python3 "$here/check_verdicts.py" "$log" "$work/out.csv" "$work/verdicts.csv" domain
  phase_s="$(json_get "$work/run.json" lookup_phase_seconds)"
  run_rate="$(json_get "$work/run.json" lookup_phase_lookups_per_second)"
  lookups="$(json_get "$work/run.json" lookups)"
  run_s="$(json_get "$work/run.json" seconds)"
  bench_once 6
  after="$bench_rate"
  python3 - "$lookups" "$phase_s" "$run_rate" "$run_s" "$before" "$after" "$conns" "$batch" \
    "$((run_cpu1 - run_cpu0))" "$clk_tck" "$before_sim_us" "$bench_sim_us" <<'PY'
import sys
lookups, phase, run_rate, run_s, before, after = (float(x) for x in sys.argv[1:7])
sim_s = int(sys.argv[9]) / int(sys.argv[10])
bench = (before + after) / 2
print(f"   run:   {lookups:.0f} lookups in a {phase:.2f} s lookup phase = {run_rate:,.0f} lookups/s"
      f" (whole run {run_s:.2f} s), connections {sys.argv[7]}, batch size {sys.argv[8]}")
print(f"   bench: {before:,.0f} lookups/s before, {after:,.0f} after, mean {bench:,.0f}")
print(f"   ctia-sim CPU per lookup: run {sim_s / lookups * 1e6:.2f} us, bench {sys.argv[11]} us"
      f" before, {sys.argv[12]} us after; busy {sim_s / phase:.0%} of the run's lookup phase")
print(f"   ratio run / bench = {run_rate / bench:.3f} (goal >= 0.85)")
PY
done
bench_end
