#!/usr/bin/env bash
# The README's first command: install (Debian packages), build, and run Drover's main job —
# `drover dev`, a controller on the embedded store and three local agents in one process, on
# http://127.0.0.1:9010 with its state in ./drover-dev. Ctrl-C stops it; running it again resumes.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
bash scripts/build.sh
exec ./build/drover dev --nodes 3 "$@"
