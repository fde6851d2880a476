"""cryoctl against a real cryod (in-memory engine)."""

import json
import os
import subprocess
import unittest

from .cryod_process import Cryod, find_binary


class Cryoctl(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.cryoctl = find_binary("CRYOCTL", "cryoctl")
        cls.cryod = Cryod()

    @classmethod
    def tearDownClass(cls):
        cls.cryod.stop()

    def ctl(self, *args, stdin=None, check=True):
        env = dict(os.environ, CRYO_SOCKET=self.cryod.socket)
        p = subprocess.run([self.cryoctl, *args], input=stdin, capture_output=True, env=env, timeout=60)
        if check and p.returncode != 0:
            self.fail(f"cryoctl {' '.join(args)} failed ({p.returncode}): {p.stderr.decode()}")
        return p

    def test_sandbox_exec_files_snapshot(self):
        sbx = self.ctl("sandbox", "create", "--timeout", "600", "-e", "A=1").stdout.decode().strip()
        self.assertRegex(sbx, r"^sbx-[0-9a-f]{16}$")
        p = self.ctl("exec", sbx, "--", "sh", "-c", "echo $A; echo e >&2; exit 7", check=False)
        self.assertEqual((p.returncode, p.stdout, p.stderr), (7, b"1\n", b"e\n"))
        self.assertEqual(self.ctl("exec", sbx, "--", "cat", stdin=b"fed").stdout, b"fed")

        self.ctl("files", "mkdir", sbx, "/w")
        self.ctl("files", "write", sbx, "/w/x.txt", stdin=b"content")
        self.assertEqual(self.ctl("files", "read", sbx, "/w/x.txt").stdout, b"content")
        entries = json.loads(self.ctl("--json", "files", "ls", sbx, "/w").stdout)
        self.assertEqual([e["name"] for e in entries], ["x.txt"])
        self.ctl("files", "rm", sbx, "/w", "-r")
        self.assertEqual(self.ctl("files", "read", sbx, "/w/x.txt", check=False).returncode, 1)

        p = self.ctl("snapshot", "create", sbx)
        snap = p.stdout.decode().strip()
        self.assertRegex(snap, r"^snap-[0-9a-f]{16}$")
        self.assertEqual(p.stderr, b"")  # no spinner when stderr is not a terminal
        info = json.loads(self.ctl("snapshot", "get", snap).stdout)
        self.assertEqual(info["sandbox_id"], sbx)
        listed = json.loads(self.ctl("--json", "snapshot", "ls", "--all", "--limit", "1").stdout)
        self.assertIn(snap, [s["snapshot_id"] for s in listed["snapshots"]])
        fork = self.ctl("sandbox", "create", "--snapshot", snap).stdout.decode().strip()
        self.assertIn(fork, self.ctl("sandbox", "ls").stdout.decode())
        got = json.loads(self.ctl("--json", "sandbox", "get", fork).stdout)
        self.assertEqual(got["snapshot_id"], snap)

        self.ctl("sandbox", "kill", sbx)
        self.ctl("sandbox", "kill", fork)
        self.ctl("snapshot", "rm", snap)
        p = self.ctl("snapshot", "get", snap, check=False)
        self.assertEqual(p.returncode, 1)
        self.assertIn(b"not_found", p.stderr)

    def test_usage_errors(self):
        self.assertEqual(self.ctl("--help").returncode, 0)
        self.assertIn(b"Examples", self.ctl("--help").stdout)
        self.assertEqual(self.ctl("sandbox", "frobnicate", check=False).returncode, 2)
        self.assertEqual(self.ctl("exec", "sbx-0123456789abcdef", check=False).returncode, 2)
        p = self.ctl("sandbox", "get", "sbx-0123456789abcdef", check=False)
        self.assertEqual(p.returncode, 1)
        p = self.ctl("--socket", "/nonexistent.sock", "sandbox", "ls", check=False)
        self.assertEqual(p.returncode, 1)
        self.assertIn(b"/nonexistent.sock", p.stderr)
