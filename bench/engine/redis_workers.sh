#!/usr/bin/env bash
# Four sharded workers sharing one org's quota and one verdict cache through Redis, against one
# worker alone (issue 16 acceptance: "4 worker processes ... --redis", "Redis killed").
#
#   bench/engine/redis_workers.sh BUILD_DIR [ROWS=1000000] [UNIQUE=100000] [LIMIT=100] [WINDOW_S=10]
#
# 1. make-sample-log writes ROWS rows with UNIQUE distinct domains (spread over the file, so
#    every shard meets most of them).
# 2. Single: one `ctia-enrich run` against its own ctia-sim limited to LIMIT requests per
#    WINDOW_S seconds for the org (429 beyond), --rate-limit LIMIT/WINDOW_Ss, GraphQL batches of
#    100 (the default). Its requests and wall time are the reference.
# 3. Shared: a fresh ctia-sim and redis-server (127.0.0.1, a free port, no persistence); four
#    processes `run --shard K/4 --redis URL` with the same flags, started together. Checked:
#    the sim's lookup requests (GraphQL and REST, answered) ≤ the single run's; the sim's
#    per-value tally: no observable asked twice, every one asked; each worker's 429s (its --summary-json rate_limited) ≤ the
#    windows of the run; wall time ÷ the quota-bound optimum, where the optimum is
#    requests / LIMIT × WINDOW_S (the requests the sim answered to the four, at the quota's
#    sustained rate); `cat` of the four outputs in shard order equals the single run's output.
# 4. Killed: the same with a fresh sim and an empty Redis, killed (SIGKILL) at half the shared
#    run's wall time and not restarted (REDIS_BACK_AFTER_S=N restarts it N s later): every
#    worker exits 0, the merged output equals the single run's, and the workers that were
#    still asking said they pace alone.
# Prints PASS/FAIL per check; exits 1 if any failed.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
usage="BUILD_DIR [ROWS] [UNIQUE] [LIMIT] [WINDOW_S]"
rows="${2:-1000000}"
unique="${3:-100000}"
limit="${4:-100}"
window="${5:-10}"
source "$here/common.sh"
need_command redis-server tools/setup-deps.sh

