#!/usr/bin/env bash
# Peak RSS of `ctia-enrich run` as unique observables grow: one file per count, each distinct
# domain once (rows = uniques), against ctia-sim --synthetic 50 as its own process (its memory
# is not counted), same script run. Issue 16 acceptance: at 1M and 5M uniques, bytes per unique
# beyond a base of 64 MiB ≤ 100, i.e. peak ≤ 64 MiB + 100 B × unique. Also printed: the
# marginal cost, (peak(5M) - peak(1M)) / 4M, which the base does not hide.
#
#   bench/engine/memory_uniques.sh BUILD_DIR [UNIQUES="1000000 5000000"]
#
# RUN_ARGS (environment) adds arguments to every run, to see what a feature costs per unique,
# e.g. RUN_ARGS="--top-hits 0" (the summary's top hits count every hit observable).
#
# Peak RSS from /usr/bin/time -v; the output goes to stdout (counted, not kept) with a journal
# file. Every run is checked: rows out = rows in, statuses ok / no_verdict only, lookups =
# distinct domains = rows.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
build="${1:?usage: $0 BUILD_DIR [UNIQUES]}"
uniques="${2:-1000000 5000000}"
source "$here/common.sh"

echo "== uptime at start: $(uptime)"
start_sim sim --no-demo --synthetic 50 --threads 1
echo "== ctia-sim --no-demo --synthetic 50 --threads 1 at $sim_url (pid $sim_pid)"

results=()
for n in $uniques; do
  log="$work/log$n.csv"
  "$sample_log" --rows "$n" --unique "$n" -o "$log"
  echo "== input: $n rows, $n distinct domains, $(stat -c %s "$log") bytes"
  /usr/bin/time -v -o "$work/time$n.txt" "$cli" run -i "$log" -o - --journal "$work/j$n" \
    --column domain --endpoint "$sim_url" --summary-json "$work/s$n.json" ${RUN_ARGS:-} \
    2>"$work/err$n" |
    wc -l >"$work/lines$n"
  rm -f "$log" "$work/j$n"
  rss_kb="$(sed -n 's/.*Maximum resident set size (kbytes): //p' "$work/time$n.txt")"
  python3 - "$work/s$n.json" "$n" "$(cat "$work/lines$n")" <<'PY'
import json, sys
s = json.load(open(sys.argv[1]))
n, lines = int(sys.argv[2]), int(sys.argv[3])
st = s["statuses"]
assert s["rows"] == n and s["rows_written"] == n and lines == n + 1, (s["rows"], lines)
assert st.get("ok", 0) + st.get("no_verdict", 0) == n, st
assert s["lookups"] == s["unique_observables"] == n, s
print(f"   verified: {n} rows in and out, statuses {st}, {s['lookups']} lookups")
PY
  echo "   $n uniques: peak RSS $rss_kb kB, $(json_get "$work/s$n.json" seconds) s," \
    "$(sed -n 's/.*Elapsed (wall clock) time.*: //p' "$work/time$n.txt") wall"
  results+=("$n:$rss_kb")
done

python3 - "${results[@]}" <<'PY'
import sys
base = 64 * 1024 * 1024
pts = [tuple(map(int, a.split(":"))) for a in sys.argv[1:]]
for n, kb in pts:
    per = (kb * 1024 - base) / n
    print(f"   {n:>9} uniques: peak {kb / 1024:7.1f} MiB, {per:6.1f} B per unique beyond 64 MiB"
          f" (target <= 100: {'within' if per <= 100 else 'OVER'})")
for (n0, kb0), (n1, kb1) in zip(pts, pts[1:]):
    print(f"   marginal {n0} -> {n1}: {(kb1 - kb0) * 1024 / (n1 - n0):.1f} B per unique")
PY
echo "== uptime at end: $(uptime)"
