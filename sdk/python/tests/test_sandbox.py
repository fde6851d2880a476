"""The SDK against a real cryod (in-memory engine) over its unix socket."""

import os
import threading
import time
import unittest
from datetime import timezone

import cryo
from cryo import (CommandExitError, InvalidArgumentError, NotFoundError, Sandbox, SandboxError, SnapshotInfo)

from .cryod_process import Cryod

_cryod = None


def setUpModule():
    global _cryod
    _cryod = Cryod()
    os.environ["CRYO_SOCKET"] = _cryod.socket


def tearDownModule():
    os.environ.pop("CRYO_SOCKET", None)
    if _cryod:
        _cryod.stop()


class SandboxLifecycle(unittest.TestCase):
    def test_create_connect_list_kill(self):
        sbx = Sandbox.create(metadata={"owner": "tests"}, envs={"GREETING": "hi"})
        self.assertRegex(sbx.sandbox_id, r"^sbx-[0-9a-f]{16}$")
        self.assertEqual(sbx.info.state, "running")
        self.assertEqual(sbx.info.created_at.tzinfo, timezone.utc)
        again = Sandbox.connect(sbx.sandbox_id)
        self.assertEqual(again.info.metadata, {"owner": "tests"})
        self.assertIn(sbx.sandbox_id, [s.sandbox_id for s in Sandbox.list()])
        self.assertEqual(again.commands.run("echo $GREETING").stdout, "hi\n")
        sbx.kill()
        self.assertEqual(sbx.info.state, "killed")
        self.assertFalse(again.is_running())
        self.assertNotIn(sbx.sandbox_id, [s.sandbox_id for s in Sandbox.list()])
        self.assertIn(sbx.sandbox_id, [s.sandbox_id for s in Sandbox.list(include_stopped=True)])
        sbx.kill()  # idempotent
        with self.assertRaises(cryo.ConflictError):
            again.commands.run("true")

    def test_context_manager_kills(self):
        with Sandbox.create() as sbx:
            sid = sbx.sandbox_id
            self.assertTrue(sbx.is_running())
        self.assertEqual(Sandbox.connect(sid).info.state, "killed")

    def test_timeout_kills_the_sandbox(self):
        sbx = Sandbox.create(timeout=0.3)
        self.assertIsNotNone(sbx.info.expires_at)
        deadline = time.monotonic() + 5
        while sbx.is_running() and time.monotonic() < deadline:
            time.sleep(0.05)
        self.assertEqual(sbx.info.state, "timed_out")

    def test_errors_are_typed(self):
        with self.assertRaises(NotFoundError) as cm:
            Sandbox.connect("sbx-0123456789abcdef")
        self.assertEqual(cm.exception.status, 404)
        self.assertIn("sbx-0123456789abcdef", str(cm.exception))
        with self.assertRaises(InvalidArgumentError) as cm:
            Sandbox.create(cwd="relative")
        self.assertIn("cwd", str(cm.exception))
        with self.assertRaises(NotFoundError):
            Sandbox.create(snapshot_id="snap-0123456789abcdef")
        self.assertTrue(issubclass(NotFoundError, SandboxError))
        self.assertTrue(issubclass(cryo.TimeoutError, TimeoutError))

    def test_unreachable_daemon(self):
        with self.assertRaises(SandboxError) as cm:
            Sandbox.list(socket_path="/nonexistent/cryod.sock")
        self.assertIn("cannot reach cryod", str(cm.exception))


class CommandsTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.sbx = Sandbox.create()

    @classmethod
    def tearDownClass(cls):
        cls.sbx.kill()

    def test_run_foreground(self):
        r = self.sbx.commands.run("echo out; echo err >&2; exit 3")
        self.assertEqual((r.stdout, r.stderr, r.exit_code), ("out\n", "err\n", 3))
        r = self.sbx.commands.run(["printf", "%s-%s", "a", "b c"])
        self.assertEqual(r.stdout, "a-b c")
        self.sbx.files.make_dir("/work")
        r = self.sbx.commands.run("pwd; echo $X", cwd="/work", envs={"X": "1"})
        self.assertTrue(r.stdout.endswith("/work\n1\n"), r.stdout)
        self.assertEqual(self.sbx.commands.run("cat", stdin="piped").stdout, "piped")

    def test_check_raises_command_exit_error(self):
        with self.assertRaises(CommandExitError) as cm:
            self.sbx.commands.run("echo bad >&2; exit 2", check=True)
        self.assertEqual(cm.exception.exit_code, 2)
        self.assertEqual(cm.exception.stderr, "bad\n")
        self.assertEqual(self.sbx.commands.run("true", check=True).exit_code, 0)

    def test_timeout(self):
        t0 = time.monotonic()
        with self.assertRaises(cryo.TimeoutError) as cm:
            self.sbx.commands.run("echo started; sleep 10", timeout=0.5)
        self.assertLess(time.monotonic() - t0, 5)
        self.assertEqual(cm.exception.result.stdout, "started\n")

    def test_foreground_streaming_callbacks(self):
        out, err = [], []
        r = self.sbx.commands.run("for i in 1 2 3; do echo $i; done; echo e >&2", on_stdout=out.append,
                                  on_stderr=err.append)
        self.assertEqual("".join(out), "1\n2\n3\n")
        self.assertEqual("".join(err), "e\n")
        self.assertEqual(r.stdout, "1\n2\n3\n")
        self.assertEqual(r.exit_code, 0)

    def test_background_stdin_wait_kill(self):
        h = self.sbx.commands.run("cat; echo done", background=True)
        self.assertIsInstance(h, cryo.CommandHandle)
        h.send_stdin("hello ")
        h.send_stdin(b"world", close=True)
        r = h.wait()
        self.assertEqual(r.stdout, "hello worlddone\n")
        self.assertEqual(r.exit_code, 0)
        # A second wait (a late reader) gets the same complete output.
        self.assertEqual(self.sbx.commands.connect(h.command_id).wait().stdout, "hello worlddone\n")

        sleeper = self.sbx.commands.run("sleep 30", background=True)
        self.assertIn(sleeper.command_id, [c["command_id"] for c in self.sbx.commands.list() if c["running"]])
        sleeper.kill()
        self.assertEqual(sleeper.wait(timeout=10).exit_code, 137)

    def test_background_streaming_callbacks(self):
        got = []
        seen_first = threading.Event()

        def on_stdout(data):
            got.append(data)
            seen_first.set()

        h = self.sbx.commands.run("echo first; read x; echo second $x", background=True, on_stdout=on_stdout)
        self.assertTrue(seen_first.wait(10), "callback did not fire before the command ended")
        self.assertIsNone(h.exit_code)
        h.send_stdin("go\n")
        self.assertEqual(h.wait(timeout=10).stdout, "first\nsecond go\n")
        self.assertEqual("".join(got), "first\nsecond go\n")
        with self.assertRaises(CommandExitError):
            self.sbx.commands.run("exit 5", background=True).wait(check=True)


class FilesTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.sbx = Sandbox.create()

    @classmethod
    def tearDownClass(cls):
        cls.sbx.kill()

    def test_write_read_text_and_bytes(self):
        f = self.sbx.files
        f.write("/workspace/data.csv", "a,b\n1,2\n")
        self.assertEqual(f.read("/workspace/data.csv"), "a,b\n1,2\n")
        blob = bytes(range(256)) * 4
        f.write("/workspace/blob.bin", blob)
        self.assertEqual(f.read("/workspace/blob.bin", format="bytes"), blob)
        self.assertEqual(self.sbx.commands.run("cat workspace/data.csv").stdout, "a,b\n1,2\n")
        with self.assertRaises(ValueError):
            f.read("/workspace/data.csv", format="json")

    def test_large_file(self):
        data = os.urandom(3 * 1024 * 1024)
        self.sbx.files.write("/big.bin", data)
        self.assertEqual(self.sbx.files.read("/big.bin", format="bytes"), data)

    def test_list_exists_remove_make_dir(self):
        f = self.sbx.files
        f.make_dir("/tree/sub")
        f.write("/tree/x.txt", "x", mode=0o600)
        entries = {e.name: e for e in f.list("/tree")}
        self.assertEqual(set(entries), {"sub", "x.txt"})
        self.assertEqual(entries["sub"].type, "dir")
        self.assertEqual(entries["x.txt"].type, "file")
        self.assertEqual(entries["x.txt"].size, 1)
        self.assertEqual(entries["x.txt"].mode, 0o600)
        self.assertEqual(entries["x.txt"].path, "/tree/x.txt")
        self.assertTrue(f.exists("/tree/x.txt"))
        self.assertFalse(f.exists("/tree/missing"))
        f.remove("/tree/x.txt")
        self.assertFalse(f.exists("/tree/x.txt"))
        f.write("/tree/sub/y", "y")
        with self.assertRaises(cryo.ConflictError):
            f.remove("/tree", recursive=False)
        f.remove("/tree")
        self.assertFalse(f.exists("/tree"))
        with self.assertRaises(NotFoundError):
            f.read("/tree/sub/y")

    def test_odd_paths(self):
        self.sbx.files.write("/dir with space/a&b?c#d.txt", "ok")
        self.assertEqual(self.sbx.files.read("/dir with space/a&b?c#d.txt"), "ok")
        self.assertEqual([e.name for e in self.sbx.files.list("/dir with space")], ["a&b?c#d.txt"])


class SnapshotsTest(unittest.TestCase):
    def test_snapshot_restore_and_fork(self):
        sbx = Sandbox.create()
        sbx.files.write("/workspace/data.csv", "1,2,3")
        snap = sbx.create_snapshot()
        self.assertIsInstance(snap, SnapshotInfo)
        self.assertRegex(snap.snapshot_id, r"^snap-[0-9a-f]{16}$")
        self.assertEqual(snap.sandbox_id, sbx.sandbox_id)
        self.assertEqual(snap.created_at.tzinfo, timezone.utc)
        self.assertGreater(snap.size_bytes, 0)
        self.assertTrue(sbx.is_running())  # the snapshotted sandbox keeps running
        sbx.kill()

        a = Sandbox.create(snapshot_id=snap.snapshot_id)
        b = Sandbox.create(snapshot_id=snap.snapshot_id)
        self.assertEqual(a.info.snapshot_id, snap.snapshot_id)
        self.assertEqual(a.commands.run("ls workspace").stdout, "data.csv\n")
        a.files.write("/workspace/data.csv", "changed")
        self.assertEqual(b.files.read("/workspace/data.csv"), "1,2,3")  # independent forks
        a.kill()
        b.kill()

        self.assertEqual(Sandbox.get_snapshot(snap.snapshot_id), snap)
        Sandbox.delete_snapshot(snap.snapshot_id)
        with self.assertRaises(NotFoundError):
            Sandbox.get_snapshot(snap.snapshot_id)
        with self.assertRaises(NotFoundError):
            Sandbox.delete_snapshot(snap.snapshot_id)

    def test_list_snapshots_paginates_lazily(self):
        with Sandbox.create() as sbx:
            made = [sbx.create_snapshot().snapshot_id for _ in range(5)]
        pager = Sandbox.list_snapshots(limit=2)
        self.assertEqual(pager.pages_fetched, 0)
        it = iter(pager)
        first = next(it)
        self.assertEqual(first.snapshot_id, made[-1])  # newest first
        self.assertEqual(pager.pages_fetched, 1)
        ids = [first.snapshot_id] + [s.snapshot_id for s in it]
        # Other tests may have made snapshots earlier; ours are the newest five, in reverse order.
        self.assertEqual(ids[:5], list(reversed(made)))
        self.assertGreaterEqual(pager.pages_fetched, 3)
        self.assertFalse(pager.has_next)
        self.assertEqual(pager.next_items(), [])
        for sid in made:
            Sandbox.delete_snapshot(sid)


if __name__ == "__main__":
    unittest.main()
