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
_MAX_HEAD = 64 * 1024


class _Reply:
    """A whole reply read by _Connection: status, headers (names in lower case), whether the
    server closes the connection after it."""

    def __init__(self, status, headers, will_close):
        self.status = status
        self.headers = headers
        self.will_close = will_close

    def getheader(self, name, default=None):
        return self.headers.get(name.lower(), default)


class _Connection:
    """One HTTP/1.1 connection for whole request/reply exchanges (JSON and byte bodies; streams
    and downloads use http.client). The request goes out in one write and the reply is parsed
    here: http.client writes head and body apart and parses headers with the email package, which
    was most of the SDK's share of a command's round trip (about 0.2 of 2 ms)."""

    def __init__(self, sock):
        self.sock = sock
        self._buf = bytearray()

    def close(self):
        if self.sock is not None:
            self.sock.close()
            self.sock = None

    def settimeout(self, timeout):
        self.sock.settimeout(timeout)

    def exchange(self, method, host, path, headers, body):
        """Sends the request, returns (_Reply, bytes). Raises http.client.RemoteDisconnected when
        the connection closes before any byte of the reply (cryod closed it while idle)."""
        lines = [f"{method} {path} HTTP/1.1", f"Host: {host}"]
        lines += [f"{k}: {v}" for k, v in headers.items()]
        if body is not None:
            lines.append(f"Content-Length: {len(body)}")
        head = "\r\n".join(lines).encode("latin-1") + b"\r\n\r\n"
        if body and len(body) > _MAX_HEAD:
            self.sock.sendall(head)  # a large body is not copied to join it
            self.sock.sendall(body)
        else:
            self.sock.sendall(head + (body or b""))
        try:
            return self._read_reply(method)
        except ValueError as e:  # a number that is not one
            raise http.client.HTTPException(f"malformed reply from cryod: {e}") from e

    def _read_reply(self, method):
        while True:
            status, reply_headers, version = self._read_head()
            if not 100 <= status < 200:
                break  # (an interim 1xx reply is followed by the real one)
        tokens = {t.strip().lower() for t in reply_headers.get("connection", "").split(",")}
        will_close = "close" in tokens or (version == "HTTP/1.0" and "keep-alive" not in tokens)
        if method == "HEAD" or status in (204, 304):
            data = b""
        elif "chunked" in reply_headers.get("transfer-encoding", "").lower():
            data = self._read_chunked()
        elif "content-length" in reply_headers:
            data = self._read_exactly(int(reply_headers["content-length"]))
        else:
            data, will_close = self._read_to_eof(), True
        return _Reply(status, reply_headers, will_close), data

    def _fill(self):
        chunk = self.sock.recv(65536)
        if not chunk:
            raise http.client.IncompleteRead(bytes(self._buf))
        self._buf += chunk

    def _read_head(self):
        while True:
            end = self._buf.find(b"\r\n\r\n")
            if end >= 0:
                break
            if len(self._buf) > _MAX_HEAD:
                raise http.client.HTTPException("reply headers too long")
            if not self._buf:
                chunk = self.sock.recv(65536)
                if not chunk:
                    raise http.client.RemoteDisconnected("cryod closed the connection without a reply")
                self._buf += chunk
            else:
                self._fill()
        head = bytes(self._buf[:end]).decode("latin-1").split("\r\n")
        del self._buf[: end + 4]
        version, _, rest = head[0].partition(" ")
        if not version.startswith("HTTP/"):
            raise http.client.BadStatusLine(head[0])
        status = int(rest.split(" ", 1)[0])
        headers = {}
        for line in head[1:]:
            name, _, value = line.partition(":")
            name, value = name.strip().lower(), value.strip()
            headers[name] = f"{headers[name]}, {value}" if name in headers else value
        return status, headers, version

    def _read_exactly(self, n):
        while len(self._buf) < n:
            self._fill()
        data = bytes(self._buf[:n])
        del self._buf[:n]
        return data

    def _read_line(self):
        while (end := self._buf.find(b"\r\n")) < 0:
            self._fill()
        line = bytes(self._buf[:end])
        del self._buf[: end + 2]
        return line

    def _read_chunked(self):
        parts = []
        while (size := int(self._read_line().split(b";", 1)[0], 16)) > 0:
            parts.append(self._read_exactly(size))
            self._read_exactly(2)  # CRLF after the chunk
        while self._read_line():  # trailers, up to the empty line
            pass
        return b"".join(parts)

    def _read_to_eof(self):
        while chunk := self.sock.recv(65536):
            self._buf += chunk
        data = bytes(self._buf)
        self._buf.clear()
        return data


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

    def _open(self, timeout):
        """A connected _Connection (raises OSError when cryod cannot be reached)."""
        if self.base_url:
            sock = socket.create_connection((self._host, self._port), timeout=timeout)
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            return _Connection(sock)
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        sock.settimeout(timeout)
        try:
            sock.connect(self.socket_path)
        except OSError:
            sock.close()
            raise
        return _Connection(sock)

    def _host_header(self):
        return f"{self._host}:{self._port}" if self.base_url else "localhost"

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
        conn.settimeout(timeout)
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
            try:
                if conn is None:
                    conn = self._open(timeout)
                resp, data = conn.exchange(method, self._host_header(), path, headers, body)
            except socket.timeout as e:
                if conn:
                    conn.close()
                from .exceptions import TimeoutError as CryoTimeout
                raise CryoTimeout(f"{method} {path}: no reply from cryod within {timeout}s") from e
            except (OSError, http.client.HTTPException) as e:
                if conn:
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
