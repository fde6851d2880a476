#!/usr/bin/env bash
# containerd 1.6 (its runc v2 shim) driving cryo through `ctr --runc-binary`: run, detached run,
# exec, ps, pause/resume, checkpoint/restore of a live counter, kill, delete.
# Usage: containerd.sh /abs/path/to/cryo   (root; a private containerd under a temp dir)
source "$(dirname "$0")/lib.sh"
require /usr/bin/containerd /usr/bin/ctr /usr/bin/containerd-shim-runc-v2 /usr/bin/script

SOCK=$WORK/containerd.sock
NS=cryo-test-$$
IMG=docker.io/library/$IMAGE_NAME
ctr() { /usr/bin/ctr --address "$SOCK" --namespace "$NS" "$@"; }
RUNC=(--runc-binary "$CRYO")

# Removes whatever is left of container `id` (tasks first).
remove_container() {
  ctr task kill -a -s KILL "$1" 2>/dev/null || true
  ctr task delete -f "$1" 2>/dev/null || true
  ctr containers delete "$1" 2>/dev/null || true
}

task_status() { ctr task ls | awk -v id="$1" '$1 == id { print $3 }'; }
status_is() { [ "$(task_status "$1")" = "$2" ]; }
gone_or_stopped() { local s; s=$(task_status "$1"); [ -z "$s" ] || [ "$s" = STOPPED ]; }

test_run() {
  log "run in the foreground: output, exit code, -t"
  local out rc=0
  out=$(ctr run --rm "${RUNC[@]}" "$IMG" c-run sh -c 'echo hello from cryo; exit 7') || rc=$?
  assert_eq "$rc" 7 "ctr run exit code"
  assert_eq "$out" "hello from cryo" "ctr run output"
  ctr containers ls -q | grep -qx c-run && fail "ctr run --rm left container c-run"
  # ctr -t needs a terminal of its own: script(1) gives it one (and echoes ^@ for the EOF of stdin).
  out=$(script -qec "/usr/bin/ctr --address $SOCK --namespace $NS run --rm -t --runc-binary $CRYO $IMG c-tty tty" /dev/null </dev/null | grep -o '/dev/pts/[0-9]*') ||
    fail "ctr run -t: exit $?"
  [[ "$out" == /dev/pts/* ]] || fail "ctr run -t: tty printed \`$out\`"
  return 0
}

test_detached() {
  log "detached run, exec, ps, pause/resume"
  on_exit "remove_container c-det"
  must "ctr run -d" ctr run -d --log-uri "file://$WORK/c-det.log" "${RUNC[@]}" "$IMG" c-det \
    sh -c "$(counter_script /tmp/count)"
  wait_for 10 "task c-det to run" status_is c-det RUNNING
  assert_counting_from 3 "c-det" cat "$WORK/c-det.log"

  local out rc=0
  out=$(ctr task exec --exec-id e1 c-det cat /tmp/count) || fail "ctr task exec cat: exit $?"
  [ "$out" -gt 0 ] 2>/dev/null || fail "exec read \`$out\` from /tmp/count"
  ctr task exec --exec-id e2 c-det sh -c 'exit 3' || rc=$?
  assert_eq "$rc" 3 "ctr task exec exit code"

  out=$(ctr task ps c-det) || fail "ctr task ps: exit $?"
  local init
  init=$(ctr task ls | awk '$1 == "c-det" { print $2 }')
  echo "$out" | awk 'NR > 1 { print $1 }' | grep -qx "$init" || fail "ctr task ps does not list the init $init: $out"

  must "ctr task pause" ctr task pause c-det
  assert_eq "$(task_status c-det)" PAUSED "status after pause"
  local a b
  a=$(tail -n1 "$WORK/c-det.log")
  sleep 0.5
  b=$(tail -n1 "$WORK/c-det.log")
  assert_eq "$b" "$a" "counter while paused"
  must "ctr task resume" ctr task resume c-det
  assert_eq "$(task_status c-det)" RUNNING "status after resume"
  assert_counting_from "$b" "c-det after resume" cat "$WORK/c-det.log"
}

test_checkpoint_restore() {
  log "checkpoint (leaves the task running), then restore as a live task that counts on"
  local ref=docker.io/library/c-det-checkpoint:1 n out
  wait_for 20 "counter to pass 50" sh -c "[ \$(tail -n1 $WORK/c-det.log) -gt 50 ]"
  # The task is paused for the dump: it holds a number above n then, and a restored copy goes on from it.
  n=$(tail -n1 "$WORK/c-det.log")
  must "ctr containers checkpoint" ctr containers checkpoint --task --rw c-det "$ref"
  on_exit "ctr images rm $ref"
  assert_eq "$(task_status c-det)" RUNNING "status after checkpoint"
  assert_counting_from "$(tail -n1 "$WORK/c-det.log")" "c-det after checkpoint" cat "$WORK/c-det.log"

  remove_container c-det
  ctr containers ls -q | grep -qx c-det && fail "container c-det still exists"
  # `ctr containers restore` returns once the task started (its stdout fifo is read only until then).
  must "ctr containers restore" ctr containers restore --rw --live c-det "$ref"
  wait_for 20 "restored task c-det to run" status_is c-det RUNNING
  # The restored shell goes on from its counter in memory (> n); a fresh one would start at 1.
  assert_counting_from "$n" "restored c-det (rootfs file)" ctr task exec --exec-id e4 c-det cat /tmp/count
  out=$(ctr task ps c-det) || fail "ctr task ps of the restored task: exit $?"

  must "ctr task kill" ctr task kill -s KILL c-det
  wait_for 10 "c-det to stop" gone_or_stopped c-det
  remove_container c-det
}

test_kill_all_and_force_delete() {
  log "kill --all, delete --force"
  on_exit "remove_container c-kill"
  must "ctr run -d" ctr run -d --null-io "${RUNC[@]}" "$IMG" c-kill sh -c 'sleep 1000 & sleep 1000 & wait'
  wait_for 10 "task c-kill to run" status_is c-kill RUNNING
  wait_for 10 "c-kill's children" sh -c "[ \$(/usr/bin/ctr --address $SOCK -n $NS task ps c-kill | wc -l) -ge 4 ]"
  must "ctr task kill --all" ctr task kill -a -s KILL c-kill
  wait_for 10 "c-kill to stop" status_is c-kill STOPPED
  must "ctr task delete" ctr task delete c-kill
  must "ctr containers delete" ctr containers delete c-kill

  must "ctr run -d" ctr run -d --null-io "${RUNC[@]}" "$IMG" c-force sleep 1000
  on_exit "remove_container c-force"
  wait_for 10 "task c-force to run" status_is c-force RUNNING
  must "ctr task delete --force" ctr task delete --force c-force
  [ -z "$(task_status c-force)" ] || fail "task c-force still listed after delete --force"
  must "ctr containers delete" ctr containers delete c-force
}

build_images
# The shim keeps the runtime's state in /run/containerd/runc/<namespace>; containers' cgroups are
# /<namespace>/<id>.
on_exit "rm -rf /run/containerd/runc/$NS; remove_cgroup_parent $NS"
start_containerd "$SOCK"
must "ctr images import" ctr images import "$WORK/image/oci.tar"
ctr images ls -q | grep -qx "$IMG" || fail "image $IMG not listed after import: $(ctr images ls -q)"

test_run
test_detached
test_checkpoint_restore
test_kill_all_and_force_delete
