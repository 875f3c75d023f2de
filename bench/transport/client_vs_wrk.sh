#!/usr/bin/env bash
# Lookup throughput of ctia-enrich's transport against wrk, same fixed-answer nginx, same
# connection count, same number of client threads (wrk -t = --io-threads), one run. Both use
# HTTP/1.1 keep-alive without pipelining. Prints both, the ratio (goal >= 0.85) and latency
# percentiles; fails when the bench saw any error or answer that did not decode as a verdict.
#
#   bench/transport/client_vs_wrk.sh [BUILD_DIR] [CONNECTIONS] [SECONDS] [THREADS]
#
# Our side runs the full REST lookup path of a run (--batch-size 1: one lookup per request,
# like wrk): budget, token (a fixed one, as nginx checks none, but the Authorization header is
# still built and sent), retry policy, verdict decoding.
# wrk runs before and after ours; ours is compared with the mean of the two. nginx runs on a CPU
# of its own and both clients on the others (bench/pinning.sh; ENRICH_BENCH_PIN=0 shares them).
# Needs wrk and nginx (ENRICH_BENCH_DEPS=1 tools/setup-deps.sh).
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
build="${1:-build}"
conns="${2:-16}"
secs="${3:-10}"
threads="${4:-1}"
cli="$build/tools/cli/ctia-enrich"
# server_cpus / client_cpus: nginx on a CPU of its own, wrk and ours on the others (pinning.sh).
source "$here/../pinning.sh"
for tool in wrk nginx "$cli"; do
  command -v "$tool" >/dev/null 2>&1 || [ -x "$tool" ] || { echo "missing: $tool" >&2; exit 2; }
done
dir="$(mktemp -d)"
port="$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')"
sed -e "s#@PORT@#$port#g" -e "s#@DIR@#$dir#g" "$here/nginx.conf" >"$dir/nginx.conf"
"${server_cpus[@]}" nginx -c "$dir/nginx.conf" -p "$dir" &
nginx_pid=$!
trap 'kill "$nginx_pid" 2>/dev/null || true; wait "$nginx_pid" 2>/dev/null || true; rm -rf "$dir"' EXIT
url="http://127.0.0.1:$port"
target="/ctia/ip/10.0.0.1/verdict"
for _ in $(seq 50); do curl -fsS "$url$target" >/dev/null 2>&1 && break; sleep 0.1; done
# Verify the answer before timing.
curl -fsS "$url$target" | grep -q '"disposition_name":"Malicious"' || { echo "nginx answer wrong" >&2; exit 1; }

echo "== $(uptime)"
# run_wrk: one wrk run; sets wrk_rps, wrk_p50, wrk_p99.
run_wrk() {
  echo "== wrk -t$threads -c$conns -d${secs}s --latency $url$target"
  local out
  out="$("${client_cpus[@]}" wrk -t"$threads" -c"$conns" -d"${secs}s" --latency "$url$target")"
  echo "$out"
  if echo "$out" | grep -q 'Non-2xx\|Socket errors'; then echo "wrk saw errors" >&2; exit 1; fi
  wrk_rps="$(echo "$out" | awk '/Requests\/sec/ {print $2}')"
  wrk_p50="$(echo "$out" | awk '$1 == "50%" {print $2}')"
  wrk_p99="$(echo "$out" | awk '$1 == "99%" {print $2}')"
}
# wrk before and after ours: ours is compared with the mean of the two, so that a change of the
# machine's speed during the run weighs on both sides alike.
echo "== $(pinning)"
run_wrk
wrk_before="$wrk_rps"
echo "== ctia-enrich bench --target $url --connections $conns --io-threads $threads --duration $secs --no-auth --batch-size 1"
bench_out="$("${client_cpus[@]}" "$cli" bench --target "$url" --connections "$conns" --io-threads "$threads" \
  --duration "$secs" --no-auth --batch-size 1)"
echo "$bench_out"
line="$(echo "$bench_out" | grep '^bench_result')"
field() { echo "$line" | tr ' ' '\n' | sed -n "s/^$1=//p"; }
errors="$(field errors)"
[ "$errors" = 0 ] || { echo "ctia-enrich bench saw $errors errors" >&2; exit 1; }
verified="$(echo "$bench_out" | sed -n 's/^results: verdict \([0-9]*\) .*/\1/p')"
requests="$(echo "$bench_out" | sed -n 's/^requests: \([0-9]*\) .*/\1/p')"
[ "$verified" = "$requests" ] || { echo "verified verdicts $verified != requests $requests" >&2; exit 1; }

wrk_p50_before="$wrk_p50"
wrk_p99_before="$wrk_p99"
run_wrk

python3 - "$wrk_before" "$wrk_rps" "$(field requests_per_s)" "$wrk_p50_before" "$wrk_p99_before" \
  "$wrk_p50" "$wrk_p99" "$(field p50_ms)" "$(field p99_ms)" "$threads" <<'PY'
import sys
before, after, ours = (float(x) for x in sys.argv[1:4])
wrk = (before + after) / 2
print(f"== threads {sys.argv[10]}: wrk {before:.0f} req/s before (p50 {sys.argv[4]}, p99 "
      f"{sys.argv[5]}), {after:.0f} after (p50 {sys.argv[6]}, p99 {sys.argv[7]}), mean {wrk:.0f}; "
      f"ctia-enrich bench {ours:.0f} req/s (p50 {sys.argv[8]} ms, p99 {sys.argv[9]} ms), "
      f"ratio {ours / wrk:.3f} (goal >= 0.85)")
PY
echo "== $(uptime)"
