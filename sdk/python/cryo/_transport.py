"""HTTP to cryod over its unix socket (or loopback TCP with a bearer token), standard library only."""

import http.client
import json
import os
import socket
import threading
import time
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


# Connections kept open between requests (HTTP/1.1 keep-alive), one per thread and daemon, so a
# request does not pay for a new connection (and cryod for accepting it). cryod closes a
# connection idle for 2 s; one idle for longer than this is not reused but replaced.
_KEEPALIVE_IDLE = 1.0
_pool = threading.local()


def _closed_while_idle(error):
    """The kept-alive connection was closed by cryod before it read the request (idle, or its
    per-connection request limit): nothing ran, the request can go out again on a new one."""
    return isinstance(error, (http.client.RemoteDisconnected, BrokenPipeError, ConnectionResetError))


class Transport:
    """Safe to share between threads: each thread keeps its own connection to the daemon."""

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

    def _headers(self, body, content_type):
        headers = {}
        if body is not None:
            headers["Content-Type"] = content_type
        if self.token:
            headers["Authorization"] = f"Bearer {self.token}"
        return headers

    def _send(self, method, path, body, content_type, timeout):
        """A request on a connection of its own (for streams and downloads, which hold it)."""
        conn = self._connect(timeout)
        try:
            conn.request(method, path, body=body, headers=self._headers(body, content_type))
            return conn, conn.getresponse()
        except socket.timeout as e:
            conn.close()
            from .exceptions import TimeoutError as CryoTimeout
            raise CryoTimeout(f"{method} {path}: no reply from cryod within {timeout}s") from e
        except OSError as e:
            conn.close()
            raise SandboxError(f"cannot reach cryod at {self._where()}: {e}") from e

    def _kept_alive(self, timeout):
        """This thread's open connection to the daemon, if fresh enough to reuse, else None."""
        if getattr(_pool, "pid", None) != os.getpid():
            # New thread, or a forked child: the parent's connections are not ours to use.
            _pool.conns, _pool.pid = {}, os.getpid()
        conns = _pool.conns
        entry = conns.pop((self._where(), self.token), None)
        if entry is None:
            return None
        conn, idle_since = entry
        if conn.sock is None or time.monotonic() - idle_since > _KEEPALIVE_IDLE:
            conn.close()
            return None
        conn.timeout = timeout
        conn.sock.settimeout(timeout)
        return conn

    def _keep(self, conn, resp):
        if resp.will_close or conn.sock is None:
            conn.close()
            return
        _pool.conns[(self._where(), self.token)] = (conn, time.monotonic())

    def _exchange(self, method, path, body, content_type, timeout):
        """Sends a request on this thread's kept-alive connection (or a new one) and reads the
        whole reply; returns (response, data). The connection stays open for the next request."""
        headers = self._headers(body, content_type)
        conn = self._kept_alive(timeout)
        reused = conn is not None
        while True:
            if conn is None:
                conn = self._connect(timeout)
            try:
                conn.request(method, path, body=body, headers=headers)
                resp = conn.getresponse()
                data = resp.read()
            except socket.timeout as e:
                conn.close()
                from .exceptions import TimeoutError as CryoTimeout
                raise CryoTimeout(f"{method} {path}: no reply from cryod within {timeout}s") from e
            except (OSError, http.client.HTTPException) as e:
                conn.close()
                if reused and _closed_while_idle(e):
                    conn, reused = None, False
                    continue
                raise SandboxError(f"cannot reach cryod at {self._where()}: {e}") from e
            self._keep(conn, resp)
            return resp, data

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
        resp, data = self._exchange(method, path, body, ctype, timeout)
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
