#!/usr/bin/env bash
# Starts cryod on a private socket and runs bench/service_bench.py against it and runc.
# usage: bench/service_bench.sh [ROUNDS]
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
[ -x "$top/build/bin/cryod" ] || { echo "build first: scripts/build.sh" >&2; exit 1; }
bash "$top/scripts/make-rootfs.sh" >/dev/null
state=$(mktemp -d /var/tmp/cryo-svcbench-state.XXXXXX)
export CRYO_SOCKET=$state/cryod.sock CRYO_BENCH_STATE=$state
"$top/build/bin/cryod" --socket "$CRYO_SOCKET" --state-dir "$state" >"$state/cryod.log" 2>&1 &
cryod=$!
stop() {
  kill "$cryod" 2>/dev/null && wait "$cryod" 2>/dev/null || true
  pkill -f "cryo-sentry --sandbox-dir $state" 2>/dev/null || true
  grep -o " $state[^ ]*" /proc/self/mountinfo | sort -r | xargs -r -n1 umount -l 2>/dev/null || true
  rm -rf "$state"
}
trap stop EXIT
for _ in $(seq 1 100); do [ -S "$CRYO_SOCKET" ] && break; sleep 0.05; done
PYTHONPATH=$top/sdk/python python3 "$top/bench/service_bench.py" "${1:-30}"
