# Shared by the bench/engine/*.sh scripts (sourced, not run).
#
# Needs: $build (the Release build dir). Sets cli, sim, sample_log, journal_tool, and `work`
# (a temporary directory removed on exit, with every process started by start_sim).

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
