#!/usr/bin/env bash
# ctia-sim's verdict endpoint (synthetic mode) against a fixed-answer nginx, same machine,
# same run: wrk -t1 -c64 -d10s with the same Authorization header against both.
#
#   bench/sim/sim_vs_nginx.sh [path/to/ctia-sim]      (default: build-release/tools/sim/ctia-sim)
#
# Needs wrk and nginx-light (ENRICH_BENCH_DEPS=1 tools/setup-deps.sh), curl, python3.
# Env: SIM_THREADS (default: CPU count), NGINX_WORKERS (default: CPU count), DURATION (10s),
# CONNECTIONS (64), ROUNDS (2: nginx, ctia-sim, nginx, ctia-sim). Prints both requests/s and
# the ratio of each round, and the median ratio; exits 1 when an answer is wrong.
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
sim=${1:-$root/build-release/tools/sim/ctia-sim}
threads=${SIM_THREADS:-$(nproc)}
workers=${NGINX_WORKERS:-$(nproc)}
duration=${DURATION:-10s}
connections=${CONNECTIONS:-64}
rounds=${ROUNDS:-2}
for tool in wrk nginx curl python3; do
  command -v "$tool" >/dev/null || { echo "sim_vs_nginx: $tool not found (ENRICH_BENCH_DEPS=1 tools/setup-deps.sh)" >&2; exit 2; }
done
[[ -x "$sim" ]] || { echo "sim_vs_nginx: no ctia-sim at $sim (build it first)" >&2; exit 2; }

tmp=$(mktemp -d)
sim_pid=""
cleanup() {
  [[ -n "$sim_pid" ]] && kill "$sim_pid" 2>/dev/null && wait "$sim_pid" 2>/dev/null
  [[ -f "$tmp/nginx.pid" ]] && kill "$(cat "$tmp/nginx.pid")" 2>/dev/null
  sleep 0.2
  rm -rf "$tmp"
}
trap cleanup EXIT

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }

# ---- ctia-sim, synthetic mode ----
source "$here/synthetic_sim.sh"
start_synthetic_sim "$sim" "$threads" "$tmp" sim_vs_nginx

# ---- nginx with the same body ----
nginx_port=$(free_port)
mkdir -p "$tmp/logs"
sed -e "s|@PORT@|$nginx_port|" -e "s|@TMP@|$tmp|g" -e "s|@WORKERS@|$workers|" \
    -e "s|@BODY@|$got|" "$here/nginx-fixed.conf" >"$tmp/nginx.conf"
nginx -p "$tmp" -c "$tmp/nginx.conf" -e "$tmp/nginx-error.log" 2>/dev/null ||
  nginx -p "$tmp" -c "$tmp/nginx.conf"
for _ in $(seq 100); do [[ -s "$tmp/nginx.pid" ]] && break; sleep 0.05; done
nginx_body=$(curl -sf -H "$auth" "http://127.0.0.1:$nginx_port$path")
if [[ "$nginx_body" != "$got" ]]; then
  echo "sim_vs_nginx: nginx answered $nginx_body" >&2
  exit 1
fi

run_wrk() {  # URL → requests/s (fails on errors or non-2xx answers)
  local out
  out=$(wrk -t1 -c"$connections" -d"$duration" -H "$auth" "$1")
  echo "$out" >&2
  if grep -qE 'Non-2xx|Socket errors' <<<"$out"; then
    echo "sim_vs_nginx: errors while benchmarking $1" >&2
    exit 1
  fi
  awk '/^Requests\/sec:/ {print $2}' <<<"$out"
}

echo "machine: $(nproc) CPUs, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs)" >&2
echo "load before: $(uptime)" >&2
# Rounds alternate nginx and ctia-sim so that a change in the machine's load (it is shared)
# hits both sides alike; each round's ratio is reported, and their median.
ratios=()
for round in $(seq "$rounds"); do
  echo "--- round $round: nginx (fixed answer, $workers workers) ---" >&2
  nginx_rps=$(run_wrk "http://127.0.0.1:$nginx_port$path")
  echo "--- round $round: ctia-sim --synthetic 100 --threads $threads ---" >&2
  sim_rps=$(run_wrk "$sim_url$path")
  ratio=$(python3 -c "print(f'{$sim_rps / $nginx_rps:.2f}')")
  ratios+=("$ratio")
  echo "round $round: nginx $nginx_rps requests/s, ctia-sim $sim_rps requests/s, ratio $ratio"
done
# Still right after the run.
[[ "$(curl -sf -H "$auth" "$sim_url$path")" == "$got" ]] || { echo "sim_vs_nginx: wrong answer after the run" >&2; exit 1; }
sim_rss=$(awk '/VmHWM/ {print $2, $3}' "/proc/$sim_pid/status")

median=$(python3 -c "import statistics, sys; print(f'{statistics.median(map(float, sys.argv[1:])):.2f}')" "${ratios[@]}")
echo "ratio ctia-sim/nginx, median of $rounds rounds: $median (target >= 0.70)"
echo "ctia-sim peak RSS:   $sim_rss"
echo "load after:          $(uptime)"
