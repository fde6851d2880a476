#!/usr/bin/env bash
# Snapshot pause, checkpoint wall time and restore-as-new-container time of the same 256 MiB
# workload through cryo and through runc, in one run. The pause is what the workload itself saw:
# the longest gap between two of its 2 ms ticks (tests/helpers/counter.c).
# usage: bench/checkpoint_bench.sh [MIB] [ROUNDS]
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
mib=${1:-256}
rounds=${2:-3}
# CRYO_BUILD: a build directory other than build/ (its bin/ holds cryo and counter).
bin=${CRYO_BUILD:-$top/build}/bin
cryo=$bin/cryo
counter=$bin/counter
rootfs=$top/var/rootfs/busybox
[ -x "$cryo" ] && [ -x "$counter" ] || { echo "build first: scripts/build.sh" >&2; exit 1; }
bash "$top/scripts/make-rootfs.sh" >/dev/null
command -v runc >/dev/null || { echo "runc is not installed (scripts/setup.sh)" >&2; exit 1; }

work=$(mktemp -d /var/tmp/cryo-ckbench.XXXXXX)
cleanup() {
  for rt in cryo runc; do
    for id in $(ls "$work/root-$rt" 2>/dev/null); do
      [ "$rt" = cryo ] && "$cryo" --root "$work/root-cryo" delete -f "$id" >/dev/null 2>&1 || true
      [ "$rt" = runc ] && runc --root "$work/root-runc" delete -f "$id" >/dev/null 2>&1 || true
    done
  done
  grep -o " $work[^ ]*" /proc/self/mountinfo | sort -r | xargs -r -n1 umount -l 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT

now_ms() { date +%s%3N; }
# The workload rewrites its file every tick (truncate, then write): read until a whole line is there.
gap_ms() {
  local v
  for _ in $(seq 1 50); do
    v=$(awk 'NF == 2 {printf "%d", $2/1000}' "$1" 2>/dev/null || true)
    [ -n "$v" ] && { echo "$v"; return; }
    sleep 0.001
  done
  echo "could not read $1" >&2; return 1
}
median() { sort -n | awk '{a[NR]=$1} END {print (NR%2 ? a[(NR+1)/2] : int((a[NR/2]+a[NR/2+1])/2))}'; }

make_bundle() {  # DIR OVERLAY(yes|no)
  local dir=$1
  mkdir -p "$dir/rootfs"
  if [ "$2" = yes ]; then
    mkdir -p "$dir/lower" "$dir/upper" "$dir/work"
    cp -a "$rootfs/." "$dir/lower/"
    cp "$counter" "$dir/lower/bin/counter"
    mount -t overlay overlay -o "lowerdir=$dir/lower,upperdir=$dir/upper,workdir=$dir/work" "$dir/rootfs"
  else
    cp -a "$rootfs/." "$dir/rootfs/"
    cp "$counter" "$dir/rootfs/bin/counter"
  fi
  "$cryo" spec --bundle "$dir"
  python3 - "$dir/config.json" "$mib" <<'PY'
import json, sys
path, mib = sys.argv[1], sys.argv[2]
c = json.load(open(path))
c["process"]["terminal"] = False
c["root"]["readonly"] = False
c["process"]["args"] = ["/bin/counter", mib, "/count", "2000"]
json.dump(c, open(path, "w"))
PY
}

wait_count() {  # FILE: until the workload has touched its memory and ticks
  for _ in $(seq 1 600); do
    local n; n=$(awk '{print $1 + 0}' "$1" 2>/dev/null || true)
    [ "${n:-0}" -gt 20 ] && return 0
    sleep 0.05
  done
  echo "workload did not start" >&2; return 1
}

declare -A pause wall restore
for rt in cryo runc; do
  for r in $(seq 1 "$rounds"); do
    b=$work/$rt-$r
    if [ "$rt" = cryo ]; then make_bundle "$b" yes; else make_bundle "$b" no; fi
    id=orig-$r
    if [ "$rt" = cryo ]; then
      "$cryo" --root "$work/root-cryo" run -d --bundle "$b" "$id" </dev/null >/dev/null 2>&1
    else
      runc --root "$work/root-runc" run -d --bundle "$b" "$id" </dev/null >/dev/null 2>&1
    fi
    wait_count "$b/rootfs/count"
    sleep 0.3
    t0=$(now_ms)
    if [ "$rt" = cryo ]; then
      "$cryo" --root "$work/root-cryo" checkpoint --leave-running --image-path "$b/img" "$id"
    else
      runc --root "$work/root-runc" checkpoint --leave-running --image-path "$b/img" "$id"
    fi
    t1=$(now_ms)
    sleep 0.2
    pause[$rt]+="$(gap_ms "$b/rootfs/count") "
    wall[$rt]+="$((t1 - t0)) "
    # Restore as a new container from the image.
    nb=$work/$rt-$r-clone
    mkdir -p "$nb/rootfs"
    cp "$b/config.json" "$nb/"
    [ "$rt" = runc ] && { cp -a "$b/rootfs/." "$nb/rootfs/"; }
    t0=$(now_ms)
    # A failed restore is reported and left out of the medians (runc's fails now and then here).
    if [ "$rt" = cryo ]; then
      restored() { "$cryo" --root "$work/root-cryo" restore -d --image-path "$b/img" --bundle "$nb" "clone-$r" </dev/null >/dev/null 2>"$work/restore.err"; }
    else
      restored() { runc --root "$work/root-runc" restore -d --image-path "$b/img" --bundle "$nb" "clone-$r" </dev/null >/dev/null 2>"$work/restore.err"; }
    fi
    if restored; then
      t1=$(now_ms)
      restore[$rt]+="$((t1 - t0)) "
    else
      echo "round $r: $rt restore failed: $(tail -n 3 "$work/restore.err" | tr '\n' ' ')" >&2
    fi
    for x in "$id" "clone-$r"; do
      if [ "$rt" = cryo ]; then "$cryo" --root "$work/root-cryo" delete -f "$x" >/dev/null 2>&1 || true
      else runc --root "$work/root-runc" delete -f "$x" >/dev/null 2>&1 || true; fi
    done
    mountpoint -q "$b/rootfs" && umount -l "$b/rootfs"
    rm -rf "$b" "$nb"
  done
done

printf "pause per round (ms): cryo %s; runc %s\n" "${pause[cryo]% }" "${pause[runc]% }"
printf "%s MiB resident, %s rounds, median (ms)\n" "$mib" "$rounds"
printf "%-28s %10s %10s %8s\n" "" cryo runc ratio
for m in pause wall restore; do
  declare -n arr=$m
  c=$(echo ${arr[cryo]} | tr ' ' '\n' | median)
  u=$(echo ${arr[runc]} | tr ' ' '\n' | median)
  label=$m
  [ $m = pause ] && label="pause (workload stopped)"
  [ $m = wall ] && label="checkpoint wall time"
  [ $m = restore ] && label="restore as new container"
  printf "%-28s %10s %10s %8s\n" "$label" "$c" "$u" "$(awk -v a="$c" -v b="$u" 'BEGIN {printf "%.2f", (b > 0 ? a / b : 0)}')"
done