# The sim's lookup requests (GraphQL batches, and REST GETs of one observable): "answered
# refused".
lookup_counts() {
  sim_json counters | python3 -c '
import json, sys
e = json.load(sys.stdin)["endpoints"]
c = [e.get(name, {}) for name in ("graphql", "verdict")]
print(sum(n for g in c for s, n in g.items() if s != "429"), sum(g.get("429", 0) for g in c))'
}
# The per-value tally over every client: "distinct max".
tally() {
  sim_json lookups | python3 -c '
import collections, json, sys
t = collections.Counter()
for per in json.load(sys.stdin).values():
    t.update(per)
print(len(t), max(t.values()) if t else 0)'
}
sim_args=(--no-demo --synthetic 50 --test-api --threads 1 --rate-limit "$limit/${window}s"
  --public-base http://ctia-sim.bench)  # judgement ids alike across the sims
run_args=(run --column domain --rate-limit "$limit/${window}s" --batch-size 100)

log="$work/log.csv"
"$sample_log" --rows "$rows" --unique "$unique" -o "$log"
echo "== input: $rows rows, $unique distinct domains, $(stat -c %s "$log") bytes;" \
  "quota $limit requests per ${window} s for the org"

# ---- single worker ----
start_sim single "${sim_args[@]}"
t="$(now)"
"$cli" "${run_args[@]}" -i "$log" -o "$work/single.csv" --endpoint "$sim_url" \
  --summary-json "$work/single.json" 2>"$work/single.err"
single_s="$(elapsed "$t")"
read -r single_requests single_429 < <(lookup_counts)
echo "== single worker: $single_s s, $single_requests requests, $single_429 answered 429"

# run_workers NAME: four shards with --redis on a fresh sim; sets shared_s (wall time).
run_workers() {
  local name="$1" pids=() k
  start_sim "$name" "${sim_args[@]}"
  t="$(now)"
  for k in 0 1 2 3; do
    "$cli" "${run_args[@]}" -i "$log" -o "$work/$name$k.csv" --endpoint "$sim_url" \
      --shard "$k/4" --redis "redis://127.0.0.1:$redis_port" \
      --summary-json "$work/$name$k.json" 2>"$work/$name$k.err" &
    pids+=($!)
  done
  if [ -n "${2:-}" ]; then "$2"; fi
  codes=""
  for k in 0 1 2 3; do
    if wait "${pids[$k]}"; then codes+="0 "; else codes+="$? "; fi
  done
  shared_s="$(elapsed "$t")"
}

# ---- four workers, Redis up ----
start_redis
run_workers shared
read -r answered refused < <(lookup_counts)
read -r distinct most < <(tally)
echo "== four workers: $shared_s s, exit codes $codes, $answered requests answered, $refused 429"
for k in 0 1 2 3; do echo "   worker $k: $(grep 'shared cache' "$work/shared$k.err" || true)"; done
check "exit codes" "$([ "$codes" = "0 0 0 0 " ]; echo $?)" "$codes"
check "requests <= single" "$([ "$answered" -le "$single_requests" ]; echo $?)" \
  "$answered requests (four workers) vs $single_requests (one worker); the workers hand" \
  "their partial batches to each other (handed / taken in the lines above)"
check "no observable asked twice" "$([ "$most" = 1 ] && [ "$distinct" = "$unique" ]; echo $?)" \
  "$distinct observables asked, at most $most time(s) each"
windows="$(python3 -c "import math,sys; print(math.ceil(float(sys.argv[1]) / float(sys.argv[2])))" "$shared_s" "$window")"
worst=0
per_worker=""
for k in 0 1 2 3; do
  n="$(json_get "$work/shared$k.json" rate_limited)"
  per_worker+="$n "
  [ "$n" -gt "$worst" ] && worst="$n"
done
check "429s per worker <= windows" "$([ "$worst" -le "$windows" ]; echo $?)" \
  "429s per worker: $per_worker(sim: $refused) over $windows windows of ${window} s"
optimum="$(python3 -c "import sys; print(f'{int(sys.argv[1]) / int(sys.argv[2]) * float(sys.argv[3]):.1f}')" "$answered" "$limit" "$window")"
ratio="$(python3 -c "import sys; print(f'{float(sys.argv[1]) / float(sys.argv[2]):.3f}')" "$shared_s" "$optimum")"
check "wall <= 1.2 x optimum" "$(python3 -c "import sys; sys.exit(0 if float(sys.argv[1]) <= 1.2 else 1)" "$ratio"; echo $?)" \
  "$shared_s s / $optimum s (= $answered requests / $limit x ${window} s) = $ratio (single worker: $single_s s)"
cat "$work"/shared{0,1,2,3}.csv >"$work/merged.csv"
check "merged output == single" "$(cmp -s "$work/merged.csv" "$work/single.csv"; echo $?)" \
  "cat of 4 shard outputs vs the single run's, $(stat -c %s "$work/single.csv") bytes"

# ---- four workers, Redis killed midway ----
kill "$redis_pid"; wait "$redis_pid" 2>/dev/null || true
start_redis
kill_at="$(python3 -c "import sys; print(f'{float(sys.argv[1]) / 2:.1f}')" "$shared_s")"
kill_redis() {
  sleep "$kill_at"
  kill -9 "$redis_pid"
  echo "== redis-server killed after $kill_at s"
  if [ -n "${REDIS_BACK_AFTER_S:-}" ]; then
    sleep "$REDIS_BACK_AFTER_S"
    start_redis "$redis_port"
    echo "== redis-server back after $REDIS_BACK_AFTER_S s more"
  fi
}
run_workers killed kill_redis
read -r answered refused < <(lookup_counts)
echo "== four workers, Redis killed: $shared_s s, exit codes $codes, $answered requests answered, $refused 429"
alone=0
for k in 0 1 2 3; do
  echo "   worker $k: $(grep -h 'shared quota unavailable\|shared cache (' "$work/killed$k.err" | tr '\n' ' ')"
  grep -q 'pacing alone' "$work/killed$k.err" && alone=$((alone + 1))
done
check "exit codes (killed)" "$([ "$codes" = "0 0 0 0 " ]; echo $?)" "$codes"
check "local pacing said" "$([ "$alone" -ge 1 ]; echo $?)" "$alone of 4 workers said they pace alone"
cat "$work"/killed{0,1,2,3}.csv >"$work/merged-killed.csv"
check "merged output == single (killed)" "$(cmp -s "$work/merged-killed.csv" "$work/single.csv"; echo $?)" \
  "every row as the single run's"
bench_end
