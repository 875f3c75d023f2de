# Shared by the bench/engine/*.sh scripts (sourced, not run). A script starts
#
#   set -euo pipefail
#   here="$(cd "$(dirname "$0")" && pwd)"
#   usage="BUILD_DIR [RUNS] [ROWS]"  # its arguments, for the usage line
#   source "$here/common.sh"         # BUILD_DIR from $1; prints the uptime at start
#   runs="${2:-3}"                   # then its own arguments
#
# and ends with `bench_end` (prints the uptime at end; exits 1 if a `check` failed).
#
# Sets build (BUILD_DIR: the Release build dir), cli, sim, sample_log, journal_tool, and `work`
# (a temporary directory removed on exit, with every process started by start_sim and
# start_redis).

build="${1:?usage: $0 ${usage:-BUILD_DIR}}"
cli="$build/tools/cli/ctia-enrich"
sim="$build/tools/sim/ctia-sim"
sample_log="$build/tools/sample/make-sample-log"
journal_tool="$build/bench/synthetic-journal"
for tool in "$cli" "$sim" "$sample_log" "$journal_tool"; do
  [ -x "$tool" ] || { echo "missing: $tool (build with -DENRICH_BUILD_BENCH=ON)" >&2; exit 2; }
done
work="$(mktemp -d "${TMPDIR:-/tmp}/ctia-bench.XXXXXX")"
sim_pids=()
cleanup() {
  for p in "${sim_pids[@]}"; do kill "$p" 2>/dev/null || true; wait "$p" 2>/dev/null || true; done
  rm -rf "$work"
}
trap cleanup EXIT

# server_cpus / client_cpus: the command prefixes that pin a server and its client (../pinning.sh).
source "$(dirname "${BASH_SOURCE[0]}")/../pinning.sh"

# need_command NAME HOW: stops the script (exit 2) when NAME is not installed, saying HOW.
need_command() {
  command -v "$1" >/dev/null || { echo "missing: $1 ($2)" >&2; exit 2; }
}

# start_sim NAME ARGS...: starts ctia-sim on 127.0.0.1:0 as its own process (on the server's CPU
# when pinned); sets sim_url and sim_pid. Client "client"/"secret" (CTIA_CLIENT_ID/SECRET are
# exported for ctia-enrich).
start_sim() {
  local name="$1"
  shift
  "${server_cpus[@]}" "$sim" --port 0 "$@" >"$work/$name.out" 2>"$work/$name.err" &
  sim_pid=$!
  sim_pids+=("$sim_pid")
  for _ in $(seq 100); do
    # The file may not exist yet (the shell in the background has not opened it): not an error.
    sim_url="$(sed -n 's/^ctia-sim listening on //p' "$work/$name.out" 2>/dev/null || true)"
    [ -n "$sim_url" ] && break
    sleep 0.1
  done
  [ -n "$sim_url" ] || { echo "ctia-sim did not start: $(cat "$work/$name.err")" >&2; exit 1; }
}
export CTIA_CLIENT_ID=client CTIA_CLIENT_SECRET=secret

# sim_json PATH: the JSON of the last started sim's test API (--test-api), e.g. counters.
sim_json() { curl -fsS "$sim_url/__test__/$1"; }

# free_port: a TCP port on 127.0.0.1 free a moment ago.
free_port() {
  python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
}

# start_redis [PORT]: redis-server on 127.0.0.1 at PORT (default: a free one; again the same
# to restart it), no persistence, its files in $work/redis and its log $work/redis.log; sets
# redis_port and redis_pid once it accepts connections.
start_redis() {
  redis_port="${1:-$(free_port)}"
  mkdir -p "$work/redis"
  redis-server --port "$redis_port" --bind 127.0.0.1 --save '' --appendonly no \
    --dir "$work/redis" >>"$work/redis.log" 2>&1 &
  redis_pid=$!
  sim_pids+=("$redis_pid")
  for _ in $(seq 100); do
    python3 -c 'import socket,sys; socket.create_connection(("127.0.0.1",int(sys.argv[1])),0.2)' \
      "$redis_port" 2>/dev/null && return 0
    sleep 0.05
  done
  echo "redis-server did not start: $(cat "$work/redis.log")" >&2
  exit 1
}

# check NAME STATUS DETAIL...: prints PASS (STATUS 0) or FAIL with NAME and DETAIL; a FAIL
# makes bench_end exit 1. STATUS is usually "$(test ...; echo $?)".
failed=0
check() {
  if [ "$2" = 0 ]; then echo "PASS  $1: ${*:3}"; else echo "FAIL  $1: ${*:3}"; failed=1; fi
}

# bench_end: the uptime at end; exit 1 if a check failed, else 0.
bench_end() {
  echo "== uptime at end: $(uptime)"
  exit "$failed"
}

# now: seconds since the epoch, with nanoseconds.
now() { date +%s.%N; }
# elapsed START: seconds since START (a `now` value), 3 decimals.
elapsed() { python3 -c "import sys; print(f'{float(sys.argv[2]) - float(sys.argv[1]):.3f}')" "$1" "$(now)"; }
# json_get FILE KEY: a top-level or dotted key of a JSON file.
json_get() {
  python3 -c '
import json, sys
v = json.load(open(sys.argv[1]))
for k in sys.argv[2].split("."):
    v = v[k]
print(v)' "$1" "$2"
}

echo "== uptime at start: $(uptime)"
