#!/usr/bin/env bash
# Docker 20.10 (dockerd --experimental --add-runtime cryo=...) on a private containerd: run, exec,
# update, checkpoint create --leave-running, start --checkpoint of a live counter.
# Usage: docker.sh /abs/path/to/cryo   (root; private data root, exec root and sockets under a temp dir)
source "$(dirname "$0")/lib.sh"
require /usr/sbin/dockerd /usr/bin/docker /usr/bin/containerd /usr/bin/ctr

IMG=$IMAGE_NAME
SOCK=$WORK/docker.sock
CGROUP_PARENT=cryo-docker-$$
docker() { /usr/bin/docker --host "unix://$SOCK" "$@"; }
RUN=(--runtime cryo --network none)

start_dockerd() {
  mkdir -p "$WORK/docker/data" "$WORK/docker/exec"
  echo '{}' >"$WORK/docker/daemon.json"
  /usr/sbin/dockerd --config-file "$WORK/docker/daemon.json" --host "unix://$SOCK" \
    --data-root "$WORK/docker/data" --exec-root "$WORK/docker/exec" --pidfile "$WORK/docker/docker.pid" \
    --containerd "$WORK/containerd.sock" --containerd-namespace "cryo-docker-$$" \
    --containerd-plugins-namespace "cryo-docker-plugins-$$" \
    --bridge=none --iptables=false --ip-masq=false --userland-proxy=false \
    --cgroup-parent "/$CGROUP_PARENT" --exec-opt native.cgroupdriver=cgroupfs \
    --storage-driver overlay2 --experimental --add-runtime "cryo=$CRYO" >"$WORK/docker/dockerd.log" 2>&1 &
  local pid=$!
  on_exit "stop_daemon $pid"
  DAEMON_LOGS+=("$WORK/docker/dockerd.log")
  wait_for 30 "dockerd to listen on $SOCK" docker version
}

state_of() { docker inspect --format '{{.State.Status}}' "$1" 2>/dev/null; }
state_is() { [ "$(state_of "$1")" = "$2" ]; }
last_count() { docker logs "$1" 2>/dev/null | tail -n1; }
# containerd hands a checkpoint to dockerd as a blob and drops it only at its next garbage
# collection; dockerd uploads the same bytes for `start --checkpoint` and fails with "already
# exists" if that blob is still there (dockerd 20.10's own race, runc alike): wait it out.
checkpoint_blobs_collected() { [ -z "$(ls "$WORK/containerd/root/io.containerd.content.v1.content/blobs/sha256" 2>/dev/null)" ]; }
cgroup_file() { echo "/sys/fs/cgroup/$1/$CGROUP_PARENT/$(docker inspect --format '{{.Id}}' "$2")/$3"; }

test_run() {
  log "run in the foreground: output, exit code, -t"
  local out rc=0
  out=$(docker run --rm "${RUN[@]}" "$IMG" sh -c 'echo hello from cryo; exit 7') || rc=$?
  assert_eq "$rc" 7 "docker run exit code"
  assert_eq "$out" "hello from cryo" "docker run output"
  out=$(docker run --rm -t "${RUN[@]}" "$IMG" tty | tr -d '\r') || fail "docker run -t: exit $?"
  [[ "$out" == /dev/pts/* ]] || fail "docker run -t: tty printed \`$out\`"
}

test_exec_update() {
  log "detached run, exec (also -t), top, pause/unpause, update"
  on_exit "docker rm -f d-count"
  must "docker run -d" docker run -d --name d-count "${RUN[@]}" "$IMG" sh -c "$(counter_script /tmp/count)"
  wait_for 10 "d-count to run" state_is d-count running
  local out rc=0
  out=$(docker exec d-count cat /tmp/count) || fail "docker exec: exit $?"
  [ "$out" -gt 0 ] 2>/dev/null || fail "docker exec read \`$out\` from /tmp/count"
  docker exec d-count sh -c 'exit 3' || rc=$?
  assert_eq "$rc" 3 "docker exec exit code"

  out=$(docker exec -t d-count tty | tr -d '\r') || fail "docker exec -t: exit $?"
  [[ "$out" == /dev/pts/* ]] || fail "docker exec -t: tty printed \`$out\`"
  out=$(docker top d-count) || fail "docker top: exit $?"
  echo "$out" | grep -q "sleep\|while" || fail "docker top lists no process of the counter: $out"
  must "docker pause" docker pause d-count
  assert_eq "$(state_of d-count)" paused "state after pause"
  must "docker unpause" docker unpause d-count
  assert_eq "$(state_of d-count)" running "state after unpause"

  must "docker update" docker update --memory 64m --memory-swap 128m --pids-limit 100 --cpu-shares 512 d-count
  assert_eq "$(cat "$(cgroup_file memory d-count memory.limit_in_bytes)")" 67108864 "memory limit after update"
  assert_eq "$(cat "$(cgroup_file pids d-count pids.max)")" 100 "pids limit after update"
  assert_eq "$(cat "$(cgroup_file cpu d-count cpu.shares)")" 512 "cpu shares after update"
  assert_eq "$(state_of d-count)" running "state after update"
}

test_checkpoint_restore() {
  log "checkpoint create --leave-running, start --checkpoint"
  wait_for 20 "d-count's counter to pass 50" sh -c "[ \"\$(/usr/bin/docker -H unix://$SOCK logs d-count 2>/dev/null | tail -n1)\" -gt 50 ]"
  local n
  n=$(last_count d-count)
  must "docker checkpoint create --leave-running" docker checkpoint create --leave-running d-count cp1
  assert_eq "$(state_of d-count)" running "state after checkpoint --leave-running"
  assert_counting_from "$(last_count d-count)" "d-count after checkpoint" last_count d-count

  must "docker stop" docker stop -t 1 d-count
  wait_for 10 "containerd to collect the checkpoint blob" checkpoint_blobs_collected
  must "docker start --checkpoint" docker start --checkpoint cp1 d-count
  wait_for 10 "d-count to run again" state_is d-count running
  # The restored shell goes on from its count at cp1 (> n); a fresh start would write 1 first.
  assert_counting_from "$n" "d-count restored from cp1 (rootfs file)" docker exec d-count cat /tmp/count

  n=$(last_count d-count)
  must "docker checkpoint create" docker checkpoint create d-count cp2
  assert_eq "$(state_of d-count)" exited "state after checkpoint (stopping)"
  wait_for 10 "containerd to collect the checkpoint blob" checkpoint_blobs_collected
  must "docker start --checkpoint" docker start --checkpoint cp2 d-count
  wait_for 10 "d-count to run again" state_is d-count running
  assert_counting_from "$n" "d-count restored from cp2 (rootfs file)" docker exec d-count cat /tmp/count
  must "docker checkpoint ls" docker checkpoint ls d-count
  must "docker rm -f" docker rm -f d-count
}

build_images
on_exit "remove_cgroup_parent $CGROUP_PARENT; rm -rf /run/containerd/runc/cryo-docker-$$"
start_containerd "$WORK/containerd.sock"
start_dockerd
must "docker load" docker load -i "$WORK/image/docker.tar"
docker image inspect "$IMG" >/dev/null || fail "image $IMG not there after docker load"

test_run
test_exec_update
test_checkpoint_restore
