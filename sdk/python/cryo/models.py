"""Plain data returned by the SDK."""

from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Dict, List, Optional


def parse_time(text):
    """RFC 3339 UTC ("2026-11-30T10:00:00Z") to a timezone-aware datetime; None stays None."""
    if not text:
        return None
    return datetime.strptime(text, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=timezone.utc)


@dataclass
class CommandResult:
    stdout: str
    stderr: str
    exit_code: int
    timed_out: bool = False


@dataclass
class SnapshotInfo:
    snapshot_id: str
    sandbox_id: str
    created_at: datetime
    size_bytes: int = 0
    image: str = "default"

    @classmethod
    def from_json(cls, j):
        return cls(j["snapshot_id"], j["sandbox_id"], parse_time(j["created_at"]), j.get("size_bytes", 0),
                   j.get("image", "default"))


@dataclass
class ImageInfo:
    name: str
    digest: str
    layers: List[str]
    size_bytes: int
    created_at: Optional[datetime]
    env: List[str] = field(default_factory=list)
    entrypoint: List[str] = field(default_factory=list)
    cmd: List[str] = field(default_factory=list)
    working_dir: str = ""
    user: str = ""

    @classmethod
    def from_json(cls, j):
        return cls(
            name=j["name"], digest=j.get("digest", ""), layers=list(j.get("layers") or []),
            size_bytes=j.get("size_bytes", 0), created_at=parse_time(j.get("created_at")),
            env=list(j.get("env") or []), entrypoint=list(j.get("entrypoint") or []), cmd=list(j.get("cmd") or []),
            working_dir=j.get("working_dir", ""), user=j.get("user", ""),
        )


@dataclass
class SandboxInfo:
    sandbox_id: str
    state: str
    image: str
    created_at: datetime
    expires_at: Optional[datetime] = None
    ended_at: Optional[datetime] = None
    snapshot_id: Optional[str] = None
    metadata: Dict[str, str] = field(default_factory=dict)

    @classmethod
    def from_json(cls, j):
        return cls(
            sandbox_id=j["sandbox_id"],
            state=j["state"],
            image=j.get("image", ""),
            created_at=parse_time(j.get("created_at")),
            expires_at=parse_time(j.get("expires_at")),
            ended_at=parse_time(j.get("ended_at")),
            snapshot_id=j.get("snapshot_id"),
            metadata=dict(j.get("metadata") or {}),
        )


@dataclass
class EntryInfo:
    name: str
    path: str
    type: str  # file | dir | symlink | other
    size: int
    mode: int
    modified_time: datetime

    @classmethod
    def from_json(cls, j):
        return cls(
            j["name"], j["path"], j["type"], j["size"], j["mode"],
            datetime.fromtimestamp(j.get("mtime", 0), tz=timezone.utc),
        )
