#!/usr/bin/env bash
# Installs the Debian 12 packages ctia-enrich needs to build and test.
# Idempotent: checks each package with dpkg-query, runs `apt-get update` at most once and only
# when something is missing, and installs only what is missing.
set -euo pipefail

packages=(
  build-essential cmake ninja-build ccache pkg-config
  libboost1.81-dev        # Asio + Beast: HTTP/1.1 client and server
  rapidjson-dev           # JSON decode/encode
  libabsl-dev             # Status/StatusOr, flat_hash_map, Mutex, strings
  libtbb-dev              # oneTBB pipeline (engine)
  libbenchmark-dev        # Google Benchmark (bench/)
  libgtest-dev libgmock-dev
  libxml2-dev             # tests: the run report (--report) is parsed as XML to check it
  libssl-dev              # TLS for the transport
  libcli11-dev            # command-line parsing
  libtomlplusplus-dev     # TOML config of ctia-sim (--config)
  zlib1g-dev              # gzip inputs and outputs
  libzstd-dev             # zstd inputs and outputs
  libdeflate-dev          # CRC-32 of the resume journal, faster than zlib's
  libidn2-dev             # IDN domains → punycode (IDNA 2008/UTS#46) before lookup
  python3-yaml            # tests: the Kubernetes Job of configs/k8s is read as YAML
  libhiredis-dev          # Redis client (shared cache, leases, limiter), driven from Asio
  liblmdb-dev             # LMDB: the persistent verdict cache of run --cache DIR
  redis-server            # tests: a real Redis on 127.0.0.1 at a free port
)
if [[ "${ENRICH_BENCH_DEPS:-0}" == "1" ]]; then
  packages+=(wrk nginx-light)
fi

missing=()
for p in "${packages[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$p")
  fi
done

if [[ ${#missing[@]} -eq 0 ]]; then
  echo "setup-deps: all ${#packages[@]} packages present"
  exit 0
fi

echo "setup-deps: installing ${missing[*]}"
sudo_cmd=()
if [[ $(id -u) -ne 0 ]]; then sudo_cmd=(sudo); fi
export DEBIAN_FRONTEND=noninteractive
"${sudo_cmd[@]}" apt-get update -qq
"${sudo_cmd[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}"
