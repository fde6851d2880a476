"""Sandbox: create, connect to, snapshot and kill cryo sandboxes."""

from typing import Any, Dict, Iterator, List, Optional

from ._transport import Transport
from .commands import Commands
from .files import Files
from .models import SandboxInfo, SnapshotInfo


class SnapshotPaginator:
    """Iterates snapshots newest first, fetching one page (of `limit`) at a time, only when needed."""

    def __init__(self, transport, limit=20):
        self._t = transport
        self._limit = limit
        self._cursor = None
        self._done = False
        self.pages_fetched = 0

    @property
    def has_next(self) -> bool:
        return not self._done

    def next_items(self) -> List[SnapshotInfo]:
        """The next page; an empty list once everything was returned."""
        if self._done:
            return []
        reply = self._t.request("GET", self._t.path("v1", "snapshots", limit=self._limit, cursor=self._cursor))
        self.pages_fetched += 1
        self._cursor = reply.get("next_cursor")
        self._done = not self._cursor
        return [SnapshotInfo.from_json(s) for s in reply["snapshots"]]

    def __iter__(self) -> Iterator[SnapshotInfo]:
        while self.has_next:
            yield from self.next_items()


class Sandbox:
    """A running sandbox. Use as a context manager to kill it on exit."""

    def __init__(self, info: SandboxInfo, transport: Transport):
        self._t = transport
        self.info = info
        self.sandbox_id = info.sandbox_id
        self.commands = Commands(self.sandbox_id, transport)
        self.files = Files(self.sandbox_id, transport)

    def __repr__(self):
        return f"Sandbox({self.sandbox_id!r})"

    # -- lifecycle --

    @classmethod
    def create(
        cls,
        snapshot_id: Optional[str] = None,
        image: Optional[str] = None,
        timeout: Optional[float] = None,
        envs: Optional[Dict[str, str]] = None,
        cwd: Optional[str] = None,
        metadata: Optional[Dict[str, str]] = None,
        network: bool = False,
        cpus: Optional[float] = None,
        memory_mb: Optional[int] = None,
        pids: Optional[int] = None,
        disk_mb: Optional[int] = None,
        supervise: Optional[List[Dict[str, Any]]] = None,
        socket_path: Optional[str] = None,
        base_url: Optional[str] = None,
        token: Optional[str] = None,
    ) -> "Sandbox":
        """Starts a sandbox, fresh or resumed from snapshot_id. timeout: seconds until it is killed.
        disk_mb: what it can write to its filesystem (default 2048; from a snapshot: the snapshot's).
        supervise: system calls its sentry decides, e.g. [{"syscall": "mkdir", "action": "deny",
        "errno": 13}, {"syscall": "unlink", "action": "log"}] (actions: allow, log, deny); see audit_log()."""
        t = Transport(socket_path, base_url, token)
        body = {"network": network}
        for key, value in (("snapshot_id", snapshot_id), ("image", image), ("timeout", timeout), ("envs", envs),
                           ("cwd", cwd), ("metadata", metadata), ("cpus", cpus), ("memory_mb", memory_mb),
                           ("pids", pids), ("disk_mb", disk_mb), ("supervise", supervise)):
            if value is not None:
                body[key] = value
        return cls(SandboxInfo.from_json(t.request("POST", "/v1/sandboxes", body)), t)

    @classmethod
    def connect(cls, sandbox_id: str, socket_path=None, base_url=None, token=None) -> "Sandbox":
        t = Transport(socket_path, base_url, token)
        return cls(SandboxInfo.from_json(t.request("GET", t.path("v1", "sandboxes", sandbox_id))), t)

    @staticmethod
    def list(include_stopped: bool = False, socket_path=None, base_url=None, token=None) -> List[SandboxInfo]:
        t = Transport(socket_path, base_url, token)
        reply = t.request("GET", t.path("v1", "sandboxes", all="true" if include_stopped else None))
        return [SandboxInfo.from_json(s) for s in reply["sandboxes"]]

    def get_info(self) -> SandboxInfo:
        self.info = SandboxInfo.from_json(self._t.request("GET", self._t.path("v1", "sandboxes", self.sandbox_id)))
        return self.info

    def audit_log(self) -> List[Dict[str, Any]]:
        """What the sentry's supervisor saw: one dict per supervised call (time, pid, syscall, action,
        args, errno for denials), oldest first."""
        return self._t.request("GET", self._t.path("v1", "sandboxes", self.sandbox_id, "audit"))["events"]

    def is_running(self) -> bool:
        return self.get_info().state == "running"

    def kill(self) -> None:
        """Kills the sandbox; killing one that already stopped is not an error."""
        self.info = SandboxInfo.from_json(self._t.request("DELETE", self._t.path("v1", "sandboxes", self.sandbox_id)))

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.kill()
        return False

    # -- snapshots --

    def create_snapshot(self) -> SnapshotInfo:
        """Captures memory, files and processes; the sandbox pauses briefly and keeps running."""
        reply = self._t.request("POST", self._t.path("v1", "sandboxes", self.sandbox_id, "snapshots"), timeout=3600)
        return SnapshotInfo.from_json(reply)

    @staticmethod
    def list_snapshots(limit: int = 20, socket_path=None, base_url=None, token=None) -> SnapshotPaginator:
        return SnapshotPaginator(Transport(socket_path, base_url, token), limit)

    @staticmethod
    def get_snapshot(snapshot_id: str, socket_path=None, base_url=None, token=None) -> SnapshotInfo:
        t = Transport(socket_path, base_url, token)
        return SnapshotInfo.from_json(t.request("GET", t.path("v1", "snapshots", snapshot_id)))

    @staticmethod
    def delete_snapshot(snapshot_id: str, socket_path=None, base_url=None, token=None) -> None:
        t = Transport(socket_path, base_url, token)
        t.request("DELETE", t.path("v1", "snapshots", snapshot_id))

    @staticmethod
    def export_snapshot(snapshot_id: str, path: str, socket_path=None, base_url=None, token=None) -> int:
        """Writes the snapshot as one portable archive at `path` (local); returns its size in bytes.

        The archive holds the snapshot, its image's layers (unless it ran on the built-in default
        image) and a sha256 manifest of every file; `import_snapshot` on another cryod resumes it.
        """
        t = Transport(socket_path, base_url, token)
        return t.download(t.path("v1", "snapshots", snapshot_id, "export"), path)

    @staticmethod
    def import_snapshot(path: str, socket_path=None, base_url=None, token=None) -> SnapshotInfo:
        """Uploads an archive made by `export_snapshot`; the snapshot keeps its id.

        A damaged or tampered archive raises InvalidArgumentError naming the file; ConflictError
        when the snapshot id exists already. Nothing of a refused archive is kept.
        """
        t = Transport(socket_path, base_url, token)
        return SnapshotInfo.from_json(t.upload("/v1/snapshots/import", path))
