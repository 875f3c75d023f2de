#!/usr/bin/env bash
# Server CPU per request of ctia-sim's synthetic verdict path: utime+stime of the ctia-sim
# process (from /proc/PID/stat) over one wrk run, divided by the requests wrk completed. Less
# sensitive to machine load than requests/s.
#
#   bench/sim/sim_cpu_per_request.sh [path/to/ctia-sim]   (default: build-release/tools/sim/ctia-sim)
#
# Env: DURATION (8s), CONNECTIONS (64), SIM_THREADS (1). Prints "cpu_us_per_request N" and
# exits 1 when the answer is not the documented synthetic verdict or wrk saw errors.
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
sim=${1:-$root/build-release/tools/sim/ctia-sim}
duration=${DURATION:-8s}
connections=${CONNECTIONS:-64}
threads=${SIM_THREADS:-1}
for tool in wrk curl python3; do
  command -v "$tool" >/dev/null || { echo "sim_cpu_per_request: $tool not found" >&2; exit 2; }
done
[[ -x "$sim" ]] || { echo "sim_cpu_per_request: no ctia-sim at $sim (build it first)" >&2; exit 2; }

tmp=$(mktemp -d)
sim_pid=""
cleanup() {
  [[ -n "$sim_pid" ]] && kill "$sim_pid" 2>/dev/null && wait "$sim_pid" 2>/dev/null
  rm -rf "$tmp"
}
trap cleanup EXIT

source "$here/synthetic_sim.sh"
start_synthetic_sim "$sim" "$threads" "$tmp" sim_cpu_per_request

ticks() { awk '{print $14 + $15}' "/proc/$sim_pid/stat"; }
hz=$(getconf CLK_TCK)
before=$(ticks)
out=$(wrk -t1 -c"$connections" -d"$duration" -H "$auth" "$sim_url$path")
after=$(ticks)
echo "$out" >&2
if grep -qE 'Non-2xx|Socket errors' <<<"$out"; then
  echo "sim_cpu_per_request: errors while benchmarking" >&2
  exit 1
fi
requests=$(awk '/requests in/ {print $1}' <<<"$out")
python3 -c "import sys; t, r, hz = map(float, sys.argv[1:]); print(f'requests {int(r)} cpu_s {t / hz:.2f} cpu_us_per_request {t / hz / r * 1e6:.2f}')" \
  "$((after - before))" "$requests" "$hz"
