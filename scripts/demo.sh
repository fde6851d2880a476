#!/usr/bin/env bash
# The main job: sets everything up, starts cryod on a private socket, runs scripts/demo.py
# through the Python SDK, and stops cryod again.
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
bash "$top/scripts/setup.sh"
bash "$top/scripts/build.sh"
state=$(mktemp -d /var/tmp/cryo-demo.XXXXXX)
export CRYO_SOCKET=$state/cryod.sock
"$top/build/bin/cryod" --socket "$CRYO_SOCKET" --state-dir "$state" >"$state/cryod.log" 2>&1 &
cryod=$!
stop() {
  kill "$cryod" 2>/dev/null && wait "$cryod" 2>/dev/null || true
  # Sandboxes left by a failed run: their sentries clean up when killed.
  pkill -f "cryo-sentry --sandbox-dir $state" 2>/dev/null || true
  grep -o " $state[^ ]*" /proc/self/mountinfo | sort -r | xargs -r -n1 umount -l 2>/dev/null || true
  rm -rf "$state"
}
trap stop EXIT
for _ in $(seq 1 100); do [ -S "$CRYO_SOCKET" ] && break; sleep 0.05; done
[ -S "$CRYO_SOCKET" ] || { cat "$state/cryod.log"; exit 1; }
PYTHONPATH=$top/sdk/python python3 "$top/scripts/demo.py" || { echo "--- cryod log"; tail -30 "$state/cryod.log"; exit 1; }
