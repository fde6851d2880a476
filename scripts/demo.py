"""The main job: a sandbox is created, used, snapshotted while a process runs in it, and two
independent sandboxes resume from the snapshot with its files and its running process."""
import sys
import time

from cryo import Sandbox


def step(text):
    print(f"\n== {text}", flush=True)


def ticks(sbx):
    return int(sbx.files.read("/workspace/ticks").strip() or 0)


def main():
    step("create a sandbox")
    sbx = Sandbox.create(timeout=600)
    print("sandbox:", sbx.sandbox_id)
    print(sbx.commands.run("python3 --version").stdout.strip())
    print(sbx.commands.run("id && hostname && ls /").stdout)

    step("write files and start a background process")
    sbx.files.write("/workspace/data.csv", "name,score\nada,36\nalan,41\n")
    sbx.commands.run("cd /workspace && python3 -c \"import csv; rows=list(csv.DictReader(open('data.csv')));"
                     " open('summary.txt','w').write(str(sum(int(r['score']) for r in rows)))\"")
    # Detached from the command that started it, the ticker becomes a child of the sandbox's init,
    # so it is part of the process tree a snapshot captures.
    sbx.commands.run("sh -c 'i=0; while :; do i=$((i+1)); echo $i > /workspace/ticks; sleep 0.1; done'"
                     " >/dev/null 2>&1 &")
    time.sleep(1)
    print("ticks so far:", ticks(sbx))

    step("snapshot (the sandbox pauses briefly, then runs on)")
    t0 = time.monotonic()
    snap = sbx.create_snapshot()
    print(f"snapshot {snap.snapshot_id} of {snap.sandbox_id} at {snap.created_at.isoformat()}"
          f" ({(time.monotonic() - t0) * 1000:.0f} ms)")
    at_snapshot = ticks(sbx)
    time.sleep(0.5)
    assert ticks(sbx) > at_snapshot, "the original stopped after the snapshot"
    print("original still ticking:", ticks(sbx))
    sbx.files.write("/workspace/after.txt", "written after the snapshot\n")
    sbx.kill()
    print("original killed")

    step("fork two sandboxes from the snapshot")
    forks = [Sandbox.create(snapshot_id=snap.snapshot_id) for _ in range(2)]
    for fork in forks:
        print("fork:", fork.sandbox_id)
        print("  files:", sorted(e.name for e in fork.files.list("/workspace")))
        print("  data.csv:", fork.files.read("/workspace/data.csv").splitlines())
        print("  summary.txt:", fork.files.read("/workspace/summary.txt"))
        first = ticks(fork)
        time.sleep(0.5)
        now = ticks(fork)
        print(f"  ticker resumed at {first} (snapshot taken at ~{at_snapshot}), now {now}")
        assert first >= max(2, at_snapshot - 5) and now > first, "the process did not resume"
        assert not fork.files.exists("/workspace/after.txt"), "a fork sees a file written after the snapshot"

    step("the forks are independent")
    forks[0].files.write("/workspace/only-in-a.txt", "a\n")
    assert not forks[1].files.exists("/workspace/only-in-a.txt")
    print("a write in", forks[0].sandbox_id, "is invisible in", forks[1].sandbox_id)

    step("snapshots")
    for s in Sandbox.list_snapshots(limit=20):
        print(" ", s.snapshot_id, s.sandbox_id, s.created_at.isoformat())
    for fork in forks:
        fork.kill()
    Sandbox.delete_snapshot(snap.snapshot_id)
    print("\ndemo finished: both forks resumed from the snapshot")


if __name__ == "__main__":
    try:
        main()
    except AssertionError as e:
        print("demo failed:", e, file=sys.stderr)
        sys.exit(1)
