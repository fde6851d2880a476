#!/usr/bin/env bash
# podman 4.3 with `--runtime cryo`: run, exec, stop, rm, checkpoint --leave-running, checkpoint
# --export + restore --import --name, checkpoint + restore in place, each of a live counter.
# Usage: podman.sh /abs/path/to/cryo   (root; private root, runroot and tmpdir under a temp dir)
source "$(dirname "$0")/lib.sh"
require /usr/bin/podman /usr/bin/conmon

IMG=localhost/$IMAGE_NAME
CGROUP_PARENT=cryo-podman-$$
PODMAN=(/usr/bin/podman --root "$WORK/root" --runroot "$WORK/runroot" --tmpdir "$WORK/tmp"
        --storage-driver overlay --runtime "$CRYO" --cgroup-manager=cgroupfs --events-backend=file)
podman() { "${PODMAN[@]}" "$@"; }
RUN=(--network none --cgroup-parent "/$CGROUP_PARENT")

# podman's own defaults raise nofile and nproc to 1048576, above this machine's hard limits
# (root lacks CAP_SYS_RESOURCE): keep the current hard limits instead (podman lowers its own nproc
# to 32768).
write_containers_conf() {
  local nproc
  nproc=$(ulimit -Hu)
  [ "$nproc" = unlimited ] || [ "$nproc" -gt 32768 ] && nproc=32768
  cat >"$WORK/containers.conf" <<EOF
[containers]
default_ulimits = ["nofile=$(ulimit -Hn):$(ulimit -Hn)", "nproc=$nproc:$nproc"]
log_driver = "k8s-file"
netns = "none"
[engine]
events_logger = "file"
EOF
  export CONTAINERS_CONF=$WORK/containers.conf
}

state_of() { podman inspect --format '{{.State.Status}}' "$1" 2>/dev/null; }
state_is() { [ "$(state_of "$1")" = "$2" ]; }
last_count() { podman logs "$1" 2>/dev/null | tail -n1; }

test_run() {
  log "run in the foreground: output, exit code, -t"
  local out rc=0
  out=$(podman run --rm "${RUN[@]}" "$IMG" sh -c 'echo hello from cryo; exit 7') || rc=$?
  assert_eq "$rc" 7 "podman run exit code"
  assert_eq "$out" "hello from cryo" "podman run output"
  out=$(podman run --rm -t "${RUN[@]}" "$IMG" tty | tr -d '\r') || fail "podman run -t: exit $?"
  [[ "$out" == /dev/pts/* ]] || fail "podman run -t: tty printed \`$out\`"
}

test_exec_stop_rm() {
  log "detached run, exec (also -t), pause/unpause, stop, rm"
  on_exit "podman rm -f p-stop"
  must "podman run -d" podman run -d --name p-stop "${RUN[@]}" "$IMG" sleep 1000
  wait_for 10 "p-stop to run" state_is p-stop running
  local out rc=0
  out=$(podman exec p-stop cat /etc/hostname) || fail "podman exec: exit $?"
  [ -n "$out" ] || fail "podman exec printed nothing"
  podman exec p-stop sh -c 'exit 3' || rc=$?
  assert_eq "$rc" 3 "podman exec exit code"
  out=$(podman exec -t p-stop tty | tr -d '\r') || fail "podman exec -t: exit $?"
  [[ "$out" == /dev/pts/* ]] || fail "podman exec -t: tty printed \`$out\`"
  must "podman pause" podman pause p-stop
  assert_eq "$(state_of p-stop)" paused "state after pause"
  must "podman unpause" podman unpause p-stop
  assert_eq "$(state_of p-stop)" running "state after unpause"
  must "podman stop" podman stop -t 2 p-stop
  assert_eq "$(state_of p-stop)" exited "state after stop"
  must "podman rm" podman rm p-stop
  podman container exists p-stop && fail "p-stop exists after rm"
  return 0
}

test_checkpoint_restore() {
  log "checkpoint --leave-running, --export, restore --import --name, checkpoint + restore in place"
  on_exit "podman rm -f p-count p-clone"
  must "podman run -d" podman run -d --name p-count "${RUN[@]}" "$IMG" sh -c "$(counter_script /tmp/count)"
  wait_for 20 "p-count's counter to pass 50" sh -c "[ \"\$(${PODMAN[*]} logs p-count 2>/dev/null | tail -n1)\" -gt 50 ]"

  local n
  n=$(last_count p-count)
  must "podman container checkpoint --leave-running" podman container checkpoint --leave-running p-count
  assert_eq "$(state_of p-count)" running "state after checkpoint --leave-running"
  assert_counting_from "$(last_count p-count)" "p-count after checkpoint" last_count p-count

  n=$(last_count p-count)
  must "podman container checkpoint --export" \
    podman container checkpoint --leave-running --export "$WORK/p-count.tar.gz" p-count
  assert_eq "$(state_of p-count)" running "state after checkpoint --export"
  must "podman container restore --import" \
    podman container restore --import "$WORK/p-count.tar.gz" --name p-clone
  wait_for 10 "p-clone to run" state_is p-clone running
  # The clone goes on from the exported counter in memory: its file never goes back to 1.
  assert_counting_from "$n" "p-clone (rootfs file)" podman exec p-clone cat /tmp/count
  assert_counting_from "$n" "p-count next to its clone" last_count p-count

  n=$(last_count p-count)
  must "podman container checkpoint" podman container checkpoint p-count
  assert_eq "$(state_of p-count)" exited "state after checkpoint"
  must "podman container restore" podman container restore p-count
  wait_for 10 "p-count to run again" state_is p-count running
  assert_counting_from "$n" "p-count restored in place (rootfs file)" podman exec p-count cat /tmp/count

  must "podman stop" podman stop -t 1 p-count p-clone
  must "podman rm" podman rm p-count p-clone
}

build_images
write_containers_conf
on_exit "remove_cgroup_parent $CGROUP_PARENT"
on_exit "podman rm -fa -t 0"
must "podman load" podman load -i "$WORK/image/docker.tar"
podman image exists "$IMG" || fail "image $IMG not there after podman load: $(podman images)"

test_run
test_exec_stop_rm
test_checkpoint_restore
