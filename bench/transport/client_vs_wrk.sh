#!/usr/bin/env bash
# Lookup throughput of ctia-enrich's transport against wrk, same fixed-answer nginx, same
# connection count, one run. Prints both, the ratio (goal ≥ 0.85) and latency percentiles.
#
#   bench/transport/client_vs_wrk.sh [BUILD_DIR] [CONNECTIONS] [SECONDS]
#
# Needs wrk and nginx (ENRICH_BENCH_DEPS=1 tools/setup-deps.sh).
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
build="${1:-build}"
conns="${2:-16}"
secs="${3:-10}"
cli="$build/tools/cli/ctia-enrich"
for tool in wrk nginx "$cli"; do
  command -v "$tool" >/dev/null 2>&1 || [ -x "$tool" ] || { echo "missing: $tool" >&2; exit 2; }
done
dir="$(mktemp -d)"
port="$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')"
sed -e "s#@PORT@#$port#g" -e "s#@DIR@#$dir#g" "$here/nginx.conf" >"$dir/nginx.conf"
nginx -c "$dir/nginx.conf" -p "$dir" &
nginx_pid=$!
trap 'kill "$nginx_pid" 2>/dev/null || true; wait "$nginx_pid" 2>/dev/null || true; rm -rf "$dir"' EXIT
url="http://127.0.0.1:$port"
target="/ctia/ip/10.0.0.1/verdict"
for _ in $(seq 50); do curl -fsS "$url$target" >/dev/null 2>&1 && break; sleep 0.1; done
# Verify the answer before timing.
curl -fsS "$url$target" | grep -q '"disposition_name":"Malicious"' || { echo "nginx answer wrong" >&2; exit 1; }

echo "== wrk -t2 -c$conns -d${secs}s --latency $url$target"
wrk_out="$(wrk -t2 -c"$conns" -d"${secs}s" --latency "$url$target")"
echo "$wrk_out"
wrk_rps="$(echo "$wrk_out" | awk '/Requests\/sec/ {print $2}')"

echo "== ctia-enrich bench --target $url --connections $conns --duration $secs --no-auth"
bench_out="$("$cli" bench --target "$url" --connections "$conns" --duration "$secs" --no-auth)"
echo "$bench_out"
bench_rps="$(echo "$bench_out" | sed -n 's/^bench_result requests_per_s=\([0-9.]*\).*/\1/p')"

python3 - "$wrk_rps" "$bench_rps" <<'PY'
import sys
wrk, bench = float(sys.argv[1]), float(sys.argv[2])
print(f"== wrk {wrk:.0f} req/s, ctia-enrich bench {bench:.0f} req/s, ratio {bench / wrk:.3f} (goal >= 0.85)")
PY
