#!/usr/bin/env bash
# Loads N judgements into ctia-sim (--seed) and reports the load time and the memory they take;
# checks a sample of verdicts against the ones computed by the generator first.
#
#   bench/sim/store_scale.sh BUILD/tools/sim/ctia-sim [N=10000000] [WORKDIR=/tmp/ctia-sim-scale]
#
# Prints: judgements loaded, load seconds and judgements/s (ctia-sim's own --seed timing, and
# the CPU seconds ctia-sim used),
# VmHWM (peak RSS) and VmRSS after the load, an empty ctia-sim's VmRSS, and bytes per
# judgement = (VmRSS - empty VmRSS) / N. Needs python3 and curl. The NDJSON file (~270 bytes a
# judgement) is kept in WORKDIR for reruns; delete it after.
set -euo pipefail

sim=${1:?usage: store_scale.sh CTIA_SIM [N] [WORKDIR]}
n=${2:-10000000}
work=${3:-/tmp/ctia-sim-scale}
here=$(cd "$(dirname "$0")" && pwd)
mkdir -p "$work"
data="$work/judgements-$n.ndjson"
expected="$work/expected-$n.tsv"

if [[ ! -s "$data" || ! -s "$expected" ]]; then
  echo "generating $n judgements..."
  python3 "$here/gen_judgements.py" "$n" "$data" "$expected"
fi
echo "data: $(du -h "$data" | cut -f1) in $data"

vm() { awk -v k="$2:" '$1 == k {print $2}' "/proc/$1/status"; }

start_sim() {  # start_sim LOG ARGS...; sets pid and port once ctia-sim is listening
  local log=$1
  shift
  "$sim" --port 0 --no-demo --threads 1 "$@" >"$log.out" 2>"$log.err" &
  pid=$!
  trap 'kill $pid 2>/dev/null || true' EXIT
  while ! grep -q 'listening on' "$log.out" 2>/dev/null; do
    if ! kill -0 "$pid" 2>/dev/null; then
      cat "$log.err" >&2
      echo "ctia-sim exited" >&2
      exit 1
    fi
    sleep 0.5
  done
  port=$(sed -n 's/.*listening on http:\/\/[0-9.]*:\([0-9]*\).*/\1/p' "$log.out")
}

start_sim "$work/empty"
empty_rss=$(vm "$pid" VmRSS)
kill "$pid"
wait "$pid" 2>/dev/null || true

echo "loading (uptime: $(uptime))"
start_sim "$work/load" --seed "$data"
hwm=$(vm "$pid" VmHWM)
rss=$(vm "$pid" VmRSS)
# CPU seconds the process used for the load (utime + stime), less sensitive to a busy machine.
cpu=$(awk -v tck="$(getconf CLK_TCK)" '{printf "%.1f", ($14 + $15) / tck}' "/proc/$pid/stat")
load_line=$(grep -- '--seed:' "$work/load.err" | tail -1)
echo "$load_line"

# Verdicts of the sample, checked before anything is reported.
token=$(curl -s -u client:secret -d grant_type=client_credentials \
  "http://127.0.0.1:$port/iroh/oauth2/token" | sed 's/.*"access_token":"\([0-9a-f]*\)".*/\1/')
checked=0
while IFS=$'\t' read -r type value disposition id; do
  body=$(curl -s -w '\n%{http_code}' -H "Authorization: Bearer $token" \
    "http://127.0.0.1:$port/ctia/$type/$value/verdict")
  code=${body##*$'\n'}
  if [[ "$disposition" == 404 ]]; then
    [[ "$code" == 404 ]] || { echo "FAIL: $type/$value: expected 404, got $code" >&2; exit 1; }
  else
    [[ "$code" == 200 && "$body" == *"\"disposition\":$disposition,"* &&
      "$body" == *"/ctia/judgement/$id\""* ]] ||
      { echo "FAIL: $type/$value: expected disposition $disposition id $id, got $body" >&2; exit 1; }
  fi
  checked=$((checked + 1))
done <"$expected"
echo "verdicts checked: $checked (all as expected)"

loaded=$(echo "$load_line" | sed 's/.*--seed: \([0-9]*\) judgements.*/\1/')
python3 - "$n" "$loaded" "$hwm" "$rss" "$empty_rss" "$load_line" "$cpu" <<'EOF'
import re, sys
n, loaded, hwm, rss, empty = (int(x) for x in sys.argv[1:6])
cpu = float(sys.argv[7])
m = re.search(r" in ([0-9.]+) s", sys.argv[6])
secs = float(m.group(1)) if m else float("nan")
print(f"judgements: {loaded} of {n}")
print(f"load: {secs:.1f} s wall, {loaded / secs:,.0f} judgements/s; {cpu:.1f} s CPU, "
      f"{loaded / cpu:,.0f} judgements per CPU second")
print(f"peak RSS (VmHWM): {hwm / 1024 / 1024:.2f} GiB; VmRSS after load: {rss / 1024 / 1024:.2f} GiB; "
      f"empty ctia-sim VmRSS: {empty / 1024:.1f} MiB")
print(f"bytes per judgement: {(rss - empty) * 1024 / loaded:.0f} (RSS), {(hwm - empty) * 1024 / loaded:.0f} (peak)")
EOF
