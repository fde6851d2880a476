"""Starts and stops a real cryod (test-only in-memory engine) in a temporary directory."""

import json
import os
import re
import shutil
import signal
import subprocess
import tempfile
import time
import unittest

_REPO = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", "..", ".."))


def find_binary(env_name, name):
    path = os.environ.get(env_name)
    if path:
        return path
    for build in ("build", "build-service", "build-img"):
        candidate = os.path.join(_REPO, build, "bin", name)
        if os.access(candidate, os.X_OK):
            return candidate
    raise unittest.SkipTest(f"{name} not found: set ${env_name}")


class Cryod:
    def __init__(self, tcp=False, token=None, engine="memory"):
        self.binary = find_binary("CRYOD", "cryod")
        self.dir = tempfile.mkdtemp(prefix="cryo-sdk-")
        self.socket = os.path.join(self.dir, "cryod.sock")
        self.token = token
        self.port = None
        args = [self.binary, f"--engine={engine}", "--socket", self.socket, "--state-dir", os.path.join(self.dir, "state")]
        if tcp:
            token_file = os.path.join(self.dir, "token")
            with open(token_file, "w") as f:
                f.write(token + "\n")
            args += ["--tcp", "127.0.0.1:0", "--token-file", token_file]
        self.log_path = os.path.join(self.dir, "cryod.log")
        self._log = open(self.log_path, "w+")
        self.proc = subprocess.Popen(args, stdout=self._log, stderr=subprocess.STDOUT)
        self._wait_ready(tcp)

    def _wait_ready(self, tcp):
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"cryod exited early: {self.log()}")
            ready = self._listening()
            if ready is not None and (not tcp or "tcp" in ready):
                self.port = int(ready["tcp"].rsplit(":", 1)[1]) if "tcp" in ready else None
                return
            time.sleep(0.02)
        raise RuntimeError(f"cryod did not start: {self.log()}")

    def _listening(self):
        """cryod logs JSON lines; the "listening" one says where it serves."""
        for line in self.log().splitlines():
            try:
                entry = json.loads(line)
            except ValueError:
                continue
            if isinstance(entry, dict) and entry.get("msg") == "listening":
                return entry
        return None

    def log(self):
        with open(self.log_path) as f:
            return f.read()

    @property
    def base_url(self):
        return f"http://127.0.0.1:{self.port}"

    def stop(self):
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self._log.close()
        shutil.rmtree(self.dir, ignore_errors=True)


@unittest.skipUnless(os.geteuid() == 0, "needs root (real containers)")
class RealSandboxTestCase(unittest.TestCase):
    """One cryod with the default engine (real containers) per test class; every sandbox a test
    makes through self.sandbox() is killed after it, and any left over when the class ends."""

    @classmethod
    def setUpClass(cls):
        cls.cryod = Cryod(engine="default")

    @classmethod
    def tearDownClass(cls):
        from cryo import Sandbox

        for s in Sandbox.list(socket_path=cls.cryod.socket):
            Sandbox.connect(s.sandbox_id, socket_path=cls.cryod.socket).kill()
        cls.cryod.stop()

    def sandbox(self, **kw):
        from cryo import Sandbox

        sbx = Sandbox.create(socket_path=self.cryod.socket, **kw)
        self.addCleanup(lambda: sbx.kill() if sbx.is_running() else None)
        return sbx
