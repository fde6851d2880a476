#!/usr/bin/env bash
# Runs a command against a private cryod: starts build/bin/cryod on a socket in a fresh state
# directory, exports CRYO_SOCKET and CRYO_STATE_DIR, runs the command, then stops cryod and
# removes every sandbox, mount and file it left. usage: scripts/with-cryod.sh COMMAND [ARGS...]
# CRYO_BUILD picks another build directory (default: build/).
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
export CRYO_BUILD=${CRYO_BUILD:-$top/build}
state=$(mktemp -d /var/tmp/cryod-run.XXXXXX)
export CRYO_SOCKET=$state/cryod.sock CRYO_STATE_DIR=$state
"$CRYO_BUILD/bin/cryod" --socket "$CRYO_SOCKET" --state-dir "$state" >"$state/cryod.log" 2>&1 &
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
export PYTHONPATH=$top/sdk/python${PYTHONPATH:+:$PYTHONPATH}
"$@" || { status=$?; echo "--- cryod log (last lines)"; tail -30 "$state/cryod.log"; exit "$status"; }
