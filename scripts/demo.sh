#!/usr/bin/env bash
# The main job: sets everything up, then runs scripts/demo.py through the Python SDK against a
# private cryod.
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
bash "$top/scripts/setup.sh"
bash "$top/scripts/build.sh"
exec bash "$top/scripts/with-cryod.sh" python3 "$top/scripts/demo.py"
