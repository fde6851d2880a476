"""The SDK over loopback TCP with a bearer token."""

import unittest

from cryo import AuthenticationError, Sandbox

from .cryod_process import Cryod

TOKEN = "test-token-0123456789abcdef"


class TcpTransport(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.cryod = Cryod(tcp=True, token=TOKEN)

    @classmethod
    def tearDownClass(cls):
        cls.cryod.stop()

    def test_token_is_required(self):
        with self.assertRaises(AuthenticationError) as cm:
            Sandbox.list(base_url=self.cryod.base_url, token="wrong")
        self.assertEqual(cm.exception.status, 401)
        with self.assertRaises(AuthenticationError):
            Sandbox.list(base_url=self.cryod.base_url, token="")

    def test_works_with_token(self):
        with Sandbox.create(base_url=self.cryod.base_url, token=TOKEN) as sbx:
            self.assertEqual(sbx.commands.run("echo tcp").stdout, "tcp\n")
            sbx.files.write("/f", b"\x00\x01")
            self.assertEqual(sbx.files.read("/f", format="bytes"), b"\x00\x01")
            snap = sbx.create_snapshot()
        self.assertEqual(Sandbox.get_snapshot(snap.snapshot_id, base_url=self.cryod.base_url, token=TOKEN), snap)
