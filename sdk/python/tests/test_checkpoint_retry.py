"""Checkpoint and retry after a failing command, through the SDK against a real cryod (default
engine, real containers, CRIU snapshots): snapshot before a risky step, let the step fail and
damage the sandbox, then resume from the snapshot and retry a corrected step.

Skipped unless run as root.
"""

import unittest

from cryo import CommandExitError, Sandbox

from .cryod_process import RealSandboxTestCase

# The sandbox's state at the checkpoint: files, and a live process whose pid is on file.
PREPARE = (
    "mkdir -p /work/out && echo 'step 1 done' > /work/out/progress && "
    "sh -c 'echo $$ > /work/worker.pid; while :; do sleep 0.2; done' >/dev/null 2>&1 &"
)
# The risky step, buggy: it destroys the input and the progress file, stops the worker, fails.
BROKEN_STEP = (
    "kill $(cat /work/worker.pid); rm -f /work/input.csv; echo garbage > /work/out/progress; "
    "echo 'step 2: input.csv: no such file' >&2; exit 3"
)
# The corrected step: reads the input and appends to the progress file.
FIXED_STEP = "wc -l < /work/input.csv > /work/out/rows && echo 'step 2 done' >> /work/out/progress && cat /work/out/rows"
INPUT = "id,value\n1,a\n2,b\n"


class CheckpointAndRetry(RealSandboxTestCase):
    def worker_alive(self, sbx):
        return sbx.commands.run("kill -0 $(cat /work/worker.pid)").exit_code == 0

    def test_failed_step_is_retried_from_the_snapshot(self):
        sbx = self.sandbox()
        sbx.files.write("/work/input.csv", INPUT)
        sbx.commands.run(PREPARE, check=True)
        self.assertTrue(self.worker_alive(sbx))
        snap = sbx.create_snapshot()
        self.addCleanup(Sandbox.delete_snapshot, snap.snapshot_id, socket_path=self.cryod.socket)

        # The step fails and leaves the sandbox damaged.
        with self.assertRaises(CommandExitError) as failed:
            sbx.commands.run(BROKEN_STEP, check=True)
        self.assertEqual(failed.exception.exit_code, 3)
        self.assertIn("no such file", failed.exception.stderr)
        self.assertFalse(sbx.files.exists("/work/input.csv"))
        self.assertEqual(sbx.files.read("/work/out/progress"), "garbage\n")
        self.assertFalse(self.worker_alive(sbx))

        # A sandbox from the snapshot has the state from before the step: files and the worker.
        retry = self.sandbox(snapshot_id=snap.snapshot_id)
        self.assertEqual(retry.info.snapshot_id, snap.snapshot_id)
        self.assertEqual(retry.files.read("/work/input.csv"), INPUT)
        self.assertEqual(retry.files.read("/work/out/progress"), "step 1 done\n")
        self.assertTrue(self.worker_alive(retry))

        # The corrected step succeeds there.
        result = retry.commands.run(FIXED_STEP, check=True)
        self.assertEqual(result.exit_code, 0)
        self.assertEqual(result.stdout.strip(), "3")
        self.assertEqual(retry.files.read("/work/out/progress"), "step 1 done\nstep 2 done\n")

        # The failed sandbox is untouched by the retry, and the snapshot can be retried again.
        self.assertFalse(sbx.files.exists("/work/input.csv"))
        again = self.sandbox(snapshot_id=snap.snapshot_id)
        self.assertEqual(again.files.read("/work/out/progress"), "step 1 done\n")


if __name__ == "__main__":
    unittest.main()
