"""HTTP to cryod over its unix socket (or loopback TCP with a bearer token), standard library only."""

import http.client
import json
import os
import socket
import urllib.parse

from .exceptions import SandboxError, error_from_reply

DEFAULT_SOCKET = "/run/cryod/cryod.sock"
DEFAULT_TIMEOUT = 300.0


class _UnixConnection(http.client.HTTPConnection):
    def __init__(self, path, timeout):
        super().__init__("localhost", timeout=timeout)
        self._path = path

    def connect(self):
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        sock.settimeout(self.timeout)
        try:
            sock.connect(self._path)
        except OSError:
            sock.close()
            raise
        self.sock = sock


class Transport:
    """One connection per request: simple, and safe to share between threads."""

    def __init__(self, socket_path=None, base_url=None, token=None):
        self.base_url = base_url or os.environ.get("CRYO_BASE_URL") or None
        self.token = token if token is not None else os.environ.get("CRYO_TOKEN")
        self.socket_path = socket_path or os.environ.get("CRYO_SOCKET") or DEFAULT_SOCKET
        if self.base_url:
            parts = urllib.parse.urlsplit(self.base_url)
            if parts.scheme != "http" or not parts.hostname:
                raise SandboxError(f"base_url {self.base_url!r}: expected http://HOST:PORT", code="bad_request")
            self._host, self._port = parts.hostname, parts.port or 80

    def _where(self):
        return self.base_url or self.socket_path

    def _connect(self, timeout):
        if self.base_url:
            return http.client.HTTPConnection(self._host, self._port, timeout=timeout)
        return _UnixConnection(self.socket_path, timeout)

    @staticmethod
    def path(*segments, **query):
        """Builds /a/b?x=1 with every segment and value percent-encoded; None values are dropped."""
        p = "/" + "/".join(urllib.parse.quote(str(s), safe="") for s in segments)
        q = {k: v for k, v in query.items() if v is not None}
        return p + ("?" + urllib.parse.urlencode(q) if q else "")

    def _send(self, method, path, body, content_type, timeout):
        conn = self._connect(timeout)
        headers = {}
        if body is not None:
            headers["Content-Type"] = content_type
        if self.token:
            headers["Authorization"] = f"Bearer {self.token}"
        try:
            conn.request(method, path, body=body, headers=headers)
            return conn, conn.getresponse()
        except socket.timeout as e:
            conn.close()
            from .exceptions import TimeoutError as CryoTimeout
            raise CryoTimeout(f"{method} {path}: no reply from cryod within {timeout}s") from e
        except OSError as e:
            conn.close()
            raise SandboxError(f"cannot reach cryod at {self._where()}: {e}") from e

    @staticmethod
    def _raise_for(resp, data, what):
        try:
            err = json.loads(data)["error"]
            code, message = err.get("code", "internal"), err.get("message", what)
        except (ValueError, KeyError, TypeError):
            code, message = "internal", f"{what}: HTTP {resp.status}"
        raise error_from_reply(resp.status, code, message)

    def request(self, method, path, payload=None, raw=None, timeout=DEFAULT_TIMEOUT):
        """Sends JSON (payload) or bytes (raw); returns parsed JSON, or bytes for non-JSON replies."""
        if raw is not None:
            body, ctype = raw, "application/octet-stream"
        elif payload is not None:
            body, ctype = json.dumps(payload).encode(), "application/json"
        else:
            body, ctype = (b"" if method in ("POST", "PUT") else None), "application/json"
        conn, resp = self._send(method, path, body, ctype, timeout)
        try:
            data = resp.read()
        finally:
            conn.close()
        if resp.status >= 400:
            self._raise_for(resp, data, f"{method} {path}")
        if resp.getheader("Content-Type", "").startswith("application/json"):
            return json.loads(data) if data else {}
        return data

    def download(self, path, file_path, timeout=3600.0, chunk=1 << 20):
        """Streams a GET reply into file_path (written as file_path.part, renamed when complete)."""
        conn, resp = self._send("GET", path, None, None, timeout)
        part = file_path + ".part"
        try:
            if resp.status >= 400:
                self._raise_for(resp, resp.read(), f"GET {path}")
            total = 0
            with open(part, "wb") as f:
                while True:
                    data = resp.read(chunk)
                    if not data:
                        break
                    f.write(data)
                    total += len(data)
                f.flush()
                os.fsync(f.fileno())
            expected = resp.getheader("Content-Length")
            if expected is not None and int(expected) != total:
                raise SandboxError(f"GET {path}: the reply was cut short ({total} of {expected} bytes)")
            os.replace(part, file_path)
            return total
        except BaseException:
            try:
                os.unlink(part)
            except FileNotFoundError:
                pass
            raise
        finally:
            conn.close()

    def upload(self, path, file_path, content_type="application/x-tar", timeout=3600.0):
        """POSTs the bytes of file_path as the body (streamed from the file); returns the JSON reply."""
        with open(file_path, "rb") as f:
            size = os.fstat(f.fileno()).st_size
            conn = self._connect(timeout)
            headers = {"Content-Type": content_type, "Content-Length": str(size)}
            if self.token:
                headers["Authorization"] = f"Bearer {self.token}"
            try:
                conn.request("POST", path, body=f, headers=headers)
                resp = conn.getresponse()
                data = resp.read()
            except socket.timeout as e:
                conn.close()
                from .exceptions import TimeoutError as CryoTimeout
                raise CryoTimeout(f"POST {path}: no reply from cryod within {timeout}s") from e
            except OSError as e:
                conn.close()
                raise SandboxError(f"cannot reach cryod at {self._where()}: {e}") from e
            conn.close()
        if resp.status >= 400:
            self._raise_for(resp, data, f"POST {path}")
        return json.loads(data) if data else {}

    def stream_lines(self, path, timeout=None):
        """Yields each NDJSON object of a streamed reply as it arrives."""
        conn, resp = self._send("GET", path, None, None, timeout)
        try:
            if resp.status >= 400:
                self._raise_for(resp, resp.read(), f"GET {path}")
            while True:
                line = resp.readline()
                if not line:
                    return
                line = line.strip()
                if line:
                    yield json.loads(line)
        finally:
            conn.close()
