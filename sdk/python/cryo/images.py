"""Images: root filesystems imported into cryod (OCI image layouts and `docker save` archives)."""

import os
from typing import List, Optional

from ._transport import Transport
from .models import ImageInfo


class Image:
    """An image known to cryod. Sandbox.create(image=name) starts sandboxes on it."""

    def __init__(self, info: ImageInfo, transport: Transport):
        self._t = transport
        self.info = info
        self.name = info.name

    def __repr__(self):
        return f"Image({self.name!r})"

    @classmethod
    def import_path(cls, path: str, name: Optional[str] = None, socket_path=None, base_url=None,
                    token=None) -> "Image":
        """Imports an OCI image layout (directory or tar) or a `docker save` archive.

        `path` is read by cryod itself, so it must exist on cryod's host; a relative path is made
        absolute here. `name` defaults to the file name without its extension.
        """
        t = Transport(socket_path, base_url, token)
        body = {"path": os.path.abspath(path)}
        if name is not None:
            body["name"] = name
        return cls(ImageInfo.from_json(t.request("POST", "/v1/images", body, timeout=3600)), t)

    @classmethod
    def get(cls, name: str, socket_path=None, base_url=None, token=None) -> "Image":
        t = Transport(socket_path, base_url, token)
        return cls(ImageInfo.from_json(t.request("GET", "/v1/images/" + _quote_name(name))), t)

    @staticmethod
    def list(socket_path=None, base_url=None, token=None) -> List[ImageInfo]:
        t = Transport(socket_path, base_url, token)
        return [ImageInfo.from_json(i) for i in t.request("GET", "/v1/images")["images"]]

    def delete(self) -> None:
        """Removes the image; ConflictError while a running sandbox or a snapshot uses it."""
        Image.remove(self.name, transport=self._t)

    @staticmethod
    def remove(name: str, socket_path=None, base_url=None, token=None, transport=None) -> None:
        t = transport or Transport(socket_path, base_url, token)
        t.request("DELETE", "/v1/images/" + _quote_name(name))


def _quote_name(name):
    import urllib.parse
    # `/` stays: image names may hold it (library/busybox) and the route takes the rest of the path.
    return urllib.parse.quote(name, safe="/")
