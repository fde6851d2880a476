"""Syscall supervision through the SDK against a real cryod (default engine, real containers):
rules passed at create time, decisions seen by commands, the audit log read back, bad rules
refused, and a snapshot of a supervised sandbox restored with its rules.

Skipped unless run as root.
"""

import unittest

from cryo import InvalidArgumentError, Sandbox

from .cryod_process import RealSandboxTestCase

RULES = [
    {"syscall": "mkdir", "action": "deny", "errno": 13},
    {"syscall": "mkdirat", "action": "deny", "errno": 13},
    {"syscall": "chdir", "action": "log"},
]


class Supervision(RealSandboxTestCase):
    def test_rules_decide_and_the_audit_log_records(self):
        sbx = self.sandbox(supervise=RULES)
        denied = sbx.commands.run("mkdir /tmp/nope")
        self.assertNotEqual(denied.exit_code, 0)
        self.assertIn("Permission denied", denied.stderr)
        self.assertEqual(sbx.commands.run("cd /tmp && pwd").stdout, "/tmp\n")
        events = sbx.audit_log()
        actions = {(e["syscall"], e["action"]) for e in events}
        self.assertTrue({("mkdir", "deny"), ("mkdirat", "deny")} & actions, events)
        self.assertIn(("chdir", "log"), actions)
        for e in events:
            if e["action"] == "deny":
                self.assertEqual(e["errno"], 13)

    def test_bad_rules_are_refused(self):
        for rules in ([{"syscall": "no_such_call", "action": "deny"}], [{"syscall": "mkdir", "action": "maybe"}],
                      [{"syscall": "mount", "action": "log"}], "mkdir"):
            with self.assertRaises(InvalidArgumentError, msg=str(rules)):
                self.sandbox(supervise=rules)

    def test_snapshot_of_a_supervised_sandbox(self):
        sbx = self.sandbox(supervise=RULES)
        sbx.files.write("/work/note", "kept\n")
        snap = sbx.create_snapshot()
        self.addCleanup(Sandbox.delete_snapshot, snap.snapshot_id, socket_path=self.cryod.socket)
        clone = self.sandbox(snapshot_id=snap.snapshot_id)
        self.assertEqual(clone.files.read("/work/note"), "kept\n")
        denied = clone.commands.run("mkdir /tmp/nope")
        self.assertIn("Permission denied", denied.stderr)
        self.assertTrue(any(e["action"] == "deny" for e in clone.audit_log()))


if __name__ == "__main__":
    unittest.main()
