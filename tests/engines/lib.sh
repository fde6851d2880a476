# shellcheck shell=bash
# Shared by the engine tests (sourced): a private work dir cleaned on exit, assertions, and the
# busybox image built locally from var/rootfs/busybox as an OCI layout tar and a docker-archive tar.
# The sourcing script is called as: SCRIPT /abs/path/to/cryo. KEEP_ENGINE_WORK=1 keeps the work
# dir (logs, checkpoint images) of a failed run; engines and containers are stopped either way.
set -euo pipefail

CRYO=$(realpath "${1:?usage: $0 /path/to/cryo}")
[ -x "$CRYO" ] || { echo "FAIL: $CRYO is not executable" >&2; exit 1; }
ENGINE_TOP=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
ROOTFS=${CRYO_ROOTFS:-$ENGINE_TOP/var/rootfs/busybox}
# criu >= 4.2 lives in /usr/local/sbin; the engines look it up on PATH.
export PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin
WORK=$(mktemp -d /tmp/cryo-engine.XXXXXX)
IMAGE_NAME=cryo-busybox:latest
# Logs shown (their tails) when a test fails.
DAEMON_LOGS=()

log() { echo "== $*" >&2; }
fail() {
  echo "FAIL: $*" >&2
  exit 1
}

# Cleanup steps run in reverse order of registration, on success and on failure alike.
CLEANUPS=()
on_exit() { CLEANUPS+=("$1"); }
run_cleanups() {
  local rc=$? i
  set +e
  for ((i = ${#CLEANUPS[@]} - 1; i >= 0; i--)); do eval "${CLEANUPS[i]}" >/dev/null 2>&1; done
  if [ "$rc" -ne 0 ] && [ -z "${SKIPPED:-}" ]; then
    for f in "${DAEMON_LOGS[@]}"; do echo "--- last lines of $f" >&2; tail -n 25 "$f" >&2; done
  fi
  if [ "$rc" -ne 0 ] && [ -n "${KEEP_ENGINE_WORK:-}" ]; then
    echo "work dir kept: $WORK" >&2
  else
    # Mounts an engine left behind (overlay roots, shm) would make rm fail or escape the tree.
    awk -v w="$WORK" 'index($5, w) == 1 { print $5 }' /proc/self/mountinfo | sort -r |
      while read -r m; do umount -l "$m"; done
    rm -rf "$WORK"
  fi
  if [ "$rc" -eq 0 ]; then echo "PASS" >&2; elif [ -z "${SKIPPED:-}" ]; then echo "FAILED (exit $rc)" >&2; fi
  exit "$rc"
}
trap run_cleanups EXIT
trap 'exit 130' INT TERM

# Skips the test (CTest's SKIP_RETURN_CODE) unless these programs are installed.
require() {
  local p
  for p in "$@"; do
    [ -x "$p" ] || { echo "SKIP: $p is not installed (scripts/setup.sh installs it)" >&2; SKIPPED=1; exit 77; }
  done
}

# Fails with `what` unless `cmd...` succeeds; its output goes to stderr.
must() {
  local what=$1
  shift
  "$@" >&2 || fail "$what: \`$*\` exited $?"
}

assert_eq() { [ "$1" = "$2" ] || fail "$3: expected \`$2\`, got \`$1\`"; }

# Polls `cmd...` until it succeeds, for up to `secs` seconds.
wait_for() {
  local secs=$1 what=$2 i
  shift 2
  for ((i = 0; i < secs * 10; i++)); do
    "$@" >/dev/null 2>&1 && return 0
    sleep 0.1
  done
  fail "timed out after ${secs}s waiting for $what"
}

# Kills a daemon we started (by pid) and waits for it.
stop_daemon() {
  local pid=$1 i
  kill -TERM "$pid" 2>/dev/null || return 0
  for ((i = 0; i < 150; i++)); do kill -0 "$pid" 2>/dev/null || return 0; sleep 0.1; done
  kill -KILL "$pid" 2>/dev/null
}

# A private containerd (also the one dockerd uses): root, state and sockets under $WORK/containerd.
start_containerd() {
  local sock=$1 d=$WORK/containerd
  mkdir -p "$d/root" "$d/state" "$d/opt"
  cat >"$d/config.toml" <<EOF
version = 2
root = "$d/root"
state = "$d/state"
disabled_plugins = ["io.containerd.grpc.v1.cri"]
[grpc]
  address = "$sock"
[ttrpc]
  address = "$sock.ttrpc"
[debug]
  address = "$d/debug.sock"
[plugins."io.containerd.internal.v1.opt"]
  path = "$d/opt"
EOF
  /usr/bin/containerd --config "$d/config.toml" >"$d/containerd.log" 2>&1 &
  local pid=$!
  on_exit "stop_daemon $pid"
  DAEMON_LOGS+=("$d/containerd.log")
  wait_for 20 "containerd to listen on $sock" /usr/bin/ctr --address "$sock" version
}

# Removes the (empty) cgroup tree an engine made as the parent of its containers', in every hierarchy.
remove_cgroup_parent() {
  local d
  for d in /sys/fs/cgroup/*/"$1" /sys/fs/cgroup/"$1"; do [ -d "$d" ] && find "$d" -depth -type d -exec rmdir {} \;; done
  return 0
}

sha256() { sha256sum "$1" | cut -d' ' -f1; }

# Moves `file` into blobs/sha256/<digest> under `dir` and prints the digest.
put_blob() {
  local dir=$1 file=$2 d
  d=$(sha256 "$file")
  mv "$file" "$dir/blobs/sha256/$d"
  echo "$d"
}

# Writes $WORK/image/{oci.tar,docker.tar}: one uncompressed layer holding the busybox root,
# its config and manifest, addressed by sha256 digests.
build_images() {
  [ -x "$ROOTFS/bin/busybox" ] || fail "$ROOTFS: no busybox root (run scripts/make-rootfs.sh)"
  local d=$WORK/image/layout layer config manifest lsize csize msize
  mkdir -p "$d/blobs/sha256"
  tar --sort=name --numeric-owner --owner=0 --group=0 --mtime=@0 -C "$ROOTFS" -cf "$d/layer.tar" .
  lsize=$(stat -c %s "$d/layer.tar")
  layer=$(put_blob "$d" "$d/layer.tar")
  cat >"$d/config.json" <<EOF
{"architecture":"amd64","os":"linux","created":"1970-01-01T00:00:00Z",
 "config":{"Env":["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"],"Cmd":["sh"],"WorkingDir":"/"},
 "rootfs":{"type":"layers","diff_ids":["sha256:$layer"]},
 "history":[{"created":"1970-01-01T00:00:00Z","created_by":"tests/engines/lib.sh: busybox root"}]}
EOF
  csize=$(stat -c %s "$d/config.json")
  config=$(put_blob "$d" "$d/config.json")
  cat >"$d/manifest.oci.json" <<EOF
{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json",
 "config":{"mediaType":"application/vnd.oci.image.config.v1+json","digest":"sha256:$config","size":$csize},
 "layers":[{"mediaType":"application/vnd.oci.image.layer.v1.tar","digest":"sha256:$layer","size":$lsize}]}
EOF
  msize=$(stat -c %s "$d/manifest.oci.json")
  manifest=$(put_blob "$d" "$d/manifest.oci.json")
  echo '{"imageLayoutVersion":"1.0.0"}' >"$d/oci-layout"
  cat >"$d/index.json" <<EOF
{"schemaVersion":2,"manifests":[{"mediaType":"application/vnd.oci.image.manifest.v1+json",
 "digest":"sha256:$manifest","size":$msize,"platform":{"architecture":"amd64","os":"linux"},
 "annotations":{"io.containerd.image.name":"docker.io/library/$IMAGE_NAME","org.opencontainers.image.ref.name":"latest"}}]}
EOF
  tar -C "$d" -cf "$WORK/image/oci.tar" oci-layout index.json blobs
  cat >"$d/manifest.json" <<EOF
[{"Config":"blobs/sha256/$config","RepoTags":["$IMAGE_NAME"],"Layers":["blobs/sha256/$layer"]}]
EOF
  tar -C "$d" -cf "$WORK/image/docker.tar" manifest.json blobs
  rm -rf "$d"
}

# A shell loop that counts in memory and appends each number to stdout and FILE: a restored
# copy goes on from where it was, a fresh start would begin at 1 again.
counter_script() { echo "i=0; while true; do i=\$((i+1)); echo \$i; echo \$i > $1; sleep 0.1; done"; }

# Asserts that the number `read_cmd` prints grows past `min` within 3 s. With min > 50, a fresh
# start (10 a second from 1) cannot pass in time: only a process that went on from its memory.
assert_counting_from() {
  local min=$1 what=$2 i v
  shift 2
  for ((i = 0; i < 30; i++)); do
    v=$("$@" 2>/dev/null | tail -n1 | tr -dc 0-9)
    [[ "$v" =~ ^[0-9]+$ ]] && [ "$v" -gt "$min" ] && { log "$what: counter at $v (> $min)"; return 0; }
    sleep 0.1
  done
  fail "$what: the counter did not go on past $min (last read: \`${v:-}\`)"
}
