#!/usr/bin/env bash
# Runs bench/service_bench.py against a private cryod and runc. usage: bench/service_bench.sh [ROUNDS]
# CRYO_BUILD picks another build directory (default: build/).
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
export CRYO_BUILD=${CRYO_BUILD:-$top/build}
[ -x "$CRYO_BUILD/bin/cryod" ] || { echo "build first: scripts/build.sh" >&2; exit 1; }
bash "$top/scripts/make-rootfs.sh" >/dev/null
exec bash "$top/scripts/with-cryod.sh" python3 "$top/bench/service_bench.py" "${1:-30}"
