"""Sandbox service figures, measured side by side with runc in one run:
  - commands.run("true") round trip through cryod and the sentry, against `runc exec` of `true`
    in an equivalent (busybox) container;
  - a snapshot of a running sandbox (the SDK call's time) against `runc checkpoint --leave-running`
    of that container;
  - sandbox create from a snapshot (cryod) against `runc restore` of a checkpoint as a new container;
  - resident memory (VmRSS) of a sentry per idle sandbox.
usage: bench/service_bench.py [ROUNDS]   (run by bench/service_bench.sh, which starts cryod)"""
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

from cryo import Sandbox

ROUNDS = int(sys.argv[1]) if len(sys.argv) > 1 else 30
SVC_ID = f"cryo-bench-{os.getpid()}"  # runc names its cgroup after the id: keep runs apart
TOP = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BUILD = os.environ.get("CRYO_BUILD") or os.path.join(TOP, "build")


def median_ms(fn, rounds):
    times = []
    for _ in range(rounds):
        t = time.perf_counter()
        fn()
        times.append((time.perf_counter() - t) * 1000)
    return statistics.median(times)


def runc(*args, check=True):
    return subprocess.run(["runc", "--root", RUNC_ROOT, *args], stdin=subprocess.DEVNULL,
                          stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=check)


def runc_bundle(path):
    shutil.copytree(os.path.join(TOP, "var/rootfs/busybox"), os.path.join(path, "rootfs"), symlinks=True)
    subprocess.run([os.path.join(BUILD, "bin/cryo"), "spec", "--bundle", path], check=True)
    cfg_path = os.path.join(path, "config.json")
    cfg = json.load(open(cfg_path))
    cfg["process"]["terminal"] = False
    cfg["process"]["args"] = ["sh", "-c", "i=0; while :; do i=$((i+1)); echo $i > /tmp/n; sleep 0.1; done"]
    cfg["root"]["readonly"] = False
    json.dump(cfg, open(cfg_path, "w"))


def sentry_rss_kib(sandbox_id):
    state = os.environ["CRYO_STATE_DIR"]
    pid = int(open(os.path.join(state, "sandboxes", sandbox_id, "sentry.pid")).read())
    for line in open(f"/proc/{pid}/status"):
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return 0


def main():
    global RUNC_ROOT
    work = tempfile.mkdtemp(prefix="cryo-svcbench.", dir="/var/tmp")
    RUNC_ROOT = os.path.join(work, "runc-root")
    try:
        # --- exec round trip
        sbx = Sandbox.create()
        sbx.commands.run("true")  # warm
        cryo_exec = median_ms(lambda: sbx.commands.run("true"), ROUNDS)
        bundle = os.path.join(work, "b")
        os.makedirs(bundle)
        runc_bundle(bundle)
        runc("run", "-d", "--bundle", bundle, SVC_ID)
        runc("exec", SVC_ID, "true")
        runc_exec = median_ms(lambda: runc("exec", SVC_ID, "true"), ROUNDS)

        # --- snapshot of a running sandbox / checkpoint --leave-running
        snaps = []
        cryo_snap = median_ms(lambda: snaps.append(sbx.create_snapshot()), max(3, ROUNDS // 6))
        for extra in snaps[1:]:
            Sandbox.delete_snapshot(extra.snapshot_id)
        checkpoints = [0]

        def runc_checkpoint():
            checkpoints[0] += 1
            runc("checkpoint", "--leave-running", "--image-path", os.path.join(work, f"ck{checkpoints[0]}"), SVC_ID)

        runc_snap = median_ms(runc_checkpoint, max(3, ROUNDS // 6))

        # --- create from a snapshot / restore as a new container
        snap = snaps[0]
        forks = []
        cryo_fork = median_ms(lambda: forks.append(Sandbox.create(snapshot_id=snap.snapshot_id)), max(3, ROUNDS // 6))
        rss = [sentry_rss_kib(f.sandbox_id) for f in forks] + [sentry_rss_kib(sbx.sandbox_id)]
        for f in forks:
            f.kill()
        img = os.path.join(work, "img")
        runc("checkpoint", "--leave-running", "--image-path", img, SVC_ID)
        n = [0]

        def runc_restore():
            n[0] += 1
            b = os.path.join(work, f"r{n[0]}")
            os.makedirs(b)
            shutil.copytree(os.path.join(bundle, "rootfs"), os.path.join(b, "rootfs"), symlinks=True)
            shutil.copy(os.path.join(bundle, "config.json"), b)
            t = time.perf_counter()
            runc("restore", "-d", "--image-path", img, "--bundle", b, f"r{n[0]}")
            return (time.perf_counter() - t) * 1000

        restores = [runc_restore() for _ in range(max(3, ROUNDS // 6))]
        runc_fork = statistics.median(restores)
        for i in range(1, n[0] + 1):
            runc("delete", "-f", f"r{i}", check=False)
        runc("delete", "-f", SVC_ID, check=False)
        sbx.kill()
        Sandbox.delete_snapshot(snap.snapshot_id)

        print(f"{'median ms':34} {'cryo':>9} {'runc':>9} {'ratio':>7}")
        print(f"{'run `true` in a sandbox':34} {cryo_exec:9.2f} {runc_exec:9.2f} {cryo_exec / runc_exec:7.2f}   (cryod+sentry vs runc exec)")
        print(f"{'snapshot of a running sandbox':34} {cryo_snap:9.2f} {runc_snap:9.2f} {cryo_snap / runc_snap:7.2f}   (cryod snapshot vs runc checkpoint --leave-running)")
        print(f"{'new sandbox from a snapshot':34} {cryo_fork:9.2f} {runc_fork:9.2f} {cryo_fork / runc_fork:7.2f}   (cryod create vs runc restore)")
        print(f"sentry resident memory per idle sandbox: median {statistics.median(rss)} KiB (max {max(rss)})")
    finally:
        subprocess.run(["runc", "--root", RUNC_ROOT, "delete", "-f", SVC_ID], stderr=subprocess.DEVNULL)
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
