#!/usr/bin/env bash
# Runs bench/exec_breakdown.py against a private cryod. usage: bench/exec_breakdown.sh [ROUNDS]
# CRYO_BUILD picks another build directory (default: build/).
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
export CRYO_BUILD=${CRYO_BUILD:-$top/build}
[ -x "$CRYO_BUILD/bin/cryod" ] || { echo "build first: scripts/build.sh" >&2; exit 1; }
exec bash "$top/scripts/with-cryod.sh" python3 "$top/bench/exec_breakdown.py" "${1:-200}"
