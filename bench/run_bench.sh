#!/usr/bin/env bash
# Start-latency benchmark: cryo against runc on the same busybox bundle running /bin/true.
#   bench/run_bench.sh [CRYO_BIN] [RUNS]
# Measures, for each runtime, with a private --root and a unique id per run:
#   run      `<rt> run` in the foreground (create + start + wait + delete)
#   lifecycle `<rt> create` + `<rt> start` + `<rt> delete --force`
# Uses hyperfine when installed (median of RUNS warm runs after 5 warm-up runs), else a plain loop.
set -euo pipefail

HERE=$(cd "$(dirname "$0")" && pwd)
REPO=$(cd "$HERE/.." && pwd)
CRYO=${1:-${CRYO_BIN:-$REPO/build/bin/cryo}}
RUNS=${2:-${RUNS:-50}}
RUNC=${RUNC_BIN:-$(command -v runc || true)}
ROOTFS=${ROOTFS:-$REPO/var/rootfs/busybox}

[[ $(id -u) == 0 ]] || { echo "run_bench.sh: needs root" >&2; exit 1; }
[[ -x $CRYO ]] || { echo "run_bench.sh: no cryo binary at $CRYO (build first or pass its path)" >&2; exit 1; }
[[ -n $RUNC && -x $RUNC ]] || { echo "run_bench.sh: runc not found (apt install runc)" >&2; exit 1; }
[[ -d $ROOTFS/bin ]] || { echo "run_bench.sh: no busybox rootfs at $ROOTFS (scripts/make-rootfs.sh)" >&2; exit 1; }

WORK=$(mktemp -d /tmp/cryo-bench-XXXXXX)
cleanup() {
  for rt in cryo runc; do
    local bin=$CRYO; [[ $rt == runc ]] && bin=$RUNC
    for id in $("$bin" --root "$WORK/$rt-root" list -q 2>/dev/null); do
      "$bin" --root "$WORK/$rt-root" delete --force "$id" >/dev/null 2>&1 || true
    done
  done
  rm -rf "$WORK"
}
trap cleanup EXIT

# One bundle for both runtimes: runc's default spec (terminal off, read-only root), /bin/true,
# on the shared busybox root (read-only, so the runs cannot change it).
BUNDLE=$WORK/bundle
mkdir -p "$BUNDLE"
(cd "$BUNDLE" && "$RUNC" spec)
python3 - "$BUNDLE/config.json" "$ROOTFS" <<'PY'
import json, sys
path = sys.argv[1]
c = json.load(open(path))
c["process"]["terminal"] = False
c["process"]["args"] = ["/bin/true"]
c["root"]["path"] = sys.argv[2]  # absolute: runc refuses a symlinked rootfs
json.dump(c, open(path, "w"), indent=2)
PY
mkdir -p "$WORK/cryo-root" "$WORK/runc-root"

# Sanity: both run the bundle.
"$CRYO" --root "$WORK/cryo-root" run --bundle "$BUNDLE" sanity-cryo
"$RUNC" --root "$WORK/runc-root" run --bundle "$BUNDLE" sanity-runc

# Commands take a unique id from the shell's pid ($$) of each run.
run_cmd() { echo "$1 --root $WORK/$2-root run --bundle $BUNDLE b\$\$-r"; }
life_cmd() {
  local r="$1 --root $WORK/$2-root"
  echo "$r create --bundle $BUNDLE b\$\$-l >/dev/null && $r start b\$\$-l && $r delete --force b\$\$-l"
}

declare -A MEDIAN
measure_hyperfine() {  # name command
  local json=$WORK/$1.json
  hyperfine --style none --warmup 5 --runs "$RUNS" --export-json "$json" -n "$1" "$2" >/dev/null
  MEDIAN[$1]=$(python3 -c "import json,sys; print('%.2f' % (json.load(open(sys.argv[1]))['results'][0]['median']*1000))" "$json")
}
measure_loop() {  # name command
  local times=$WORK/$1.times
  for i in $(seq 5); do sh -c "$2" >/dev/null; done
  : > "$times"
  for i in $(seq "$RUNS"); do
    local t0 t1
    t0=$(date +%s%N); sh -c "$2" >/dev/null; t1=$(date +%s%N)
    echo $(( (t1 - t0) / 1000 )) >> "$times"
  done
  MEDIAN[$1]=$(sort -n "$times" | awk '{a[NR]=$1} END {m = (NR%2) ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2; printf "%.2f", m/1000}')
}
measure() { if command -v hyperfine >/dev/null; then measure_hyperfine "$@"; else measure_loop "$@"; fi; }

measure cryo-run "$(run_cmd "$CRYO" cryo)"
measure runc-run "$(run_cmd "$RUNC" runc)"
measure cryo-lifecycle "$(life_cmd "$CRYO" cryo)"
measure runc-lifecycle "$(life_cmd "$RUNC" runc)"

ratio() { python3 -c "print('%.2f' % ($1 / $2))"; }
echo "start latency, busybox /bin/true, median of $RUNS warm runs ($(command -v hyperfine >/dev/null && echo hyperfine || echo loop))"
printf '%-28s %10s %10s %12s\n' "" "cryo (ms)" "runc (ms)" "cryo/runc"
printf '%-28s %10s %10s %12s\n' "run" "${MEDIAN[cryo-run]}" "${MEDIAN[runc-run]}" "$(ratio "${MEDIAN[cryo-run]}" "${MEDIAN[runc-run]}")"
printf '%-28s %10s %10s %12s\n' "create+start+delete" "${MEDIAN[cryo-lifecycle]}" "${MEDIAN[runc-lifecycle]}" \
  "$(ratio "${MEDIAN[cryo-lifecycle]}" "${MEDIAN[runc-lifecycle]}")"
