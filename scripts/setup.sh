#!/usr/bin/env bash
# Installs what Drover needs to build and test, by Debian 12 package name. Safe to run again:
# it only calls apt-get when a package is missing. Run as root (or with sudo).
set -euo pipefail

PACKAGES=(
  g++ cmake make pkg-config            # toolchain
  nlohmann-json3-dev                   # JSON in api/ (see README: "Dependencies")
  libyaml-cpp-dev                      # YAML manifests
  libsqlite3-dev                       # the embedded store
  libcpprest-dev libssl-dev            # the HTTP server and client (cpprestsdk)
  prometheus-cpp-dev                   # metrics
  libgtest-dev libgmock-dev            # tests
  libbenchmark-dev                     # bench/
  python3                              # conformance checks and test helpers
  etcd-server etcd-client              # the etcd store backend's tests (a real etcd on loopback)
  prometheus                           # promtool and a real Prometheus for the metrics tests
)

missing=()
for p in "${PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if ((${#missing[@]})); then
  echo "setup: installing ${missing[*]}"
  SUDO=""
  if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi
