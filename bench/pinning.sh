# Sourced by the bench/ scripts that run a server and a client on this machine (not run).
#
# Server and client on CPUs of their own (ENRICH_BENCH_PIN=1, the default with 2 or more CPUs
# and taskset): the server (ctia-sim, nginx) on the last CPU, the clients (ctia-enrich, wrk)
# on the others, as a CTIA server runs on machines of its own. Sharing 2 cores, server and
# client threads compete for them and where the scheduler puts them becomes part of the figure
# (client_vs_wrk.sh with wrk before and after ours, on 2 cores: 0.87-1.03 in 3 runs shared,
# 0.91-0.98 in 6 runs pinned). ENRICH_BENCH_PIN=0 lets server and client share every CPU.
server_cpus=()
client_cpus=()
if [ "${ENRICH_BENCH_PIN:-1}" = 1 ] && command -v taskset >/dev/null && [ "$(nproc)" -ge 2 ]; then
  last_cpu=$(($(nproc) - 1))
  server_cpus=(taskset -c "$last_cpu")
  client_cpus=(taskset -c "$([ "$last_cpu" -eq 1 ] && echo 0 || echo "0-$((last_cpu - 1))")")
fi
pinning() {
  if [ "${#server_cpus[@]}" -gt 0 ]; then
    echo "server on CPU ${server_cpus[2]}, client on CPU ${client_cpus[2]} (ENRICH_BENCH_PIN=0: shared)"
  else
    echo "not pinned: server and client share the CPUs"
  fi
}

