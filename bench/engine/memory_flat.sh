#!/usr/bin/env bash
# Peak RSS of `ctia-enrich run` at SMALL and 10 × SMALL rows with the same distinct observables,
# against ctia-sim --synthetic as its own process (its memory is not counted), same script run.
# Issue 6 acceptance: the two peaks differ by < 10%, and each is ≤ 64 MiB + 200 B × unique.
#
#   bench/engine/memory_flat.sh BUILD_DIR [RUNS=2] [SMALL=1000000] [UNIQUE=100000]
#
# Peak RSS from /usr/bin/time -v. The output goes to stdout (piped to a row counter) with a
# journal file, so the runs measure the engine, not 2 GB of output fsync; every row is
# checked: rows out = rows in, every status ok / no_verdict / skipped (no errors), lookups =
# distinct domains, and for SMALL the output minus its 5 added columns is the input, byte for
# byte.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
build="${1:?usage: $0 BUILD_DIR [RUNS] [SMALL] [UNIQUE]}"
runs="${2:-2}"
small="${3:-1000000}"
unique="${4:-100000}"
big=$((small * 10))
source "$here/common.sh"

echo "== uptime at start: $(uptime)"
for n in "$small" "$big"; do
  "$sample_log" --rows "$n" --unique "$unique" -o "$work/log$n.csv"
  echo "== input: $n rows, $unique distinct domains, $(stat -c %s "$work/log$n.csv") bytes"
done
start_sim sim --no-demo --synthetic 50 --threads 1
echo "== ctia-sim --no-demo --synthetic 50 --threads 1 at $sim_url (pid $sim_pid)"

# measure N: runs ctia-enrich on log N; sets rss_kb and prints the check and the figures.
measure() {
  local n="$1" log="$work/log$1.csv"
  rm -f "$work/j$n"
  if [ "$n" = "$small" ]; then sink=(tee "$work/out.csv"); else sink=(cat); fi
  /usr/bin/time -v -o "$work/time$n.txt" "$cli" run -i "$log" -o - --journal "$work/j$n" \
    --column domain --endpoint "$sim_url" --summary-json "$work/s$n.json" 2>"$work/err$n" |
    "${sink[@]}" | wc -l >"$work/lines$n"
  rss_kb="$(sed -n 's/.*Maximum resident set size (kbytes): //p' "$work/time$n.txt")"
  python3 - "$work/s$n.json" "$n" "$unique" "$(cat "$work/lines$n")" <<'PY'
import json, sys
s = json.load(open(sys.argv[1]))
n, unique, lines = int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
st = s["statuses"]
bad = {k: v for k, v in st.items() if k not in ("ok", "no_verdict", "skipped") and v}
assert s["rows"] == n and s["rows_written"] == n and lines == n + 1, (s["rows"], lines)
assert not bad, bad
assert st["ok"] + st["no_verdict"] + st["skipped"] == n, st
assert s["lookups"] == s["unique_observables"] <= unique, s
print(f"   verified: {n} rows in and out, statuses {st}, {s['lookups']} lookups")
PY
  if [ "$n" = "$small" ]; then
    sed -E 's/(,[^,]*){5}$//' "$work/out.csv" | cmp - "$log"
    echo "   verified: output minus the added columns is the input, byte for byte"
    rm -f "$work/out.csv"
  fi
  echo "   $n rows: peak RSS $rss_kb kB, $(json_get "$work/s$n.json" seconds) s," \
    "$(sed -n 's/.*Elapsed (wall clock) time.*: //p' "$work/time$n.txt") wall"
}

for i in $(seq "$runs"); do
  echo "== run $i: $(uptime)"
  measure "$small"; rss_small="$rss_kb"
  measure "$big"; rss_big="$rss_kb"
  python3 - "$rss_small" "$rss_big" "$unique" "$small" "$big" <<'PY'
import sys
small_kb, big_kb, unique, n_small, n_big = map(int, sys.argv[1:6])
budget_kb = (64 * 1024 * 1024 + 200 * unique) / 1024
diff = abs(big_kb - small_kb) / small_kb
print(f"   peak RSS {n_small} rows {small_kb / 1024:.1f} MiB, {n_big} rows {big_kb / 1024:.1f} MiB:"
      f" differ by {100 * diff:.1f}% (goal < 10%)")
print(f"   budget 64 MiB + 200 B x {unique} = {budget_kb / 1024:.1f} MiB:"
      f" {'within' if max(small_kb, big_kb) <= budget_kb else 'OVER'}"
      f" (largest peak {max(small_kb, big_kb) / 1024:.1f} MiB)")
PY
done
echo "== uptime at end: $(uptime)"
