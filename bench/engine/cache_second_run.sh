# `run --cache DIR` against the all-cached in-memory path, then expiry (issue 16 acceptance: the
# second run of one file with --cache sends no lookup, in at most 1.3x the wall time of the
# all-cached path that cached_vs_duckdb.sh times: every verdict reloaded from a --resume
# journal; after a share of the entries expired, the third run sends exactly those lookups).
#
#   bench/engine/cache_second_run.sh BUILD_DIR [RUNS=3] [ROWS=1000000] [UNIQUE=100000] \
#     [SHORT_PCT=10] [SHORT_SECONDS=60]
#
# 1. make-sample-log writes ROWS rows with UNIQUE distinct domains; ctia-sim --synthetic 50
#    --synthetic-short-valid SHORT_PCT:SHORT_SECONDS: the domains with h % 100 < SHORT_PCT
#    (FNV-1a, synthetic.h) have verdicts ending SHORT_SECONDS after the sim starts.
# 2. First run with --cache (every domain looked up, the cache filled): its wall time and
#    lookups, and the cache's size. The short-lived verdicts' end is read from its output.
# 3. Timed, RUNS times each, alternating: the second run with --cache (must send 0 lookups and
#    write the first run's bytes), and the all-cached journal path (cached_vs_duckdb.sh's
#    contender: --resume with a journal of every verdict). Ratio cache / journal, per pair
#    and of the medians. All before the short-lived verdicts end (else: raise SHORT_SECONDS).
# 4. Once they have ended: `plan --cache` and the third run must count and send exactly the
#    short-lived domains' lookups (counted here from the hash and by synthetic-journal). ctia-sim
#    then answers them renewed (valid until 2525, as the others; CTIA never answers a verdict
#    already ended, and one that did would be asked again for each of its rows), so the third
#    run must write the first run's bytes with that one end changed: the expected file is the
#    first output with the short end replaced by 2525's, compared byte for byte. A fourth run
#    then sends 0 lookups and writes the third run's bytes.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
usage="BUILD_DIR [RUNS] [ROWS] [UNIQUE] [SHORT_PCT] [SHORT_SECONDS]"
runs="${2:-3}"
rows="${3:-1000000}"
unique="${4:-100000}"
short_pct="${5:-10}"
short_s="${6:-60}"
source "$here/common.sh"

log="$work/log.csv"
"$sample_log" --rows "$rows" --unique "$unique" -o "$log"
echo "== input: $rows rows, $unique distinct domains, $(stat -c %s "$log") bytes"
start_sim sim --no-demo --synthetic 50 --public-base http://ctia-sim.bench --threads 1 \
  --synthetic-short-valid "$short_pct:$short_s"
run_args=(run -i "$log" --column domain --endpoint "$sim_url")
cache="$work/cache"

t="$(now)"
"$cli" "${run_args[@]}" -o "$work/first.csv" --cache "$cache" \
  --summary-json "$work/first.json" 2>/dev/null
first_s="$(elapsed "$t")"
echo "== first run with --cache: ${first_s} s, $(json_get "$work/first.json" lookups) lookups," \
  "$(json_get "$work/first.json" persistent_cache.writes) written;" \
  "data.mdb $(du -k "$cache/data.mdb" | cut -f1) KiB on disk"
"$cli" cache stats "$cache" | head -2 | sed 's/^/   /'
# The short-lived verdicts' end, as the first run wrote it (one value; every other is 2525's).
short_end="$(python3 - "$work/first.csv" <<'PY'
import csv, sys
with open(sys.argv[1], newline="") as f:
    rows = csv.reader(f)
    col = next(rows).index("ctia_valid_until")
    ends = {r[col] for r in rows if r[col] and not r[col].startswith("2525-")}
if len(ends) != 1:
    sys.exit(f"expected one short valid_until in the first output, got {sorted(ends)[:5]}")
print(ends.pop())
PY
)"
short_end_s="$(python3 -c 'import sys, datetime as d
print(int(d.datetime.fromisoformat(sys.argv[1].replace("Z", "+00:00")).timestamp()))' "$short_end")"
# The short-lived domains, counted from the hash (synthetic.h) over the distinct values.
hash_count="$(python3 - "$log" "$short_pct" <<'PY'
import csv, sys
def fnv(b):
    h = 0xcbf29ce484222325
    for c in b:
        h = ((h ^ c) * 0x100000001b3) & 0xFFFFFFFFFFFFFFFF
    return h
