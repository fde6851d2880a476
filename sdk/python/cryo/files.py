"""sbx.files: the sandbox's filesystem."""

from typing import List, Union

from .exceptions import NotFoundError
from .models import EntryInfo


class Files:
    def __init__(self, sandbox_id, transport):
        self._id = sandbox_id
        self._t = transport

    def _path(self, *extra, **query):
        return self._t.path("v1", "sandboxes", self._id, "files", *extra, **query)

    def write(self, path: str, data: Union[str, bytes], mode: int = 0o644) -> None:
        """Creates or replaces the file at path (parents are created as needed)."""
        if isinstance(data, str):
            data = data.encode()
        self._t.request("PUT", self._path(path=path, mode=format(mode, "o")), raw=bytes(data))

    def read(self, path: str, format: str = "text") -> Union[str, bytes]:
        """The file's content: str for format="text" (UTF-8), bytes for format="bytes"."""
        if format not in ("text", "bytes"):
            raise ValueError(f"format {format!r}: expected 'text' or 'bytes'")
        data = self._t.request("GET", self._path(path=path))
        if isinstance(data, (dict, list)):  # cryod always sends octet-stream; be defensive
            raise TypeError(f"read {path}: unexpected JSON reply")
        return data.decode() if format == "text" else data

    def list(self, path: str) -> List[EntryInfo]:
        return [EntryInfo.from_json(e) for e in self._t.request("GET", self._path("list", path=path))["entries"]]

    def get_info(self, path: str) -> EntryInfo:
        return EntryInfo.from_json(self._t.request("GET", self._path("stat", path=path)))

    def exists(self, path: str) -> bool:
        try:
            self.get_info(path)
            return True
        except NotFoundError:
            return False

    def remove(self, path: str, recursive: bool = True) -> None:
        """Removes a file, or a directory with its contents (unless recursive=False)."""
        self._t.request("DELETE", self._path(path=path, recursive="true" if recursive else "false"))

    def make_dir(self, path: str) -> None:
        """Creates the directory and its parents; no error when it exists."""
        self._t.request("POST", self._path("mkdir", path=path))
