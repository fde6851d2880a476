"""Images and portable snapshots through the SDK against real cryods (default engine, as root).

Skipped unless run as root with the busybox rootfs (scripts/make-rootfs.sh) present.
"""

import hashlib
import io
import json
import os
import shutil
import subprocess
import tarfile
import tempfile
import time
import unittest

from cryo import ConflictError, Image, InvalidArgumentError, Sandbox

from .cryod_process import _REPO, Cryod, find_binary

BUSYBOX = os.path.join(_REPO, "var", "rootfs", "busybox")


def layer_tar_bytes(rootfs):
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as tar:
        tar.add(rootfs, arcname=".", recursive=True)
    return buf.getvalue()


def write_blob(layout, data):
    digest = hashlib.sha256(data).hexdigest()
    with open(os.path.join(layout, "blobs", "sha256", digest), "wb") as f:
        f.write(data)
    return "sha256:" + digest


def make_oci_layout_tar(rootfs, out_tar, env):
    layout = tempfile.mkdtemp(prefix="cryo-oci-")
    try:
        os.makedirs(os.path.join(layout, "blobs", "sha256"))
        layer = layer_tar_bytes(rootfs)
        layer_digest = write_blob(layout, layer)
        config = json.dumps({"architecture": "amd64", "os": "linux", "config": {"Env": env},
                             "rootfs": {"type": "layers", "diff_ids": [layer_digest]}}).encode()
        config_digest = write_blob(layout, config)
        manifest = json.dumps({
            "schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
            "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "digest": config_digest,
                       "size": len(config)},
            "layers": [{"mediaType": "application/vnd.oci.image.layer.v1.tar", "digest": layer_digest,
                        "size": len(layer)}]}).encode()
        manifest_digest = write_blob(layout, manifest)
        with open(os.path.join(layout, "index.json"), "w") as f:
            json.dump({"schemaVersion": 2, "manifests": [{"mediaType": "application/vnd.oci.image.manifest.v1+json",
                                                           "digest": manifest_digest, "size": len(manifest)}]}, f)
        with open(os.path.join(layout, "oci-layout"), "w") as f:
            f.write('{"imageLayoutVersion":"1.0.0"}')
        with tarfile.open(out_tar, "w") as tar:
            for name in ("oci-layout", "index.json", "blobs"):
                tar.add(os.path.join(layout, name), arcname=name)
    finally:
        shutil.rmtree(layout)


def make_docker_archive(rootfs, out_tar, env):
    with tarfile.open(out_tar, "w") as tar:
        def add(name, data):
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
        layer = layer_tar_bytes(rootfs)
        config = json.dumps({"config": {"Env": env},
                             "rootfs": {"type": "layers",
                                        "diff_ids": ["sha256:" + hashlib.sha256(layer).hexdigest()]}}).encode()
        add("l1/layer.tar", layer)
        add("config.json", config)
        add("manifest.json", json.dumps([{"Config": "config.json", "RepoTags": ["bb:1"],
                                          "Layers": ["l1/layer.tar"]}]).encode())


@unittest.skipUnless(os.geteuid() == 0 and os.path.exists(os.path.join(BUSYBOX, "bin", "busybox")),
                     "needs root and var/rootfs/busybox")
class RealEngineImages(unittest.TestCase):
    def setUp(self):
        self.tmp = tempfile.mkdtemp(prefix="cryo-sdk-images-")
        self.daemons = []

    def tearDown(self):
        for d in self.daemons:
            for s in Sandbox.list(socket_path=d.socket):
                Sandbox.connect(s.sandbox_id, socket_path=d.socket).kill()
            d.stop()
        shutil.rmtree(self.tmp, ignore_errors=True)

    def cryod(self):
        d = Cryod(engine="default")
        self.daemons.append(d)
        return d

    def test_oci_and_docker_images_snapshot_moves_to_another_cryod(self):
        a = self.cryod()
        oci = os.path.join(self.tmp, "bb-oci.tar")
        make_oci_layout_tar(BUSYBOX, oci, ["PATH=/bin:/sbin", "WHO=oci"])
        img = Image.import_path(oci, name="bb", socket_path=a.socket)
        self.assertEqual(len(img.info.layers), 1)
        docker = os.path.join(self.tmp, "bb-docker.tar")
        make_docker_archive(BUSYBOX, docker, ["PATH=/bin:/sbin", "WHO=docker"])
        # cryoctl too: image import from a `docker save` archive, then image ls.
        cryoctl = find_binary("CRYOCTL", "cryoctl")
        p = subprocess.run([cryoctl, "--socket", a.socket, "image", "import", docker, "--name", "bb-docker"],
                           capture_output=True, timeout=120)
        self.assertEqual(p.returncode, 0, p.stderr)
        self.assertEqual(sorted(i.name for i in Image.list(socket_path=a.socket)), ["bb", "bb-docker"])
        # Same layer bytes: stored once.
        self.assertEqual(Image.get("bb-docker", socket_path=a.socket).info.layers, img.info.layers)

        with Sandbox.create(image="bb-docker", socket_path=a.socket) as d:
            self.assertEqual(d.commands.run("echo $WHO").stdout, "docker\n")
        sbx = Sandbox.create(image="bb", socket_path=a.socket)
        self.assertEqual(sbx.commands.run("echo $WHO; busybox true && echo bb").stdout, "oci\nbb\n")
        with self.assertRaises(ConflictError):
            img.delete()
        sbx.commands.run("mkdir -p /tmp /work && echo moved > /work/f")
        sbx.commands.run("setsid sh -c 'i=0; while :; do i=$((i+1)); echo $i > /tmp/n; sleep 0.1; done' "
                         "</dev/null >/dev/null 2>&1 &")
        time.sleep(0.5)
        snap = sbx.create_snapshot()
        self.assertEqual(snap.image, "bb")
        sbx.kill()
        with self.assertRaises(ConflictError):  # the snapshot still needs it
            img.delete()
        Image.remove("bb-docker", socket_path=a.socket)  # unused: fine, the shared layer stays for bb

        archive = os.path.join(self.tmp, "snap.tar")
        Sandbox.export_snapshot(snap.snapshot_id, archive, socket_path=a.socket)
        b = self.cryod()
        got = Sandbox.import_snapshot(archive, socket_path=b.socket)
        self.assertEqual((got.snapshot_id, got.image), (snap.snapshot_id, "bb"))
        self.assertEqual([i.name for i in Image.list(socket_path=b.socket)], ["bb"])
        clone = Sandbox.create(snapshot_id=snap.snapshot_id, socket_path=b.socket)
        self.assertEqual(clone.info.image, "bb")
        self.assertEqual(clone.files.read("/work/f"), "moved\n")
        n1 = int(clone.commands.run("cat /tmp/n").stdout)
        time.sleep(0.5)
        self.assertGreater(int(clone.commands.run("cat /tmp/n").stdout), n1)

        # One byte flipped in the middle of a member: refused, naming a file.
        with open(archive, "rb") as f:
            data = bytearray(f.read())
        data[len(data) // 2] ^= 0xFF
        bad = os.path.join(self.tmp, "bad.tar")
        with open(bad, "wb") as f:
            f.write(bytes(data))
        c = self.cryod()
        with self.assertRaises(InvalidArgumentError) as cm:
            Sandbox.import_snapshot(bad, socket_path=c.socket)
        self.assertRegex(str(cm.exception), r"checksum mismatch for `[^`]+`|damaged")
        self.assertEqual(Image.list(socket_path=c.socket), [])


if __name__ == "__main__":
    unittest.main()
