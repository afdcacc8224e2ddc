#!/usr/bin/env bash
# The README's second command, and what CI runs: install, build with warnings as errors, and run
# every test. Exits non-zero on any failure. DROVER_SANITIZE=address,undefined builds and tests
# under the sanitizers instead (in ./build-sanitize).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
if [ -n "${DROVER_SANITIZE:-}" ]; then
  export BUILD_DIR=build-sanitize BUILD_TYPE=Debug
  export LSAN_OPTIONS="suppressions=$PWD/tests/lsan.supp:print_suppressions=0"
  export UBSAN_OPTIONS="print_stacktrace=1:halt_on_error=1"
  bash scripts/build.sh -DDROVER_WERROR=ON -DDROVER_SANITIZE="$DROVER_SANITIZE" -DDROVER_BUILD_BENCH=OFF
else
  export BUILD_DIR=build
  bash scripts/build.sh -DDROVER_WERROR=ON
fi
cd "$BUILD_DIR"
ctest --output-on-failure --timeout 600 -j "$(nproc)"
