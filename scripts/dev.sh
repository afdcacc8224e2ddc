#!/usr/bin/env bash
# The README's first command: install, build, and run Drover's main job. Until `drover dev`
# lands (issue 5) that is `drover validate` over the example manifests.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
bash scripts/build.sh
./build/drover validate -f manifests/examples/
