#!/usr/bin/env bash
# `ctia-enrich plan` against the time `run` spends reading the same file (issue 15: plan on a
# 1M-row file takes at most about the time run spends reading it).
#
#   bench/engine/plan_vs_run.sh BUILD_DIR [RUNS=3] [ROWS=1000000] [UNIQUE=100000]
#
# 1. make-sample-log writes ROWS rows with UNIQUE distinct domains; ctia-sim --synthetic 50.
# 2. synthetic-journal writes every distinct domain's verdict as a `run` journal, so that
#    `run --resume` with it reads, formats and writes the whole file with every verdict cached
#    and sends no lookup: the run's reading time.
# 3. Timed (wall and CPU), RUNS times each: `plan` (no journal: every lookup counted, none sent), `plan
#    --resume` with the full journal (every lookup known), `run --resume` all cached, and a
#    full `run` (every lookup sent to ctia-sim). Checked: plan's lookups are UNIQUE without the
#    journal and 0 with it, and the full run sends what plan counted.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
usage="BUILD_DIR [RUNS] [ROWS] [UNIQUE]"
runs="${2:-3}"
rows="${3:-1000000}"
unique="${4:-100000}"
source "$here/common.sh"

log="$work/log.csv"
"$sample_log" --rows "$rows" --unique "$unique" -o "$log"
echo "== input: $rows rows, $unique distinct domains, $(stat -c %s "$log") bytes"
start_sim sim --no-demo --synthetic 50 --public-base http://ctia-sim.bench --threads 1 --test-api
"$journal_tool" --input "$log" --column domain --endpoint "$sim_url" --percent 50 \
  --public-base http://ctia-sim.bench --journal "$work/verdicts.journal" \
  --verdicts-csv "$work/verdicts.csv"
args=(-i "$log" --column domain --endpoint "$sim_url")
cat "$log" >/dev/null  # page cache warm for every contender

for i in $(seq "$runs"); do
  echo "== round $i: $(uptime)"
  t="$(now)"
  /usr/bin/time -f "%U %S" -o "$work/plan.cpu" "$cli" plan "${args[@]}" --json >"$work/plan.json"
  plan_s="$(elapsed "$t")"
  [ "$(json_get "$work/plan.json" lookups)" = "$unique" ] || { echo "plan: lookups" >&2; exit 1; }

  cp "$work/verdicts.journal" "$work/run.journal"
  t="$(now)"
  "$cli" plan "${args[@]}" --resume --journal "$work/run.journal" --json >"$work/plan-known.json"
  plan_known_s="$(elapsed "$t")"
  [ "$(json_get "$work/plan-known.json" lookups)" = 0 ] || { echo "plan: known" >&2; exit 1; }

  rm -f "$work/cached.csv"
  t="$(now)"
  /usr/bin/time -f "%U %S" -o "$work/cached.cpu" \
    "$cli" run "${args[@]}" -o "$work/cached.csv" --resume --journal "$work/run.journal" \
    --summary-json "$work/cached.json" 2>/dev/null
  cached_s="$(elapsed "$t")"
  [ "$(json_get "$work/cached.json" lookups)" = 0 ] || { echo "cached run: lookups" >&2; exit 1; }

  rm -f "$work/full.csv"
  before="$(sim_json counters)"
  t="$(now)"
  "$cli" run "${args[@]}" -o "$work/full.csv" --summary-json "$work/full.json" 2>/dev/null
  full_s="$(elapsed "$t")"
  after="$(sim_json counters)"
  python3 - "$work/plan.json" "$before" "$after" "$plan_s" "$plan_known_s" "$cached_s" \
    "$full_s" "$(cat "$work/plan.cpu")" "$(cat "$work/cached.cpu")" <<'PY'
import json, sys
plan = json.load(open(sys.argv[1]))
plan_cpu = sum(map(float, sys.argv[8].split()))
cached_cpu = sum(map(float, sys.argv[9].split()))
before, after = json.loads(sys.argv[2]), json.loads(sys.argv[3])
def sent(route):
    b = sum(before.get("endpoints", {}).get(route, {}).values())
    a = sum(after.get("endpoints", {}).get(route, {}).values())
    return a - b
plan_s, known_s, cached_s, full_s = map(float, sys.argv[4:8])
print(f"plan {plan_s:.3f} s, plan with the full journal {known_s:.3f} s, "
      f"run all cached {cached_s:.3f} s (plan/run {plan_s / cached_s:.2f}), "
      f"full run {full_s:.3f} s")
print(f"CPU: plan {plan_cpu:.2f} s, run all cached {cached_cpu:.2f} s "
      f"(plan/run {plan_cpu / cached_cpu:.2f})")
print(f"plan: {plan['requests']['graphql']} GraphQL + {plan['requests']['rest']} REST "
      f"({plan['requests']['safety_flushes']} safety flushes); "
      f"the full run sent {sent('graphql')} GraphQL + {sent('verdict')} REST")
PY
done
bench_end
