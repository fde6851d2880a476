"""The SDK's own HTTP/1.1 exchange (cryo._transport._Connection) against a scripted server on a
unix socket: reply framings, keep-alive, a connection cryod closed while idle. No cryod needed."""

import json
import os
import socket
import tempfile
import threading
import unittest

from cryo import SandboxError
from cryo._transport import Transport


class ScriptedServer:
    """Accepts connections; for each request read, sends the next scripted reply (bytes, sent in
    pieces of `piece` bytes). A reply of None closes the connection instead of answering."""

    def __init__(self, replies, piece=None):
        self.dir = tempfile.mkdtemp(prefix="cryo-transport-")
        self.path = os.path.join(self.dir, "s.sock")
        self.replies = list(replies)
        self.piece = piece
        self.requests = []  # (connection number, raw request bytes)
        self.connections = 0
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.bind(self.path)
        self.sock.listen(8)
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def _read_request(self, conn, buf):
        while b"\r\n\r\n" not in buf:
            chunk = conn.recv(65536)
            if not chunk:
                return None, buf
            buf += chunk
        head, _, rest = buf.partition(b"\r\n\r\n")
        length = 0
        for line in head.split(b"\r\n")[1:]:
            name, _, value = line.partition(b":")
            if name.strip().lower() == b"content-length":
                length = int(value)
        while len(rest) < length:
            rest += conn.recv(65536)
        return head + b"\r\n\r\n" + rest[:length], rest[length:]

    def _serve(self):
        while self.replies:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            self.connections += 1
            buf = b""
            with conn:
                while self.replies:
                    request, buf = self._read_request(conn, buf)
                    if request is None:
                        break
                    self.requests.append((self.connections, request))
                    reply = self.replies.pop(0)
                    if reply is None:
                        break
                    step = self.piece or len(reply)
                    for i in range(0, len(reply), step):
                        conn.sendall(reply[i:i + step])
                    if b"Connection: close" in reply.split(b"\r\n\r\n")[0]:
                        break

    def close(self):
        self.sock.close()
        for name in os.listdir(self.dir):
            os.unlink(os.path.join(self.dir, name))
        os.rmdir(self.dir)


def json_reply(obj, status="200 OK", extra=""):
    body = json.dumps(obj).encode()
    return (f"HTTP/1.1 {status}\r\nContent-Type: application/json\r\nContent-Length: {len(body)}\r\n{extra}\r\n"
            .encode() + body)


class TransportExchange(unittest.TestCase):
    def serve(self, replies, piece=None):
        server = ScriptedServer(replies, piece)
        self.addCleanup(server.close)
        return server, Transport(socket_path=server.path)

    def test_request_goes_out_whole_and_connections_are_reused(self):
        server, t = self.serve([json_reply({"n": i}) for i in range(3)])
        self.assertEqual(t.request("POST", "/v1/x", {"a": "é"}), {"n": 0})
        self.assertEqual(t.request("GET", "/v1/y"), {"n": 1})
        self.assertEqual(t.request("PUT", "/v1/z", raw=b"\x00\x01"), {"n": 2})
        self.assertEqual(server.connections, 1)
        first = server.requests[0][1]
        self.assertTrue(first.startswith(b"POST /v1/x HTTP/1.1\r\nHost: localhost\r\n"), first)
        body = json.dumps({"a": "é"}).encode()
        self.assertIn(b"Content-Type: application/json\r\n", first)
        self.assertIn(b"Content-Length: %d\r\n" % len(body), first)
        self.assertTrue(first.endswith(b"\r\n\r\n" + body))
        self.assertNotIn(b"Content-Length", server.requests[1][1])  # a GET without a body
        self.assertTrue(server.requests[2][1].endswith(b"\r\n\r\n\x00\x01"))

    def test_reply_framings(self):
        chunked = (b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n"
                   b"4;ext=1\r\n{\"a\"\r\n4\r\n: 1}\r\n0\r\nTrailer: x\r\n\r\n")
        no_content = b"HTTP/1.1 204 No Content\r\n\r\n"
        interim = b"HTTP/1.1 100 Continue\r\n\r\n" + json_reply({"after": "100"})
        bytes_reply = b"HTTP/1.1 200 OK\r\nContent-Type: application/octet-stream\r\nContent-Length: 3\r\n\r\nabc"
        to_eof = b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nConnection: close\r\n\r\n{\"eof\": true}"
        for piece in (None, 1):  # all at once, and one byte per write
            server, t = self.serve([chunked, no_content, interim, bytes_reply, to_eof], piece)
            self.assertEqual(t.request("GET", "/c"), {"a": 1})
            self.assertEqual(t.request("DELETE", "/d"), b"")  # no body, no type: bytes, as before
            self.assertEqual(t.request("GET", "/i"), {"after": "100"})
            self.assertEqual(t.request("GET", "/b"), b"abc")
            self.assertEqual(t.request("GET", "/e"), {"eof": True})
            self.assertEqual(server.connections, 1)

    def test_errors_become_typed_errors(self):
        server, t = self.serve([json_reply({"error": {"code": "not_found", "message": "no such thing"}}, "404 Not Found")])
        with self.assertRaises(SandboxError) as cm:
            t.request("GET", "/missing")
        self.assertEqual(cm.exception.status, 404)
        self.assertIn("no such thing", str(cm.exception))

    def test_a_connection_closed_while_idle_is_replaced(self):
        # The server drops the kept connection when the second request arrives, as cryod does
        # with one idle too long: the request goes out again on a new connection.
        server, t = self.serve([json_reply({"n": 1}), None, json_reply({"n": 2})])
        self.assertEqual(t.request("GET", "/a"), {"n": 1})
        self.assertEqual(t.request("GET", "/b"), {"n": 2})
        self.assertEqual([c for c, _ in server.requests], [1, 1, 2])

    def test_server_closing_after_a_reply_is_honoured(self):
        server, t = self.serve([json_reply({"n": 1}, extra="Connection: close\r\n"), json_reply({"n": 2})])
        self.assertEqual(t.request("GET", "/a"), {"n": 1})
        self.assertEqual(t.request("GET", "/b"), {"n": 2})
        self.assertEqual(server.connections, 2)

    def test_a_cut_reply_is_an_error(self):
        cut = b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 100\r\nConnection: close\r\n\r\n{\"a\""
        server, t = self.serve([cut])
        with self.assertRaises(SandboxError):
            t.request("GET", "/a")

    def test_unreachable(self):
        t = Transport(socket_path="/nonexistent/cryod.sock")
        with self.assertRaises(SandboxError):
            t.request("GET", "/a")


if __name__ == "__main__":
    unittest.main()
