"""Portable snapshots through the SDK and cryoctl against two real cryods (in-memory engine)."""

import json
import os
import subprocess
import tempfile
import unittest

from cryo import ConflictError, Image, InvalidArgumentError, NotFoundError, Sandbox

from .cryod_process import Cryod, find_binary


class PortableSnapshots(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.a = Cryod()
        cls.b = Cryod()
        cls.tmp = tempfile.mkdtemp(prefix="cryo-sdk-portable-")

    @classmethod
    def tearDownClass(cls):
        cls.a.stop()
        cls.b.stop()
        import shutil
        shutil.rmtree(cls.tmp, ignore_errors=True)

    def snapshot_on_a(self, content=b"carried"):
        sbx = Sandbox.create(socket_path=self.a.socket)
        sbx.files.write("/data/state.txt", content)
        snap = sbx.create_snapshot()
        sbx.kill()
        return snap

    def test_export_then_import_elsewhere_resumes_files(self):
        snap = self.snapshot_on_a()
        archive = os.path.join(self.tmp, "snap.tar")
        size = Sandbox.export_snapshot(snap.snapshot_id, archive, socket_path=self.a.socket)
        self.assertEqual(size, os.path.getsize(archive))
        self.assertFalse(os.path.exists(archive + ".part"))
        imported = Sandbox.import_snapshot(archive, socket_path=self.b.socket)
        self.assertEqual(imported.snapshot_id, snap.snapshot_id)  # the id travels with it
        self.assertEqual(imported.image, "default")
        self.assertEqual(Sandbox.get_snapshot(snap.snapshot_id, socket_path=self.b.socket).sandbox_id, snap.sandbox_id)
        with Sandbox.create(snapshot_id=snap.snapshot_id, socket_path=self.b.socket) as clone:
            self.assertEqual(clone.files.read("/data/state.txt"), "carried")
        with self.assertRaises(ConflictError):
            Sandbox.import_snapshot(archive, socket_path=self.b.socket)

    def test_archive_is_self_describing_with_a_manifest(self):
        import tarfile
        snap = self.snapshot_on_a()
        archive = os.path.join(self.tmp, "described.tar")
        Sandbox.export_snapshot(snap.snapshot_id, archive, socket_path=self.a.socket)
        with tarfile.open(archive) as tar:
            names = tar.getnames()
            self.assertEqual(names[0], "cryo-snapshot.json")
            self.assertEqual(names[-1], "MANIFEST.sha256")
            meta = json.load(tar.extractfile("cryo-snapshot.json"))
            manifest = tar.extractfile("MANIFEST.sha256").read().decode()
        self.assertEqual(meta["format"], "cryo-snapshot-archive")
        self.assertEqual(meta["snapshot"]["id"], snap.snapshot_id)
        self.assertEqual(meta["image"]["name"], "default")
        listed = sorted(line.split("  ", 1)[1] for line in manifest.splitlines())
        self.assertEqual(listed, sorted(names[:-1]))

    def test_tampered_and_truncated_archives_are_refused(self):
        snap = self.snapshot_on_a(b"needle-0123456789")
        archive = os.path.join(self.tmp, "good.tar")
        Sandbox.export_snapshot(snap.snapshot_id, archive, socket_path=self.a.socket)
        with open(archive, "rb") as f:
            data = f.read()
        at = data.index(b"needle-0123456789")
        tampered = os.path.join(self.tmp, "tampered.tar")
        with open(tampered, "wb") as f:
            f.write(data[:at] + b"N" + data[at + 1:])
        with self.assertRaises(InvalidArgumentError) as cm:
            Sandbox.import_snapshot(tampered, socket_path=self.b.socket)
        self.assertIn("checksum mismatch", str(cm.exception))
        self.assertIn("snapshot/root/data/state.txt", str(cm.exception))
        truncated = os.path.join(self.tmp, "truncated.tar")
        with open(truncated, "wb") as f:
            f.write(data[: len(data) // 2])
        with self.assertRaises(InvalidArgumentError):
            Sandbox.import_snapshot(truncated, socket_path=self.b.socket)
        with self.assertRaises(NotFoundError):
            Sandbox.get_snapshot(snap.snapshot_id, socket_path=self.b.socket)
        # Nothing half-imported: B's snapshot directory holds only complete snapshots.
        snaps_dir = os.path.join(self.b.dir, "state", "snapshots")
        self.assertFalse([n for n in os.listdir(snaps_dir) if n.endswith(".tmp")])
        # The good archive still imports.
        self.assertEqual(Sandbox.import_snapshot(archive, socket_path=self.b.socket).snapshot_id, snap.snapshot_id)

    def test_export_of_unknown_snapshot(self):
        with self.assertRaises(NotFoundError):
            Sandbox.export_snapshot("snap-0000000000000000", os.path.join(self.tmp, "x.tar"), socket_path=self.a.socket)
        self.assertFalse(os.path.exists(os.path.join(self.tmp, "x.tar")))

    def test_images_need_an_engine_with_a_layer_store(self):
        with self.assertRaises(InvalidArgumentError):
            Image.import_path(self.tmp, name="x", socket_path=self.a.socket)
        self.assertEqual(Image.list(socket_path=self.a.socket), [])
        with self.assertRaises(NotFoundError):
            Image.remove("nope", socket_path=self.a.socket)
        with self.assertRaises(NotFoundError):
            Sandbox.create(image="nope", socket_path=self.a.socket)

    def test_cryoctl_export_import(self):
        cryoctl = find_binary("CRYOCTL", "cryoctl")
        snap = self.snapshot_on_a(b"via-cryoctl")
        archive = os.path.join(self.tmp, "ctl.tar")

        def ctl(sock, *args, check=True):
            p = subprocess.run([cryoctl, "--socket", sock, *args], capture_output=True, timeout=60)
            if check and p.returncode != 0:
                self.fail(f"cryoctl {args} failed: {p.stderr.decode()}")
            return p

        p = ctl(self.a.socket, "snapshot", "export", snap.snapshot_id, archive)
        self.assertEqual(p.stderr, b"")  # quiet when stderr is not a terminal
        b2 = Cryod()
        try:
            p = ctl(b2.socket, "snapshot", "import", archive)
            self.assertEqual(p.stdout.decode().strip(), snap.snapshot_id)
            bad = os.path.join(self.tmp, "ctl-bad.tar")
            with open(archive, "rb") as f:
                data = f.read()
            with open(bad, "wb") as f:
                f.write(data[: len(data) // 3])
            p = ctl(b2.socket, "snapshot", "import", bad, check=False)
            self.assertEqual(p.returncode, 1)
            self.assertIn(b"bad_request", p.stderr)
            self.assertIn(b"truncated", p.stderr)
        finally:
            b2.stop()


if __name__ == "__main__":
    unittest.main()
