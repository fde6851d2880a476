"""Python SDK for cryod, the cryo sandbox service."""

from .commands import CommandHandle, Commands
from .exceptions import (
    AuthenticationError,
    CommandExitError,
    ConflictError,
    InvalidArgumentError,
    NotFoundError,
    SandboxError,
    TimeoutError,
)
from .files import Files
from .images import Image
from .models import CommandResult, EntryInfo, ImageInfo, SandboxInfo, SnapshotInfo
from .sandbox import Sandbox, SnapshotPaginator

__all__ = [
    "Sandbox", "SnapshotPaginator", "Image", "ImageInfo", "Commands", "CommandHandle", "Files",
    "CommandResult", "EntryInfo", "SandboxInfo", "SnapshotInfo",
    "SandboxError", "NotFoundError", "InvalidArgumentError", "ConflictError", "TimeoutError",
    "AuthenticationError", "CommandExitError",
]
__version__ = "0.1.0"
