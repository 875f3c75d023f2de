# Sourced by the bench/sim scripts: starts ctia-sim in synthetic mode and checks its verdict.
#
#   start_synthetic_sim SIM THREADS TMPDIR NAME
#
# Sets sim_pid, sim_url, auth (the Authorization header line), path (the verdict route timed)
# and got (its verified body). Exits 1 when the answer is not the documented synthetic verdict.
start_synthetic_sim() {
  local sim=$1 threads=$2 tmp=$3 name=$4 token want observable="ip:198.51.100.23"
  "$sim" --port 0 --no-demo --synthetic 100 --threads "$threads" >"$tmp/sim.out" 2>"$tmp/sim.err" &
  sim_pid=$!
  for _ in $(seq 100); do grep -q listening "$tmp/sim.out" && break; sleep 0.05; done
  sim_url=$(grep -o 'http://[^ ]*' "$tmp/sim.out")
  token=$(curl -sf -u client:secret -d grant_type=client_credentials "$sim_url/iroh/oauth2/token" |
    python3 -c 'import json, sys; print(json.load(sys.stdin)["access_token"])')
  auth="Authorization: Bearer $token"
  path="/ctia/ip/198.51.100.23/verdict"
  # Verify before timing: the answer is the documented synthetic verdict.
  got=$(curl -sf -H "$auth" "$sim_url$path")
  want=$("$sim" --synthetic 100 --public-base "$sim_url" --print-synthetic "$observable")
  if [[ "$got" != "$want" ]]; then
    echo "$name: ctia-sim answered $got, expected $want" >&2
    exit 1
  fi
}