with open(sys.argv[1], newline="") as f:
    rows = csv.reader(f)
    col = next(rows).index("domain")
    values = {r[col].strip().lower() for r in rows}
pct = int(sys.argv[2])
print(sum(1 for v in values if v and fnv(b"domain\0" + v.encode()) % 100 < pct))
PY
)"
"$journal_tool" --input "$log" --column domain --endpoint "$sim_url" --percent 50 \
  --public-base http://ctia-sim.bench --journal "$work/verdicts.journal" \
  --verdicts-csv "$work/verdicts.csv" --short-percent "$short_pct" --short-end "$short_end" \
  | tee "$work/journal.out" | sed 's/^/   /'
tool_count="$(sed -n 's/.*, \([0-9]*\) of them short-lived.*/\1/p' "$work/journal.out")"
[ "$hash_count" = "$tool_count" ] || {
  echo "short-lived domains: $hash_count by the hash here, $tool_count by synthetic-journal" >&2
  exit 1
}
echo "== short-lived: $hash_count of $unique domains (h % 100 < $short_pct)," \
  "verdicts end $short_end"
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
  [ "$(json_get "$work/second.json" lookups)" = 0 ] || {
    echo "second run sent lookups (had the short-lived verdicts ended? raise SHORT_SECONDS)" >&2
    exit 1
  }
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
(( $(date +%s) < short_end_s )) || {
  echo "the short-lived verdicts ended during the second runs: raise SHORT_SECONDS ($short_s)" >&2
  exit 1
}

# 4. The third run, once the short-lived verdicts have ended.
wait_s=$((short_end_s + 1 - $(date +%s)))
echo "== waiting ${wait_s} s for the short-lived verdicts to end ($short_end)"
sleep "$wait_s"
"$cli" plan -i "$log" --column domain --endpoint "$sim_url" --cache "$cache" --json \
  >"$work/plan.json"
plan_lookups="$(json_get "$work/plan.json" lookups)"
echo "== plan --cache: $plan_lookups lookups," \
  "$(json_get "$work/plan.json" known_cache) answered by the cache"
[ "$plan_lookups" = "$hash_count" ] || {
  echo "plan counts $plan_lookups lookups, not $hash_count" >&2
  exit 1
}
echo "   $(uptime)"
rm -f "$work/third.csv"
t="$(now)"
"$cli" "${run_args[@]}" -o "$work/third.csv" --cache "$cache" \
  --summary-json "$work/third.json" 2>/dev/null
third_s="$(elapsed "$t")"
third_lookups="$(json_get "$work/third.json" lookups)"
echo "== third run with --cache: ${third_s} s, $third_lookups lookups (expected $hash_count)," \
  "$(json_get "$work/third.json" persistent_cache.hits) cache hits," \
  "$(json_get "$work/third.json" persistent_cache.misses) misses," \
  "$(json_get "$work/third.json" persistent_cache.writes) written"
[ "$third_lookups" = "$hash_count" ] || {
  echo "third run sent $third_lookups lookups, not $hash_count" >&2
  exit 1
}
renewed="$(grep -c -F "$short_end" "$work/first.csv")"
sed "s/$short_end/2525-01-01T00:00:00.000Z/g" "$work/first.csv" >"$work/expected.csv"
cmp "$work/expected.csv" "$work/third.csv"
echo "   output byte-identical to the first run's but for the renewed end of the $renewed rows" \
  "of the expired domains ($(stat -c %s "$work/third.csv") bytes)"
# The renewed answers were cached: a fourth run asks nothing again.
"$cli" "${run_args[@]}" -o "$work/fourth.csv" --cache "$cache" \
  --summary-json "$work/fourth.json" 2>/dev/null
[ "$(json_get "$work/fourth.json" lookups)" = 0 ] || { echo "fourth run sent lookups" >&2; exit 1; }
cmp "$work/third.csv" "$work/fourth.csv"
echo "== fourth run with --cache: 0 lookups, the third run's bytes"
bench_end
